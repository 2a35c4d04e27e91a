//! Putting a recorded object back: server-side apply of the recorded
//! applied state with our field manager and `force` (taking the fields back
//! from whoever changed them; re-creating the object when it was deleted) —
//! only while the object is still the release's: one that another release,
//! tool or person now owns (same name, created since) is not overwritten.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;
use shared::release::ObjectRecord;
use shared::release::owner::{Owner, owner};

/// The release an object is restored for.
#[derive(Debug, Clone, Copy)]
pub struct For<'a> {
    /// Release name.
    pub release: &'a str,
    /// Release namespace.
    pub namespace: &'a str,
}

/// Applies the recorded state of `rec` (`dry_run`: server-side dry-run).
pub async fn restore(
    client: &kube::Client,
    rec: &ObjectRecord,
    of: For<'_>,
    dry_run: bool,
) -> Result<Value, shared::Error> {
    let res = rec.api_resource();
    let api: Api<DynamicObject> = match &rec.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &res),
        None => Api::all_with(client.clone(), &res),
    };
    let id = rec.id();
    let live = api
        .get_metadata_opt(&rec.name)
        .await
        .map_err(|e| shared::Error::api(format!("read {id}"), e))?;
    if let Some(live) = live {
        let meta = serde_json::json!({"metadata": serde_json::to_value(&live.metadata).unwrap_or_default()});
        let who = owner(&meta, of.release, of.namespace);
        if who != Owner::Us {
            return Err(shared::Error::Api {
                context: format!("restore {id}"),
                message: format!("it {who} now; not overwritten"),
                code: None,
            });
        }
    }
    let mut obj = rec.applied.clone();
    obj["apiVersion"] = Value::String(rec.api_version.clone());
    obj["kind"] = Value::String(rec.kind.clone());
    let mut params = PatchParams::apply(shared::FIELD_MANAGER).force();
    params.dry_run = dry_run;
    let out = api
        .patch(&rec.name, &params, &Patch::Apply(&obj))
        .await
        .map_err(|e| shared::Error::api(format!("restore {id}"), e))?;
    Ok(serde_json::to_value(out).unwrap_or_default())
}
