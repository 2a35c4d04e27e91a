//! Before the first write: changes the server would refuse on a live object.
//!
//! Some fields cannot change once an object exists (a StatefulSet's
//! `volumeClaimTemplates`, a Job's pod template, a Deployment's selector, a
//! Service's `clusterIP`, a RoleBinding's `roleRef`, an `immutable: true`
//! ConfigMap or Secret...). Applying such a change fails half-way through a
//! release, after earlier objects were already updated. So every object of
//! those kinds that already exists is applied once with server-side dry-run
//! first (one LIST per resource and namespace finds them); if the server
//! refuses any with 422, the apply stops before anything is written, with
//! one line per object naming the fields.

use futures::StreamExt;
use serde_json::Value;
use shared::apply::{Applier, ApplyOptions};
use shared::discovery::Resolver;

use crate::plan::Plan;

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
    "ConfigMap",
    "Secret",
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
/// existing object of the plan.
pub async fn immutable_fields(
    client: &kube::Client,
    resolver: &Resolver,
    namespace: &str,
    plan: &Plan,
    concurrency: usize,
) -> anyhow::Result<()> {
    let applier = Applier::new(client.clone(), resolver, namespace);
    let mut candidates = Vec::new();
    for item in plan
        .items
        .iter()
        .filter(|i| IMMUTABLE_PRONE.contains(&i.obj.kind()))
    {
        // Unknown kinds fail later with their own error.
        if let Ok((kind, id, value)) = applier.prepare(&item.obj).await {
            candidates.push((item, kind.resource, id, value));
        }
    }
    if candidates.is_empty() {
        return Ok(());
    }
    let wanted: Vec<shared::live::Wanted<'_>> = candidates
        .iter()
        .map(|(_, res, id, _)| (res, id.namespace.as_deref(), id.name.as_str()))
        .collect();
    let live = shared::live::fetch(client, &wanted)
        .await
        .map_err(|e| shared::Error::api("read the live objects before applying", e))?;
    let existing: Vec<_> = candidates
        .iter()
        .zip(&wanted)
        .filter_map(|(c, w)| live.get(&shared::live::key(w)).map(|l| (c, l)))
        // ConfigMaps and Secrets are only immutable when they say so.
        .filter(|(c, l)| {
            !matches!(c.0.obj.kind(), "ConfigMap" | "Secret") || l["immutable"] == true
        })
        .collect();
    let refusals: Vec<String> = futures::stream::iter(existing)
        .map(|((item, _, id, value), live)| {
            let applier = &applier;
            async move {
                let dry = ApplyOptions {
                    dry_run: true,
                    force_conflicts: true,
                };
                match applier.apply(&item.obj, dry).await {
                    Err(shared::Error::Api {
                        code: Some(422),
                        message,
                        ..
                    }) => Some(refusal(&id.to_string(), value, live, &message)),
                    _ => None,
                }
            }
        })
        .buffered(concurrency.max(1))
        .filter_map(|r| async move { r })
        .collect()
        .await;
    if refusals.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "nothing applied: {}; revert the change, or delete the object (a StatefulSet with kubectl delete --cascade=orphan, which keeps its Pods and PVCs) and apply again",
        refusals.join("; ")
    )
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
