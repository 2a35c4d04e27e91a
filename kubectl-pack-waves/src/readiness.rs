//! Readiness: the kstatus rules with the fixes users asked for (a running
//! Job is not ready; LoadBalancer Services wait for an ingress; PVCs must be
//! Bound; CRDs Established), judged on the live object.

use serde_json::Value;

/// The verdict on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Ready.
    Ready,
    /// Not yet, and why.
    InProgress(String),
    /// Will not become ready, and why.
    Failed(String),
}

fn condition<'a>(obj: &'a Value, t: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
}

fn cond_is(obj: &Value, t: &str, status: &str) -> bool {
    condition(obj, t).is_some_and(|c| c["status"] == status)
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The rule an object will be judged by (for `plan`).
pub fn rule(obj: &Value) -> &'static str {
    match obj["kind"].as_str().unwrap_or_default() {
        "Deployment" => "Deployment: all replicas updated, ready and available",
        "StatefulSet" => "StatefulSet: replicas ready on the update revision",
        "DaemonSet" => "DaemonSet: scheduled pods updated and available",
        "Job" => "Job: Complete (a running Job is not ready)",
        "Pod" => "Pod: Ready, or Succeeded",
        "PersistentVolumeClaim" => "PersistentVolumeClaim: Bound",
        "Service" if obj["spec"]["type"] == "LoadBalancer" => {
            "Service LoadBalancer: has an ingress address"
        }
        "CustomResourceDefinition" => "CRD: Established",
        "Secret"
        | "ConfigMap"
        | "CronJob"
        | "PodDisruptionBudget"
        | "ServiceAccount"
        | "Namespace"
        | "Role"
        | "RoleBinding"
        | "ClusterRole"
        | "ClusterRoleBinding"
        | "Service"
        | "Ingress"
        | "NetworkPolicy" => "exists",
        _ => "Ready condition if the object reports conditions, else exists",
    }
}

/// Judges a live object.
pub fn assess(obj: &Value) -> State {
    use State::*;
    if !obj["metadata"]["deletionTimestamp"].is_null() {
        return InProgress("terminating".into());
    }
    let generation = obj["metadata"]["generation"].as_i64();
    let observed = obj["status"]["observedGeneration"].as_i64();
    if let (Some(g), Some(o)) = (generation, observed)
        && o < g
    {
        return InProgress(format!("observedGeneration {o} < generation {g}"));
    }
    if cond_is(obj, "Stalled", "True") {
        return Failed("Stalled".into());
    }
    if cond_is(obj, "Reconciling", "True") {
        return InProgress("Reconciling".into());
    }
    let spec = &obj["spec"];
    let st = &obj["status"];
    match obj["kind"].as_str().unwrap_or_default() {
        "Deployment" => {
            if condition(obj, "Progressing")
                .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded")
            {
                return Failed("ProgressDeadlineExceeded".into());
            }
            if observed.is_none() {
                return InProgress("not observed by the controller yet".into());
            }
            let want = spec["replicas"].as_i64().unwrap_or(1);
            let (r, u, rd, av) = (
                int(&st["replicas"]),
                int(&st["updatedReplicas"]),
                int(&st["readyReplicas"]),
                int(&st["availableReplicas"]),
            );
            if u < want {
                return InProgress(format!("{u}/{want} replicas updated"));
            }
            if rd < want {
                return InProgress(format!("{rd}/{want} replicas ready"));
            }
            if r > want {
                return InProgress(format!("{} old replicas terminating", r - want));
            }
            if av < u {
                return InProgress(format!("{av}/{u} replicas available"));
            }
            if want > 0 && !cond_is(obj, "Available", "True") {
                return InProgress("not Available".into());
            }
            Ready
        }
        "StatefulSet" => {
            if spec["updateStrategy"]["type"] == "OnDelete" {
                return Ready;
            }
            if observed.is_none() {
                return InProgress("not observed by the controller yet".into());
            }
            let want = spec["replicas"].as_i64().unwrap_or(1);
            let (r, rd) = (int(&st["replicas"]), int(&st["readyReplicas"]));
            if r < want || rd < want {
                return InProgress(format!("{rd}/{want} replicas ready"));
            }
            if r > want {
                return InProgress(format!("{} extra replicas terminating", r - want));
            }
            if let Some(p) = spec["updateStrategy"]["rollingUpdate"]["partition"].as_i64() {
                return if int(&st["updatedReplicas"]) >= want - p {
                    Ready
                } else {
                    InProgress("partitioned rollout in progress".into())
                };
            }
            if int(&st["currentReplicas"]) < want || st["currentRevision"] != st["updateRevision"] {
                return InProgress("rolling update in progress".into());
            }
            Ready
        }
        "DaemonSet" => {
            if observed.is_none() {
                return InProgress("not observed by the controller yet".into());
            }
            let d = int(&st["desiredNumberScheduled"]);
            for (field, what) in [
                ("currentNumberScheduled", "scheduled"),
                ("updatedNumberScheduled", "updated"),
                ("numberAvailable", "available"),
                ("numberReady", "ready"),
            ] {
                if int(&st[field]) < d {
                    return InProgress(format!("{}/{d} pods {what}", int(&st[field])));
                }
            }
            Ready
        }
        "Job" => {
            if cond_is(obj, "Failed", "True") {
                let reason = condition(obj, "Failed")
                    .and_then(|c| c["reason"].as_str())
                    .unwrap_or("Failed");
                return Failed(format!("job failed: {reason}"));
            }
            if cond_is(obj, "Complete", "True") {
                Ready
            } else {
                InProgress("job not complete".into())
            }
        }
        "Pod" => {
            for cs in st["containerStatuses"].as_array().into_iter().flatten() {
                if let Some(reason) = cs["state"]["waiting"]["reason"].as_str()
                    && matches!(
                        reason,
                        "CrashLoopBackOff" | "ImagePullBackOff" | "ErrImagePull"
                    )
                {
                    return Failed(format!(
                        "container {}: {reason}",
                        cs["name"].as_str().unwrap_or("?")
                    ));
                }
            }
            match st["phase"].as_str() {
                Some("Succeeded") => Ready,
                Some("Failed") => Failed("pod failed".into()),
                _ if cond_is(obj, "Ready", "True") => Ready,
                other => InProgress(format!("pod {}", other.unwrap_or("Pending"))),
            }
        }
        "PersistentVolumeClaim" => {
            if st["phase"] == "Bound" {
                Ready
            } else {
                InProgress(format!(
                    "claim {}",
                    st["phase"].as_str().unwrap_or("Pending")
                ))
            }
        }
        "Service" if spec["type"] == "LoadBalancer" => {
            if st["loadBalancer"]["ingress"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                Ready
            } else {
                InProgress("no load balancer ingress yet".into())
            }
        }
        "CustomResourceDefinition" => match shared::crd::state(obj) {
            shared::crd::CrdState::Established => Ready,
            shared::crd::CrdState::Pending(why) => InProgress(why),
            shared::crd::CrdState::Failed(why) => Failed(why),
        },
        _ => match condition(obj, "Ready") {
            Some(c) if c["status"] == "True" => Ready,
            Some(c) => InProgress(format!(
                "Ready={} {}",
                c["status"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or_default()
            )),
            None => Ready,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn running_job_is_not_ready_and_failed_pods_fail() {
        assert!(matches!(
            assess(&json!({"kind": "Job", "status": {"active": 1}})),
            State::InProgress(_)
        ));
        assert_eq!(
            assess(
                &json!({"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}})
            ),
            State::Ready
        );
        let pod = json!({"kind": "Pod", "status": {"phase": "Running", "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(
            assess(&pod),
            State::Failed("container app: CrashLoopBackOff".into())
        );
    }

    #[test]
    fn deployment_needs_updated_ready_available_replicas() {
        let mut d = json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1}});
        assert!(matches!(assess(&d), State::InProgress(r) if r.contains("observedGeneration")));
        d["status"] = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Available", "status": "True"}]});
        assert_eq!(assess(&d), State::Ready);
        assert!(matches!(
            assess(&json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}})),
            State::InProgress(_)
        ));
        assert!(matches!(
            assess(&json!({"kind": "Service", "spec": {"type": "LoadBalancer"}})),
            State::InProgress(_)
        ));
    }
}
