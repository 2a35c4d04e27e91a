//! Compact encoding of a release record: each object's applied state is
//! stored as a JSON merge patch (RFC 7386) against the same object in the
//! manifest, so what the manifest already says is stored once. Decoding
//! parses the manifest and applies the patches back.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{ObjectRecord, Release};

/// (group, kind, name) — namespaces are defaulted at apply time, so they are
/// matched only when the manifest sets one.
type Key = (String, String, String);

fn key_of(api_version: &str, kind: &str, name: &str) -> Key {
    (
        crate::identity::split_api_version(api_version)
            .0
            .to_string(),
        kind.to_string(),
        name.to_string(),
    )
}

fn manifest_objects(manifest: &str) -> HashMap<Key, Vec<Value>> {
    let mut out: HashMap<Key, Vec<Value>> = HashMap::new();
    if let Ok(objs) = crate::stream::parse_stream(manifest, crate::stream::Origin::Stdin) {
        for o in objs {
            let k = key_of(o.api_version(), o.kind(), o.name());
            out.entry(k).or_default().push(o.object);
        }
    }
    out
}

fn input_for<'a>(m: &'a HashMap<Key, Vec<Value>>, r: &ObjectRecord) -> Option<&'a Value> {
    let list = m.get(&key_of(&r.api_version, &r.kind, &r.name))?;
    list.iter().find(|o| {
        o["metadata"]["namespace"]
            .as_str()
            .is_none_or(|ns| Some(ns) == r.namespace.as_deref())
    })
}

/// The merge patch that turns `from` into `to`.
pub fn diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = Map::new();
            for (k, v) in b {
                match a.get(k) {
                    Some(old) if old == v => {}
                    Some(old) => {
                        out.insert(k.clone(), diff(old, v));
                    }
                    None => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in a.keys() {
                if !b.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        _ => to.clone(),
    }
}

/// Applies a merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Replaces each `applied` by its patch against the manifest.
pub fn compact(rel: &Release) -> Release {
    let mut out = rel.clone();
    let inputs = manifest_objects(&rel.manifest);
    for r in out.objects.iter_mut() {
        if let Some(input) = input_for(&inputs, r) {
            let patch = diff(input, &r.applied);
            r.applied_patch = Some(patch);
            r.applied = Value::Null;
        }
    }
    out
}

/// Rebuilds `applied` from the manifest and the patches.
pub fn expand(rel: &mut Release) {
    if !rel.objects.iter().any(|r| r.applied_patch.is_some()) {
        return;
    }
    let inputs = manifest_objects(&rel.manifest);
    for r in rel.objects.iter_mut() {
        if let Some(patch) = r.applied_patch.take() {
            let mut v = input_for(&inputs, r).cloned().unwrap_or(Value::Null);
            merge(&mut v, &patch);
            r.applied = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_then_merge_gives_the_target() {
        let a = json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k": "v", "gone": "y"}});
        let b = json!({"metadata": {"name": "x", "namespace": "ns", "labels": {"a": "1", "r": "rel"}}, "data": {"k": "v"}, "list": [1, 2]});
        let p = diff(&a, &b);
        assert_eq!(
            p,
            json!({"metadata": {"namespace": "ns", "labels": {"r": "rel"}}, "data": {"gone": null}, "list": [1, 2]})
        );
        let mut m = a.clone();
        merge(&mut m, &p);
        assert_eq!(m, b);
    }
}
