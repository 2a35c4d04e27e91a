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
use crate::cli::{DryRun, OnFailure, RollbackArgs, UninstallArgs};
use crate::progress::Progress;

/// Runs `rollback`: the stored manifest of the target revision applied as a new revision.
pub async fn rollback(kube: &KubeArgs, args: &RollbackArgs) -> Result<u8> {
    shared::interrupt::watch();
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
    let dry_run = if args.diff {
        DryRun::Server
    } else {
        args.change.dry_run
    };
    match dry_run {
        DryRun::None => {}
        DryRun::Client => {
            let next = history.last().map_or(1, |r| r.revision + 1);
            return rollback_plan(current, target.revision, next, &objects);
        }
        DryRun::Server => {
            crate::diff_cmd::diff_objects(&k, &args.release, storage, objects, true).await?;
            shared::output::info("dry run (server): nothing was changed");
            return Ok(exit::OK);
        }
    }
    let manifest = apply_cmd::manifest_of(&objects)?;
    let opts = Options {
        release: args.release.clone(),
        storage,
        create_namespace: false,
        force: true,
        concurrency: crate::engine::DEFAULT_CONCURRENCY,
        wait: args.change.wait,
        timeout: args.change.timeout,
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

/// `rollback --dry-run=client`: what would be re-applied and deleted.
fn rollback_plan(
    current: &shared::release::Release,
    target: u32,
    next: u32,
    objects: &[SourcedObject],
) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "would re-apply revision {target} ({} objects) as revision {next}",
        objects.len()
    )?;
    for r in current.objects.iter().filter(|r| {
        !objects
            .iter()
            .any(|o| o.kind() == r.kind && o.name() == r.name)
    }) {
        writeln!(out, "would delete {}/{}", r.kind, r.name)?;
    }
    shared::output::info("dry run (client): nothing was changed");
    Ok(exit::OK)
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
    let selectors = Selectors::resolve(flag, list, served, &kinds).map_err(shared::error::Usage)?;
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

/// Runs `uninstall`: delete hooks, the release's objects in reverse wave
/// order (only what is still ours), then its history; `--wait` waits for
/// the deleted objects to be gone.
pub async fn uninstall(kube: &KubeArgs, args: &UninstallArgs) -> Result<u8> {
    shared::interrupt::watch();
    let k = kube.connect().await?;
    let store = crate::cli::store(&k, &args.storage)?;
    let how = crate::delete::Deletion {
        release: &args.release,
        namespace: &k.namespace,
        crds: false,
        namespaces: args.delete_namespaces,
        dry_run: args.change.dry_run == DryRun::Server,
    };
    if args.change.dry_run != DryRun::None {
        return uninstall_dry_run(&k, &store, args, &how).await;
    }
    let lock = Lock::acquire(
        k.client.clone(),
        &k.namespace,
        &args.release,
        args.wait_for_lock.then_some(args.change.timeout),
    )
    .await?;
    let result = uninstall_locked(&k, &store, args, &how).await;
    lock.release().await;
    result
}

/// The release's history, its latest revision and that revision's objects
/// (the delete hooks among them).
async fn recorded(
    store: &Store,
    release: &str,
    namespace: &str,
) -> Result<(
    Vec<shared::release::Release>,
    shared::release::Release,
    Vec<SourcedObject>,
)> {
    let history = store.history(release).await?;
    let Some(latest) = history.last().cloned() else {
        bail!("release {release} not found in {namespace}");
    };
    // Unreadable, the delete hooks would be skipped without a word.
    let objects = shared::stream::parse_stream(&latest.manifest, shared::stream::Origin::Stdin)
        .map_err(|e| {
            anyhow::anyhow!(
                "the manifest recorded with revision {} of {release} cannot be read ({e}); nothing was deleted",
                latest.revision
            )
        })?;
    Ok((history, latest, objects))
}

/// `uninstall --dry-run=client|server`: what would be deleted and kept,
/// on stdout; nothing changes (a server dry-run sends every delete with
/// `dryRun=All`, so RBAC, admission and ownership are checked).
async fn uninstall_dry_run(
    k: &shared::kubeconfig::Kube,
    store: &Store,
    args: &UninstallArgs,
    how: &crate::delete::Deletion<'_>,
) -> Result<u8> {
    let (history, latest, objects) = recorded(store, &args.release, &k.namespace).await?;
    let lines = if how.dry_run {
        let done =
            crate::delete::delete_all(&k.client, &latest.objects, how, &Progress::new()).await;
        if !done.errors.is_empty() {
            bail!(
                "uninstall of {} would fail: {}",
                args.release,
                done.errors.join("; ")
            );
        }
        done.report
    } else {
        crate::delete::planned(&latest.objects, how)
    };
    let mut out = std::io::stdout().lock();
    let (_, hooks) = crate::hooks::partition(objects);
    for phase in ["pre-delete", "post-delete"] {
        for h in crate::hooks::for_phase(&hooks, phase).map_err(anyhow::Error::msg)? {
            writeln!(out, "would run {phase} hook {}/{}", h.kind(), h.name())?;
        }
    }
    for line in lines {
        writeln!(out, "{line}")?;
    }
    if args.keep_history {
        writeln!(
            out,
            "would keep the history of {} (marked uninstalled)",
            args.release
        )?;
    } else {
        writeln!(
            out,
            "would delete the {} revision record(s) of {}",
            history.len(),
            args.release
        )?;
    }
    let mode = if how.dry_run { "server" } else { "client" };
    shared::output::info(&format!("dry run ({mode}): nothing was changed"));
    Ok(exit::OK)
}

async fn uninstall_locked(
    k: &shared::kubeconfig::Kube,
    store: &Store,
    args: &UninstallArgs,
    how: &crate::delete::Deletion<'_>,
) -> Result<u8> {
    let deadline = std::time::Instant::now() + args.change.timeout;
    let (history, mut latest, objects) = recorded(store, &args.release, &k.namespace).await?;
    let progress = Progress::new();
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
    let done = crate::delete::delete_all(&k.client, &latest.objects, how, &progress).await;
    let mut errors = done.errors;
    if errors.is_empty()
        && args.change.wait
        && let Err(left) = crate::delete::wait_gone(&k.client, &done.gone, deadline).await
    {
        errors.push(format!(
            "still there after --timeout {}s (finalizers not done?): {}",
            args.change.timeout.as_secs(),
            left.join(", ")
        ));
    }
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
    delete_parent(k, &args.release).await;
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
        "release {} uninstalled: {} objects deleted, {} kept",
        args.release, done.deleted, done.kept
    ));
    Ok(exit::OK)
}

/// Deletes the ApplySet parent Secret; one already gone is fine, any other
/// failure a warning (the release's objects are gone; the parent only
/// lists them).
async fn delete_parent(k: &shared::kubeconfig::Kube, release: &str) {
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(k.client.clone(), &k.namespace);
    let name = crate::engine::parent_name(release);
    match api.delete(&name, &Default::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => shared::output::warn(&format!(
            "the ApplySet parent Secret {name} was not deleted: {}",
            shared::Error::api("delete", e)
        )),
    }
}
