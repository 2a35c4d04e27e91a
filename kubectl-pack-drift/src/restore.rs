//! Putting a recorded object back: server-side apply of the recorded
//! applied state with our field manager and `force` (taking the fields back
//! from whoever changed them; re-creating the object when it was deleted).

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;
use shared::release::ObjectRecord;

/// Applies the recorded state of `rec` (`dry_run`: server-side dry-run).
pub async fn restore(
    client: &kube::Client,
    rec: &ObjectRecord,
    dry_run: bool,
) -> Result<Value, kube::Error> {
    let res = rec.api_resource();
    let api: Api<DynamicObject> = match &rec.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &res),
        None => Api::all_with(client.clone(), &res),
    };
    let mut obj = rec.applied.clone();
    obj["apiVersion"] = Value::String(rec.api_version.clone());
    obj["kind"] = Value::String(rec.kind.clone());
    let mut params = PatchParams::apply(shared::FIELD_MANAGER).force();
    params.dry_run = dry_run;
    let out = api.patch(&rec.name, &params, &Patch::Apply(&obj)).await?;
    Ok(serde_json::to_value(out).unwrap_or_default())
}
