//! `apply --dry-run=client|server`: what an apply would do, with nothing
//! changed and no lock taken.
//!
//! `client` checks the stream offline (marks, names, sizes, the plan) and
//! compares it with the release's deployed revision as recorded: objects
//! to create, to update (a unified diff of the two manifests, keys in one
//! order, Secret values masked), unchanged, and to prune — the only
//! requests are reads of the release store. `server` runs every check a
//! real apply runs before its first write (kinds served, ownership, a
//! server-side dry-run of every object and hook) and shows the server's
//! diff against the live objects (`diff`), then stops.

use std::io::Write;

use anyhow::Result;
use shared::kubeconfig::Kube;
use shared::output::{Paint, Stream, exit};
use shared::release::Status;
use shared::release::store::Store;
use shared::stream::SourcedObject;

use crate::apply_cmd::Options;

/// The identity an object keeps from one revision to the next.
fn key(o: &SourcedObject) -> (String, String, String, String) {
    (
        shared::identity::split_api_version(o.api_version())
            .0
            .to_string(),
        o.kind().to_string(),
        o.namespace().unwrap_or_default().to_string(),
        o.name().to_string(),
    )
}

fn shown(o: &SourcedObject) -> Result<String> {
    Ok(shared::yaml::to_string(&shared::diff::clean(
        o.object.clone(),
    ))?)
}

/// `--dry-run=client`.
pub async fn client(k: &Kube, opts: &Options, objects: Vec<SourcedObject>) -> Result<u8> {
    crate::validate::offline(&objects)?;
    let (objects, _hooks) = crate::hooks::partition(objects);
    let plan = crate::plan::build(objects)?;
    let store = Store::new(Some(k.client.clone()), &k.namespace, opts.storage.clone());
    let previous = store.latest(&opts.release, &[Status::Deployed]).await?;
    let before = match &previous {
        Some(p) => shared::stream::parse_stream(&p.manifest, shared::stream::Origin::Stdin)?,
        None => Vec::new(),
    };
    let mut out = std::io::stdout().lock();
    let paint = Paint::for_stream(Stream::Stdout);
    let (mut create, mut update, mut same) = (0, 0, 0);
    for item in &plan.items {
        let title = format!("{} (wave {})", item.key, item.wave);
        match before.iter().find(|b| key(b) == key(&item.obj)) {
            None => {
                create += 1;
                writeln!(out, "{}", paint.bold(&format!("create {title}")))?;
            }
            Some(old) => {
                let (a, b) = (shown(old)?, shown(&item.obj)?);
                if a == b {
                    same += 1;
                    continue;
                }
                update += 1;
                writeln!(out, "{}", paint.bold(&format!("update {title}")))?;
                shared::diff::write_unified(&mut out, &a, &b, &paint)?;
            }
        }
    }
    let mut prune = 0;
    for old in before
        .iter()
        .filter(|b| !plan.items.iter().any(|i| key(&i.obj) == key(b)))
    {
        prune += 1;
        let what = if opts.no_prune {
            "keep (--no-prune)"
        } else {
            "prune"
        };
        writeln!(
            out,
            "{}",
            paint.bold(&format!("{what} {}/{}", old.kind(), old.name()))
        )?;
    }
    let against = previous.map_or("no deployed revision".to_string(), |p| {
        format!("revision {}", p.revision)
    });
    shared::output::info(&format!(
        "dry run (client), against {against} of {}: {create} to create, {update} to update, {same} unchanged, {prune} no longer in the stream; nothing was sent to the server",
        opts.release
    ));
    Ok(exit::OK)
}

/// `--dry-run=server`.
pub async fn server(k: &Kube, opts: &Options, objects: Vec<SourcedObject>) -> Result<u8> {
    crate::validate::offline(&objects)?;
    let (items, hooks) = crate::hooks::partition(objects.clone());
    let plan = crate::plan::build(items)?;
    let resolver = shared::discovery::Resolver::new(k.client.clone());
    let all: Vec<&SourcedObject> = plan.items.iter().map(|i| &i.obj).chain(&hooks).collect();
    crate::validate::kinds(&resolver, &all).await?;
    let target = opts.target(&k.namespace);
    let listed: Vec<&SourcedObject> = plan.items.iter().map(|i| &i.obj).collect();
    crate::preflight::check(&k.client, &resolver, &target, &listed, &hooks).await?;
    crate::diff_cmd::diff_objects(k, &opts.release, opts.storage.clone(), objects, opts.force)
        .await?;
    shared::output::info(
        "dry run (server): every object passed the server's checks; nothing was changed",
    );
    Ok(exit::OK)
}
