//! The `PackRelease` resource (`pack.sherpack.io/v1alpha1`): its CRD (the
//! file `deploy/crd/packrelease.yaml`, printed by `operator crd`), the
//! spec the operator reads and the status it writes.

use std::time::Duration;

use kube::api::ApiResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The CRD manifest.
pub const CRD_YAML: &str = include_str!("../../../deploy/crd/packrelease.yaml");
/// The API group.
pub const GROUP: &str = "pack.sherpack.io";
/// The annotation `operator sync-now` sets: a new value asks for an
/// immediate reconcile (and clears `Stalled`).
pub const SYNC_NOW: &str = "pack.sherpack.io/sync-now";
/// The poll interval when the spec gives none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// `packreleases.pack.sherpack.io/v1alpha1`.
pub fn resource() -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: "v1alpha1".into(),
        api_version: format!("{GROUP}/v1alpha1"),
        kind: "PackRelease".into(),
        plural: "packreleases".into(),
    }
}

/// `.spec`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// Where the pack comes from.
    pub source: Source,
    /// Inline values, merged last.
    #[serde(default)]
    pub values: Option<Value>,
    /// Values files from ConfigMaps / Secrets, merged in order.
    #[serde(default)]
    pub values_from: Vec<ValuesFrom>,
    /// `render -e`.
    #[serde(default)]
    pub environment: Option<String>,
    /// Where the release lives (default: the PackRelease's namespace).
    #[serde(default)]
    pub target_namespace: Option<String>,
    /// Poll and drift-check period (`5m`).
    #[serde(default)]
    pub interval: Option<String>,
    /// No polls, deploys or corrections.
    #[serde(default)]
    pub suspend: bool,
    /// Correct drift.
    #[serde(default)]
    pub auto_sync: bool,
    /// Delete objects a new version no longer has (default true).
    #[serde(default)]
    pub prune: Option<bool>,
    /// Re-apply the previous revision when a deploy fails.
    #[serde(default)]
    pub rollback_on_failure: bool,
}

/// `.spec.source`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// `oci://HOST[:PORT]/REPO`.
    pub oci: String,
    /// Semver range (default `*`).
    #[serde(default)]
    pub constraint: Option<String>,
    /// A pinned manifest digest.
    #[serde(default)]
    pub digest: Option<String>,
    /// Let the constraint pick pre-releases.
    #[serde(default)]
    pub prerelease: bool,
    /// Plain HTTP.
    #[serde(default)]
    pub insecure: bool,
    /// Registry credentials.
    #[serde(default)]
    pub secret_ref: Option<NameRef>,
    /// The registry's CA (`ca.crt` of a Secret).
    #[serde(default)]
    pub cert_secret_ref: Option<NameRef>,
}

/// A reference by name in the PackRelease's namespace.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct NameRef {
    /// The object's name.
    pub name: String,
}

/// One `.spec.valuesFrom` entry.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ValuesFrom {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The data key (default `values.yaml`).
    #[serde(default)]
    pub key: Option<String>,
    /// Skip when missing.
    #[serde(default)]
    pub optional: bool,
}

impl Spec {
    /// Reads `.spec` of a PackRelease.
    pub fn of(obj: &Value) -> Result<Spec, String> {
        serde_json::from_value(obj.get("spec").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("spec: {e}"))
    }

    /// The poll interval.
    pub fn interval(&self) -> Result<Duration, String> {
        match &self.interval {
            None => Ok(DEFAULT_INTERVAL),
            Some(text) => shared::kubeconfig::positive_duration(text)
                .map_err(|e| format!("spec.interval '{text}': {e}")),
        }
    }
}

/// `.status`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The generation this status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, DriftDetected.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The version running.
    #[serde(default)]
    pub last_applied_version: Option<String>,
    /// Its manifest digest.
    #[serde(default)]
    pub last_applied_digest: Option<String>,
    /// What was deployed (version, digest, values, settings), hashed.
    #[serde(default)]
    pub last_applied_fingerprint: Option<String>,
    /// What failed to deploy last, hashed: not tried again until
    /// something changes or `sync-now`.
    #[serde(default)]
    pub last_failed_fingerprint: Option<String>,
    /// The release's revision.
    #[serde(default)]
    pub revision: Option<i64>,
    /// An ETag of the versions the constraint admits (their list's digest:
    /// registries send no ETag for tag lists); it changes when a poll
    /// finds a new admissible version.
    #[serde(default)]
    pub registry_e_tag: Option<String>,
    /// Registry polls or deploys failed in a row.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// When the next poll is due.
    #[serde(default)]
    pub next_poll_time: Option<String>,
    /// The last `sync-now` value acted on.
    #[serde(default)]
    pub last_handled_sync_now: Option<String>,
}

/// One condition, as `metav1.Condition`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Ready, Reconciling, Stalled, DriftDetected.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False, Unknown.
    pub status: String,
    /// PascalCase.
    #[serde(default)]
    pub reason: String,
    /// One line.
    #[serde(default)]
    pub message: String,
    /// The generation it was set for.
    #[serde(default)]
    pub observed_generation: i64,
    /// When status last changed.
    #[serde(default)]
    pub last_transition_time: String,
}

impl Status {
    /// Reads `.status` (absent: empty).
    pub fn of(obj: &Value) -> Status {
        obj.get("status")
            .cloned()
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default()
    }

    /// Sets condition `type_`, keeping its transition time when its status
    /// did not change.
    pub fn set(&mut self, type_: &str, status: bool, reason: &str, message: &str, generation: i64) {
        let status = if status { "True" } else { "False" }.to_string();
        let now = shared::release::now();
        let message = shared::error::one_line(message);
        let message: String = message.chars().take(1000).collect();
        match self.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = now;
                }
                c.status = status;
                c.reason = reason.into();
                c.message = message;
                c.observed_generation = generation;
            }
            None => self.conditions.push(Condition {
                type_: type_.into(),
                status,
                reason: reason.into(),
                message,
                observed_generation: generation,
                last_transition_time: now,
            }),
        }
    }

    /// Whether condition `type_` is True.
    pub fn is(&self, type_: &str) -> bool {
        self.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_crd_file_is_the_resource_the_operator_reads() {
        let crd: Value = shared::yaml::from_str(CRD_YAML).unwrap();
        let r = resource();
        assert_eq!(crd["spec"]["group"], r.group);
        assert_eq!(crd["spec"]["names"]["plural"], r.plural);
        assert_eq!(crd["spec"]["names"]["kind"], r.kind);
        assert_eq!(crd["spec"]["versions"][0]["name"], r.version);
    }

    #[test]
    fn a_condition_keeps_its_transition_time_until_its_status_changes() {
        let mut s = Status::default();
        s.set("Ready", false, "Progressing", "first", 1);
        let t = s.conditions[0].last_transition_time.clone();
        s.set("Ready", false, "Progressing", "second", 2);
        assert_eq!(s.conditions[0].last_transition_time, t);
        assert_eq!(s.conditions[0].message, "second");
        assert!(!s.is("Ready"));
        s.set("Ready", true, "Deployed", "ok", 2);
        assert!(s.is("Ready"));
    }

    #[test]
    fn spec_reads_the_documented_fields() {
        let obj = json!({"spec": {"source": {"oci": "oci://r/p", "constraint": ">=1.2, <2"},
            "valuesFrom": [{"kind": "ConfigMap", "name": "v", "optional": true}],
            "interval": "30s", "autoSync": true}});
        let s = Spec::of(&obj).unwrap();
        assert_eq!(s.interval().unwrap(), Duration::from_secs(30));
        assert!(s.auto_sync && s.values_from[0].optional);
        assert!(Spec::of(&json!({"spec": {}})).is_err());
    }
}
