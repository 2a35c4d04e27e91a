//! Reading many live objects at once: one LIST per resource and namespace
//! instead of a GET per object (readiness polling, status, drift checks).

use std::collections::{BTreeMap, HashMap};

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

/// An object to read: its resource, namespace and name.
pub type Wanted<'a> = (&'a ApiResource, Option<&'a str>, &'a str);

/// The live objects among `wanted`, keyed by (plural, namespace, name);
/// absent ones are missing from the map.
pub async fn fetch(
    client: &kube::Client,
    wanted: &[Wanted<'_>],
) -> Result<HashMap<(String, Option<String>, String), Value>, kube::Error> {
    let mut out = HashMap::new();
    for (ns, res, api) in apis(client, wanted) {
        let items = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            // The kind is not served (its CRD is gone): none of them exist.
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(e),
        };
        for obj in items {
            let name = obj.metadata.name.clone().unwrap_or_default();
            out.insert((res.plural.clone(), ns.clone(), name), with_type(obj, res));
        }
    }
    Ok(out)
}

/// The metadata of the live objects among `wanted` (one metadata-only LIST
/// per resource and namespace: cheap even where Secrets are large), keyed
/// like [`fetch`]; each value is `{"metadata": {...}}`.
pub async fn fetch_metadata(
    client: &kube::Client,
    wanted: &[Wanted<'_>],
) -> Result<HashMap<(String, Option<String>, String), Value>, kube::Error> {
    let mut out = HashMap::new();
    for (ns, res, api) in apis(client, wanted) {
        let items = match api.list_metadata(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(e),
        };
        for obj in items {
            let name = obj.metadata.name.clone().unwrap_or_default();
            let meta = serde_json::to_value(&obj.metadata).unwrap_or_default();
            out.insert(
                (res.plural.clone(), ns.clone(), name),
                serde_json::json!({ "metadata": meta }),
            );
        }
    }
    Ok(out)
}

/// A list item as an object: list items carry no apiVersion/kind (readiness
/// rules need the kind), and they go first, where a GET puts them, so that
/// diffs against other answers do not move them.
fn with_type(obj: DynamicObject, res: &ApiResource) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("apiVersion".into(), Value::String(res.api_version.clone()));
    out.insert("kind".into(), Value::String(res.kind.clone()));
    if let Ok(Value::Object(fields)) = serde_json::to_value(obj) {
        for (k, v) in fields {
            if k != "apiVersion" && k != "kind" {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

/// One API per resource and namespace among `wanted`.
fn apis<'a>(
    client: &kube::Client,
    wanted: &[Wanted<'a>],
) -> Vec<(Option<String>, &'a ApiResource, Api<DynamicObject>)> {
    let mut groups: BTreeMap<(String, Option<String>), &ApiResource> = BTreeMap::new();
    for (res, ns, _) in wanted {
        groups
            .entry((
                format!("{}.{}", res.plural, res.api_version),
                ns.map(str::to_string),
            ))
            .or_insert(res);
    }
    groups
        .into_iter()
        .map(|((_, ns), res)| {
            let api = match &ns {
                Some(n) => Api::namespaced_with(client.clone(), n, res),
                None => Api::all_with(client.clone(), res),
            };
            (ns, res, api)
        })
        .collect()
}

/// The map key of a wanted object.
pub fn key(w: &Wanted<'_>) -> (String, Option<String>, String) {
    (w.0.plural.clone(), w.1.map(str::to_string), w.2.to_string())
}

/// The live objects of recorded release objects, keyed by (plural,
/// namespace, name) as [`key`] and [`record_key`] make them.
pub async fn fetch_records(
    client: &kube::Client,
    records: &[crate::release::ObjectRecord],
) -> Result<HashMap<(String, Option<String>, String), Value>, kube::Error> {
    let resources: Vec<ApiResource> = records.iter().map(|r| r.api_resource()).collect();
    let wanted: Vec<Wanted<'_>> = records
        .iter()
        .zip(&resources)
        .map(|(r, res)| (res, r.namespace.as_deref(), r.name.as_str()))
        .collect();
    fetch(client, &wanted).await
}

/// The map key of a recorded object.
pub fn record_key(r: &crate::release::ObjectRecord) -> (String, Option<String>, String) {
    (r.resource.clone(), r.namespace.clone(), r.name.clone())
}
