//! One drift check of a release: load the recorded revision, read the live
//! objects with one LIST per kind and namespace, compare each against its
//! record ([`crate::compare`]), apply ignore rules and trusted managers,
//! name who changed what, and look for objects that carry the release's
//! label without being part of it.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::{Result, bail};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;
use shared::kubeconfig::Kube;
use shared::release::store::Store;
use shared::release::{
    APPLYSET_ID_LABEL, ObjectRecord, PART_OF_LABEL, RELEASE_LABEL, Release, Status,
};

use crate::compare;
use crate::path::Path;
use crate::report::{FieldDrift, ObjectDrift, Report, Severity, State, classify};
use crate::settings::Settings;

/// Annotation listing paths to ignore on one object (comma-separated).
pub const IGNORE_ANNOTATION: &str = "sherpack.io/drift-ignore";

/// Map key of a live object: (plural, namespace, name).
pub type LiveKey = (String, Option<String>, String);

/// The key of a recorded object.
pub fn key_of(r: &ObjectRecord) -> LiveKey {
    shared::live::record_key(r)
}

/// The revision to check against: the latest deployed one, else the latest.
pub async fn load_release(store: &Store, name: &str, namespace: &str) -> Result<Release> {
    let mut rel = match store.latest(name, &[Status::Deployed]).await? {
        Some(r) => r,
        None => match store.latest(name, &[]).await? {
            Some(r) => bail!(
                "release {name} has no deployed revision to compare the cluster with (the latest, revision {}, is {}: {}); deploy it with kubectl pack-waves apply {name}",
                r.revision,
                r.status,
                r.description
            ),
            None => bail!(
                "release {name} not found in namespace {namespace}; list releases with `kubectl pack-waves list -A`"
            ),
        },
    };
    secret_string_data_as_data(&mut rel);
    Ok(rel)
}

/// A Secret applied with `stringData` is stored with `data` only, so the
/// record holds no value for those keys: take them from the manifest,
/// base64-encoded, as `data` (what the server stores and a drift changes).
fn secret_string_data_as_data(rel: &mut Release) {
    use base64::Engine as _;
    if !rel
        .objects
        .iter()
        .any(|r| r.kind == "Secret" && r.fields.get("f:stringData").is_some())
    {
        return;
    }
    let Ok(inputs) = shared::stream::parse_stream(&rel.manifest, shared::stream::Origin::Stdin)
    else {
        return;
    };
    for rec in rel.objects.iter_mut().filter(|r| r.kind == "Secret") {
        let Some(owned) = rec.fields.get("f:stringData").cloned() else {
            continue;
        };
        let Some(input) = inputs
            .iter()
            .find(|o| o.kind() == "Secret" && o.name() == rec.name)
        else {
            continue;
        };
        if let Some(fields) = rec.fields.as_object_mut() {
            fields.remove("f:stringData");
            let data = fields
                .entry("f:data")
                .or_insert_with(|| Value::Object(Default::default()));
            if let (Some(d), Some(o)) = (data.as_object_mut(), owned.as_object()) {
                for k in o.keys() {
                    d.insert(k.clone(), Value::Object(Default::default()));
                }
            }
        }
        if let Some(sd) = input.object["stringData"].as_object() {
            for (k, v) in sd {
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                rec.applied["data"][k] = Value::String(
                    base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                );
            }
        }
    }
}

/// Objects an HorizontalPodAutoscaler scales: (namespace, kind, name).
pub type HpaTargets = HashSet<(String, String, String)>;

/// The HPA targets in the namespaces of the release's objects.
pub async fn hpa_targets(k: &Kube, rel: &Release) -> HpaTargets {
    let mut out = HpaTargets::new();
    let namespaces: HashSet<&str> = rel
        .objects
        .iter()
        .filter(|r| r.fields["f:spec"].get("f:replicas").is_some())
        .filter_map(|r| r.namespace.as_deref())
        .collect();
    for ns in namespaces {
        let api: Api<k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler> =
            Api::namespaced(k.client.clone(), ns);
        // Not allowed to list HPAs: nothing is trusted that way.
        if let Ok(list) = api.list(&ListParams::default()).await {
            for h in list.items {
                if let Some(spec) = h.spec {
                    let t = spec.scale_target_ref;
                    out.insert((ns.to_string(), t.kind, t.name));
                }
            }
        }
    }
    out
}

fn masked(kind: &str, path: &Path) -> bool {
    kind == "Secret" && (path.starts_with(&["data"]) || path.starts_with(&["stringData"]))
}

/// The changes of one object worth reporting: ignored paths (the settings'
/// and `skip`) and trusted managers' changes are counted in `ignored` and
/// dropped; the rest name who changed them and never carry Secret values.
pub fn judge(
    kind: &str,
    changes: Vec<compare::Change>,
    live: &Value,
    settings: &Settings,
    skip: &dyn Fn(&Path) -> bool,
    ignored: &mut usize,
) -> Vec<FieldDrift> {
    let mut out = Vec::new();
    for c in changes {
        let who = compare::owner(live, &c.fpath, shared::FIELD_MANAGER);
        let trusted = who
            .as_ref()
            .is_some_and(|o| settings.trusts(&o.manager, &c.path));
        if settings.ignored(&c.path) || skip(&c.path) || trusted {
            *ignored += 1;
            continue;
        }
        let secret = masked(kind, &c.path);
        let who = who.unwrap_or_else(|| compare::Owner {
            manager: crate::report::UNKNOWN_MANAGER.into(),
            time: None,
            subresource: None,
        });
        out.push(FieldDrift {
            path: c.path.to_string(),
            recorded: if secret { None } else { c.recorded },
            live: if secret { None } else { c.live },
            masked: secret,
            severity: classify(kind, &c.path),
            manager: who.manager,
            time: who.time,
            subresource: who.subresource,
        });
    }
    out
}

/// Compares one recorded object with its live state; None when clean.
pub fn assess(
    rec: &ObjectRecord,
    live: Option<&Value>,
    settings: &Settings,
    hpa: &HpaTargets,
    ignored: &mut usize,
    info: &mut Vec<String>,
) -> Option<ObjectDrift> {
    let mut drift = ObjectDrift {
        api_version: rec.api_version.clone(),
        kind: rec.kind.clone(),
        namespace: rec.namespace.clone(),
        name: rec.name.clone(),
        state: State::Deleted,
        severity: Severity::Critical,
        fields: Vec::new(),
    };
    let Some(live) = live else {
        return Some(drift);
    };
    let annotation = live["metadata"]["annotations"][IGNORE_ANNOTATION]
        .as_str()
        .or(rec.applied["metadata"]["annotations"][IGNORE_ANNOTATION].as_str());
    let mut own_ignores = Vec::new();
    for p in annotation
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        match crate::path::Pattern::parse(p) {
            Ok(pat) => own_ignores.push(pat),
            Err(e) => info.push(format!(
                "{}/{}: annotation {IGNORE_ANNOTATION} entry '{p}' ignored: {e}",
                rec.kind, rec.name
            )),
        }
    }
    let hpa_scaled = rec
        .namespace
        .as_ref()
        .is_some_and(|ns| hpa.contains(&(ns.clone(), rec.kind.clone(), rec.name.clone())));
    let changes = compare::compare(&rec.fields, &rec.applied, live);
    let changed: HashSet<Vec<String>> = changes.iter().map(|c| c.fpath.clone()).collect();
    let skip = |path: &Path| {
        own_ignores.iter().any(|p| p.matches(path))
            || (settings.hpa_replicas && hpa_scaled && path.starts_with(&["spec", "replicas"]))
    };
    drift.fields = judge(&rec.kind, changes, live, settings, &skip, ignored);
    // Ownership moved without a value change: worth knowing, not drift.
    let ours_now =
        shared::release::fields::owned_fields(live, shared::FIELD_MANAGER).unwrap_or(Value::Null);
    for leaf in compare::leaves(&rec.fields) {
        if changed.contains(&leaf) || compare::owns(&ours_now, &leaf) {
            continue;
        }
        if let Some(o) = compare::owner(live, &leaf, shared::FIELD_MANAGER) {
            info.push(format!(
                "{}/{}: {} is now owned by {} (value unchanged)",
                rec.kind,
                rec.name,
                Path::from_fpath(&leaf),
                o.manager
            ));
        }
    }
    drift.modified()
}

/// Kinds whose objects copy labels from their owners without an owner reference.
const DERIVED_KINDS: &[&str] = &["Endpoints", "EndpointSlice", "Event", "ControllerRevision"];

/// Objects labelled with the release that the release does not contain.
pub async fn unexpected(
    k: &Kube,
    rel: &Release,
    info: &mut Vec<String>,
) -> Result<Vec<ObjectDrift>> {
    let resources = shared::discovery::listable_resources(&k.client).await?;
    let known: HashSet<(String, Option<String>, String)> = rel
        .objects
        .iter()
        .chain(&rel.hooks)
        .map(|r| (r.kind.clone(), r.namespace.clone(), r.name.clone()))
        .collect();
    let selector = format!("{RELEASE_LABEL}={},!{APPLYSET_ID_LABEL}", rel.name);
    let own_id = shared::release::applyset_id(&rel.name, &rel.namespace);
    let lists = futures::stream::iter(
        resources
            .into_iter()
            .filter(|r| !DERIVED_KINDS.contains(&r.resource.kind.as_str())),
    )
    .map(|r| {
        let selector = selector.clone();
        async move {
            let api: Api<DynamicObject> = Api::all_with(k.client.clone(), &r.resource);
            let got = api
                .list_metadata(&ListParams::default().labels(&selector))
                .await;
            (r.resource, got)
        }
    })
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    let mut out = Vec::new();
    for (res, got) in lists {
        let list = match got {
            Ok(l) => l,
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 || s.code == 405 => {
                if s.code == 403 {
                    info.push(format!(
                        "not allowed to list {}: unexpected objects of that kind are not looked for",
                        res.plural
                    ));
                }
                continue;
            }
            Err(e) => return Err(shared::Error::api(format!("list {}", res.plural), e).into()),
        };
        for m in list.items {
            let meta = m.metadata;
            if meta
                .owner_references
                .as_ref()
                .is_some_and(|o| !o.is_empty())
            {
                continue;
            }
            // Same release name in another namespace: another release.
            let part_of = meta.labels.as_ref().and_then(|l| l.get(PART_OF_LABEL));
            let ours = match part_of {
                Some(id) => *id == own_id,
                None => meta.namespace.as_ref().is_none_or(|n| *n == rel.namespace),
            };
            if !ours {
                continue;
            }
            let name = meta.name.unwrap_or_default();
            if known.contains(&(res.kind.clone(), meta.namespace.clone(), name.clone())) {
                continue;
            }
            out.push(ObjectDrift {
                api_version: res.api_version.clone(),
                kind: res.kind.clone(),
                namespace: meta.namespace,
                name,
                state: State::Unexpected,
                severity: Severity::Medium,
                fields: Vec::new(),
            });
        }
    }
    out.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
    Ok(out)
}

/// Reads the live objects of the release: one LIST per kind and namespace.
pub async fn fetch_live(k: &Kube, rel: &Release) -> Result<HashMap<LiveKey, Value>> {
    shared::live::fetch_records(&k.client, &rel.objects)
        .await
        .map_err(|e| {
            shared::Error::api(format!("read the objects of release {}", rel.name), e).into()
        })
}

/// What one check reads from the cluster: the release's live objects (one
/// LIST per kind and namespace) and the HPA targets.
pub struct Snapshot {
    /// Live objects by [`key_of`].
    pub live: HashMap<LiveKey, Value>,
    /// Objects an HPA scales.
    pub hpa: HpaTargets,
}

impl Snapshot {
    /// Reads both at once.
    pub async fn read(k: &Kube, rel: &Release) -> Result<Snapshot> {
        let (live, hpa) = futures::join!(fetch_live(k, rel), hpa_targets(k, rel));
        Ok(Snapshot { live: live?, hpa })
    }
}

/// Checks a release; the snapshot it read comes back for callers that
/// act on the live objects (sync).
pub async fn check(
    k: &Kube,
    rel: &Release,
    settings: &Settings,
    scan_unexpected: bool,
) -> Result<(Report, Snapshot)> {
    let started = Instant::now();
    let snap = Snapshot::read(k, rel).await?;
    let mut report = Report {
        release: rel.name.clone(),
        namespace: rel.namespace.clone(),
        revision: rel.revision,
        method: "recorded-fields".into(),
        checked: rel.objects.len(),
        severity: None,
        drifted: Vec::new(),
        info: Vec::new(),
        ignored: 0,
        duration_ms: 0,
    };
    for rec in &rel.objects {
        if let Some(d) = assess(
            rec,
            snap.live.get(&key_of(rec)),
            settings,
            &snap.hpa,
            &mut report.ignored,
            &mut report.info,
        ) {
            report.drifted.push(d);
        }
    }
    if scan_unexpected {
        let found = unexpected(k, rel, &mut report.info).await?;
        report.drifted.extend(found);
    }
    report.finish();
    report.duration_ms = started.elapsed().as_millis();
    Ok((report, snap))
}
