//! Showing objects side by side: cut the fields that say nothing about
//! desired state (server bookkeeping, status), mask Secret values, and print
//! a unified line diff of their YAML (waves `diff`, drift `sync`, drift
//! `--helm`).

use std::io::Write;

use serde_json::Value;

use crate::output::Paint;

/// Metadata the server fills in and keeps for itself.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The object without the metadata the server fills in (status kept):
/// what a backup stores and a restore sends.
pub fn without_server_metadata(mut v: Value) -> Value {
    if let Some(m) = v["metadata"].as_object_mut() {
        for k in SERVER_METADATA {
            m.remove(*k);
        }
    }
    v
}

/// The object without server bookkeeping and status; Secret values replaced
/// by a short digest so a change is visible but the value is not; keys in
/// one order ([`canonical`]) so two sides of a diff line up.
pub fn clean(v: Value) -> Value {
    canonical(cleaned(v))
}

/// Keys in one order whatever order they arrived in (a dry-run answer,
/// a live object and a stored manifest each order them differently):
/// `apiVersion`, `kind`, `metadata` first at the top, every other map
/// sorted by key, as `kubectl diff` shows objects.
pub fn canonical(v: Value) -> Value {
    const FIRST: [&str; 3] = ["apiVersion", "kind", "metadata"];
    match sorted(v) {
        Value::Object(mut map) => {
            let mut out = serde_json::Map::new();
            for key in FIRST {
                if let Some(val) = map.remove(key) {
                    out.insert(key.to_string(), val);
                }
            }
            out.extend(map);
            Value::Object(out)
        }
        other => other,
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn cleaned(v: Value) -> Value {
    let mut v = without_server_metadata(v);
    if let Some(m) = v["metadata"].as_object_mut()
        && let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut)
    {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        a.remove("deployment.kubernetes.io/revision");
        if a.is_empty() {
            m.remove("annotations");
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
        m.retain(|_, val| !val.is_null());
    }
    if v["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(d) = v[field].as_object_mut() {
                for (k, val) in d.iter_mut() {
                    *val = Value::String(format!("(secret value {k}: sha256 {}…)", digest(val)));
                }
            }
        }
    }
    v
}

fn digest(v: &Value) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(v.to_string().as_bytes());
    format!("{:02x}{:02x}{:02x}{:02x}", h[0], h[1], h[2], h[3])
}

/// Writes the unified diff of two texts (3 lines of context), coloured by `paint`.
pub fn write_unified(
    out: &mut impl Write,
    before: &str,
    after: &str,
    paint: &Paint,
) -> std::io::Result<()> {
    write_unified_indented(out, before, after, paint, "")
}

/// [`write_unified`] with every line indented by `indent`.
pub fn write_unified_indented(
    out: &mut impl Write,
    before: &str,
    after: &str,
    paint: &Paint,
    indent: &str,
) -> std::io::Result<()> {
    let diff = similar::TextDiff::from_lines(before, after);
    for group in diff.grouped_ops(3) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let line = change.to_string_lossy();
                let line = line.trim_end_matches('\n');
                match change.tag() {
                    similar::ChangeTag::Delete => {
                        writeln!(out, "{indent}{}", paint.red(&format!("-{line}")))?
                    }
                    similar::ChangeTag::Insert => {
                        writeln!(out, "{indent}{}", paint.green(&format!("+{line}")))?
                    }
                    similar::ChangeTag::Equal => writeln!(out, "{indent} {line}")?,
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Regression: drift sync showed `+apiVersion ... -apiVersion` because
    /// the dry-run answer and the live object ordered keys differently.
    #[test]
    fn two_orders_of_one_object_print_the_same() {
        let a = json!({"kind": "ConfigMap", "data": {"b": "1", "a": "2"},
                       "metadata": {"namespace": "x", "name": "c"}, "apiVersion": "v1"});
        let b = json!({"apiVersion": "v1", "metadata": {"name": "c", "namespace": "x"},
                       "data": {"a": "2", "b": "1"}, "kind": "ConfigMap"});
        let (ya, yb) = (
            crate::yaml::to_string(&clean(a)).expect("yaml"),
            crate::yaml::to_string(&clean(b)).expect("yaml"),
        );
        assert_eq!(ya, yb);
        assert!(
            ya.starts_with("apiVersion: v1\nkind: ConfigMap\nmetadata:"),
            "{ya}"
        );
    }
}
