//! `kubectl pack-waves operator`: keeps `PackRelease`s deployed from an
//! OCI registry. `run` is the controller (leader election, health and
//! metrics endpoints); `crd` prints the CRD; `suspend`, `resume` and
//! `sync-now` patch one PackRelease.
//!
//! The operator lives in pack-waves because it is waves' job on a
//! schedule: it owns the release it deploys. It runs the other plugins as
//! programs (see [`pipeline`]), so no plugin imports another.
//!
//! The loop: one kube-runtime watcher over PackReleases; an object is
//! reconciled when it appears, when its generation or `sync-now`
//! annotation changes (not on its own status writes), and when the delay
//! its last reconcile asked for is up. Up to `--concurrency` reconciles run
//! at once, never two of one PackRelease.

mod metrics;
mod pipeline;
mod reconcile;
mod spec;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde_json::json;
use shared::kubeconfig::{Kube, KubeArgs};
use shared::output::exit;
use tokio::time::Instant;

use crate::cli::{OperatorArgs, OperatorCommand, OperatorRunArgs};

/// Runs `operator ...`.
pub async fn run(kube: &KubeArgs, args: &OperatorArgs) -> Result<u8> {
    match &args.command {
        OperatorCommand::Crd => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(spec::CRD_YAML.as_bytes())?;
            Ok(exit::OK)
        }
        OperatorCommand::Run(a) => controller(kube, a).await,
        OperatorCommand::Suspend(a) => {
            steer(
                kube,
                &a.name,
                json!({"spec": {"suspend": true}}),
                "suspended",
            )
            .await
        }
        OperatorCommand::Resume(a) => {
            steer(
                kube,
                &a.name,
                json!({"spec": {"suspend": false}}),
                "resumed",
            )
            .await
        }
        OperatorCommand::SyncNow(a) => {
            let stamp = jiff::Timestamp::now().to_string();
            let patch = json!({"metadata": {"annotations": {spec::SYNC_NOW: stamp}}});
            steer(kube, &a.name, patch, "asked to reconcile now").await
        }
    }
}

/// Patches one PackRelease.
async fn steer(kube: &KubeArgs, name: &str, patch: serde_json::Value, done: &str) -> Result<u8> {
    let k = kube.connect().await?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(k.client.clone(), &k.namespace, &spec::resource());
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|e| match &e {
            kube::Error::Api(s) if s.code == 404 => anyhow::anyhow!(
                "PackRelease {}/{name} not found (is the CRD installed? `kubectl pack-waves operator crd`)",
                k.namespace
            ),
            _ => anyhow::anyhow!("cannot patch PackRelease {}/{name}: {}", k.namespace, shared::error::one_line(&e.to_string())),
        })?;
    shared::output::info(&format!("PackRelease {}/{name} {done}", k.namespace));
    Ok(exit::OK)
}

/// `operator run`: waits for the Lease with `--leader-elect`, then
/// reconciles until stopped or the Lease is lost.
async fn controller(kube: &KubeArgs, args: &OperatorRunArgs) -> Result<u8> {
    let k = kube.connect().await?;
    let metrics = Arc::new(metrics::Metrics::new());
    if let Some(addr) = args.metrics_addr {
        let listener = shared::probe::bind("--metrics-addr", addr).await?;
        tokio::spawn(shared::probe::serve(listener, routes(metrics.clone())));
        shared::output::info(&format!("health and metrics on http://{addr}/"));
    }
    let mut leadership = args
        .leader
        .lead(&k.client, &k.namespace, "kubectl-pack-operator")
        .await?;
    let reconciler = Arc::new(reconcile::Reconciler {
        client: k.client.clone(),
        tools: pipeline::Tools::new(kube)?,
        recorder: Recorder::new(
            k.client.clone(),
            Reporter {
                controller: "kubectl-pack-operator".into(),
                instance: Some(shared::release::lock::identity()),
            },
        ),
        metrics,
        retry: reconcile::Retry {
            backoff: shared::retry::Backoff::new(args.retry_initial, args.retry_max),
            stall_after: args.stall_after,
            timeout: args.timeout,
            cross_namespace: args.allow_cross_namespace,
        },
    });
    let work = reconcile_loop(&k, args, reconciler);
    match &mut leadership {
        None => work.await,
        Some(l) => tokio::select! {
            done = work => done,
            why = l.lost() => Err(anyhow::anyhow!(why)),
        },
    }
}

/// `/readyz` answers once the process is connected, leading or standing
/// by: a standby must not count as unavailable (the PodDisruptionBudget of
/// `deploy/` would block on it), and a watch error is retried, not a
/// reason to be taken out of service.
fn routes(metrics: Arc<metrics::Metrics>) -> shared::probe::Routes {
    use shared::probe::Response;
    Arc::new(move |path| match path {
        "/healthz" | "/readyz" => Some(Response::ok("ok\n")),
        "/metrics" => Some(Response::metrics(metrics.render())),
        _ => None,
    })
}

/// One PackRelease as the loop knows it.
struct Entry {
    obj: DynamicObject,
    /// Generation and `sync-now`: a change of either means "look now".
    trigger: (Option<i64>, Option<String>),
    due: Option<Instant>,
}

fn trigger(obj: &DynamicObject) -> (Option<i64>, Option<String>) {
    let sync = obj
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(spec::SYNC_NOW))
        .cloned();
    (obj.metadata.generation, sync)
}

type Key = (String, String);

fn key(obj: &DynamicObject) -> Key {
    (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

/// Reconciles PackReleases, `--concurrency` at a time (one object never
/// twice at once), until Ctrl-C.
async fn reconcile_loop(
    k: &Kube,
    args: &OperatorRunArgs,
    r: Arc<reconcile::Reconciler>,
) -> Result<u8> {
    let all = args.all_namespaces;
    let api: Api<DynamicObject> = if all {
        Api::all_with(k.client.clone(), &spec::resource())
    } else {
        Api::namespaced_with(k.client.clone(), &k.namespace, &spec::resource())
    };
    // The CRD must exist: say so once instead of retrying forever.
    api.list(&kube::api::ListParams::default().limit(1)).await.map_err(|e| match &e {
        kube::Error::Api(s) if s.code == 404 => anyhow::anyhow!(
            "the PackRelease CRD is not installed: `kubectl pack-waves operator crd | kubectl pack-crd apply`"
        ),
        _ => anyhow::anyhow!("cannot list PackReleases: {}", shared::error::one_line(&e.to_string())),
    })?;
    let scope = if all {
        "all namespaces".to_string()
    } else {
        format!("namespace {}", k.namespace)
    };
    shared::output::info(&format!("operator: reconciling PackReleases in {scope}"));
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut entries: HashMap<Key, Entry> = HashMap::new();
    let mut listed: HashSet<Key> = HashSet::new();
    let mut running: HashMap<tokio::task::Id, Key> = HashMap::new();
    let mut tasks: tokio::task::JoinSet<reconcile::Outcome> = tokio::task::JoinSet::new();
    loop {
        let busy: HashSet<&Key> = running.values().collect();
        let next = entries
            .iter()
            .filter(|(k, _)| !busy.contains(k))
            .filter_map(|(k, e)| e.due.map(|d| (d, k.clone())))
            .min()
            .filter(|_| running.len() < args.concurrency as usize);
        drop(busy);
        let sleep = next.as_ref().map_or(Duration::from_secs(3600), |(d, _)| {
            d.saturating_duration_since(Instant::now())
        });
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
            ev = stream.next() => match ev {
                None => anyhow::bail!("the PackRelease watch ended"),
                Some(Ok(WatchEvent::Init)) => listed.clear(),
                Some(Ok(WatchEvent::InitApply(o))) => {
                    listed.insert(key(&o));
                    seen(&mut entries, o);
                }
                // A re-list: what it did not return was deleted meanwhile.
                Some(Ok(WatchEvent::InitDone)) => entries.retain(|k, _| {
                    let keep = listed.contains(k);
                    if !keep {
                        r.metrics.forget(&k.0, &k.1);
                    }
                    keep
                }),
                Some(Ok(WatchEvent::Apply(o))) => seen(&mut entries, o),
                Some(Ok(WatchEvent::Delete(o))) => {
                    let (ns, name) = key(&o);
                    r.metrics.forget(&ns, &name);
                    entries.remove(&(ns, name));
                }
                Some(Err(e)) => {
                    shared::output::warn(&format!("PackRelease watch: {}; retrying", shared::error::one_line(&e.to_string())));
                }
            },
            _ = tokio::time::sleep(sleep), if next.is_some() => {
                let Some((_, key)) = next else { continue };
                let Some(e) = entries.get_mut(&key) else { continue };
                // A change while it runs sets `due` again: it runs once more.
                e.due = None;
                let (obj, r) = (e.obj.clone(), r.clone());
                let id = tasks.spawn(async move { r.reconcile(&obj).await }).id();
                running.insert(id, key);
            }
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let (id, outcome) = match done {
                    Ok(x) => x,
                    Err(e) => {
                        shared::output::warn(&format!("a reconcile stopped: {e}"));
                        (e.id(), reconcile::Outcome { again: Some(r.retry.backoff.delay(0)), written: None })
                    }
                };
                let Some(key) = running.remove(&id) else { continue };
                let Some(e) = entries.get_mut(&key) else { continue };
                match (e.due.is_none(), outcome.written) {
                    (true, Some(w)) => e.obj = w,
                    // Changed while it ran: keep the newer object, with the
                    // status just written (the next run starts from it).
                    (false, Some(w)) => e.obj.data["status"] = w.data["status"].clone(),
                    (_, None) => {}
                }
                if e.due.is_none() {
                    e.due = outcome.again.map(|d| Instant::now() + d);
                }
            }
        }
    }
}

/// A PackRelease appeared or changed: reconcile now if it is new or its
/// generation or `sync-now` changed; otherwise (its own status write)
/// keep the schedule.
fn seen(entries: &mut HashMap<Key, Entry>, obj: DynamicObject) {
    let t = trigger(&obj);
    match entries.get_mut(&key(&obj)) {
        Some(e) if e.trigger == t => e.obj = obj,
        Some(e) => {
            e.trigger = t;
            e.obj = obj;
            e.due = Some(Instant::now());
        }
        None => {
            entries.insert(
                key(&obj),
                Entry {
                    obj,
                    trigger: t,
                    due: Some(Instant::now()),
                },
            );
        }
    }
}
