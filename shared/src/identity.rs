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
