//! Writing provider values into a Kubernetes Secret with server-side apply:
//! labelled as ours, with the provider references and a content hash so an
//! unchanged secret is not rewritten. Values never leave this module except
//! to the API server.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::providers::Fetched;

/// Annotation holding the hash of the synced data.
pub const HASH_ANNOTATION: &str = "secrets.sherpack.io/content-hash";
/// Annotation naming where the data came from (references only).
pub const SOURCE_ANNOTATION: &str = "secrets.sherpack.io/source";

/// How the Secret is owned (ExternalSecret's `creationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Create or update; labelled as managed by kubectl-pack.
    #[default]
    Owner,
    /// Only add our keys to an existing Secret (never create it).
    Merge,
    /// Create or update without the managed-by label (left alone by cleanups).
    Orphan,
}

impl Policy {
    /// Parses `Owner`, `Merge` or `Orphan`.
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "Owner" | "owner" => Policy::Owner,
            "Merge" | "merge" => Policy::Merge,
            "Orphan" | "orphan" => Policy::Orphan,
            _ => return None,
        })
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The Secret did not exist.
    Created,
    /// The data changed.
    Updated,
    /// Same hash: nothing written.
    Unchanged,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        })
    }
}

/// SHA-256 over the sorted keys and values (hex).
pub fn content_hash(data: &Fetched) -> String {
    let mut h = Sha256::new();
    for (k, v) in data {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v);
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates or updates `name` in the Api's namespace.
pub async fn write(
    api: &Api<Secret>,
    name: &str,
    data: &Fetched,
    policy: Policy,
    source: &str,
) -> Result<Outcome> {
    for k in data.keys() {
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            bail!(
                "Secret {name}: key '{k}' is not a valid Secret key (letters, digits, '-', '_', '.')"
            );
        }
    }
    let hash = content_hash(data);
    let existing = api
        .get_opt(name)
        .await
        .with_context(|| format!("cannot read Secret {name}"))?;
    match (&existing, policy) {
        (None, Policy::Merge) => bail!(
            "Secret {name} does not exist and creationPolicy is Merge; create it first or use Owner"
        ),
        (Some(s), _) => {
            let same_hash = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(HASH_ANNOTATION))
                .is_some_and(|h| *h == hash);
            let has_all = data.iter().all(|(k, v)| {
                s.data
                    .as_ref()
                    .and_then(|d| d.get(k))
                    .is_some_and(|b| b.0 == *v)
            });
            if same_hash && has_all {
                return Ok(Outcome::Unchanged);
            }
        }
        _ => {}
    }
    let encoded: BTreeMap<&String, String> = data
        .iter()
        .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
        .collect();
    let mut metadata = json!({
        "name": name,
        "annotations": { HASH_ANNOTATION: hash, SOURCE_ANNOTATION: source },
    });
    if policy == Policy::Owner {
        metadata["labels"] = json!({ "app.kubernetes.io/managed-by": "kubectl-pack" });
    }
    let mut patch = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "data": encoded,
    });
    if existing.is_none() {
        patch["type"] = json!("Opaque");
    }
    let mut params = PatchParams::apply(shared::FIELD_MANAGER);
    // Owner/Orphan: we are the source of truth for these keys.
    params.force = policy != Policy::Merge;
    api.patch(name, &params, &Patch::Apply(&patch))
        .await
        .with_context(|| format!("cannot apply Secret {name}"))?;
    Ok(if existing.is_some() {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}
