//! Sync specs: `SecretSync` documents (ExternalSecret-like) and the Pod
//! annotation `secrets.sherpack.io/sync`, parsed into [`Job`]s.

use serde::Deserialize;

use crate::providers::{Kind, SecretRef};
use crate::target::Policy;

/// The Pod annotation that requests a sync.
pub const POD_ANNOTATION: &str = "secrets.sherpack.io/sync";

/// One Secret to produce: where, how, and from which references.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Job {
    /// Target namespace.
    pub namespace: String,
    /// Target Secret name.
    pub secret: String,
    /// Ownership policy.
    pub policy: Policy,
    /// Single keys: Secret key <- reference (one value).
    pub data: Vec<(String, SecretRef)>,
    /// Whole secrets whose keys are all copied.
    pub data_from: Vec<SecretRef>,
}

impl Job {
    /// The references, for logs and the source annotation (no values).
    pub fn sources(&self) -> String {
        let mut refs: Vec<String> = self.data.iter().map(|(_, r)| r.to_string()).collect();
        refs.extend(self.data_from.iter().map(ToString::to_string));
        refs.sort();
        refs.dedup();
        refs.join(",")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    kind: Option<String>,
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: Spec,
}

#[derive(Deserialize, Default)]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    provider: Option<String>,
    secret_store_ref: Option<StoreRef>,
    target: Option<Target>,
    #[serde(default)]
    data: Vec<DataItem>,
    #[serde(default)]
    data_from: Vec<DataFrom>,
}

#[derive(Deserialize)]
struct StoreRef {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Target {
    name: Option<String>,
    creation_policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DataItem {
    secret_key: String,
    remote_ref: RemoteRef,
}

#[derive(Deserialize)]
struct RemoteRef {
    key: String,
    property: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct DataFrom {
    extract: Option<RemoteRef>,
}

fn reference(kind: Kind, r: &RemoteRef) -> Result<SecretRef, String> {
    // A key may be a full reference (vault://...) or a path of the spec's provider.
    let text = if r.key.contains("://") {
        r.key.clone()
    } else {
        format!("{}://{}", kind.scheme(), r.key)
    };
    let mut sr = SecretRef::parse(&text)?;
    if r.property.is_some() {
        sr.key = r.property.clone();
    }
    if r.version.is_some() {
        sr.version = r.version.clone();
    }
    Ok(sr)
}

/// Parses one spec document (`value` already read from YAML).
pub fn parse_spec(value: serde_json::Value, default_ns: &str, origin: &str) -> Result<Job, String> {
    let doc: Doc = serde_json::from_value(value).map_err(|e| format!("{origin}: {e}"))?;
    match doc.kind.as_deref() {
        Some("SecretSync") | Some("ExternalSecret") => {}
        other => {
            return Err(format!(
                "{origin}: kind {} is not a sync spec (use kind: SecretSync)",
                other.unwrap_or("(none)")
            ));
        }
    }
    let name = doc
        .metadata
        .name
        .clone()
        .ok_or_else(|| format!("{origin}: metadata.name is missing"))?;
    let provider = doc
        .spec
        .provider
        .clone()
        .or_else(|| doc.spec.secret_store_ref.as_ref().map(|s| s.name.clone()))
        .ok_or_else(|| {
            format!(
                "{origin}: spec.provider is missing (vault, aws-sm, aws-ssm, gcp-sm or azure-kv)"
            )
        })?;
    let kind = Kind::parse(&provider).ok_or_else(|| {
        format!(
            "{origin}: unknown provider '{provider}' (vault, aws-sm, aws-ssm, gcp-sm or azure-kv)"
        )
    })?;
    let target = doc.spec.target.unwrap_or_default();
    let policy = match target.creation_policy.as_deref() {
        None => Policy::Owner,
        Some(p) => Policy::parse(p).ok_or_else(|| {
            format!("{origin}: creationPolicy '{p}' is not Owner, Merge or Orphan")
        })?,
    };
    let mut job = Job {
        namespace: doc
            .metadata
            .namespace
            .unwrap_or_else(|| default_ns.to_string()),
        secret: target.name.unwrap_or(name),
        policy,
        data: Vec::new(),
        data_from: Vec::new(),
    };
    for d in &doc.spec.data {
        job.data.push((
            d.secret_key.clone(),
            reference(kind, &d.remote_ref).map_err(|e| format!("{origin}: {e}"))?,
        ));
    }
    for d in &doc.spec.data_from {
        let Some(ex) = &d.extract else {
            return Err(format!("{origin}: dataFrom supports extract only"));
        };
        job.data_from
            .push(reference(kind, ex).map_err(|e| format!("{origin}: {e}"))?);
    }
    if job.data.is_empty() && job.data_from.is_empty() {
        return Err(format!(
            "{origin}: spec.data and spec.dataFrom are both empty"
        ));
    }
    Ok(job)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodRequest {
    provider: String,
    path: String,
    secret_name: String,
    key: Option<String>,
    property: Option<String>,
    version: Option<String>,
}

/// Parses a Pod's annotation value (one object or a list of them).
pub fn parse_annotation(value: &str, namespace: &str) -> Result<Vec<Job>, String> {
    let v: serde_json::Value = serde_json::from_str(value)
        .map_err(|e| format!("annotation {POD_ANNOTATION} is not valid JSON: {e}"))?;
    let items = match v {
        serde_json::Value::Array(a) => a,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            let req: PodRequest = serde_json::from_value(item).map_err(|e| {
                format!("annotation {POD_ANNOTATION}: {e} (expected {{\"provider\",\"path\",\"secretName\"}})")
            })?;
            let kind = Kind::parse(&req.provider).ok_or_else(|| {
                format!("annotation {POD_ANNOTATION}: unknown provider '{}' (vault, aws-sm, aws-ssm, gcp-sm or azure-kv)", req.provider)
            })?;
            let r = reference(
                kind,
                &RemoteRef { key: req.path, property: req.property.or(req.key), version: req.version },
            )
            .map_err(|e| format!("annotation {POD_ANNOTATION}: {e}"))?;
            Ok(Job {
                namespace: namespace.to_string(),
                secret: req.secret_name,
                policy: Policy::Owner,
                data: Vec::new(),
                data_from: vec![r],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_forms_and_errors() {
        let jobs = parse_annotation(
            r#"{"provider":"aws-sm","path":"/prod/db","secretName":"app-creds"}"#,
            "ns1",
        )
        .unwrap();
        assert_eq!(jobs[0].secret, "app-creds");
        assert_eq!(jobs[0].data_from[0].to_string(), "aws-sm:///prod/db");
        assert!(
            parse_annotation("{nope", "ns")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            parse_annotation(r#"{"provider":"s3","path":"x","secretName":"y"}"#, "ns")
                .unwrap_err()
                .contains("unknown provider")
        );
    }

    #[test]
    fn spec_reads_data_datafrom_and_policy() {
        let v: serde_json::Value = serde_json::json!({
            "kind": "SecretSync",
            "metadata": {"name": "app"},
            "spec": {
                "provider": "vault",
                "target": {"name": "app-secret", "creationPolicy": "Merge"},
                "data": [{"secretKey": "pw", "remoteRef": {"key": "secret/app", "property": "password"}}],
                "dataFrom": [{"extract": {"key": "secret/common"}}]
            }
        });
        let job = parse_spec(v, "default", "spec.yaml").unwrap();
        assert_eq!(
            (job.secret.as_str(), job.policy),
            ("app-secret", Policy::Merge)
        );
        assert_eq!(job.data[0].1.to_string(), "vault://secret/app#password");
    }
}
