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

/// The manifest's object as the patch base: with the release's marks when
/// `stamped`.
fn base(input: Option<&Value>, rel: &Release, stamped: bool) -> Value {
    let mut v = input.cloned().unwrap_or(Value::Null);
    if stamped && v.is_object() {
        super::owner::stamp(&mut v, &rel.name, &rel.namespace);
    }
    v
}

/// Replaces each `applied` by its patch against the manifest (with the
/// release's marks, which every object carries, so they are not stored).
pub fn compact(rel: &Release) -> Release {
    let mut out = rel.clone();
    out.patches_stamped = true;
    let inputs = manifest_objects(&rel.manifest);
    for r in out.objects.iter_mut() {
        if let Some(input) = input_for(&inputs, r) {
            r.applied_patch = Some(diff(&base(Some(input), rel, true), &r.applied));
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
    let stamped = rel.patches_stamped;
    let mut objects = std::mem::take(&mut rel.objects);
    for r in objects.iter_mut() {
        if let Some(patch) = r.applied_patch.take() {
            let mut v = base(input_for(&inputs, r), rel, stamped);
            merge(&mut v, &patch);
            r.applied = v;
        }
    }
    rel.objects = objects;
    rel.patches_stamped = false;
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

    #[test]
    fn the_release_marks_are_not_stored_per_object_and_come_back() {
        let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n";
        let mut applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "shop"}, "data": {"k": "v"}});
        crate::release::owner::stamp(&mut applied, "app", "shop");
        let rel: Release = serde_json::from_value(json!({
            "name": "app", "namespace": "shop", "revision": 1, "status": "deployed",
            "firstDeployed": "", "lastDeployed": "", "description": "", "manifest": manifest,
            "objects": [{"apiVersion": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "c",
                         "resource": "configmaps", "wave": 0, "applied": applied, "fields": {}}],
            "hooks": [], "plan": []}))
        .expect("a release");
        let compacted = compact(&rel);
        assert_eq!(
            compacted.objects[0].applied_patch,
            Some(json!({"metadata": {"namespace": "shop"}}))
        );
        let mut back: Release =
            serde_json::from_value(serde_json::to_value(&compacted).expect("json")).expect("read");
        expand(&mut back);
        assert_eq!(back.objects[0].applied, rel.objects[0].applied);
    }
}
