//! Checks a pack test can ask for: `isValidKubernetes` (built-in kinds must
//! deserialize into their k8s-openapi type: required fields present, types
//! right) and `matchPolicy: pod-security-restricted` (the restricted Pod
//! Security Standard, checked natively).

use serde_json::Value;

macro_rules! typed_check {
    ($obj:expr, $kind:expr, $( $k:literal => $t:ty ),* $(,)?) => {
        match $kind {
            $( $k => Some(serde_json::from_value::<$t>($obj.clone()).map(|_| ()).map_err(|e| e.to_string())), )*
            _ => None,
        }
    };
}

/// `Ok(true)` valid, `Ok(false)` not a built-in kind we know (not checked),
/// `Err(reason)` invalid.
pub fn valid_kubernetes(obj: &Value) -> Result<bool, String> {
    use k8s_openapi::api::{apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch, core::v1 as core, networking::v1 as net, policy::v1 as policy, rbac::v1 as rbac};
    let kind = obj["kind"].as_str().unwrap_or_default();
    let api = obj["apiVersion"].as_str().unwrap_or_default();
    let key = format!("{api}/{kind}");
    let result = typed_check!(obj, key.as_str(),
        "v1/ConfigMap" => core::ConfigMap,
        "v1/Secret" => core::Secret,
        "v1/Service" => core::Service,
        "v1/ServiceAccount" => core::ServiceAccount,
        "v1/Namespace" => core::Namespace,
        "v1/Pod" => core::Pod,
        "v1/PersistentVolumeClaim" => core::PersistentVolumeClaim,
        "apps/v1/Deployment" => apps::Deployment,
        "apps/v1/StatefulSet" => apps::StatefulSet,
        "apps/v1/DaemonSet" => apps::DaemonSet,
        "apps/v1/ReplicaSet" => apps::ReplicaSet,
        "batch/v1/Job" => batch::Job,
        "batch/v1/CronJob" => batch::CronJob,
        "networking.k8s.io/v1/Ingress" => net::Ingress,
        "networking.k8s.io/v1/NetworkPolicy" => net::NetworkPolicy,
        "rbac.authorization.k8s.io/v1/Role" => rbac::Role,
        "rbac.authorization.k8s.io/v1/RoleBinding" => rbac::RoleBinding,
        "rbac.authorization.k8s.io/v1/ClusterRole" => rbac::ClusterRole,
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding" => rbac::ClusterRoleBinding,
        "policy/v1/PodDisruptionBudget" => policy::PodDisruptionBudget,
        "autoscaling/v2/HorizontalPodAutoscaler" => autoscaling::HorizontalPodAutoscaler,
    );
    match result {
        Some(Ok(())) => Ok(true),
        Some(Err(e)) => Err(e),
        None => Ok(false),
    }
}

/// The pod spec of a workload object, if it has one.
pub fn pod_spec(obj: &Value) -> Option<&Value> {
    let spec = obj.get("spec")?;
    match obj["kind"].as_str()? {
        "Pod" => Some(spec),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "ReplicationController" => spec.get("template")?.get("spec"),
        "CronJob" => spec.get("jobTemplate")?.get("spec")?.get("template")?.get("spec"),
        _ => None,
    }
}

/// Violations of the restricted Pod Security Standard (empty = compliant;
/// objects without a pod spec comply trivially).
pub fn pod_security_restricted(obj: &Value) -> Vec<String> {
    let Some(spec) = pod_spec(obj) else { return Vec::new() };
    let mut v = Vec::new();
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[host] == true {
            v.push(format!("spec.{host} must not be true"));
        }
    }
    for vol in spec["volumes"].as_array().into_iter().flatten() {
        if vol.get("hostPath").is_some() {
            v.push(format!("volume {} uses hostPath", vol["name"].as_str().unwrap_or("?")));
        }
    }
    let pod_sc = &spec["securityContext"];
    let seccomp_ok = |sc: &Value| matches!(sc["seccompProfile"]["type"].as_str(), Some("RuntimeDefault" | "Localhost"));
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec[list].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or("?");
            let sc = &c["securityContext"];
            if sc["privileged"] == true {
                v.push(format!("container {name}: privileged"));
            }
            if sc["allowPrivilegeEscalation"] != false {
                v.push(format!("container {name}: securityContext.allowPrivilegeEscalation must be false"));
            }
            let drops_all = sc["capabilities"]["drop"].as_array().is_some_and(|d| d.iter().any(|x| x == "ALL"));
            if !drops_all {
                v.push(format!("container {name}: securityContext.capabilities.drop must include ALL"));
            }
            for add in sc["capabilities"]["add"].as_array().into_iter().flatten() {
                if add != "NET_BIND_SERVICE" {
                    v.push(format!("container {name}: capability {add} may not be added"));
                }
            }
            let non_root = sc["runAsNonRoot"] == true || (sc["runAsNonRoot"].is_null() && pod_sc["runAsNonRoot"] == true);
            if !non_root {
                v.push(format!("container {name}: runAsNonRoot must be true (container or pod securityContext)"));
            }
            if sc["runAsUser"] == 0 || (sc["runAsUser"].is_null() && pod_sc["runAsUser"] == 0) {
                v.push(format!("container {name}: runAsUser must not be 0"));
            }
            if !(seccomp_ok(sc) || (sc["seccompProfile"].is_null() && seccomp_ok(pod_sc))) {
                v.push(format!("container {name}: seccompProfile.type must be RuntimeDefault or Localhost"));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restricted_policy_names_each_violation() {
        let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "hostNetwork": true, "containers": [{"name": "web", "securityContext": {"privileged": true}}]}}}});
        let v = pod_security_restricted(&bad);
        assert!(v.iter().any(|x| x.contains("hostNetwork")));
        assert!(v.iter().any(|x| x.contains("privileged")));
        assert!(v.iter().any(|x| x.contains("drop must include ALL")));
        let good = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "web", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}});
        assert_eq!(pod_security_restricted(&good), Vec::<String>::new());
    }

    #[test]
    fn typed_validation_reports_missing_required_fields() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {}}});
        assert!(valid_kubernetes(&d).unwrap_err().contains("selector"));
        let c = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}});
        assert_eq!(valid_kubernetes(&c), Ok(false));
    }
}
