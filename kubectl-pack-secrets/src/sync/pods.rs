//! Pod-annotation sync: Pods carrying `secrets.sherpack.io/sync` get the
//! Secret they ask for in their namespace. One-shot lists Pods once;
//! `--watch` follows a metadata-only watch (small memory per Pod) with
//! reconnects and backoff, and re-fetches every `--refresh`.
//!
//! Permanent errors (bad annotation, unknown provider, not found,
//! permission denied) are reported once per Pod as an Event and not
//! retried until the annotation changes or the next refresh. Transient
//! ones (throttled, unavailable, timed out) are tried again with backoff
//! (1 s doubling to 5 min, with jitter; the provider's Retry-After when
//! longer) while watching.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use shared::kubeconfig::Kube;
use shared::output::exit;

use super::events::{self, PodRef};
use super::metrics::Metrics;
use super::spec::{Job, POD_ANNOTATION, parse_annotation};
use super::{CONCURRENCY, Cache, sync_job};
use crate::providers::{ProviderError, Providers};

/// How `run` works.
pub struct Options {
    /// All namespaces.
    pub all: bool,
    /// Keep watching.
    pub watch: bool,
    /// Re-fetch period.
    pub refresh: Duration,
}

/// Delays between tries of a transiently failing Pod request.
const RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(300));

/// What a Pod asked for, keyed by Pod uid.
struct PodState {
    namespace: String,
    name: String,
    annotation: String,
}

/// Sync state across watch events.
struct Syncer<'a> {
    client: kube::Client,
    providers: &'a Providers,
    pods: HashMap<String, PodState>,
    /// (pod uid, message) already reported as an Event.
    reported: HashSet<(String, String)>,
    failures: usize,
    /// Pods whose sync failed transiently: (tries so far, next try).
    retry: HashMap<String, (u32, Instant)>,
    metrics: Arc<Metrics>,
}

impl Syncer<'_> {
    /// Syncs the jobs of the given Pods (deduplicated by target Secret).
    async fn sync_pods(&mut self, uids: &[String]) {
        let mut jobs: Vec<(Job, Vec<String>)> = Vec::new();
        for uid in uids {
            let Some(p) = self.pods.get(uid) else {
                continue;
            };
            match parse_annotation(&p.annotation, &p.namespace) {
                Ok(list) => {
                    for job in list {
                        match jobs
                            .iter_mut()
                            .find(|(j, _)| j.namespace == job.namespace && j.secret == job.secret)
                        {
                            Some((j, owners)) if *j == job => owners.push(uid.clone()),
                            Some(_) => {
                                let msg = format!(
                                    "secret {} is requested with different sources by several pods; fix the annotations",
                                    job.secret
                                );
                                self.fail(uid, &msg).await;
                            }
                            None => jobs.push((job, vec![uid.clone()])),
                        }
                    }
                }
                Err(e) => self.fail(uid, &e).await,
            }
        }
        let cache = Cache::default();
        let client = self.client.clone();
        let providers = self.providers;
        let results: Vec<_> = futures::stream::iter(jobs)
            .map(|(job, owners)| {
                let (client, cache) = (&client, &cache);
                async move {
                    let r = sync_job(client, providers, &job, cache).await;
                    (job, owners, r)
                }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        for (job, owners, result) in results {
            match result {
                Ok(outcome) => {
                    self.metrics.synced(&outcome.to_string());
                    for uid in &owners {
                        self.retry.remove(uid);
                    }
                    eprintln!(
                        "{}/{}: {outcome} from {}",
                        job.namespace,
                        job.secret,
                        job.sources()
                    );
                    for uid in &owners {
                        self.reported.retain(|(u, _)| u != uid);
                    }
                }
                Err(e) => {
                    let msg = format!(
                        "secret {}: {}",
                        job.secret,
                        shared::error::one_line(&format!("{e:#}"))
                    );
                    let transient = e
                        .chain()
                        .find_map(|c| c.downcast_ref::<ProviderError>())
                        .filter(|p| !p.is_permanent());
                    match transient {
                        Some(p) => {
                            self.metrics.failed("transient");
                            for uid in &owners {
                                self.schedule_retry(uid, p.retry_after, &msg);
                            }
                        }
                        None => {
                            self.metrics.failed("permanent");
                            for uid in &owners {
                                self.fail(uid, &msg).await;
                            }
                        }
                    }
                }
            }
        }
    }

    /// A transient failure: try again after the backoff (or the
    /// provider's Retry-After, when longer).
    fn schedule_retry(&mut self, uid: &str, after: Option<Duration>, msg: &str) {
        self.failures += 1;
        let tries = self.retry.get(uid).map_or(0, |(n, _)| *n);
        let backoff = shared::retry::Backoff::new(RETRY.0, RETRY.1).delay(tries);
        let delay = after.map_or(backoff, |a| a.max(backoff));
        self.retry
            .insert(uid.to_string(), (tries + 1, Instant::now() + delay));
        if let Some(p) = self.pods.get(uid) {
            eprintln!(
                "pod {}/{}: {msg}; trying again in {}s",
                p.namespace,
                p.name,
                delay.as_secs_f32().ceil()
            );
        }
    }

    /// The Pods whose retry is due, and when the next one is.
    fn due(&mut self) -> Vec<String> {
        let now = Instant::now();
        let due: Vec<String> = self
            .retry
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(u, _)| u.clone())
            .collect();
        if !due.is_empty() {
            self.metrics.retried();
        }
        due
    }

    fn next_retry(&self) -> Option<Instant> {
        self.retry.values().map(|(_, at)| *at).min()
    }

    /// Reports a failure for a Pod: stderr and, once per message, an Event.
    async fn fail(&mut self, uid: &str, msg: &str) {
        self.failures += 1;
        let Some(p) = self.pods.get(uid) else { return };
        eprintln!("pod {}/{}: {msg}", p.namespace, p.name);
        if self.reported.insert((uid.to_string(), msg.to_string())) {
            let pod = PodRef {
                namespace: &p.namespace,
                name: &p.name,
                uid: Some(uid),
            };
            events::warn(&self.client, &pod, msg).await;
        }
    }

    /// Records a Pod; true when its request is new or changed.
    fn observe(&mut self, meta: &PartialObjectMeta<Pod>) -> Option<String> {
        let uid = meta.metadata.uid.clone()?;
        let annotation = meta
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(POD_ANNOTATION))
            .cloned();
        let Some(annotation) = annotation else {
            self.pods.remove(&uid);
            return None;
        };
        let changed = self
            .pods
            .get(&uid)
            .is_none_or(|p| p.annotation != annotation);
        if changed {
            self.reported.retain(|(u, _)| *u != uid);
            self.pods.insert(
                uid.clone(),
                PodState {
                    namespace: meta.metadata.namespace.clone().unwrap_or_default(),
                    name: meta.metadata.name.clone().unwrap_or_default(),
                    annotation,
                },
            );
            Some(uid)
        } else {
            None
        }
    }
}

/// Runs the Pod-driven sync.
pub async fn run(
    k: Kube,
    providers: &Providers,
    opts: Options,
    metrics: Arc<Metrics>,
) -> Result<u8> {
    let Options {
        all,
        watch,
        refresh,
    } = opts;
    let api: Api<Pod> = if all {
        Api::all(k.client.clone())
    } else {
        Api::namespaced(k.client.clone(), &k.namespace)
    };
    let mut s = Syncer {
        client: k.client.clone(),
        providers,
        pods: HashMap::new(),
        reported: HashSet::new(),
        failures: 0,
        retry: HashMap::new(),
        metrics,
    };
    if !watch {
        let list = api.list_metadata(&ListParams::default()).await?;
        let uids: Vec<String> = list.items.iter().filter_map(|m| s.observe(m)).collect();
        if uids.is_empty() {
            eprintln!("no pods with the {POD_ANNOTATION} annotation");
        }
        s.sync_pods(&uids).await;
        eprintln!(
            "synced {} pod requests, {} failures",
            uids.len(),
            s.failures
        );
        return Ok(if s.failures > 0 {
            exit::ERROR
        } else {
            exit::OK
        });
    }
    // Api<PartialObjectMeta<Pod>> makes metadata-only requests.
    let meta_api: Api<PartialObjectMeta<Pod>> = if all {
        Api::all(k.client.clone())
    } else {
        Api::namespaced(k.client.clone(), &k.namespace)
    };
    let stream = watcher::watcher(meta_api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut tick = tokio::time::interval(refresh);
    tick.tick().await;
    let mut initial: Vec<String> = Vec::new();
    eprintln!(
        "watching pods{} for {POD_ANNOTATION}",
        if all {
            " in all namespaces".to_string()
        } else {
            format!(" in {}", k.namespace)
        }
    );
    loop {
        s.metrics.pods(s.pods.len());
        let next_retry = s.next_retry();
        let retry_in = next_retry.map_or(Duration::from_secs(3600), |at| {
            at.saturating_duration_since(Instant::now())
        });
        tokio::select! {
            _ = tokio::time::sleep(retry_in), if next_retry.is_some() => {
                let uids = s.due();
                s.sync_pods(&uids).await;
            }
            ev = stream.next() => match ev {
                Some(Ok(watcher::Event::Init)) => initial.clear(),
                Some(Ok(watcher::Event::InitApply(m))) => initial.extend(s.observe(&m)),
                Some(Ok(watcher::Event::InitDone)) => {
                    let uids = std::mem::take(&mut initial);
                    s.sync_pods(&uids).await;
                }
                Some(Ok(watcher::Event::Apply(m))) => {
                    if let Some(uid) = s.observe(&m) {
                        s.sync_pods(&[uid]).await;
                    }
                }
                Some(Ok(watcher::Event::Delete(m))) => {
                    if let Some(uid) = &m.metadata.uid {
                        s.pods.remove(uid);
                        s.retry.remove(uid);
                        s.reported.retain(|(u, _)| u != uid);
                    }
                }
                Some(Err(e)) => shared::output::warn(&format!("pod watch: {e}; reconnecting")),
                None => break,
            },
            _ = tick.tick() => {
                let uids: Vec<String> = s.pods.keys().cloned().collect();
                s.sync_pods(&uids).await;
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(exit::OK)
}
