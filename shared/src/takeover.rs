//! Taking over objects first created with client-side apply: their
//! `kubectl-client-side-apply` managedFields entries are folded into our
//! server-side-apply entry, so fields later removed from the manifest are
//! pruned (kubernetes#99003), as kubectl's csaupgrade and Flux do.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use crate::FIELD_MANAGER;
use crate::error::{Error, Result};
use crate::identity::ObjectId;

/// Managers that client-side apply leaves behind (kubernetes#99003).
const CLIENT_SIDE_MANAGERS: [&str; 2] = ["kubectl-client-side-apply", "before-first-apply"];

/// Takes over fields recorded by client-side apply: their `fieldsV1` are
/// merged into our Apply entry and their entries removed, so that fields
/// later dropped from the manifest are pruned as with any SSA object (what
/// kubectl's csaupgrade and Flux do). Returns whether anything changed.
pub async fn take_over_client_side_apply(
    client: &kube::Client,
    resource: &kube::discovery::ApiResource,
    stored: &Value,
) -> Result<bool> {
    let Some(entries) = stored["metadata"]["managedFields"].as_array() else {
        return Ok(false);
    };
    let is_csa = |e: &Value| {
        e["manager"]
            .as_str()
            .is_some_and(|m| CLIENT_SIDE_MANAGERS.contains(&m))
    };
    if !entries.iter().any(is_csa) {
        return Ok(false);
    }
    let mut ours = entries
        .iter()
        .find(|e| e["manager"] == FIELD_MANAGER && e["operation"] == "Apply")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({"manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": stored["apiVersion"], "fieldsType": "FieldsV1", "fieldsV1": {}}));
    for e in entries.iter().filter(|e| is_csa(e)) {
        merge_fields(&mut ours["fieldsV1"], &e["fieldsV1"]);
    }
    let mut rest: Vec<Value> = entries
        .iter()
        .filter(|e| !(is_csa(e) || (e["manager"] == FIELD_MANAGER && e["operation"] == "Apply")))
        .cloned()
        .collect();
    rest.push(ours);
    let id = ObjectId::of(stored);
    let api: Api<DynamicObject> = match &id.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    };
    // resourceVersion makes it a compare-and-swap with whoever writes next.
    let patch = serde_json::json!({"metadata": {"managedFields": rest, "resourceVersion": stored["metadata"]["resourceVersion"]}});
    api.patch(&id.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::api(format!("take over client-side-apply fields of {id}"), e))?;
    Ok(true)
}

fn merge_fields(into: &mut Value, from: &Value) {
    if let (Some(a), Some(b)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in b {
            merge_fields(
                a.entry(k.clone())
                    .or_insert_with(|| Value::Object(Default::default())),
                v,
            );
        }
    }
}
