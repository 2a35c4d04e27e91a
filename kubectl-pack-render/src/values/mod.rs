//! Values: the layers a render's values come from, merged in order, with
//! enough memory of each layer to say where a value came from.
//!
//! Order, lowest first: schema defaults, `values.yaml`,
//! `environments/_base.yaml`, the environment's `_inherit` chain (root
//! first), the environment file, `-f` files, `--values-from` sources, then
//! `--set`-family flags. Maps merge deeply, lists replace, and `null` in a
//! later layer deletes the key (as in Helm).

pub mod strvals;

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Map, Value};

/// One source of values.
#[derive(Debug, Clone)]
pub struct Layer {
    /// How the user names it: `values.yaml`, `environments/prod.yaml`,
    /// `-f extra.yaml`, `--set a=b`, `configmap/app-values`.
    pub label: String,
    /// The file's text, when the layer is a file (for line numbers).
    pub text: Option<String>,
    /// The values (a map); shared, so that a layer made from a loaded
    /// pack's `values.yaml` does not copy it.
    pub value: Arc<Value>,
    /// Never print this layer's values (it came from a Secret).
    pub sensitive: bool,
}

impl Layer {
    /// A layer from a map value.
    pub fn new(
        label: impl Into<String>,
        value: impl Into<Arc<Value>>,
        text: Option<String>,
    ) -> Self {
        Layer {
            label: label.into(),
            text,
            value: value.into(),
            sensitive: false,
        }
    }

    /// `label:line` for the place this layer sets `path`, or just the label.
    pub fn place(&self, path: &[String]) -> String {
        match self.text.as_deref().and_then(|t| key_line(t, path)) {
            Some(line) => format!("{}:{line}", self.label),
            None => self.label.clone(),
        }
    }
}

/// Merges `overlay` into `base`: maps deeply, everything else replaces;
/// `null` in the overlay deletes the key.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => merge_maps(b, o),
        (b, o) => *b = o.clone(),
    }
}

fn merge_maps(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (k, v) in overlay {
        if v.is_null() {
            base.remove(k);
            continue;
        }
        match base.get_mut(k) {
            Some(existing @ Value::Object(_)) if v.is_object() => merge(existing, v),
            _ => {
                base.insert(k.clone(), strip_nulls_in_new(v));
            }
        }
    }
}

/// A map that did not exist before keeps its nulls out (nothing to delete).
fn strip_nulls_in_new(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls_in_new(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Merges the layers in order.
pub fn merge_layers(layers: &[Layer]) -> Arc<Value> {
    match layers {
        // One map: itself, not a copy (large values files render faster).
        [only] if only.value.is_object() => only.value.clone(),
        [first, rest @ ..] => {
            let mut out = (*first.value).clone();
            if !out.is_object() {
                out = Value::Object(Map::new());
            }
            for layer in rest {
                merge(&mut out, &layer.value);
            }
            Arc::new(out)
        }
        [] => Arc::new(Value::Object(Map::new())),
    }
}

/// Splits `a.b[0].c` into `["a", "b", "0", "c"]`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        while let Some(open) = rest.find('[') {
            if open > 0 {
                out.push(rest[..open].to_string());
            }
            let close = rest[open..]
                .find(']')
                .map(|c| c + open)
                .unwrap_or(rest.len());
            out.push(rest[open + 1..close].to_string());
            rest = rest.get(close + 1..).unwrap_or("");
        }
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

/// The value at a path, if present.
pub fn get_path<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// True when some layer holds `path` (a value, or null deleting it).
pub fn is_set_by_a_layer(path: &str, layers: &[Layer]) -> bool {
    let segs = split_path(path);
    layers.iter().any(|l| get_path(&l.value, &segs).is_some())
}

/// The `--explain` report: the final value and every layer that set it.
pub fn explain(path: &str, layers: &[Layer], merged: &Value) -> String {
    let segs = split_path(path);
    let mut out = String::new();
    let hidden = layers
        .iter()
        .rev()
        .find(|l| get_path(&l.value, &segs).is_some())
        .is_some_and(|l| l.sensitive);
    match get_path(merged, &segs) {
        Some(_) if hidden => {
            let _ = writeln!(out, "{path} = (from a Secret; value hidden)");
        }
        Some(v) => {
            let _ = writeln!(out, "{path} = {}", compact(v));
        }
        None => {
            let _ = writeln!(out, "{path} is not set");
        }
    }
    let mut n = 0;
    for layer in layers {
        // A layer sets the path when it holds it, or deletes it with null
        // on the path or an ancestor.
        let mut deleted_at = None;
        for depth in 1..=segs.len() {
            if get_path(&layer.value, &segs[..depth]).is_some_and(Value::is_null)
                && depth < segs.len()
            {
                deleted_at = Some(depth);
                break;
            }
        }
        let entry = match (get_path(&layer.value, &segs), deleted_at) {
            (Some(_), _) if layer.sensitive => Some("(from a Secret; value hidden)".to_string()),
            (Some(Value::Null), _) => Some("deleted (null)".to_string()),
            (Some(v), _) => Some(compact(v)),
            (None, Some(_)) => Some("deleted (null on a parent key)".to_string()),
            (None, None) => None,
        };
        if let Some(entry) = entry {
            n += 1;
            let _ = writeln!(out, "  {n}. {:<40} {entry}", layer.place(&segs));
        }
    }
    if n == 0 {
        let _ = writeln!(out, "  (no layer sets it)");
    }
    out
}

fn compact(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.len() > 120 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(117).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

/// The line where a block-style YAML mapping sets `path` (1-based), found
/// by following indentation; `None` for flow style or list-nested keys.
pub fn key_line(text: &str, path: &[String]) -> Option<usize> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let Some(colon) = trimmed.find(':') else {
            continue;
        };
        let after = &trimmed[colon + 1..];
        if !(after.is_empty() || after.starts_with(' ')) {
            continue;
        }
        let key = trimmed[..colon]
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string();
        while stack.last().is_some_and(|(d, _)| *d >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        if stack.len() == path.len() && stack.iter().map(|(_, k)| k).eq(path.iter()) {
            return Some(i + 1);
        }
    }
    None
}

/// Substitutes `${VAR}` and `${VAR:-default}` in every string of `value`
/// from `lookup`; an unset variable without default is an error naming it.
pub fn env_subst(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    match value {
        Value::String(s) if s.contains("${") => {
            *s = subst_str(s, lookup)?;
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| env_subst(v, lookup)),
        Value::Object(m) => m.values_mut().try_for_each(|v| env_subst(v, lookup)),
        _ => Ok(()),
    }
}

fn subst_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (lookup(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_merge_lists_replace_null_deletes() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "l": [1, 2, 3], "gone": {"k": 1}});
        merge(
            &mut base,
            &json!({"a": {"y": 3, "z": 4}, "l": [9], "gone": null}),
        );
        assert_eq!(base, json!({"a": {"x": 1, "y": 3, "z": 4}, "l": [9]}));
    }

    #[test]
    fn explain_lists_every_layer_with_lines() {
        let layers = vec![
            Layer::new(
                "values.yaml",
                json!({"app": {"replicas": 1}}),
                Some("app:\n  name: x\n  replicas: 1\n".into()),
            ),
            Layer::new(
                "environments/prod.yaml",
                json!({"app": {"replicas": 3}}),
                Some("app:\n  replicas: 3\n".into()),
            ),
            Layer::new(
                "--set app.replicas=5",
                json!({"app": {"replicas": 5}}),
                None,
            ),
        ];
        let merged = merge_layers(&layers);
        let text = explain("app.replicas", &layers, &merged);
        assert!(text.starts_with("app.replicas = 5\n"), "{text}");
        assert!(text.contains("1. values.yaml:3"), "{text}");
        assert!(text.contains("2. environments/prod.yaml:2"), "{text}");
        assert!(text.contains("3. --set app.replicas=5"), "{text}");
    }

    #[test]
    fn env_subst_uses_defaults_and_names_missing_variables() {
        let lookup = |n: &str| (n == "HOST").then(|| "db.local".to_string());
        let mut v = json!({"url": "postgres://${HOST}:${PORT:-5432}/app"});
        env_subst(&mut v, &lookup).unwrap();
        assert_eq!(v["url"], "postgres://db.local:5432/app");
        let mut v = json!({"x": "${NOPE}"});
        assert_eq!(env_subst(&mut v, &lookup), Err("NOPE".into()));
    }

    #[test]
    fn split_path_handles_indexes() {
        assert_eq!(split_path("a.b[0].c"), vec!["a", "b", "0", "c"]);
    }
}
