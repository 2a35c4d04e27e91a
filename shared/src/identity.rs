//! Object identity: group, version, kind, namespace and name.
//!
//! Two objects are the same object when group, kind, namespace and name are
//! equal; the version is how we talk to the server about it, not part of its
//! identity (a Deployment written as `apps/v1` and read back as `apps/v1` or
//! a later version is one object).

use std::fmt;

use serde_json::Value;

/// Splits an apiVersion into (group, version); the core group is "".
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// The identity of one Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// API group ("" for the core group).
    pub group: String,
    /// API version within the group, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects (or not yet defaulted).
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectId {
    /// Reads the identity of an object tree (missing fields become "").
    pub fn of(object: &Value) -> Self {
        let (group, version) = split_api_version(object["apiVersion"].as_str().unwrap_or_default());
        ObjectId {
            group: group.to_string(),
            version: version.to_string(),
            kind: object["kind"].as_str().unwrap_or_default().to_string(),
            namespace: object["metadata"]["namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            name: object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key that identifies the object regardless of version.
    pub fn key(&self) -> (&str, &str, Option<&str>, &str) {
        (
            &self.group,
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }
}

/// `Kind.group/name -n namespace`, the way kubectl names objects
/// (`Deployment.apps/web -n shop`, `ConfigMap/settings -n shop`,
/// `Namespace/shop`).
impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        write!(f, "/{}", self.name)?;
        if let Some(ns) = &self.namespace {
            write!(f, " -n {ns}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_names_kind_group_name_and_namespace() {
        let id = ObjectId::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"}}));
        assert_eq!(id.to_string(), "Deployment.apps/web -n shop");
        let id = ObjectId::of(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        );
        assert_eq!(id.to_string(), "Namespace/shop");
        assert_eq!(id.api_version(), "v1");
    }

    #[test]
    fn identity_ignores_version() {
        let a = ObjectId::of(
            &json!({"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "x"}}),
        );
        let b = ObjectId::of(
            &json!({"apiVersion": "example.com/v2", "kind": "W", "metadata": {"name": "x"}}),
        );
        assert_eq!(a.key(), b.key());
    }
}

/// Kinds whose names the API server checks as path segments only (RBAC).
const PATH_SEGMENT_KINDS: [&str; 4] = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];

/// Checks `name` as the API server checks names of `kind`, so a bad name
/// is found before anything is written: a DNS-1035 label for Services, a
/// DNS-1123 label for Namespaces, a path segment for RBAC kinds, and a
/// DNS-1123 subdomain (at most 253 characters) for everything else.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let label = |s: &str, first_alpha: bool| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.ends_with('-')
            && if first_alpha {
                s.starts_with(|c: char| c.is_ascii_lowercase())
            } else {
                !s.starts_with('-')
            }
    };
    let (ok, rule) = match kind {
        "" => (true, ""),
        _ if name.is_empty() => (false, "metadata.name is required"),
        "Service" => (
            label(name, true),
            "a DNS-1035 label: at most 63 lowercase letters, digits and '-', starting with a letter",
        ),
        "Namespace" => (
            label(name, false),
            "a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
        ),
        k if PATH_SEGMENT_KINDS.contains(&k) => (
            name != "." && name != ".." && !name.contains('/') && !name.contains('%'),
            "a path segment: not '.' or '..', without '/' or '%'",
        ),
        _ => (
            name.len() <= 253 && name.split('.').all(|l| label(l, false)),
            "a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        ),
    };
    if ok {
        Ok(())
    } else if name.is_empty() {
        Err(rule.to_string())
    } else {
        Err(format!(
            "name \"{name}\" is not valid for a {kind}: it must be {rule}"
        ))
    }
}

#[cfg(test)]
mod name_tests {
    use super::check_name;

    #[test]
    fn names_are_checked_like_the_api_server() {
        assert!(check_name("ConfigMap", "a.b-c").is_ok());
        assert!(check_name("ConfigMap", "Bad_Name!").is_err());
        assert!(check_name("ConfigMap", "").is_err());
        assert!(check_name("Service", "1web").is_err());
        assert!(check_name("Namespace", "a.b").is_err());
        assert!(check_name("ClusterRole", "system:aggregate-to-view").is_ok());
        assert!(check_name("ClusterRole", "a/b").is_err());
        assert!(check_name("ConfigMap", &"a".repeat(254)).is_err());
    }
}

/// An object as `kubectl get -o name` prints it: the lowercased kind, its
/// group for non-core kinds, the name (`deployment.apps/web`, `configmap/x`).
pub fn kubectl_name(api_version: &str, kind: &str, name: &str) -> String {
    let group = split_api_version(api_version).0;
    let kind = kind.to_ascii_lowercase();
    if group.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}.{group}/{name}")
    }
}
