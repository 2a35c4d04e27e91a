//! Before the first write: objects the release must not touch, and
//! changes the server would refuse on a live object. Either stops the apply
//! with nothing written.
//!
//! Ownership: every object of the stream (hooks included) that already
//! exists is read (one metadata-only LIST per resource and namespace) and
//! must belong to this release ([`shared::release::owner`]). One that
//! belongs to another release of ours, to Helm, Argo CD, Flux or kapp, or to
//! nobody is refused, each named with its owner — unless `--take-ownership`,
//! and then the revision records it as taken over.
//!
//! Immutable fields: some fields cannot change once an object exists (a
//! StatefulSet's `volumeClaimTemplates`, a Job's pod template, a
//! Deployment's selector, a Service's `clusterIP`, a RoleBinding's
//! `roleRef`...). Applying such a change fails half-way through a release,
//! after earlier objects were already updated. So every existing object of
//! those kinds is applied once with server-side dry-run first; if the
//! server refuses one with 422, one line names it and the fields.
//! (ConfigMaps and Secrets marked `immutable: true` are not looked at: it
//! would mean reading every one of them in full.)

use futures::StreamExt;
use serde_json::Value;
use shared::apply::{Applier, ApplyOptions};
use shared::discovery::Resolver;
use shared::identity::ObjectId;
use shared::release::owner::{Owner, owner};
use shared::stream::SourcedObject;

/// The release being applied, as the preflight sees it.
pub struct Target<'a> {
    /// Its name.
    pub release: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// `--take-ownership`.
    pub take_ownership: bool,
    /// `--force-replace`.
    pub force_replace: bool,
    /// Dry-runs at once.
    pub concurrency: usize,
}

/// One object of the stream, resolved.
struct Candidate<'a> {
    obj: &'a SourcedObject,
    hook: bool,
    resource: kube::api::ApiResource,
    id: ObjectId,
}

/// What the checks let through.
#[derive(Debug, Default)]
pub struct Passed {
    /// Objects taken over (`--take-ownership`).
    pub adopted: Vec<ObjectId>,
    /// Objects to delete and create again (`--force-replace` or the
    /// `sherpack.io/replace` annotation).
    pub replace: Vec<ObjectId>,
    /// Workloads whose replicas their HorizontalPodAutoscaler holds.
    pub leave_replicas: Vec<ObjectId>,
}

pub use crate::marks::REPLACE_ANNOTATION;
use shared::error::Refusal;

/// Runs both checks.
pub async fn check(
    client: &kube::Client,
    resolver: &Resolver,
    target: &Target<'_>,
    objects: &[&SourcedObject],
    hooks: &[SourcedObject],
) -> anyhow::Result<Passed> {
    let applier = Applier::new(client.clone(), resolver, target.namespace);
    let mut candidates = Vec::new();
    for (obj, hook) in objects
        .iter()
        .map(|o| (*o, false))
        .chain(hooks.iter().map(|h| (h, true)))
    {
        // Unknown kinds fail later with their own error.
        let Ok((kind, mut id, _)) = applier.prepare(obj).await else {
            continue;
        };
        if hook && kind.namespaced() {
            // Hooks run in the release namespace (crate::hooks).
            id.namespace = Some(target.namespace.to_string());
        }
        candidates.push(Candidate {
            obj,
            hook,
            resource: kind.resource,
            id,
        });
    }
    let (adopted, live) = ownership(client, target, &candidates).await?;
    let leave_replicas = hpa_held_replicas(client, target, &candidates, &live).await;
    let replace = dry_run_all(client, &applier, target, &candidates, &live).await?;
    Ok(Passed {
        adopted,
        replace,
        leave_replicas,
    })
}

type LiveMeta = std::collections::HashMap<(String, Option<String>, String), Value>;

fn live_key(c: &Candidate<'_>) -> (String, Option<String>, String) {
    (
        c.resource.plural.clone(),
        c.id.namespace.clone(),
        c.id.name.clone(),
    )
}

/// Workloads a HorizontalPodAutoscaler (in the stream or live) scales and
/// whose live `spec.replicas` another manager holds: the release leaves
/// their replicas alone. (When only the release holds them, leaving them
/// out would reset them, so they stay.)
async fn hpa_held_replicas(
    client: &kube::Client,
    target: &Target<'_>,
    candidates: &[Candidate<'_>],
    live: &LiveMeta,
) -> Vec<ObjectId> {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    let mut targets: Vec<(String, String)> = candidates
        .iter()
        .filter(|c| c.id.kind == "HorizontalPodAutoscaler")
        .map(|c| {
            let r = &c.obj.object["spec"]["scaleTargetRef"];
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (text("kind"), text("name"))
        })
        .collect();
    let api: kube::Api<HorizontalPodAutoscaler> =
        kube::Api::namespaced(client.clone(), target.namespace);
    // Not allowed to list them: only the stream's HPAs count.
    if let Ok(list) = api.list(&Default::default()).await {
        for hpa in list.items {
            if let Some(spec) = hpa.spec {
                targets.push((spec.scale_target_ref.kind, spec.scale_target_ref.name));
            }
        }
    }
    candidates
        .iter()
        .filter(|c| {
            targets
                .iter()
                .any(|(k, n)| *k == c.id.kind && *n == c.id.name)
        })
        .filter(|c| {
            live.get(&live_key(c)).is_some_and(|m| {
                let path = ["f:spec".to_string(), "f:replicas".to_string()];
                m["metadata"]["managedFields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| {
                        e["manager"] != shared::FIELD_MANAGER
                            && shared::release::fields::owns(&e["fieldsV1"], &path)
                    })
            })
        })
        .map(|c| c.id.clone())
        .collect()
}

/// Refuses (or, with `--take-ownership`, returns) existing objects that do
/// not belong to this release.
async fn ownership(
    client: &kube::Client,
    target: &Target<'_>,
    candidates: &[Candidate<'_>],
) -> anyhow::Result<(Vec<ObjectId>, LiveMeta)> {
    let wanted: Vec<shared::live::Wanted<'_>> = candidates
        .iter()
        .map(|c| (&c.resource, c.id.namespace.as_deref(), c.id.name.as_str()))
        .collect();
    let live = shared::live::fetch_metadata(client, &wanted)
        .await
        .map_err(|e| shared::Error::api("read the stream's objects before applying", e))?;
    let mut foreign = Vec::new();
    for (c, w) in candidates.iter().zip(&wanted) {
        let Some(meta) = live.get(&shared::live::key(w)) else {
            continue;
        };
        match owner(meta, target.release, target.namespace) {
            Owner::Us => {}
            other => foreign.push((c.id.clone(), other)),
        }
    }
    if foreign.is_empty() || target.take_ownership {
        return Ok((foreign.into_iter().map(|(id, _)| id).collect(), live));
    }
    let lines: Vec<String> = foreign.iter().map(|(id, o)| format!("{id} {o}")).collect();
    Err(Refusal {
        summary: format!(
            "nothing applied: {} object(s) of the stream are not release {}'s; rename them, remove them from the stream, or pass --take-ownership to make them this release's",
            lines.len(),
            target.release
        ),
        lines,
    }
    .into())
}

/// The StatefulSet spec fields an update may change (the server's list).
const STATEFULSET_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "serviceName",
    "revisionHistoryLimit",
];

/// The server's own validation and admission for every object of the
/// stream: each is applied once with server-side dry-run (concurrently).
/// Fails (nothing written) naming every object the server refuses — but
/// an existing object whose change the server refuses in place may be
/// replaced (`--force-replace`, `sherpack.io/replace`): returns those.
/// Skipped: objects in a Namespace the stream creates, and custom
/// resources of a CRD the stream (re)defines — the server cannot judge
/// them before the earlier waves ran. A hook that exists is deleted
/// before it is created again, so an in-place refusal does not count.
async fn dry_run_all(
    client: &kube::Client,
    applier: &Applier<'_>,
    target: &Target<'_>,
    candidates: &[Candidate<'_>],
    live: &LiveMeta,
) -> anyhow::Result<Vec<ObjectId>> {
    let judged = needing_dry_run(client, target, candidates, live).await;
    let refused = dry_runs(applier, target, judged).await;
    let mut lines = Vec::new();
    let mut replace = Vec::new();
    for (c, e) in refused {
        let exists = live.contains_key(&live_key(c));
        let in_place = exists
            && matches!(
                e,
                shared::Error::Api {
                    code: Some(422),
                    ..
                }
            );
        if in_place && c.hook {
            continue;
        }
        if in_place && (target.force_replace || replaceable(c.obj)) {
            replace.push(c.id.clone());
            continue;
        }
        lines.push(refusal_line(client, c, &e, in_place).await);
    }
    if lines.is_empty() {
        Ok(replace)
    } else {
        Err(Refusal::nothing_applied(
            lines,
            "object(s) refused by the API server (server-side dry-run)",
        )
        .into())
    }
}

/// The candidates the server must judge: not in a Namespace the stream
/// creates, not custom resources of a CRD the stream (re)defines, and not
/// a plain ConfigMap/Secret that is certainly valid where no admission acts.
async fn needing_dry_run<'c, 'a>(
    client: &kube::Client,
    target: &Target<'_>,
    candidates: &'c [Candidate<'a>],
    live: &LiveMeta,
) -> Vec<&'c Candidate<'a>> {
    let created_namespaces: Vec<&str> = candidates
        .iter()
        .filter(|c| c.id.kind == "Namespace")
        .map(|c| c.id.name.as_str())
        .collect();
    let redefined: Vec<(String, String)> = candidates
        .iter()
        .filter(|c| c.id.kind == "CustomResourceDefinition")
        .map(|c| {
            let spec = &c.obj.object["spec"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (text(&spec["group"]), text(&spec["names"]["kind"]))
        })
        .collect();
    // Plain ConfigMaps/Secrets need no dry-run where no admission acts:
    // new ones, and ConfigMaps that exist and are not immutable.
    let plain = |c: &Candidate<'_>| {
        c.id.namespace.as_deref() == Some(target.namespace)
            && crate::certain::certainly_valid(&c.obj.object)
    };
    let existing_cm =
        |c: &Candidate<'_>| c.id.kind == "ConfigMap" && live.contains_key(&live_key(c));
    let mutable = if candidates.iter().any(|c| plain(c) && existing_cm(c)) {
        crate::certain::mutable_config_maps(client, target.namespace).await
    } else {
        Default::default()
    };
    let certain = |c: &Candidate<'_>| {
        plain(c)
            && (!live.contains_key(&live_key(c))
                || (existing_cm(c) && mutable.contains(&c.id.name)))
    };
    let skip_certain = candidates.iter().any(certain)
        && crate::certain::admission_free(client, target.namespace).await;
    candidates
        .iter()
        .filter(|c| {
            let new_ns =
                c.id.namespace
                    .as_deref()
                    .is_some_and(|ns| created_namespaces.contains(&ns));
            let new_kind = redefined
                .iter()
                .any(|(g, k)| *g == c.id.group && *k == c.id.kind);
            !(new_ns || new_kind || skip_certain && certain(c))
        })
        .collect()
}

/// Sends a server-side dry-run of each object (`concurrency` at once);
/// the ones the server refused, with its answer.
async fn dry_runs<'c, 'a>(
    applier: &Applier<'_>,
    target: &Target<'_>,
    judged: Vec<&'c Candidate<'a>>,
) -> Vec<(&'c Candidate<'a>, shared::Error)> {
    futures::stream::iter(judged)
        .map(|c| async move {
            if shared::interrupt::requested() {
                return None;
            }
            let mut obj = c.obj.clone();
            shared::release::owner::stamp(&mut obj.object, target.release, target.namespace);
            if c.hook {
                obj.object["metadata"]["namespace"] = Value::String(target.namespace.to_string());
            }
            let dry = ApplyOptions {
                dry_run: true,
                force_conflicts: true,
            };
            applier.apply(&obj, dry).await.err().map(|e| (c, e))
        })
        .buffered(target.concurrency.max(1))
        .filter_map(|r| async move { r })
        .collect()
        .await
}

/// One line for a refused object: an in-place refusal names the fields
/// and the way out; any other, the server's words.
async fn refusal_line(
    client: &kube::Client,
    c: &Candidate<'_>,
    e: &shared::Error,
    in_place: bool,
) -> String {
    match e {
        shared::Error::Api { message, .. } if in_place => {
            let live = read_live(client, c).await;
            format!(
                "{}; revert the change, or pass --force-replace (or annotate the object {REPLACE_ANNOTATION}: \"true\") to delete it and create it again (a StatefulSet keeps its Pods and PVCs)",
                refusal(&c.id.to_string(), &c.obj.object, &live, message)
            )
        }
        shared::Error::Api { message, .. } => format!(
            "{} at {}: {}",
            c.id,
            c.obj.source,
            shared::error::one_line(message)
        ),
        other => format!("{} at {}: {other}", c.id, c.obj.source),
    }
}

fn replaceable(obj: &SourcedObject) -> bool {
    crate::marks::read(&obj.object).is_ok_and(|m| m.replace)
}

/// The live object, for naming the fields an in-place refusal is about.
async fn read_live(client: &kube::Client, c: &Candidate<'_>) -> Value {
    let api: kube::Api<kube::api::DynamicObject> = match &c.id.namespace {
        Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &c.resource),
        None => kube::Api::all_with(client.clone(), &c.resource),
    };
    match api.get_opt(&c.id.name).await {
        Ok(Some(o)) => serde_json::to_value(o).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// One line: the object, the fields that changed, and the server's reason.
fn refusal(object: &str, desired: &Value, live: &Value, message: &str) -> String {
    let mut fields = Vec::new();
    if desired["kind"] == "StatefulSet" {
        for (k, v) in desired["spec"].as_object().into_iter().flatten() {
            if !STATEFULSET_MUTABLE.contains(&k.as_str()) && !subset(v, &live["spec"][k]) {
                fields.push(format!("spec.{k}"));
            }
        }
    }
    let reason = shared::error::one_line(message);
    if fields.is_empty() {
        format!("{object}: {reason}")
    } else {
        format!(
            "{object}: {} cannot be changed on a live {} ({reason})",
            fields.join(", "),
            desired["kind"].as_str().unwrap_or("object")
        )
    }
}

/// Every leaf of `want` has the same value in `have` (server defaults in
/// `have` are not differences).
fn subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| subset(v, hv))),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| subset(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == have,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statefulset_refusal_names_the_changed_forbidden_field() {
        let live = json!({"spec": {"replicas": 1, "serviceName": "db",
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                "volumeMode": "Filesystem", "resources": {"requests": {"storage": "8Gi"}}}, "status": {"phase": "Pending"}}],
            "selector": {"matchLabels": {"a": "b"}}}});
        let mut desired = json!({"kind": "StatefulSet", "spec": {"replicas": 2, "serviceName": "db",
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "20Gi"}}}}],
            "selector": {"matchLabels": {"a": "b"}}}});
        let line = refusal("StatefulSet/db -n data", &desired, &live, "forbidden");
        assert_eq!(
            line,
            "StatefulSet/db -n data: spec.volumeClaimTemplates cannot be changed on a live StatefulSet (forbidden)"
        );
        desired["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            json!("8Gi");
        assert_eq!(
            refusal("StatefulSet/db", &desired, &live, "x"),
            "StatefulSet/db: x"
        );
    }
}
