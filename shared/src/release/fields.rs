//! Cutting an object down to the fields one manager owns, using the
//! `fieldsV1` set from `metadata.managedFields` (`f:` map keys, `k:` list
//! items by key, `v:` set values, `.` the node itself).

use serde_json::{Map, Value};

/// The `fieldsV1` of `manager`'s Apply entry, if any.
pub fn owned_fields(object: &Value, manager: &str) -> Option<Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == "Apply")
        .map(|e| e["fieldsV1"].clone())
}

/// The parts of `object` covered by `fields` (managedFields itself is never kept).
pub fn cut(object: &Value, fields: &Value) -> Value {
    let mut out = cut_value(object, fields);
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    // Identity is always kept, so a record says what it is.
    for k in ["apiVersion", "kind"] {
        if let Some(v) = object.get(k) {
            out[k] = v.clone();
        }
    }
    for k in ["name", "namespace"] {
        if let Some(v) = object["metadata"].get(k) {
            out["metadata"][k] = v.clone();
        }
    }
    out
}

fn cut_value(value: &Value, fields: &Value) -> Value {
    let Some(set) = fields.as_object() else {
        return value.clone();
    };
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (fk, sub) in set {
                if let Some(key) = fk.strip_prefix("f:")
                    && let Some(v) = map.get(key)
                {
                    let leaf = sub
                        .as_object()
                        .is_none_or(|m| m.is_empty() || (m.len() == 1 && m.contains_key(".")));
                    out.insert(
                        key.to_string(),
                        if leaf { v.clone() } else { cut_value(v, sub) },
                    );
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for (fk, sub) in set {
                if let Some(k) = fk.strip_prefix("k:") {
                    let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(k) else {
                        continue;
                    };
                    if let Some(item) = items
                        .iter()
                        .find(|it| keys.iter().all(|(kk, kv)| &it[kk] == kv))
                    {
                        let leaf = sub
                            .as_object()
                            .is_none_or(|m| m.is_empty() || (m.len() == 1 && m.contains_key(".")));
                        out.push(if leaf {
                            item.clone()
                        } else {
                            cut_value(item, sub)
                        });
                    }
                } else if let Some(v) = fk.strip_prefix("v:") {
                    if let Ok(val) = serde_json::from_str::<Value>(v) {
                        out.push(val);
                    }
                } else if let Some(i) = fk.strip_prefix("i:")
                    && let Ok(i) = i.parse::<usize>()
                    && let Some(item) = items.get(i)
                {
                    out.push(cut_value(item, sub));
                }
            }
            if out.is_empty() && set.contains_key(".") {
                return value.clone();
            }
            Value::Array(out)
        }
        other => other.clone(),
    }
}

/// True when `fields` (a managedFields `fieldsV1`) holds the node at
/// `fpath` (`["f:spec", "f:replicas"]`).
pub fn owns(fields: &Value, fpath: &[String]) -> bool {
    let mut at = fields;
    for k in fpath {
        match at.get(k) {
            Some(next) => at = next,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_owned_fields_and_keyed_list_items() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u", "labels": {"a": "1", "b": "2"},
                "managedFields": [{"manager": "kubectl-pack", "operation": "Apply", "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:a": {}}},
                    "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}}]},
            "spec": {"replicas": 2, "revisionHistoryLimit": 10, "template": {"spec": {"containers": [
                {"name": "app", "image": "a:1", "imagePullPolicy": "IfNotPresent"},
                {"name": "sidecar", "image": "s:1"}]}}},
            "status": {"replicas": 2}
        });
        let fields = owned_fields(&obj, "kubectl-pack").unwrap();
        let c = cut(&obj, &fields);
        assert_eq!(c["metadata"]["labels"], json!({"a": "1"}));
        assert_eq!(c["spec"]["replicas"], 2);
        assert!(c["spec"].get("revisionHistoryLimit").is_none());
        assert_eq!(
            c["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "a:1"}])
        );
        assert!(c.get("status").is_none() && c["metadata"].get("uid").is_none());
        assert_eq!(c["metadata"]["name"], "web");
    }
}
