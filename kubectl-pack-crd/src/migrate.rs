//! `migrate CRD --to VERSION`: storage version migration by hand, which
//! works on every server version: back up, make VERSION the storage
//! version, rewrite every object unchanged (resourceVersion preconditions,
//! conflicts retried) so the server re-encodes it, then set
//! `status.storedVersions` to VERSION, optionally stop serving the others.
//! Safe to interrupt and run again.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use shared::kubeconfig::{Kube, KubeArgs};
use shared::output::exit;

use crate::cli::MigrateArgs;
use crate::crd::{self, Crd};

/// Sets each version's `storage` (and with `drop_old`, `served`) flag.
async fn set_versions(k: &Kube, live: &Crd, to: &str, drop_old: bool) -> Result<bool> {
    let mut obj = live.obj.clone();
    let mut changed = false;
    if let Some(versions) = obj["spec"]["versions"].as_array_mut() {
        for v in versions {
            let this = v["name"] == to;
            let served = this || !drop_old && v["served"] == true;
            if v["storage"] != this || v["served"] != served {
                changed = true;
            }
            v["storage"] = Value::Bool(this);
            v["served"] = Value::Bool(served);
        }
    }
    if !changed {
        return Ok(false);
    }
    let api: Api<DynamicObject> = Api::all_with(k.client.clone(), &crd::crd_resource());
    let typed: DynamicObject = serde_json::from_value(obj)?;
    api.replace(live.name(), &PostParams::default(), &typed)
        .await
        .map_err(|e| shared::Error::api(format!("update CRD {}", live.name()), e))?;
    Ok(true)
}

/// Writes one object back unchanged; retries conflicts with a fresh read.
async fn rewrite(api: &Api<DynamicObject>, mut obj: DynamicObject) -> Result<bool> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    for _ in 0..5 {
        match api.replace(&name, &PostParams::default(), &obj).await {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => match api.get_opt(&name).await? {
                Some(fresh) => obj = fresh,
                None => return Ok(false),
            },
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(false),
            Err(e) => return Err(shared::Error::api(format!("rewrite {name}"), e).into()),
        }
    }
    bail!("{name} kept changing while being rewritten; run migrate again")
}

/// Runs `migrate`.
pub async fn run(kube: &KubeArgs, args: &MigrateArgs) -> Result<u8> {
    shared::interrupt::watch();
    let k = kube.connect().await?;
    let live = crd::live(&k, &args.crd).await?.with_context(|| {
        format!(
            "CRD {} does not exist in the cluster (kubectl get crd lists them)",
            args.crd
        )
    })?;
    if live.version(&args.to).is_none() {
        bail!(
            "CRD {} has no version {} (it has {}); add it to the CRD first",
            args.crd,
            args.to,
            live.version_names().join(", ")
        );
    }
    if let Some(path) = &args.backup {
        let (text, n) = crate::backup::backup_text(&k, std::slice::from_ref(&args.crd)).await?;
        shared::files::write_atomic(path, text.as_bytes(), 0o600)?;
        shared::output::info(&format!("backed up {n} object(s) to {}", path.display()));
    }
    if set_versions(&k, &live, &args.to, false).await? {
        shared::output::info(&format!("{}: storage version is now {}", args.crd, args.to));
    }
    crd::wait_established(&k, &args.crd, Duration::from_secs(60)).await?;
    let live = crd::live(&k, &args.crd)
        .await?
        .context("the CRD disappeared during the migration")?;
    let api: Api<DynamicObject> = Api::all_with(k.client.clone(), &live.resource(&args.to));
    let objects = crd::list_all(&k, &live, &args.to).await?;
    let total = objects.len();
    let progress = indicatif::ProgressBar::with_draw_target(
        Some(total as u64),
        if shared::output::is_terminal(shared::output::Stream::Stderr) {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    let mut rewritten = 0;
    for (i, o) in objects.into_iter().enumerate() {
        if shared::interrupt::requested() {
            progress.finish_and_clear();
            // storedVersions still lists the old version: nothing is lost,
            // and running the command again finishes the job.
            bail!(
                "interrupted after rewriting {i} of {total} object(s) of {}; status.storedVersions is unchanged; run the same command again to finish",
                args.crd
            );
        }
        let obj: DynamicObject = serde_json::from_value(o)?;
        let ns_api = match &obj.metadata.namespace {
            Some(ns) => Api::namespaced_with(k.client.clone(), ns, &live.resource(&args.to)),
            None => api.clone(),
        };
        if rewrite(&ns_api, obj).await? {
            rewritten += 1;
        }
        progress.inc(1);
        if progress.is_hidden() && (i + 1) % 500 == 0 {
            shared::output::info(&format!("rewrote {}/{total}", i + 1));
        }
    }
    progress.finish_and_clear();
    let crds: Api<DynamicObject> = Api::all_with(k.client.clone(), &crd::crd_resource());
    crds.patch_status(
        &args.crd,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"storedVersions": [args.to]}})),
    )
    .await
    .map_err(|e| shared::Error::api(format!("set status.storedVersions of {}", args.crd), e))?;
    let mut dropped = String::new();
    if args.drop_old {
        let live = crd::live(&k, &args.crd)
            .await?
            .context("the CRD disappeared")?;
        if set_versions(&k, &live, &args.to, true).await? {
            dropped = "; other versions no longer served".to_string();
        }
    }
    writeln!(
        std::io::stdout().lock(),
        "CRD {}: rewrote {rewritten} of {total} object(s) as {}; status.storedVersions = [{}]{dropped}",
        args.crd,
        args.to,
        args.to
    )?;
    Ok(exit::OK)
}
