//! Checks a pack test can ask for: `isValidKubernetes` (built-in kinds must
//! deserialize into their k8s-openapi type: required fields present, types
//! right) and `matchPolicy: pod-security-restricted` (the restricted Pod
//! Security Standard, checked natively).

use serde_json::Value;

macro_rules! typed_check {
    ($obj:expr, $kind:expr, $( $k:literal => $t:ty ),* $(,)?) => {
        match $kind {
            $( $k => Some(serde_json::from_value::<$t>($obj.clone())
                .map_err(|e| e.to_string())
                .and_then(|typed| serde_json::to_value(&typed).map_err(|e| e.to_string()))), )*
            _ => None,
        }
    };
}

/// Fields of `original` that the typed round trip dropped: unknown fields.
fn unknown_fields(original: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(o), Value::Object(t)) => {
            for (k, v) in o {
                if v.is_null() || path.is_empty() && k == "status" {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match t.get(k) {
                    Some(tv) => unknown_fields(v, tv, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(o), Value::Array(t)) => {
            for (i, (ov, tv)) in o.iter().zip(t).enumerate() {
                unknown_fields(ov, tv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Fields the API server requires although the typed bindings default them.
fn missing_required(obj: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let mut need = |cond: bool, what: &str| {
        if !cond {
            missing.push(what.to_string());
        }
    };
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
            need(obj["spec"]["selector"].is_object(), "spec.selector");
            need(obj["spec"]["template"].is_object(), "spec.template");
        }
        "Job" => need(obj["spec"]["template"].is_object(), "spec.template"),
        "CronJob" => {
            need(obj["spec"]["schedule"].is_string(), "spec.schedule");
            need(obj["spec"]["jobTemplate"].is_object(), "spec.jobTemplate");
        }
        "Service" => {
            for (i, p) in obj["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                need(p["port"].is_number(), &format!("spec.ports[{i}].port"));
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            need(
                obj["roleRef"]["kind"].is_string() && obj["roleRef"]["name"].is_string(),
                "roleRef.kind and roleRef.name",
            );
        }
        "Role" | "ClusterRole" => {
            for (i, r) in obj["rules"].as_array().into_iter().flatten().enumerate() {
                need(r["verbs"].is_array(), &format!("rules[{i}].verbs"));
            }
        }
        _ => {}
    }
    if let Some(spec) = pod_spec(obj) {
        let containers = spec["containers"].as_array().cloned().unwrap_or_default();
        need(!containers.is_empty(), "pod spec containers (at least one)");
        for (i, c) in containers.iter().enumerate() {
            need(
                c["name"].as_str().is_some_and(|n| !n.is_empty()),
                &format!("containers[{i}].name"),
            );
            need(
                c["image"].as_str().is_some_and(|n| !n.is_empty()),
                &format!("containers[{i}].image"),
            );
        }
    }
    missing
}

/// `Ok(true)` valid, `Ok(false)` not a built-in kind we know (not checked),
/// `Err(reason)` invalid.
pub fn valid_kubernetes(obj: &Value) -> Result<bool, String> {
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch, core::v1 as core,
        networking::v1 as net, policy::v1 as policy, rbac::v1 as rbac,
    };
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
        Some(Ok(typed)) => {
            let missing = missing_required(obj);
            if !missing.is_empty() {
                return Err(format!("missing required field(s): {}", missing.join(", ")));
            }
            let mut unknown = Vec::new();
            unknown_fields(obj, &typed, "", &mut unknown);
            if unknown.is_empty() {
                Ok(true)
            } else {
                Err(format!("unknown field(s): {}", unknown.join(", ")))
            }
        }
        Some(Err(e)) => Err(e),
        None => Ok(false),
    }
}

/// The pod spec of a workload object, if it has one.
pub fn pod_spec(obj: &Value) -> Option<&Value> {
    let spec = obj.get("spec")?;
    match obj["kind"].as_str()? {
        "Pod" => Some(spec),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => spec.get("template")?.get("spec"),
        "CronJob" => spec
            .get("jobTemplate")?
            .get("spec")?
            .get("template")?
            .get("spec"),
        _ => None,
    }
}

/// Violations of the restricted Pod Security Standard (empty = compliant;
/// objects without a pod spec comply trivially).
pub fn pod_security_restricted(obj: &Value) -> Vec<String> {
    let Some(spec) = pod_spec(obj) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[host] == true {
            v.push(format!("spec.{host} must not be true"));
        }
    }
    for vol in spec["volumes"].as_array().into_iter().flatten() {
        if vol.get("hostPath").is_some() {
            v.push(format!(
                "volume {} uses hostPath",
                vol["name"].as_str().unwrap_or("?")
            ));
        }
    }
    let pod_sc = &spec["securityContext"];
    let seccomp_ok = |sc: &Value| {
        matches!(
            sc["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault" | "Localhost")
        )
    };
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec[list].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or("?");
            let sc = &c["securityContext"];
            if sc["privileged"] == true {
                v.push(format!("container {name}: privileged"));
            }
            if sc["allowPrivilegeEscalation"] != false {
                v.push(format!(
                    "container {name}: securityContext.allowPrivilegeEscalation must be false"
                ));
            }
            let drops_all = sc["capabilities"]["drop"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x == "ALL"));
            if !drops_all {
                v.push(format!(
                    "container {name}: securityContext.capabilities.drop must include ALL"
                ));
            }
            for add in sc["capabilities"]["add"].as_array().into_iter().flatten() {
                if add != "NET_BIND_SERVICE" {
                    v.push(format!(
                        "container {name}: capability {add} may not be added"
                    ));
                }
            }
            let non_root = sc["runAsNonRoot"] == true
                || (sc["runAsNonRoot"].is_null() && pod_sc["runAsNonRoot"] == true);
            if !non_root {
                v.push(format!(
                    "container {name}: runAsNonRoot must be true (container or pod securityContext)"
                ));
            }
            if sc["runAsUser"] == 0 || (sc["runAsUser"].is_null() && pod_sc["runAsUser"] == 0) {
                v.push(format!("container {name}: runAsUser must not be 0"));
            }
            if !(seccomp_ok(sc) || (sc["seccompProfile"].is_null() && seccomp_ok(pod_sc))) {
                v.push(format!(
                    "container {name}: seccompProfile.type must be RuntimeDefault or Localhost"
                ));
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
        let c =
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}});
        assert_eq!(valid_kubernetes(&c), Ok(false));
        let typo = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": 80, "targetport": 8080}]}});
        assert_eq!(
            valid_kubernetes(&typo),
            Err("unknown field(s): spec.ports[0].targetport".into())
        );
        let wrong_type = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": 1}});
        assert!(valid_kubernetes(&wrong_type).is_err());
        let ok = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i", "resources": {}, "volumeMounts": []}], "volumes": [{"name": "v", "emptyDir": {}}]}}}});
        assert_eq!(valid_kubernetes(&ok), Ok(true));
    }
}
