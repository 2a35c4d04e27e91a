//! `watch RELEASE`: one watcher per kind and namespace of the release's
//! objects (kube-runtime, reconnecting with bounded exponential backoff and
//! jitter), each event re-checking only the object it concerns; a full
//! re-check every `--interval` as a safety net. Prints transitions (drift,
//! resolved, corrected, correction failed), records them, notifies, serves
//! metrics, and with `--auto-sync` restores drifted objects — at most three
//! attempts per object, then `DriftCorrectionFailed` instead of fighting.

mod all;
mod correct;
mod metrics;
mod notify;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde_json::{Value, json};
use shared::kubeconfig::{Kube, KubeArgs};
use shared::output::exit;
use shared::release::{ObjectRecord, Release};
use tokio::sync::mpsc;

use crate::check::{HpaTargets, LiveKey, key_of};
use crate::cli::{Format, WatchArgs};
use crate::events::{Event, History, Kind};
use crate::report::{ObjectDrift, Report, State};
use crate::settings::{Detection, Settings};

/// Corrections per object within [`WINDOW`] before giving up.
const MAX_ATTEMPTS: u32 = 3;
/// The window in which corrections of one object are counted: an object
/// that keeps drifting back after three corrections is someone else's
/// fight, not ours.
const WINDOW: Duration = Duration::from_secs(600);

/// What the watcher tasks and correction tasks tell the main loop.
enum Msg {
    /// An object of group `g` changed (None: deleted).
    Object(usize, String, Option<Value>),
    /// Group `g` starts a (re)list.
    ListStart(usize),
    /// Group `g` finished a (re)list.
    ListDone(usize),
    /// Group `g`'s watch failed; it retries with backoff.
    Lost(usize, String),
    /// Correction attempt `n` of `key` ended.
    Corrected(LiveKey, u32, Result<(), String>),
}

/// One kind in one namespace.
struct Group {
    resource: ApiResource,
    namespace: Option<String>,
    /// Names of release objects in the group.
    names: HashSet<String>,
    healthy: bool,
    listing: bool,
    seen: HashSet<String>,
}

struct Watch<'a> {
    k: &'a Kube,
    rel: &'a Release,
    /// Text lines name the release (several are followed).
    named: bool,
    settings: Settings,
    args: &'a WatchArgs,
    hpa: HpaTargets,
    live: HashMap<LiveKey, Value>,
    state: HashMap<LiveKey, ObjectDrift>,
    attempts: HashMap<LiveKey, Vec<Instant>>,
    /// Objects being corrected, with the drift being corrected.
    in_flight: HashMap<LiveKey, ObjectDrift>,
    gave_up: HashSet<LiveKey>,
    unexpected: HashSet<(String, Option<String>, String)>,
    history: History,
    notifier: notify::Notifier,
    metrics: Arc<metrics::Metrics>,
    tx: mpsc::Sender<Msg>,
}

/// Runs `watch`: the endpoints first (a standby answers its probes too),
/// then, with `--leader-elect`, the Lease, then the watch.
pub async fn run(kube: &KubeArgs, args: &WatchArgs) -> Result<u8> {
    let k = kube.connect().await?;
    let registry = Arc::new(metrics::Registry::default());
    if let Some(addr) = args.metrics_addr {
        let listener = shared::probe::bind("--metrics-addr", addr).await?;
        tokio::spawn(shared::probe::serve(
            listener,
            metrics::routes(registry.clone()),
        ));
        shared::output::info(&format!("metrics on http://{addr}/metrics"));
    }
    let lease = match (&args.release, args.all_namespaces) {
        (Some(r), _) => format!("kubectl-pack-drift-watch-{r}"),
        (None, true) => "kubectl-pack-drift-watch-all".into(),
        (None, false) => "kubectl-pack-drift-watch-namespace".into(),
    };
    let Some(mut leadership) = args.leader.lead(&k.client, &k.namespace, &lease).await? else {
        return watch(&k, args, registry).await;
    };
    tokio::select! {
        done = watch(&k, args, registry) => done,
        why = leadership.lost() => Err(anyhow::anyhow!(why)),
    }
}

/// The watch itself (under the Lease with `--leader-elect`): one release,
/// or every release in scope.
async fn watch(k: &Kube, args: &WatchArgs, registry: Arc<metrics::Registry>) -> Result<u8> {
    let Some(name) = &args.release else {
        return all::run(k, args, registry).await;
    };
    let store = shared::release::args::store(k, &args.check.storage)?;
    let rel = crate::check::load_release(&store, name, &k.namespace).await?;
    let m = registry.add(&rel.name, &rel.namespace);
    follow(k, &rel, args, m, false).await
}

/// Follows one release until Ctrl-C (or until its task is dropped);
/// `named` prefixes each text line with the release (several followed).
async fn follow(
    k: &Kube,
    rel: &Release,
    args: &WatchArgs,
    metrics: Arc<metrics::Metrics>,
    named: bool,
) -> Result<u8> {
    let settings = Settings::new(&rel.pack.settings, &args.check.flags())?;
    if settings.detection == Detection::Disabled {
        shared::output::info(&format!(
            "release {}: drift detection is disabled by the pack (drift.detection: disabled)",
            rel.name
        ));
        return Ok(exit::OK);
    }
    let interval = args
        .interval
        .or(settings.interval)
        .unwrap_or(Duration::from_secs(300));
    let (tx, mut rx) = mpsc::channel(4096);
    let mut groups: Vec<Group> = Vec::new();
    for r in &rel.objects {
        let res = r.api_resource();
        match groups
            .iter_mut()
            .find(|g| g.resource == res && g.namespace == r.namespace)
        {
            Some(g) => {
                g.names.insert(r.name.clone());
            }
            None => groups.push(Group {
                resource: res,
                namespace: r.namespace.clone(),
                names: [r.name.clone()].into(),
                healthy: true,
                listing: false,
                seen: HashSet::new(),
            }),
        }
    }
    let notifier = notify::Notifier::new(
        &rel.name,
        &rel.namespace,
        args.notify_webhook.clone().or(settings.webhook.clone()),
        args.notify_slack.clone().or(settings.slack.clone()),
    );
    let mut w = Watch {
        k,
        rel,
        named,
        settings,
        args,
        hpa: HpaTargets::new(),
        live: HashMap::new(),
        state: HashMap::new(),
        attempts: HashMap::new(),
        in_flight: HashMap::new(),
        gave_up: HashSet::new(),
        unexpected: HashSet::new(),
        history: History::new(k.client.clone(), &rel.namespace, &rel.name),
        notifier,
        metrics,
        tx: tx.clone(),
    };
    w.full_check().await?;
    for (i, g) in groups.iter().enumerate() {
        spawn_watcher(k, i, g, tx.clone());
    }
    shared::output::info(&format!(
        "watching release {} (revision {}): {} object(s) in {} watch(es), full re-check every {}s",
        rel.name,
        rel.revision,
        rel.objects.len(),
        groups.len(),
        interval.as_secs()
    ));
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    let by_key: HashMap<LiveKey, &ObjectRecord> =
        rel.objects.iter().map(|r| (key_of(r), r)).collect();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                if let Err(e) = w.full_check().await {
                    w.line("error", "", &format!("full re-check failed: {}", shared::error::one_line(&e.to_string())));
                }
            }
            Some(msg) = rx.recv() => match msg {
                Msg::ListStart(g) => {
                    groups[g].seen.clear();
                    groups[g].listing = true;
                }
                Msg::ListDone(g) => {
                    let gr = &mut groups[g];
                    gr.listing = false;
                    if !gr.healthy {
                        gr.healthy = true;
                        w.line("watch", "", &format!("watch of {} resumed", describe(gr)));
                    }
                    let gone: Vec<String> = gr.names.difference(&gr.seen).cloned().collect();
                    for n in gone {
                        w.live.remove(&(gr.resource.plural.clone(), gr.namespace.clone(), n));
                    }
                    let keys: Vec<LiveKey> = gr.names.iter().map(|n| (gr.resource.plural.clone(), gr.namespace.clone(), n.clone())).collect();
                    let started = Instant::now();
                    for key in keys {
                        if let Some(rec) = by_key.get(&key) {
                            w.evaluate(rec).await;
                        }
                    }
                    w.metrics.checked(started.elapsed().as_secs_f64());
                }
                Msg::Object(g, name, obj) => {
                    let gr = &mut groups[g];
                    let key = (gr.resource.plural.clone(), gr.namespace.clone(), name.clone());
                    let Some(rec) = by_key.get(&key) else {
                        if let Some(o) = obj { w.maybe_unexpected(&gr.resource, &o).await; }
                        continue;
                    };
                    match obj {
                        Some(o) => { gr.seen.insert(name); w.live.insert(key, o); }
                        None => { w.live.remove(&key); }
                    }
                    // During a (re)list the whole group is evaluated at ListDone.
                    if !gr.listing {
                        let started = Instant::now();
                        w.evaluate(rec).await;
                        w.metrics.checked(started.elapsed().as_secs_f64());
                    }
                }
                Msg::Lost(g, why) => {
                    let gr = &mut groups[g];
                    if gr.healthy {
                        gr.healthy = false;
                        w.line("watch", "", &format!("watch of {} lost ({why}); reconnecting with backoff", describe(gr)));
                    }
                }
                Msg::Corrected(key, n, result) => w.corrected(key, n, result, &by_key).await,
            }
        }
    }
    Ok(exit::OK)
}

/// A report about one object.
fn single(rel: &Release, d: ObjectDrift) -> Report {
    Report {
        release: rel.name.clone(),
        namespace: rel.namespace.clone(),
        revision: rel.revision,
        method: "recorded-fields".into(),
        checked: 1,
        severity: None,
        drifted: vec![d],
        info: Vec::new(),
        ignored: 0,
        duration_ms: 0,
    }
}

fn describe(g: &Group) -> String {
    match &g.namespace {
        Some(ns) => format!("{} in {ns}", g.resource.plural),
        None => g.resource.plural.clone(),
    }
}

/// Follows one group until the main loop goes away. A failed watch is not
/// resumed from its resource version (kube-runtime would, silently, and a
/// resumed watch sends nothing until an object changes): after a backoff
/// (0.8 s doubling to 30 s, with jitter) it lists again, so a reconnect is
/// always seen as `resumed` and every object is checked after the gap.
fn spawn_watcher(k: &Kube, i: usize, g: &Group, tx: mpsc::Sender<Msg>) {
    let api: Api<DynamicObject> = match &g.namespace {
        Some(ns) => Api::namespaced_with(k.client.clone(), ns, &g.resource),
        None => Api::all_with(k.client.clone(), &g.resource),
    };
    let res = g.resource.clone();
    let backoff = shared::retry::Backoff::new(Duration::from_millis(800), Duration::from_secs(30));
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            let mut stream = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
            while let Some(ev) = stream.next().await {
                let msg = match ev {
                    Ok(WatchEvent::Init) => Msg::ListStart(i),
                    Ok(WatchEvent::InitDone) => {
                        failures = 0;
                        Msg::ListDone(i)
                    }
                    Ok(WatchEvent::Apply(o) | WatchEvent::InitApply(o)) => {
                        let (n, v) = as_value(&res, o);
                        Msg::Object(i, n, Some(v))
                    }
                    Ok(WatchEvent::Delete(o)) => Msg::Object(i, as_value(&res, o).0, None),
                    Err(e) => Msg::Lost(i, shared::error::one_line(&e.to_string())),
                };
                let lost = matches!(msg, Msg::Lost(..));
                if tx.send(msg).await.is_err() {
                    return;
                }
                if lost {
                    break;
                }
            }
            tokio::time::sleep(backoff.delay(failures)).await;
            failures = failures.saturating_add(1);
        }
    });
}

/// An object of a watch as the JSON the checks read (name, value).
fn as_value(res: &ApiResource, o: DynamicObject) -> (String, Value) {
    let name = o.metadata.name.clone().unwrap_or_default();
    let mut v = match serde_json::to_value(o) {
        Ok(v) => v,
        Err(_) => json!({}),
    };
    v["apiVersion"] = Value::String(res.api_version.clone());
    v["kind"] = Value::String(res.kind.clone());
    (name, v)
}

impl Watch<'_> {
    fn line(&self, event: &str, object: &str, text: &str) {
        use std::io::Write;
        let now = shared::release::now();
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the watch.
        let format = &self.args.output.output;
        let _ = if format.is_text() {
            let obj = if object.is_empty() {
                String::new()
            } else {
                format!(" {object}")
            };
            let release = if self.named {
                format!(" [{}/{}]", self.rel.namespace, self.rel.name)
            } else {
                String::new()
            };
            writeln!(out, "{now} {}{release}{obj} {text}", event.to_uppercase())
        } else {
            // One document per event: JSON lines, YAML documents, names.
            let value = json!({"time": now, "event": event, "release": self.rel.name, "namespace": self.rel.namespace, "object": object, "message": text});
            let names: Vec<String> = (!object.is_empty())
                .then(|| object.to_string())
                .into_iter()
                .collect();
            let separator = if *format == Format::Yaml { "---\n" } else { "" };
            let compact = if *format == Format::Json {
                writeln!(out, "{value}").map_err(anyhow::Error::from)
            } else {
                write!(out, "{separator}")
                    .map_err(anyhow::Error::from)
                    .and_then(|()| {
                        shared::output::write_structured(&mut out, format, &value, &names)
                    })
            };
            compact.map_err(std::io::Error::other)
        };
    }

    async fn full_check(&mut self) -> Result<()> {
        let started = Instant::now();
        let snap = crate::check::Snapshot::read(self.k, self.rel).await?;
        self.live = snap.live;
        self.hpa = snap.hpa;
        for rec in &self.rel.objects {
            self.evaluate(rec).await;
        }
        self.metrics.checked(started.elapsed().as_secs_f64());
        if !self.args.check.no_unexpected {
            let mut info = Vec::new();
            for o in crate::check::unexpected(self.k, self.rel, &mut info).await? {
                let key = (o.kind.clone(), o.namespace.clone(), o.name.clone());
                if self.unexpected.insert(key) {
                    self.announce(o, Kind::Detected).await;
                }
            }
        }
        Ok(())
    }

    async fn maybe_unexpected(&mut self, res: &ApiResource, o: &Value) {
        if self.args.check.no_unexpected {
            return;
        }
        let labelled =
            o["metadata"]["labels"][shared::release::RELEASE_LABEL] == self.rel.name.as_str();
        let owned = o["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        let parent = o["metadata"]["labels"]
            .get(shared::release::APPLYSET_ID_LABEL)
            .is_some();
        let other_release = o["metadata"]["labels"]
            .get(shared::release::PART_OF_LABEL)
            .is_some_and(|id| {
                *id != shared::release::applyset_id(&self.rel.name, &self.rel.namespace).as_str()
            });
        let name = o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = o["metadata"]["namespace"].as_str().map(str::to_string);
        let hook = self
            .rel
            .hooks
            .iter()
            .any(|h| h.kind == res.kind && h.name == name);
        if !labelled || owned || parent || hook || other_release {
            return;
        }
        if self
            .unexpected
            .insert((res.kind.clone(), ns.clone(), name.clone()))
        {
            let d = ObjectDrift {
                api_version: res.api_version.clone(),
                kind: res.kind.clone(),
                namespace: ns,
                name,
                state: State::Unexpected,
                severity: crate::report::Severity::Medium,
                fields: Vec::new(),
            };
            self.announce(d, Kind::Detected).await;
        }
    }

    /// Re-checks one object and reports a change of its drift state.
    async fn evaluate(&mut self, rec: &ObjectRecord) {
        let key = key_of(rec);
        let mut ignored = 0;
        let mut info = Vec::new();
        let now = crate::check::assess(
            rec,
            self.live.get(&key),
            &self.settings,
            &self.hpa,
            &mut ignored,
            &mut info,
        );
        let before = self.state.get(&key);
        let same = match (before, &now) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.state == b.state
                    && a.fields.len() == b.fields.len()
                    && a.fields
                        .iter()
                        .zip(&b.fields)
                        .all(|(x, y)| x.path == y.path && x.live == y.live)
            }
            _ => false,
        };
        if same {
            return;
        }
        match now {
            None => {
                self.state.remove(&key);
                self.gave_up.remove(&key);
                self.line(
                    "resolved",
                    &format!("{}/{}", rec.kind, rec.name),
                    "matches the release again",
                );
            }
            Some(d) if self.changed_by_a_later_apply(&d, &key) => {
                self.state.insert(key.clone(), d.clone());
                self.line(
                    "watch",
                    &d.key(),
                    "changed by a later apply of this suite, not drift; the new revision is followed once recorded",
                );
            }
            Some(d) => {
                self.state.insert(key.clone(), d.clone());
                self.announce(d, Kind::Detected).await;
                if self.args.auto_sync
                    && !self.gave_up.contains(&key)
                    && !self.in_flight.contains_key(&key)
                {
                    let recent = self.attempts.entry(key.clone()).or_default();
                    recent.retain(|t| t.elapsed() < WINDOW);
                    if recent.len() as u32 >= MAX_ATTEMPTS {
                        let who = self
                            .state
                            .get(&key)
                            .and_then(|d| d.fields.first())
                            .map(|f| f.manager.clone())
                            .unwrap_or_else(|| "unknown".into());
                        let message = format!(
                            "DriftCorrectionFailed: drifted again after {MAX_ATTEMPTS} corrections within {} minutes (last change by {who}); not fighting",
                            WINDOW.as_secs() / 60
                        );
                        self.give_up(rec, &message).await;
                    } else {
                        self.schedule(rec, 1);
                    }
                }
            }
        }
    }

    /// Whether a newer revision of the release is being or was deployed
    /// since this watch started: its objects changed on purpose, not by drift (the
    /// follower is replaced with `-A`; a single-release watch says so).
    async fn superseded(&self) -> bool {
        let k = Kube {
            client: self.k.client.clone(),
            namespace: self.rel.namespace.clone(),
        };
        let Ok(store) = shared::release::args::store(&k, &self.args.check.storage) else {
            return false;
        };
        use shared::release::Status;
        // Pending too: objects change during an apply, before its record
        // says deployed.
        let replacing = [
            Status::PendingUpgrade,
            Status::PendingRollback,
            Status::Deployed,
            Status::Uninstalling,
        ];
        match store.latest(&self.rel.name, &replacing).await {
            Ok(Some(r)) if r.revision > self.rel.revision => {
                self.line(
                    "watch",
                    "",
                    &format!(
                        "revision {} of release {} ({}) replaces revision {}: its changes are not drift",
                        r.revision, self.rel.name, r.status, self.rel.revision
                    ),
                );
                true
            }
            _ => false,
        }
    }

    /// Whether every changed path of `d` is still held by this suite's own
    /// field manager, applied after this revision was deployed: a later
    /// apply changed it (whatever the release store says at this moment).
    fn changed_by_a_later_apply(&self, d: &ObjectDrift, key: &LiveKey) -> bool {
        // Values present and held by no other manager (a removed path has
        // no holder whoever removed it, so removals are never excused).
        let ours_only = d.state == State::Modified
            && !d.fields.is_empty()
            && d.fields.iter().all(|f| {
                f.manager == crate::report::UNKNOWN_MANAGER && (f.live.is_some() || f.masked)
            });
        let applied_since = self.live.get(key).is_some_and(|live| {
            live["metadata"]["managedFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["manager"] == shared::FIELD_MANAGER && e["operation"] == "Apply")
                .filter_map(|e| e["time"].as_str())
                .any(|t| t > self.rel.last_deployed.as_str())
        });
        ours_only && applied_since
    }

    /// Prints, records and notifies one object's event.
    async fn announce(&self, d: ObjectDrift, kind: Kind) {
        if kind == Kind::Detected && self.superseded().await {
            return;
        }
        let mut report = single(self.rel, d.clone());
        report.finish();
        if kind == Kind::Detected {
            self.metrics.detected(d.severity);
            let what = match d.state {
                State::Deleted => "deleted".to_string(),
                State::Unexpected => {
                    "carries the release's label but is not part of it".to_string()
                }
                State::Modified => d
                    .fields
                    .iter()
                    .map(|f| {
                        let v = |x: &Option<Value>| match x {
                            _ if f.masked => "(secret)".to_string(),
                            None => "(absent)".into(),
                            Some(Value::String(s)) => s.clone(),
                            Some(o) => o.to_string(),
                        };
                        format!(
                            "{}: {} -> {} (by {})",
                            f.path,
                            v(&f.recorded),
                            v(&f.live),
                            f.manager
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            self.line("drift", &format!("{} [{}]", d.key(), d.severity), &what);
        }
        let event = Event::from_report(
            kind,
            if kind == Kind::Detected {
                "watch"
            } else {
                "auto-sync"
            },
            &report,
        );
        match self.history.record(event.clone()).await {
            // Recorded before (by this process, or by the leader before a
            // takeover): announced already, not notified twice.
            Ok(false) => return,
            Ok(true) => {}
            Err(e) => shared::output::warn(&format!(
                "drift event not recorded: {}",
                shared::error::one_line(&e.to_string())
            )),
        }
        self.notifier.send(&event).await;
    }
}
