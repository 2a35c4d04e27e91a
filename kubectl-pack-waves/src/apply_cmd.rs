//! `apply RELEASE`: plan (errors before any change), lock, apply the waves,
//! prune what left the stream, record the revision; also the shared path
//! for `rollback` (re-applying a stored manifest).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use shared::kubeconfig::{Kube, KubeArgs};
use shared::output::exit;
use shared::release::lock::Lock;
use shared::release::store::{Storage, Store};
use shared::release::{ObjectRecord, PackInfo, Release, Status, now};
use shared::stream::SourcedObject;

use crate::cli::{ApplyArgs, DryRun, OnFailure};
use crate::engine::{Engine, write_parent};
use crate::plan;
use crate::progress::Progress;

/// Options of one apply (from flags, or a rollback's defaults).
#[derive(Clone)]
pub struct Options {
    /// Release.
    pub release: String,
    /// Storage.
    pub storage: Storage,
    /// Flags.
    pub create_namespace: bool,
    /// `--force-conflicts`.
    pub force: bool,
    /// Parallel applies.
    pub concurrency: usize,
    /// Wait between waves.
    pub wait: bool,
    /// Overall timeout.
    pub timeout: Duration,
    /// On failure.
    pub on_failure: OnFailure,
    /// Only this wave.
    pub wave: Option<i64>,
    /// History to keep.
    pub max_history: usize,
    /// Wait for the lock.
    pub wait_for_lock: bool,
    /// Prune CRDs.
    pub prune_crds: bool,
    /// Do not prune.
    pub no_prune: bool,
    /// Status while running and description.
    pub rollback_of: Option<u32>,
    /// `--rollback-on` Pod states.
    pub fail_on: Vec<String>,
    /// `--pause-between-waves`.
    pub pause: bool,
    /// Pack metadata and settings from the stream's header (kept in the record).
    pub pack: PackInfo,
    /// `--take-ownership`.
    pub take_ownership: bool,
    /// `--force-replace`.
    pub force_replace: bool,
}

/// Runs `apply`.
pub async fn run(kube: &KubeArgs, args: &ApplyArgs) -> Result<u8> {
    shared::interrupt::watch();
    let (objects, pack) = shared::stream::read_inputs_with_pack(&args.input.inputs(), true)?;
    if objects.is_empty() && !args.allow_empty {
        bail!(
            "nothing to apply: the stream holds no objects (did the command before the pipe fail?); nothing was changed. To remove release {}, run kubectl pack-waves uninstall {}; to deploy an empty revision anyway, pass --allow-empty",
            args.release,
            args.release
        );
    }
    let manifest = manifest_of(&objects)?;
    let opts = Options {
        pack: pack.unwrap_or_default(),
        release: args.release.clone(),
        storage: crate::cli::storage(&args.storage)?,
        create_namespace: args.create_namespace,
        force: args.force_conflicts,
        concurrency: args.concurrency,
        wait: args.change.wait || args.wait_for_jobs,
        timeout: args.change.timeout,
        // --rollback-on means: roll back when it triggers.
        on_failure: if args.rollback_on.is_empty() && !args.rollback_on_failure {
            args.on_failure
        } else {
            OnFailure::Rollback
        },
        wave: args.wave,
        max_history: args.max_history,
        wait_for_lock: args.wait_for_lock,
        prune_crds: args.prune_crds,
        no_prune: args.no_prune,
        rollback_of: None,
        fail_on: args.rollback_on.clone(),
        pause: args.pause_between_waves,
        take_ownership: args.take_ownership,
        force_replace: args.replace.force_replace,
    };
    if opts.pause && !shared::output::is_terminal(shared::output::Stream::Stdin) {
        return Err(shared::error::Usage(
            "--pause-between-waves asks on a terminal, and stdin is the stream; pass the stream with -f FILE and run it in a terminal".into(),
        )
        .into());
    }
    let k = kube.connect().await?;
    match args.change.dry_run {
        DryRun::None => apply(&k, objects, manifest, &opts).await,
        DryRun::Client => crate::dry_run::client(&k, &opts, objects).await,
        DryRun::Server => crate::dry_run::server(&k, &opts, objects).await,
    }
}

impl Options {
    /// What the pre-write checks (`preflight`) need of these options.
    pub fn target<'a>(&'a self, namespace: &'a str) -> crate::preflight::Target<'a> {
        crate::preflight::Target {
            release: &self.release,
            namespace,
            take_ownership: self.take_ownership,
            force_replace: self.force_replace,
            concurrency: self.concurrency,
        }
    }
}

/// The stream as text (stored in the record).
pub fn manifest_of(objects: &[SourcedObject]) -> Result<String> {
    let values: Vec<&serde_json::Value> = objects.iter().map(|o| &o.object).collect();
    let mut out = Vec::new();
    shared::yaml::write_stream(&mut out, values)?;
    Ok(String::from_utf8(out)?)
}

/// Applies objects as a new revision.
pub async fn apply(
    k: &Kube,
    objects: Vec<SourcedObject>,
    manifest: String,
    opts: &Options,
) -> Result<u8> {
    crate::validate::offline(&objects)?;
    let (objects, hooks) = crate::hooks::partition(objects);
    // Hook annotations were checked with every other mark by `offline`.
    let plan = plan::build(objects)?;
    let progress = Progress::new();
    for w in &plan.warnings {
        shared::output::warn(w);
    }
    let resolver = shared::discovery::Resolver::new(k.client.clone());
    let all: Vec<&SourcedObject> = plan.items.iter().map(|i| &i.obj).chain(&hooks).collect();
    crate::validate::kinds(&resolver, &all).await?;
    let ns = k.namespace.clone();
    let created = opts.create_namespace && ensure_namespace(&k.client, &ns).await?;
    let store = Store::new(Some(k.client.clone()), &ns, opts.storage.clone());
    let lock = Lock::acquire(
        k.client.clone(),
        &ns,
        &opts.release,
        opts.wait_for_lock.then_some(opts.timeout),
    )
    .await?;
    let ctx = Ctx {
        k,
        resolver: &resolver,
        store: &store,
        progress: &progress,
    };
    let result = apply_locked(&ctx, &plan, &hooks, manifest, opts).await;
    lock.release().await;
    if created
        && let Err(e) = &result
        && e.is::<shared::error::Refusal>()
    {
        // Refused before any write: the namespace this run created goes too.
        delete_namespace(&k.client, &ns).await;
    }
    result
}

async fn delete_namespace(client: &kube::Client, ns: &str) {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    if let Err(e) = api.delete(ns, &Default::default()).await {
        shared::output::warn(&format!(
            "the namespace {ns} created for this apply was not removed: {}",
            shared::Error::api("delete", e)
        ));
    }
}

/// What one locked apply works with.
struct Ctx<'a> {
    k: &'a Kube,
    resolver: &'a shared::discovery::Resolver,
    store: &'a Store,
    progress: &'a Progress,
}

async fn apply_locked(
    ctx: &Ctx<'_>,
    plan: &plan::Plan,
    hooks: &[SourcedObject],
    manifest: String,
    opts: &Options,
) -> Result<u8> {
    let Ctx {
        k,
        resolver,
        store,
        progress,
    } = *ctx;
    let target = opts.target(&k.namespace);
    let objects: Vec<&SourcedObject> = plan.items.iter().map(|i| &i.obj).collect();
    let passed = crate::preflight::check(&k.client, resolver, &target, &objects, hooks).await?;
    if shared::interrupt::requested() {
        progress.note("interrupted before anything was written");
        return Ok(exit::ERROR);
    }
    for id in &passed.adopted {
        progress.note(&format!("taking over {id} (--take-ownership)"));
    }
    let (mut rel, mut history, previous) = begin(k, manifest, opts, store, progress).await?;
    let engine = Engine {
        concurrency: opts.concurrency,
        force: opts.force,
        wait: opts.wait,
        deadline: Instant::now() + opts.timeout,
        keep_going: opts.on_failure == OnFailure::Continue,
        fail_on: opts.fail_on.clone(),
        pause: opts.pause,
        replace: passed.replace,
        leave_replicas: passed.leave_replicas,
        ..Engine::new(k.client.clone(), resolver, &k.namespace, &opts.release)
    };
    let started = Instant::now();
    let run = run_phases(&engine, plan, hooks, opts, previous.as_ref(), &mut rel).await;
    mark_adopted(&mut rel, &passed.adopted, previous.as_ref());
    write_parent(&k.client, &k.namespace, &opts.release, &rel.objects).await?;
    if let Some(failure) = run.failure {
        fail(ctx, rel, previous, &failure, opts).await?;
        return Ok(exit::ERROR);
    }
    let pruned = prune(k, &rel, previous.as_ref(), opts, progress).await;
    rel.status = Status::Deployed;
    rel.description = match opts.rollback_of {
        Some(r) => format!("rollback to {r}"),
        None if previous.is_some() => "upgrade complete".into(),
        None => "install complete".into(),
    };
    rel.last_deployed = now();
    store.save(&rel).await?;
    // The revisions loaded at the start are still current: we hold the lock.
    for old in history.iter_mut().filter(|r| r.status == Status::Deployed) {
        old.status = Status::Superseded;
        store.save(old).await?;
    }
    prune_history(store, &opts.release, &history, opts.max_history).await?;
    summary(&rel);
    progress.note(&format!(
        "release {} revision {} deployed in {}: {} objects in {} waves, {pruned} pruned, {:.1}s",
        opts.release,
        rel.revision,
        k.namespace,
        rel.objects.len(),
        rel.plan.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(exit::OK)
}

/// Records which objects existed before the release took them over: now,
/// or in the previous revision.
fn mark_adopted(rel: &mut Release, now: &[shared::identity::ObjectId], previous: Option<&Release>) {
    for r in rel.objects.iter_mut().chain(rel.hooks.iter_mut()) {
        let id = r.id();
        r.adopted = now.iter().any(|a| a.key() == id.key())
            || previous.is_some_and(|p| p.objects.iter().any(|o| o.adopted && same(o, r)));
    }
}

/// Store housekeeping, then the new revision recorded as pending: returns
/// it, the history as loaded and the previous deployed revision.
async fn begin(
    k: &Kube,
    manifest: String,
    opts: &Options,
    store: &Store,
    progress: &Progress,
) -> Result<(Release, Vec<Release>, Option<Release>)> {
    let cleaned = store.cleanup_partial(&opts.release).await?;
    if cleaned > 0 {
        progress.note(&format!(
            "removed {cleaned} half-written revision(s) of {}",
            opts.release
        ));
    }
    let mut history = store.history(&opts.release).await?;
    // We hold the lock: a revision still pending was interrupted (process or API server gone).
    for r in history.iter_mut().filter(|r| {
        matches!(
            r.status,
            Status::PendingInstall | Status::PendingUpgrade | Status::PendingRollback
        )
    }) {
        r.status = Status::Failed;
        r.description = "interrupted before it finished; superseded by a later apply".into();
        store.save(r).await?;
        progress.note(&format!(
            "revision {} of {} was interrupted; marked failed",
            r.revision, opts.release
        ));
    }
    let previous = history
        .iter()
        .rev()
        .find(|r| r.status == Status::Deployed)
        .cloned();
    let rel = Release {
        name: opts.release.clone(),
        namespace: k.namespace.clone(),
        revision: history.last().map_or(1, |r| r.revision + 1),
        status: match (opts.rollback_of, previous.is_some()) {
            (Some(_), _) => Status::PendingRollback,
            (None, true) => Status::PendingUpgrade,
            (None, false) => Status::PendingInstall,
        },
        first_deployed: history
            .first()
            .map_or_else(now, |r| r.first_deployed.clone()),
        last_deployed: now(),
        description: String::new(),
        pack: opts.pack.clone(),
        values: serde_json::Value::Null,
        manifest,
        objects: Vec::new(),
        hooks: Vec::new(),
        plan: Vec::new(),
        partial_wave: opts.wave,
        patches_stamped: false,
    };
    store.save(&rel).await?;
    Ok((rel, history, previous))
}

/// Pre hooks, the waves, post hooks; the records land in `rel`.
async fn run_phases(
    engine: &Engine<'_>,
    plan: &plan::Plan,
    hooks: &[SourcedObject],
    opts: &Options,
    previous: Option<&Release>,
    rel: &mut Release,
) -> crate::engine::RunResult {
    let op = match (opts.rollback_of, previous.is_some()) {
        (Some(_), _) => "rollback",
        (None, true) => "upgrade",
        (None, false) => "install",
    };
    let mut run = match crate::hooks::run(engine, hooks, &format!("pre-{op}")).await {
        Ok(records) => {
            rel.hooks.extend(records);
            engine.run(plan, opts.wave).await
        }
        Err(failure) => crate::engine::RunResult {
            objects: Vec::new(),
            plan: Vec::new(),
            failure: Some(failure),
        },
    };
    if run.failure.is_none() {
        match crate::hooks::run(engine, hooks, &format!("post-{op}")).await {
            Ok(records) => rel.hooks.extend(records),
            Err(failure) => run.failure = Some(failure),
        }
    }
    let mut objects = std::mem::take(&mut run.objects);
    // A partial apply keeps the previous records of the waves it did not touch.
    if opts.wave.is_some()
        && let Some(prev) = previous
    {
        for r in &prev.objects {
            if !objects.iter().any(|o| same(o, r)) && opts.wave != Some(r.wave) {
                objects.push(r.clone());
            }
        }
    }
    rel.objects = objects;
    rel.plan = std::mem::take(&mut run.plan);
    run
}

/// Records the failed revision and, with `--on-failure rollback`, applies
/// the previous deployed one again.
async fn fail(
    ctx: &Ctx<'_>,
    mut rel: Release,
    previous: Option<Release>,
    failure: &str,
    opts: &Options,
) -> Result<()> {
    let (store, progress) = (ctx.store, ctx.progress);
    rel.status = Status::Failed;
    rel.description = format!("failed: {failure}");
    store.save(&rel).await?;
    progress.note(&format!(
        "revision {} of {} failed: {failure}",
        rel.revision, opts.release
    ));
    let rollback = opts.on_failure == OnFailure::Rollback && !shared::interrupt::requested();
    let Some(prev) = previous.filter(|_| rollback) else {
        return Ok(());
    };
    progress.note(&format!("rolling back to revision {}", prev.revision));
    let objects = shared::stream::parse_stream(&prev.manifest, shared::stream::Origin::Stdin)?;
    let o = Options {
        create_namespace: false,
        wave: None,
        rollback_of: Some(prev.revision),
        on_failure: OnFailure::Stop,
        fail_on: Vec::new(),
        pause: false,
        pack: prev.pack.clone(),
        ..opts.clone()
    };
    let (objects, prev_hooks) = crate::hooks::partition(objects);
    Box::pin(apply_locked(
        ctx,
        &plan::build(objects)?,
        &prev_hooks,
        prev.manifest.clone(),
        &o,
    ))
    .await?;
    Ok(())
}

/// Deletes what the previous deployed revision had and this one does not;
/// returns how many were deleted.
async fn prune(
    k: &Kube,
    rel: &Release,
    previous: Option<&Release>,
    opts: &Options,
    progress: &Progress,
) -> usize {
    let Some(prev) = previous.filter(|_| !opts.no_prune && opts.wave.is_none()) else {
        return 0;
    };
    let gone: Vec<ObjectRecord> = prev
        .objects
        .iter()
        .filter(|r| !rel.objects.iter().any(|o| same(o, r)))
        .cloned()
        .collect();
    let how = crate::delete::Deletion {
        release: &opts.release,
        namespace: &k.namespace,
        crds: opts.prune_crds,
        namespaces: false,
        dry_run: false,
    };
    let done = crate::delete::delete_all(&k.client, &gone, &how, progress).await;
    for e in done.errors {
        shared::output::warn(&format!("prune: {e}"));
    }
    done.deleted
}

/// The final table: per wave, its objects by kind.
fn summary(rel: &Release) {
    eprintln!("{:>5}  {:>7}  KINDS", "WAVE", "OBJECTS");
    for w in &rel.plan {
        let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
        for o in &w.objects {
            *kinds.entry(o.split('/').next().unwrap_or("?")).or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} x{n}")).collect();
        eprintln!(
            "{:>5}  {:>7}  {}",
            w.wave,
            w.objects.len(),
            kinds.join(", ")
        );
    }
    if !rel.hooks.is_empty() {
        eprintln!(
            "hooks: {}",
            rel.hooks
                .iter()
                .map(|h| format!("{}/{}", h.kind, h.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Same object (group, kind, namespace, name).
pub fn same(a: &ObjectRecord, b: &ObjectRecord) -> bool {
    a.id().key() == b.id().key()
}

/// Deletes the oldest superseded/failed revisions beyond `max` (counting
/// the one just written, which is not in `older`).
async fn prune_history(store: &Store, release: &str, older: &[Release], max: usize) -> Result<()> {
    let excess = (older.len() + 1).saturating_sub(max.max(1));
    for r in older
        .iter()
        .filter(|r| matches!(r.status, Status::Superseded | Status::Failed))
        .take(excess)
    {
        store.delete_revision(release, r.revision).await?;
    }
    Ok(())
}

/// Creates the namespace when it is missing (not owned by the release);
/// true when it did.
async fn ensure_namespace(client: &kube::Client, ns: &str) -> Result<bool> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let found = api
        .get_opt(ns)
        .await
        .map_err(|e| shared::Error::api(format!("read namespace {ns}"), e))?;
    if found.is_some() {
        return Ok(false);
    }
    let obj = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))?;
    api.create(&Default::default(), &obj)
        .await
        .map_err(|e| shared::Error::api(format!("create namespace {ns}"), e))?;
    Ok(true)
}
