//! Server-side apply with the suite's single field manager.
//!
//! [`Applier`] resolves each object's kind (see [`crate::discovery`]), puts
//! namespaced objects without a namespace into the default namespace, strips
//! the namespace from cluster-scoped ones, and turns a 409 conflict into an
//! error naming the other field managers and the fields. Ports may omit
//! `protocol`: every supported server (1.30+) defaults it before merging.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::Status;
use serde_json::Value;

use crate::FIELD_MANAGER;
use crate::discovery::{ResolvedKind, Resolver};
use crate::error::{Error, Result};
use crate::identity::ObjectId;
use crate::stream::SourcedObject;

/// How to apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Ask the server what it would store, without storing it.
    pub dry_run: bool,
    /// Take ownership of fields other managers own instead of failing.
    pub force_conflicts: bool,
}

/// Applies objects with server-side apply.
pub struct Applier<'a> {
    client: kube::Client,
    resolver: &'a Resolver,
    default_namespace: String,
}

/// The result of applying one object.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The object's identity, with its namespace as applied.
    pub id: ObjectId,
    /// The object as the server stored (or would store) it.
    pub object: Value,
}

impl<'a> Applier<'a> {
    /// An applier that puts namespaced objects without a namespace into
    /// `default_namespace`.
    pub fn new(client: kube::Client, resolver: &'a Resolver, default_namespace: &str) -> Self {
        Applier {
            client,
            resolver,
            default_namespace: default_namespace.to_string(),
        }
    }

    /// Resolves the kind and fixes up namespace and defaults, without any
    /// write: what [`Self::apply`] would send, and where.
    pub async fn prepare(&self, obj: &SourcedObject) -> Result<(ResolvedKind, ObjectId, Value)> {
        let kind = self.resolver.resolve_object(obj).await?;
        let mut value = obj.object.clone();
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            if kind.namespaced() {
                if obj.namespace().is_none() {
                    meta.insert(
                        "namespace".into(),
                        Value::String(self.default_namespace.clone()),
                    );
                }
            } else {
                meta.remove("namespace");
            }
        }
        let id = ObjectId::of(&value);
        Ok((kind, id, value))
    }

    /// Applies one object and returns what the server stored.
    pub async fn apply(&self, obj: &SourcedObject, options: ApplyOptions) -> Result<Applied> {
        let (kind, id, value) = self.prepare(obj).await?;
        let api: Api<DynamicObject> = match &id.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &kind.resource),
            None => Api::all_with(self.client.clone(), &kind.resource),
        };
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = options.force_conflicts;
        params.dry_run = options.dry_run;
        match api.patch(&id.name, &params, &Patch::Apply(&value)).await {
            Ok(stored) => {
                let object = serde_json::to_value(stored).map_err(|e| Error::Api {
                    context: format!("apply {id}"),
                    message: format!("unreadable response: {e}"),
                    code: None,
                })?;
                Ok(Applied { id, object })
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let (managers, fields) = parse_conflict(&status);
                Err(Error::ApplyConflict {
                    object: id.to_string(),
                    managers,
                    fields,
                    contested: contested(&status),
                })
            }
            Err(e) => Err(Error::api(format!("apply {id} ({})", obj.source), e)),
        }
    }
}

/// A field another manager holds, named in a 409 conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contested {
    /// The manager (`kubectl-edit`, `kubectl` for `kubectl scale`...).
    pub manager: String,
    /// The field (`.spec.replicas`).
    pub field: String,
}

impl Contested {
    /// A person's change with kubectl (`kubectl edit`, `patch`, `set`,
    /// `scale`, `label`, `annotate`, client-side `apply`): the release takes
    /// such fields back on its next apply.
    pub fn by_hand(&self) -> bool {
        self.manager == "kubectl" || self.manager.starts_with("kubectl-")
    }
}

/// Each contested field of a 409 status with its manager (from the
/// status causes: `conflict with "kubectl-edit" using apps/v1`).
pub fn contested(status: &Status) -> Vec<Contested> {
    let Some(details) = &status.details else {
        return Vec::new();
    };
    details
        .causes
        .iter()
        .filter_map(|c| {
            let after = &c.message[c.message.find("with \"")? + 6..];
            let manager = &after[..after.find('"')?];
            Some(Contested {
                manager: manager.to_string(),
                field: c.field.clone(),
            })
        })
        .collect()
}

/// Extracts the other managers and the contested fields from a 409 status.
pub fn parse_conflict(status: &Status) -> (String, String) {
    let mut managers: Vec<String> = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut texts: Vec<&str> = vec![&status.message];
    if let Some(details) = &status.details {
        for cause in &details.causes {
            if !cause.field.is_empty() && !fields.contains(&cause.field) {
                fields.push(cause.field.clone());
            }
            texts.push(&cause.message);
        }
    }
    for text in texts {
        let mut rest = text;
        while let Some(pos) = rest.find("with \"") {
            let after = &rest[pos + 6..];
            if let Some(end) = after.find('"') {
                let m = format!("\"{}\"", &after[..end]);
                if !managers.contains(&m) {
                    managers.push(m);
                }
                rest = &after[end + 1..];
            } else {
                break;
            }
        }
        for token in text.split_whitespace() {
            let token = token.trim_end_matches(',');
            if token.starts_with('.') && token.len() > 1 && !fields.iter().any(|f| f == token) {
                fields.push(token.to_string());
            }
        }
    }
    let or_unknown = |v: Vec<String>| {
        if v.is_empty() {
            "unknown".to_string()
        } else {
            v.join(", ")
        }
    };
    (or_unknown(managers), or_unknown(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_causes_give_each_field_its_manager() {
        let status: Status = serde_json::from_value(serde_json::json!({
            "code": 409, "message": "Apply failed with 2 conflicts",
            "details": {"causes": [
                {"reason": "FieldManagerConflict", "message": "conflict with \"kubectl\" with subresource \"scale\" using apps/v1", "field": ".spec.replicas"},
                {"reason": "FieldManagerConflict", "message": "conflict with \"my-operator\" using apps/v1", "field": ".spec.paused"}]}}))
        .expect("status");
        let c = contested(&status);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].manager.as_str(), c[0].field.as_str()),
            ("kubectl", ".spec.replicas")
        );
        assert!(c[0].by_hand() && !c[1].by_hand());
    }

    #[test]
    fn conflict_message_names_manager_and_fields() {
        let status = Status {
            code: 409,
            message: "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image".into(),
            ..Default::default()
        };
        let (m, f) = parse_conflict(&status);
        assert_eq!(m, "\"kubectl-edit\"");
        assert_eq!(
            f,
            ".spec.replicas, .spec.template.spec.containers[name=\"web\"].image"
        );
    }
}
