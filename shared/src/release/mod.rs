//! The release store shared by waves, drift, crd and rollback: one record
//! per revision (Sherpack-compatible Secrets, chunked past 1 MB), the
//! per-object applied state cut down to our manager's fields, and the
//! per-release lock.

pub mod args;
pub mod compact;
pub mod fields;
pub mod lock;
pub mod owner;
pub mod store;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Label carrying the release name on every object of a release.
pub const RELEASE_LABEL: &str = "sherpack.io/release";
/// ApplySet membership label (KEP-3659) on every object of a release.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Label of a release's ApplySet parent Secret.
pub const APPLYSET_ID_LABEL: &str = "applyset.kubernetes.io/id";

/// The ApplySet id of a release's parent Secret (KEP-3659): the value of
/// every release object's [`PART_OF_LABEL`], unique per release and namespace.
pub fn applyset_id(release: &str, namespace: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let parent = format!("{}.{namespace}.Secret.", parent_name(release));
    let hash = sha2::Sha256::digest(parent.as_bytes());
    format!(
        "applyset-{}-v1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
    )
}

/// The ApplySet parent Secret's name.
pub fn parent_name(release: &str) -> String {
    format!("sh.sherpack.applyset.{release}")
}

/// Where a revision stands (Helm's and Sherpack's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// First apply running.
    PendingInstall,
    /// An upgrade running.
    PendingUpgrade,
    /// A rollback running.
    PendingRollback,
    /// Applied and ready.
    Deployed,
    /// The apply failed.
    Failed,
    /// A later revision replaced it.
    Superseded,
    /// Uninstall running.
    Uninstalling,
    /// Uninstalled (kept with --keep-history).
    Uninstalled,
    /// Not a release: a `kubectl pack-crd backup --store` record (never listed as a release).
    Backup,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).unwrap_or_default();
        f.write_str(v.as_str().unwrap_or("unknown"))
    }
}

/// Pack metadata carried with the stream (optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackInfo {
    /// Pack name.
    #[serde(default)]
    pub name: String,
    /// Pack version.
    #[serde(default)]
    pub version: String,
    /// Anything else the pack declared for other plugins (drift, crd policy).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub settings: Value,
}

/// The comment line `kubectl pack-render` writes first in its stream to
/// carry the pack's metadata and settings to the plugins downstream
/// (`kubectl apply -f -` ignores it like any YAML comment).
pub const PACK_HEADER: &str = "# kubectl-pack.io/pack: ";

impl PackInfo {
    /// The header line (without newline).
    pub fn header_line(&self) -> String {
        format!(
            "{PACK_HEADER}{}",
            serde_json::to_string(self).unwrap_or_default()
        )
    }

    /// The pack header among the leading comments of `text`, if any;
    /// `Err` when the header is there but not valid JSON.
    pub fn from_stream(text: &str) -> Option<Result<PackInfo, String>> {
        for line in text.lines() {
            let t = line.trim();
            if let Some(json) = t.strip_prefix(PACK_HEADER.trim_end()) {
                return Some(serde_json::from_str(json.trim()).map_err(|e| e.to_string()));
            }
            if !(t.is_empty() || t == "---" || t.starts_with('#')) {
                return None;
            }
        }
        None
    }
}

/// One object of a revision as the server stored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRecord {
    /// apiVersion.
    pub api_version: String,
    /// kind.
    pub kind: String,
    /// Namespace (None for cluster-scoped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Plural resource name (for deletes without discovery).
    #[serde(default)]
    pub resource: String,
    /// Wave it was applied in.
    pub wave: i64,
    /// The server's answer cut down to the fields our manager owns.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub applied: Value,
    /// On the wire only: `applied` as a merge patch against the manifest's object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_patch: Option<Value>,
    /// Our manager's managedFields `fieldsV1`.
    pub fields: Value,
    /// Kept on prune/uninstall (`resource-policy: keep`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep: bool,
    /// It existed before the release took it over (`--take-ownership`): a
    /// Namespace taken over is never deleted by the release.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

impl ObjectRecord {
    /// The object's identity.
    pub fn id(&self) -> crate::identity::ObjectId {
        let (group, version) = crate::identity::split_api_version(&self.api_version);
        crate::identity::ObjectId {
            group: group.to_string(),
            version: version.to_string(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The API resource to read or delete this object with, without discovery.
    pub fn api_resource(&self) -> kube::api::ApiResource {
        let (group, version) = crate::identity::split_api_version(&self.api_version);
        kube::api::ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            plural: self.resource.clone(),
        }
    }
}

/// One wave of the plan that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveRecord {
    /// Wave number.
    pub wave: i64,
    /// `Kind/name` of its objects in order.
    pub objects: Vec<String>,
}

/// A revision of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// Revision, from 1.
    pub revision: u32,
    /// Status.
    pub status: Status,
    /// When revision 1 was applied (RFC 3339).
    pub first_deployed: String,
    /// When this revision was applied.
    pub last_deployed: String,
    /// What happened, in words.
    #[serde(default)]
    pub description: String,
    /// Pack metadata.
    #[serde(default)]
    pub pack: PackInfo,
    /// Values as given (encrypted values stay encrypted).
    #[serde(default)]
    pub values: Value,
    /// The manifest that was applied (the input stream).
    pub manifest: String,
    /// Per object: applied state and field set.
    pub objects: Vec<ObjectRecord>,
    /// Hook objects (not pruned as release objects).
    #[serde(default)]
    pub hooks: Vec<ObjectRecord>,
    /// The wave plan that ran.
    pub plan: Vec<WaveRecord>,
    /// Set when only one wave was applied (`--wave N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_wave: Option<i64>,
    /// On the wire only: the `applied_patch`es are against the manifest
    /// objects with the release's marks (see [`owner::stamp`]) already on,
    /// so the marks are not stored once per object. Older records lack it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub patches_stamped: bool,
}

/// The most characters a release name may have (Helm's limit: names go
/// into labels and object names with suffixes).
pub const MAX_NAME: usize = 53;

/// Checks a release name: 1 to 53 characters, lowercase letters, digits
/// and `-`, starting and ending with a letter or digit — a DNS label, so
/// that it can be part of any object name (a Service's too) and of the
/// store's `NAME.vREVISION` names without ambiguity (Helm also allows
/// dots). A clap value parser: a bad name is a usage error naming the rule.
pub fn parse_name(name: &str) -> Result<String, String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > MAX_NAME || !label_ok(name) {
        return Err(format!(
            "a release name is 1 to {MAX_NAME} lowercase letters, digits and '-', starting and ending with a letter or digit; for example '{}'",
            suggest(name)
        ));
    }
    Ok(name.to_string())
}

/// A valid name close to `name`, for the error message.
fn suggest(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(MAX_NAME)
        .collect();
    let s = s.trim_matches('-');
    if s.is_empty() {
        "app".into()
    } else {
        s.to_string()
    }
}

/// RFC 3339 UTC now, seconds precision.
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_header_round_trips_and_stops_at_the_first_document() {
        let info = PackInfo {
            name: "app".into(),
            version: "1.2.3".into(),
            settings: serde_json::json!({"drift": {"ignore": ["spec.replicas"]}}),
        };
        let text = format!("{}\n---\n# Source: a.yaml\nkind: X\n", info.header_line());
        assert_eq!(PackInfo::from_stream(&text), Some(Ok(info.clone())));
        let late = format!("---\nkind: X\n{}\n", info.header_line());
        assert_eq!(PackInfo::from_stream(&late), None);
        assert!(matches!(
            PackInfo::from_stream("# kubectl-pack.io/pack: {nope"),
            Some(Err(_))
        ));
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn release_names_are_dns_labels() {
        for ok in ["app", "my-app", "a1", &"a".repeat(53)] {
            assert_eq!(parse_name(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            "relA",
            "-app",
            "app-",
            "a_b",
            "app..x",
            "app.v2",
            &"a".repeat(54),
        ] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
        assert!(
            parse_name("relA")
                .unwrap_err()
                .ends_with("for example 'rela'")
        );
        assert!(
            parse_name("My_App!")
                .unwrap_err()
                .ends_with("for example 'my-app'")
        );
    }
}
