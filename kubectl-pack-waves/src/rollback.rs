//! `rollback RELEASE [REV]` and `uninstall RELEASE`.

use std::io::Write;

use anyhow::{Result, bail};
use shared::kubeconfig::KubeArgs;
use shared::output::exit;
use shared::release::Status;
use shared::release::lock::Lock;
use shared::release::store::Store;
use shared::select::Selectors;
use shared::stream::SourcedObject;

use crate::apply_cmd::{self, Options};
use crate::cli::{OnFailure, RollbackArgs, UninstallArgs};
use crate::progress::Progress;

/// Runs `rollback`: the stored manifest of the target revision applied as a new revision.
pub async fn rollback(kube: &KubeArgs, args: &RollbackArgs) -> Result<u8> {
    shared::interrupt::watch();
    let mut out = std::io::stdout().lock();
    let k = kube.connect().await?;
    let storage = crate::cli::storage(&args.storage)?;
    let store = Store::new(Some(k.client.clone()), &k.namespace, storage.clone());
    let history = store.history(&args.release).await?;
    let Some(current) = history
        .iter()
        .rev()
        .find(|r| r.status == Status::Deployed)
        .or(history.last())
    else {
        bail!("release {} not found in {}", args.release, k.namespace);
    };
    let target = match args.revision {
        Some(rev) => history
            .iter()
            .find(|r| r.revision == rev)
            .ok_or_else(|| anyhow::anyhow!("release {} has no revision {rev}", args.release))?,
        None => history
            .iter()
            .rev()
            .find(|r| {
                r.revision < current.revision
                    && matches!(r.status, Status::Superseded | Status::Deployed)
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "release {} has no earlier deployed revision to roll back to",
                    args.release
                )
            })?,
    };
    let parse = |m: &str| shared::stream::parse_stream(m, shared::stream::Origin::Stdin);
    let target_objects = parse(&target.manifest)?;
    let objects = if args.only.is_empty() && args.except.is_empty() {
        target_objects
    } else {
        let current_objects = parse(&current.manifest)?;
        let revisions = (current.revision, target.revision);
        mix(&k, args, current_objects, target_objects, revisions).await?
    };
    if args.dry_run {
        if args.diff {
            return crate::diff_cmd::diff_objects(&k, &args.release, storage, objects, true).await;
        }
        writeln!(
            out,
            "would re-apply revision {} ({} objects) as revision {}",
            target.revision,
            objects.len(),
            history.last().map_or(1, |r| r.revision + 1)
        )?;
        for r in current.objects.iter().filter(|r| {
            !objects
                .iter()
                .any(|o| o.kind() == r.kind && o.name() == r.name)
        }) {
            writeln!(out, "would delete {}/{}", r.kind, r.name)?;
        }
        return Ok(exit::OK);
    }
    let manifest = apply_cmd::manifest_of(&objects)?;
    let opts = Options {
        release: args.release.clone(),
        storage,
        create_namespace: false,
        force: true,
        concurrency: crate::engine::DEFAULT_CONCURRENCY,
        wait: true,
        timeout: args.timeout,
        on_failure: OnFailure::Stop,
        wave: None,
        max_history: 10,
        wait_for_lock: args.wait_for_lock,
        prune_crds: false,
        no_prune: false,
        rollback_of: Some(target.revision),
        fail_on: Vec::new(),
        pause: false,
        pack: target.pack.clone(),
        // What the revision had is this release's; anything else is refused.
        take_ownership: false,
        force_replace: args.replace.force_replace,
    };
    apply_cmd::apply(&k, objects, manifest, &opts).await
}

/// `--only`/`--except`: the selected objects from the target revision,
/// the others as they are in the current one.
async fn mix(
    k: &shared::kubeconfig::Kube,
    args: &RollbackArgs,
    current: Vec<SourcedObject>,
    target: Vec<SourcedObject>,
    (current_rev, target_rev): (u32, u32),
) -> Result<Vec<SourcedObject>> {
    let (flag, list) = if args.only.is_empty() {
        ("--except", &args.except)
    } else {
        ("--only", &args.only)
    };
    let both = || current.iter().chain(&target);
    let kinds: Vec<(&str, &str)> = both().map(|o| (o.api_version(), o.kind())).collect();
    let served = shared::discovery::listable_resources(&k.client).await?;
    let selectors = Selectors::resolve(flag, list, served, &kinds).map_err(anyhow::Error::msg)?;
    for s in selectors.iter() {
        if !both().any(|o| selectors.picks(s, o.api_version(), o.kind(), o.name())) {
            bail!(
                "{flag} {}: no object of revision {current_rev} or revision {target_rev} matches",
                s.text
            );
        }
    }
    let selected = |o: &SourcedObject| {
        selectors.any(o.api_version(), o.kind(), o.name()) != args.only.is_empty()
    };
    let mut mixed: Vec<_> = current.into_iter().filter(|o| !selected(o)).collect();
    mixed.extend(target.into_iter().filter(|o| selected(o)));
    Ok(mixed)
}

/// Runs `uninstall`.
pub async fn uninstall(kube: &KubeArgs, args: &UninstallArgs) -> Result<u8> {
    shared::interrupt::watch();
    let k = kube.connect().await?;
    let store = crate::cli::store(&k, &args.storage)?;
    let lock = Lock::acquire(
        k.client.clone(),
        &k.namespace,
        &args.release,
        args.wait_for_lock
            .then_some(std::time::Duration::from_secs(300)),
    )
    .await?;
    let result = async {
        let history = store.history(&args.release).await?;
        let Some(mut latest) = history.last().cloned() else {
            bail!("release {} not found in {}", args.release, k.namespace);
        };
        let progress = Progress::new();
        // The recorded manifest holds the delete hooks; unreadable, they
        // would be skipped without a word.
        let objects = shared::stream::parse_stream(&latest.manifest, shared::stream::Origin::Stdin)
            .map_err(|e| {
                anyhow::anyhow!(
                    "the manifest recorded with revision {} of {} cannot be read ({e}); nothing was deleted",
                    latest.revision,
                    args.release
                )
            })?;
        latest.status = Status::Uninstalling;
        store.save(&latest).await?;
        let (_, hooks) = crate::hooks::partition(objects);
        let resolver = shared::discovery::Resolver::new(k.client.clone());
        let engine = crate::engine::Engine {
            force: true,
            ..crate::engine::Engine::new(k.client.clone(), &resolver, &k.namespace, &args.release)
        };
        crate::hooks::run(&engine, &hooks, "pre-delete")
            .await
            .map_err(anyhow::Error::msg)?;
        let how = crate::delete::Deletion {
            release: &args.release,
            namespace: &k.namespace,
            crds: false,
            namespaces: args.delete_namespaces,
        };
        let crate::delete::Deleted {
            deleted,
            kept,
            errors,
        } = crate::delete::delete_all(&k.client, &latest.objects, &how, &progress).await;
        if !errors.is_empty() {
            latest.status = Status::Failed;
            latest.description = format!("uninstall failed: {}", errors.join("; "));
            store.save(&latest).await?;
            bail!(
                "uninstall of {} failed: {}",
                args.release,
                errors.join("; ")
            );
        }
        crate::hooks::run(&engine, &hooks, "post-delete")
            .await
            .map_err(anyhow::Error::msg)?;
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(k.client.clone(), &k.namespace);
        let _ = api
            .delete(
                &crate::engine::parent_name(&args.release),
                &Default::default(),
            )
            .await;
        if args.keep_history {
            latest.status = Status::Uninstalled;
            latest.description = "uninstalled".into();
            store.save(&latest).await?;
        } else {
            for r in &history {
                store.delete_revision(&args.release, r.revision).await?;
            }
        }
        progress.note(&format!(
            "release {} uninstalled: {deleted} objects deleted, {kept} kept",
            args.release
        ));
        Ok(exit::OK)
    }
    .await;
    lock.release().await;
    result
}
