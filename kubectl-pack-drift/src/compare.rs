//! The comparison at the heart of drift detection: walk the field set our
//! manager owned at apply time (`fieldsV1`), and at every owned leaf compare
//! the recorded applied value (already defaulted and normalized by the
//! server) with the live one. Fields we never set are never looked at, so
//! server defaults, other managers' fields, status and metadata the server
//! keeps are not drift; list items are matched by their keys, so reordering
//! containers, env or ports is not drift either.
//!
//! Also here: who owns a path now (managedFields), for the "who and when".

use serde_json::Value;

use crate::path::{Path, Seg};

/// A recorded field whose live value differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Where.
    pub path: Path,
    /// The same place as `fieldsV1` keys (`f:spec`, `k:{"name":"app"}`).
    pub fpath: Vec<String>,
    /// The recorded value (None: we did not record one).
    pub recorded: Option<Value>,
    /// The live value (None: the field is gone).
    pub live: Option<Value>,
}

fn is_leaf(sub: &Value) -> bool {
    sub.as_object().is_none_or(|m| m.keys().all(|k| k == "."))
}

fn find_keyed<'a>(
    list: Option<&'a Value>,
    keys: &serde_json::Map<String, Value>,
) -> Option<&'a Value> {
    list?
        .as_array()?
        .iter()
        .find(|it| keys.iter().all(|(k, v)| &it[k] == v))
}

fn member<'a>(list: Option<&'a Value>, val: &Value) -> Option<&'a Value> {
    list?.as_array()?.iter().find(|it| *it == val)
}

/// Every owned leaf whose live value differs from the recorded one.
pub fn compare(fields: &Value, recorded: &Value, live: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(
        fields,
        Some(recorded),
        Some(live),
        &Path::default(),
        &mut Vec::new(),
        &mut out,
    );
    out
}

fn walk(
    set: &Value,
    rec: Option<&Value>,
    live: Option<&Value>,
    path: &Path,
    fpath: &mut Vec<String>,
    out: &mut Vec<Change>,
) {
    let Some(set) = set.as_object() else { return };
    for (fk, sub) in set {
        let (seg, r, l) = if let Some(name) = fk.strip_prefix("f:") {
            (
                Seg::Field(name.to_string()),
                rec.and_then(|v| v.get(name)),
                live.and_then(|v| v.get(name)),
            )
        } else if let Some(k) = fk.strip_prefix("k:") {
            let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(k) else {
                continue;
            };
            (
                Seg::Key(keys.iter().map(|(a, b)| (a.clone(), b.clone())).collect()),
                find_keyed(rec, &keys),
                find_keyed(live, &keys),
            )
        } else if let Some(v) = fk.strip_prefix("v:") {
            let Ok(val) = serde_json::from_str::<Value>(v) else {
                continue;
            };
            (
                Seg::Member(val.clone()),
                member(rec, &val),
                member(live, &val),
            )
        } else if let Some(i) = fk.strip_prefix("i:") {
            let Ok(i) = i.parse::<usize>() else { continue };
            (
                Seg::Index(i),
                rec.and_then(|v| v.get(i)),
                live.and_then(|v| v.get(i)),
            )
        } else {
            continue;
        };
        // Nothing recorded there: nothing to hold the live value against.
        let Some(r) = r else { continue };
        let here = path.child(seg);
        fpath.push(fk.clone());
        let containers = matches!(
            (r, l),
            (Value::Object(_), Some(Value::Object(_))) | (Value::Array(_), Some(Value::Array(_)))
        );
        if is_leaf(sub) || !containers {
            if l != Some(r) {
                out.push(Change {
                    path: here,
                    fpath: fpath.clone(),
                    recorded: Some(r.clone()),
                    live: l.cloned(),
                });
            }
        } else {
            walk(sub, Some(r), l, &here, fpath, out);
        }
        fpath.pop();
    }
}

/// Every difference between two whole objects (no field set to go by:
/// Helm releases). Lists whose items all have a `name` are matched by name;
/// other lists by position when their lengths agree, else as one value.
pub fn diff_values(desired: &Value, live: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    diff_at(
        Some(desired),
        Some(live),
        &Path::default(),
        &mut Vec::new(),
        &mut out,
    );
    out
}

fn diff_at(
    a: Option<&Value>,
    b: Option<&Value>,
    path: &Path,
    fpath: &mut Vec<String>,
    out: &mut Vec<Change>,
) {
    let named = |v: &Vec<Value>| v.iter().all(|i| i["name"].is_string());
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().collect();
            keys.extend(y.keys().filter(|k| !x.contains_key(*k)));
            for k in keys {
                fpath.push(format!("f:{k}"));
                diff_at(
                    x.get(k),
                    y.get(k),
                    &path.child(Seg::Field(k.clone())),
                    fpath,
                    out,
                );
                fpath.pop();
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if named(x) && named(y) => {
            let mut names: Vec<&Value> = x.iter().map(|i| &i["name"]).collect();
            names.extend(
                y.iter()
                    .map(|i| &i["name"])
                    .filter(|n| !x.iter().any(|i| &i["name"] == *n)),
            );
            for n in names {
                let key = serde_json::json!({"name": n});
                fpath.push(format!("k:{key}"));
                let seg = Seg::Key(vec![("name".into(), n.clone())]);
                diff_at(
                    x.iter().find(|i| &i["name"] == n),
                    y.iter().find(|i| &i["name"] == n),
                    &path.child(seg),
                    fpath,
                    out,
                );
                fpath.pop();
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                fpath.push(format!("i:{i}"));
                diff_at(Some(p), Some(q), &path.child(Seg::Index(i)), fpath, out);
                fpath.pop();
            }
        }
        (a, b) if a != b => out.push(Change {
            path: path.clone(),
            fpath: fpath.clone(),
            recorded: a.cloned(),
            live: b.cloned(),
        }),
        _ => {}
    }
}

/// The leaves of a field set as `fieldsV1` key paths.
pub fn leaves(fields: &Value) -> Vec<Vec<String>> {
    fn go(set: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let Some(map) = set.as_object() else { return };
        for (k, sub) in map {
            if k == "." {
                continue;
            }
            at.push(k.clone());
            if is_leaf(sub) {
                out.push(at.clone());
            } else {
                go(sub, at, out);
            }
            at.pop();
        }
    }
    let mut out = Vec::new();
    go(fields, &mut Vec::new(), &mut out);
    out
}

pub use shared::release::fields::owns;

/// Another field manager holding a path: who, when, and through which
/// subresource (`kubectl scale` writes `spec.replicas` through `scale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The field manager (`kubectl-edit`, `kubectl`...).
    pub manager: String,
    /// When it wrote (managedFields `time`).
    pub time: Option<String>,
    /// The subresource it wrote through, if any (`scale`).
    pub subresource: Option<String>,
}

/// Who else owns `fpath` now: the most recent managedFields entry of
/// another manager that holds it.
pub fn owner(live: &Value, fpath: &[String], ours: &str) -> Option<Owner> {
    live["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .filter(|e| e["manager"] != ours && owns(&e["fieldsV1"], fpath))
        .max_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()))
        .map(|e| Owner {
            manager: e["manager"].as_str().unwrap_or("unknown").to_string(),
            time: e["time"].as_str().map(str::to_string),
            subresource: e["subresource"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Value {
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"app\"}": {".": {}, "f:name": {}, "f:image": {},
                    "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}},
                              "k:{\"name\":\"B\"}": {".": {}, "f:name": {}, "f:value": {}}},
                    "f:resources": {"f:limits": {"f:cpu": {}}}}}}}}
        })
    }

    fn recorded() -> Value {
        json!({"metadata": {"name": "w", "labels": {"app": "w"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "a:1",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "resources": {"limits": {"cpu": "1"}}}]}}}})
    }

    #[test]
    fn identical_and_reordered_and_defaulted_objects_are_clean() {
        let mut live = recorded();
        live["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]);
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        live["spec"]["revisionHistoryLimit"] = json!(10);
        live["metadata"]["labels"]["added-by-someone"] = json!("x");
        live["status"] = json!({"replicas": 2});
        assert_eq!(compare(&fields(), &recorded(), &live), vec![]);
    }

    #[test]
    fn changed_removed_and_keyed_values_are_reported_with_their_paths() {
        let mut live = recorded();
        live["spec"]["replicas"] = json!(5);
        live["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = json!("3");
        live["metadata"]["labels"] = json!({});
        let c = compare(&fields(), &recorded(), &live);
        let paths: Vec<String> = c.iter().map(|c| c.path.to_string()).collect();
        assert_eq!(
            paths,
            vec![
                "metadata.labels.app",
                "spec.replicas",
                "spec.template.spec.containers[name=app].env[name=B].value"
            ]
        );
        assert_eq!(c[0].live, None);
        assert_eq!(c[1].recorded, Some(json!(2)));
        assert_eq!(c[1].fpath, vec!["f:spec", "f:replicas"]);
    }

    #[test]
    fn a_deleted_list_item_is_one_change() {
        let mut live = recorded();
        live["spec"]["template"]["spec"]["containers"] = json!([]);
        let c = compare(&fields(), &recorded(), &live);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].path.to_string(),
            "spec.template.spec.containers[name=app]"
        );
    }

    #[test]
    fn owner_is_the_latest_other_manager_holding_the_path() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kubectl-pack", "operation": "Apply", "time": "2026-01-01T00:00:00Z", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "time": "2026-01-02T00:00:00Z", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-patch", "operation": "Update", "time": "2026-01-03T00:00:00Z", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl", "operation": "Update", "subresource": "scale", "time": "2026-01-04T00:00:00Z", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        ]}});
        let who = owner(
            &live,
            &["f:spec".into(), "f:replicas".into()],
            "kubectl-pack",
        )
        .unwrap();
        assert_eq!(
            (who.manager.as_str(), who.subresource.as_deref()),
            ("kubectl", Some("scale"))
        );
        assert_eq!(owner(&live, &["f:data".into()], "kubectl-pack"), None);
        assert_eq!(leaves(&fields()).len(), 9);
    }
}
