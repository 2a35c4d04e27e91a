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

/// The preflight refused the apply: nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("nothing applied: {0}")]
pub struct Refused(String);

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

/// The annotation that asks for one object to be replaced when the server
/// will not update it in place.
pub const REPLACE_ANNOTATION: &str = "sherpack.io/replace";

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
            resource: kind.resource,
            id,
        });
    }
    let (adopted, live) = ownership(client, target, &candidates).await?;
    let leave_replicas = hpa_held_replicas(client, target, &candidates, &live).await;
    let replace = immutable_fields(client, &applier, target, &candidates).await?;
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
    const SHOWN: usize = 10;
    let mut lines: Vec<String> = foreign
        .iter()
        .take(SHOWN)
        .map(|(id, o)| format!("{id} {o}"))
        .collect();
    if foreign.len() > SHOWN {
        lines.push(format!("and {} more", foreign.len() - SHOWN));
    }
    Err(Refused(format!(
        "{} object(s) of the stream are not release {}'s: {}; rename them, remove them from the stream, or pass --take-ownership to make them this release's",
        foreign.len(),
        target.release,
        lines.join("; ")
    ))
    .into())
}

/// Kinds with fields the server refuses to change on update.
const IMMUTABLE_PRONE: &[&str] = &[
    "StatefulSet",
    "Deployment",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Service",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "StorageClass",
    "RoleBinding",
    "ClusterRoleBinding",
    "PodDisruptionBudget",
    "Pod",
];

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

/// Fails (nothing written) when the server would refuse an update of an
/// existing object of the stream, unless it may be replaced: returns those.
async fn immutable_fields(
    client: &kube::Client,
    applier: &Applier<'_>,
    target: &Target<'_>,
    candidates: &[Candidate<'_>],
) -> anyhow::Result<Vec<ObjectId>> {
    let prone: Vec<&Candidate<'_>> = candidates
        .iter()
        .filter(|c| IMMUTABLE_PRONE.contains(&c.id.kind.as_str()))
        .collect();
    if prone.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<shared::live::Wanted<'_>> = prone
        .iter()
        .map(|c| (&c.resource, c.id.namespace.as_deref(), c.id.name.as_str()))
        .collect();
    let live = shared::live::fetch(client, &wanted)
        .await
        .map_err(|e| shared::Error::api("read the live objects before applying", e))?;
    let existing: Vec<_> = prone
        .iter()
        .zip(&wanted)
        .filter_map(|(c, w)| live.get(&shared::live::key(w)).map(|l| (*c, l)))
        .collect();
    let refused: Vec<(&Candidate<'_>, String)> = futures::stream::iter(existing)
        .map(|(c, live)| async move {
            let dry = ApplyOptions {
                dry_run: true,
                force_conflicts: true,
            };
            match applier.apply(c.obj, dry).await {
                Err(shared::Error::Api {
                    code: Some(422),
                    message,
                    ..
                }) => Some((c, refusal(&c.id.to_string(), &c.obj.object, live, &message))),
                _ => None,
            }
        })
        .buffered(target.concurrency.max(1))
        .filter_map(|r| async move { r })
        .collect()
        .await;
    let replaceable = |c: &Candidate<'_>| {
        target.force_replace
            || c.obj.object["metadata"]["annotations"][REPLACE_ANNOTATION] == "true"
    };
    let blocking: Vec<&str> = refused
        .iter()
        .filter(|(c, _)| !replaceable(c))
        .map(|(_, line)| line.as_str())
        .collect();
    if !blocking.is_empty() {
        return Err(Refused(format!(
            "{}; revert the change, or pass --force-replace (or annotate the object {REPLACE_ANNOTATION}: \"true\") to delete it and create it again (a StatefulSet keeps its Pods and PVCs)",
            blocking.join("; ")
        ))
        .into());
    }
    Ok(refused.into_iter().map(|(c, _)| c.id.clone()).collect())
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
