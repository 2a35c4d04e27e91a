//! `diff RELEASE`: what `apply` would change, by server-side dry-run
//! against the live objects (defaults and normalization applied by the
//! server, so only real changes show), plus the objects it would prune.
//! Secret values are masked. Exit 1 when there are changes.

use std::io::Write;

use anyhow::Result;
use kube::api::{Api, DynamicObject};
use shared::apply::{Applier, ApplyOptions};
use shared::kubeconfig::KubeArgs;
use shared::output::{Paint, Stream, exit};
use shared::release::Status;
use shared::release::store::Store;

use crate::cli::DiffArgs;

/// Runs `diff`.
pub async fn run(kube: &KubeArgs, args: &DiffArgs) -> Result<u8> {
    let objects = shared::stream::read_inputs(&args.input.inputs(), true)?;
    crate::validate::offline(&objects)?;
    let k = kube.connect().await?;
    let storage = crate::cli::storage(&args.storage)?;
    diff_objects(&k, &args.release, storage, objects, args.force_conflicts).await
}

/// Diffs `objects` against the live cluster and the release's deployed revision.
pub async fn diff_objects(
    k: &shared::kubeconfig::Kube,
    release: &str,
    storage: shared::release::store::Storage,
    objects: Vec<shared::stream::SourcedObject>,
    force_conflicts: bool,
) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let (objects, _hooks) = crate::hooks::partition(objects);
    let plan = crate::plan::build(objects)?;
    let resolver = shared::discovery::Resolver::new(k.client.clone());
    let applier = Applier::new(k.client.clone(), &resolver, &k.namespace);
    let paint = Paint::for_stream(Stream::Stdout);
    let mut changed = 0;
    let mut seen = Vec::new();
    for item in &plan.items {
        let mut obj = item.obj.clone();
        shared::release::owner::stamp(&mut obj.object, release, &k.namespace);
        let (kind, id, _) = applier.prepare(&obj).await?;
        seen.push((
            shared::identity::split_api_version(obj.api_version())
                .0
                .to_string(),
            obj.kind().to_string(),
            id.namespace.clone(),
            id.name.clone(),
        ));
        let api: Api<DynamicObject> = match &id.namespace {
            Some(ns) => Api::namespaced_with(k.client.clone(), ns, &kind.resource),
            None => Api::all_with(k.client.clone(), &kind.resource),
        };
        let live = api
            .get_opt(&id.name)
            .await?
            .map(serde_json::to_value)
            .transpose()?
            .map(shared::diff::clean);
        let dry = applier
            .apply(
                &obj,
                ApplyOptions {
                    dry_run: true,
                    force_conflicts,
                },
            )
            .await?;
        let after = shared::diff::clean(dry.object);
        let before_text = live
            .as_ref()
            .map(shared::yaml::to_string)
            .transpose()?
            .unwrap_or_default();
        let after_text = shared::yaml::to_string(&after)?;
        if before_text == after_text {
            continue;
        }
        changed += 1;
        let title = if live.is_none() { "create" } else { "update" };
        writeln!(out, "{}", paint.bold(&format!("{title} {}", item.key)))?;
        shared::diff::write_unified(&mut out, &before_text, &after_text, &paint)?;
    }
    let store = Store::new(Some(k.client.clone()), &k.namespace, storage);
    if let Some(prev) = store.latest(release, &[Status::Deployed]).await? {
        for r in &prev.objects {
            let key = (
                shared::identity::split_api_version(&r.api_version)
                    .0
                    .to_string(),
                r.kind.clone(),
                r.namespace.clone(),
                r.name.clone(),
            );
            if !seen.contains(&key) {
                changed += 1;
                let what = if r.keep {
                    "keep (resource-policy)"
                } else if r.kind == "CustomResourceDefinition" {
                    "keep (CRDs are pruned only with --prune-crds)"
                } else {
                    "delete"
                };
                writeln!(
                    out,
                    "{}",
                    paint.bold(&format!("{what} {}/{}", r.kind, r.name))
                )?;
            }
        }
    }
    if changed == 0 {
        eprintln!("no changes");
        return Ok(exit::OK);
    }
    eprintln!("{changed} object(s) would change");
    Ok(exit::DIFFERENCES)
}
