//! Validating an object against a CRD version's structural schema, as the
//! API server would on the object's next write: types, required, enum,
//! bounds, lengths, items, properties, pattern, format, nullable,
//! additionalProperties, int-or-string, embedded resources. Unknown fields
//! are not errors: the server prunes them, so they are reported as "would
//! be pruned" unless `x-kubernetes-preserve-unknown-fields` keeps them. CEL
//! rules are counted as not checked.
//!
//! Each violation says how it blocks the object (ratcheting, KEP-4008, on
//! by default since 1.30): errors the server does not ratchet (required,
//! composition, metadata) block every update; the others only an update
//! that touches that field.

use serde::Serialize;
use serde_json::Value;

/// How a violation blocks writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Blocks {
    /// Every update of the object fails.
    EveryUpdate,
    /// Only updates touching this field fail (ratcheting).
    FieldUpdate,
}

impl Blocks {
    /// Human wording.
    pub fn words(self) -> &'static str {
        match self {
            Blocks::EveryUpdate => "blocks every update of this object",
            Blocks::FieldUpdate => "blocks only updates touching this field",
        }
    }
}

/// One problem found in an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Path in the object (`.spec.size`).
    pub path: String,
    /// Which keyword.
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
    /// How it blocks writes.
    pub blocks: Blocks,
}

/// What checking one object found.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Schema violations.
    pub violations: Vec<Violation>,
    /// Paths of unknown fields the server would drop.
    pub pruned: Vec<String>,
    /// CEL rules met and not evaluated.
    pub cel_not_checked: usize,
}

/// Validates `obj` against `schema` (the version's `openAPIV3Schema`).
pub fn validate(schema: &Value, obj: &Value) -> Outcome {
    let mut out = Outcome::default();
    // apiVersion, kind and metadata are the server's; check the rest.
    if let Some(map) = obj.as_object() {
        for (k, v) in map {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match schema["properties"].get(k) {
                Some(s) => check(s, v, &format!(".{k}"), &mut out),
                None if schema["x-kubernetes-preserve-unknown-fields"] == true => {}
                None => out.pruned.push(format!(".{k}")),
            }
        }
        if let Some(req) = schema["required"].as_array() {
            for r in req.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    out.violations.push(missing(&format!(".{r}")));
                }
            }
        }
    }
    out
}

fn missing(path: &str) -> Violation {
    Violation {
        path: path.to_string(),
        rule: "required",
        message: "required field is missing".into(),
        blocks: Blocks::EveryUpdate,
    }
}

fn violation(out: &mut Outcome, path: &str, rule: &'static str, message: String) {
    let blocks = if matches!(rule, "allOf" | "anyOf" | "oneOf" | "not") {
        Blocks::EveryUpdate
    } else {
        Blocks::FieldUpdate
    };
    out.violations.push(Violation {
        path: path.to_string(),
        rule,
        message,
        blocks,
    });
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(s: &Value, v: &Value, path: &str, out: &mut Outcome) {
    if let Some(rules) = s["x-kubernetes-validations"].as_array() {
        out.cel_not_checked += rules.len();
    }
    if v.is_null() {
        if s["nullable"] != true {
            violation(out, path, "nullable", "null is not allowed here".into());
        }
        return;
    }
    let actual = type_name(v);
    if s["x-kubernetes-int-or-string"] == true {
        if !matches!(actual, "integer" | "string") {
            violation(
                out,
                path,
                "type",
                format!("must be an integer or a string, is {actual}"),
            );
            return;
        }
    } else if let Some(want) = s["type"].as_str() {
        let ok = want == actual || (want == "number" && actual == "integer");
        if !ok {
            violation(out, path, "type", format!("must be {want}, is {actual}"));
            return;
        }
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        let allowed: Vec<String> = e.iter().map(|x| x.to_string()).collect();
        violation(
            out,
            path,
            "enum",
            format!("{v} is not one of {}", allowed.join(", ")),
        );
    }
    for key in ["allOf", "anyOf", "oneOf", "not"] {
        if s.get(key).is_some() {
            check_composition(s, key, v, path, out);
        }
    }
    match v {
        Value::Object(map) => object(s, map, path, out),
        Value::Array(items) => {
            bound(out, path, "minItems", s, items.len() as f64, true);
            bound(out, path, "maxItems", s, items.len() as f64, false);
            if let Some(item) = s.get("items") {
                for (i, it) in items.iter().enumerate() {
                    check(item, it, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::String(text) => {
            let n = text.chars().count() as f64;
            bound(out, path, "minLength", s, n, true);
            bound(out, path, "maxLength", s, n, false);
            if let Some(p) = s["pattern"].as_str() {
                match regex::Regex::new(p) {
                    Ok(re) if !re.is_match(text) => {
                        violation(out, path, "pattern", format!("{text:?} does not match {p}"))
                    }
                    Ok(_) => {}
                    Err(_) => violation(
                        out,
                        path,
                        "pattern",
                        format!("pattern {p} cannot be evaluated here"),
                    ),
                }
            }
            if let Some(f) = s["format"].as_str()
                && let Some(why) = format_error(f, text)
            {
                violation(out, path, "format", why);
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            let excl = |k: &str| s[k] == true;
            if let Some(min) = s["minimum"].as_f64()
                && (x < min || (excl("exclusiveMinimum") && x == min))
            {
                violation(
                    out,
                    path,
                    "minimum",
                    format!("{n} is below the minimum {min}"),
                );
            }
            if let Some(max) = s["maximum"].as_f64()
                && (x > max || (excl("exclusiveMaximum") && x == max))
            {
                violation(
                    out,
                    path,
                    "maximum",
                    format!("{n} is above the maximum {max}"),
                );
            }
            if let Some(f) = s["format"].as_str() {
                let out_of = |lo: f64, hi: f64| x < lo || x > hi;
                if (f == "int32" && out_of(i32::MIN as f64, i32::MAX as f64))
                    || (f == "int64" && !(n.is_i64() || n.is_u64()))
                {
                    violation(out, path, "format", format!("{n} is not a valid {f}"));
                }
            }
        }
        _ => {}
    }
}

fn object(s: &Value, map: &serde_json::Map<String, Value>, path: &str, out: &mut Outcome) {
    bound(out, path, "minProperties", s, map.len() as f64, true);
    bound(out, path, "maxProperties", s, map.len() as f64, false);
    if let Some(req) = s["required"].as_array() {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                out.violations.push(missing(&format!("{path}.{r}")));
            }
        }
    }
    let embedded = s["x-kubernetes-embedded-resource"] == true;
    if embedded {
        for k in ["apiVersion", "kind"] {
            if !map.get(k).is_some_and(Value::is_string) {
                violation(
                    out,
                    &format!("{path}.{k}"),
                    "x-kubernetes-embedded-resource",
                    format!("an embedded resource needs {k}"),
                );
            }
        }
    }
    let preserve = s["x-kubernetes-preserve-unknown-fields"] == true;
    let props = s["properties"].as_object();
    for (k, v) in map {
        let child = format!("{path}.{k}");
        if let Some(ps) = props.and_then(|p| p.get(k)) {
            check(ps, v, &child, out);
        } else if let Some(ap) = s.get("additionalProperties") {
            match ap {
                Value::Bool(false) => violation(
                    out,
                    &child,
                    "additionalProperties",
                    "no additional properties are allowed".into(),
                ),
                Value::Object(_) => check(ap, v, &child, out),
                _ => {}
            }
        } else if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
        } else if !preserve {
            out.pruned.push(child);
        }
    }
}

fn check_composition(s: &Value, key: &str, v: &Value, path: &str, out: &mut Outcome) {
    let passes = |sub: &Value| {
        let mut o = Outcome::default();
        check(sub, v, path, &mut o);
        o.violations.is_empty()
    };
    let ok = match (key, &s[key]) {
        ("not", sub) => !passes(sub),
        ("allOf", Value::Array(a)) => a.iter().all(passes),
        ("anyOf", Value::Array(a)) => a.iter().any(passes),
        ("oneOf", Value::Array(a)) => a.iter().filter(|x| passes(x)).count() == 1,
        _ => true,
    };
    if !ok {
        let rule = match key {
            "allOf" => "allOf",
            "anyOf" => "anyOf",
            "oneOf" => "oneOf",
            _ => "not",
        };
        violation(out, path, rule, format!("does not satisfy {key}"));
    }
}

fn bound(out: &mut Outcome, path: &str, key: &'static str, s: &Value, actual: f64, lower: bool) {
    if let Some(limit) = s[key].as_f64() {
        let bad = if lower {
            actual < limit
        } else {
            actual > limit
        };
        if bad {
            violation(
                out,
                path,
                key,
                format!(
                    "{actual} is {} {key} {limit}",
                    if lower { "below" } else { "above" }
                ),
            );
        }
    }
}

fn format_error(format: &str, text: &str) -> Option<String> {
    use base64::Engine as _;
    let bad = || Some(format!("{text:?} is not a valid {format}"));
    match format {
        "date-time" => text.parse::<jiff::Timestamp>().is_err().then(bad).flatten(),
        "date" => text
            .parse::<jiff::civil::Date>()
            .is_err()
            .then(bad)
            .flatten(),
        "byte" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_err()
            .then(bad)
            .flatten(),
        "int32" => text.parse::<i32>().is_err().then(bad).flatten(),
        "int64" => text.parse::<i64>().is_err().then(bad).flatten(),
        "double" | "float" => text.parse::<f64>().is_err().then(bad).flatten(),
        "ipv4" => text
            .parse::<std::net::Ipv4Addr>()
            .is_err()
            .then(bad)
            .flatten(),
        "ipv6" => text
            .parse::<std::net::Ipv6Addr>()
            .is_err()
            .then(bad)
            .flatten(),
        "uuid" => {
            let ok = text.len() == 36
                && text.chars().enumerate().all(|(i, c)| {
                    if [8, 13, 18, 23].contains(&i) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                });
            (!ok).then(bad).flatten()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "port": {"x-kubernetes-int-or-string": true},
                "when": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "opt": {"type": "string", "nullable": true},
                "ratio": {"type": "number", "x-kubernetes-validations": [{"rule": "self < 1.0"}]},
                "ref": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}}}})
    }

    #[test]
    fn a_valid_object_passes() {
        let o = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"size": 3, "mode": "fast", "name": "abc", "port": "http", "when": "2024-01-02T03:04:05Z",
                "tags": ["a"], "extra": {"anything": 1}, "labels": {"a": "b"}, "opt": null, "ratio": 0.5,
                "ref": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}}});
        let out = validate(&schema(), &o);
        assert_eq!(out.violations, vec![]);
        assert!(out.pruned.is_empty());
        assert_eq!(out.cel_not_checked, 1);
    }

    #[test]
    fn every_keyword_reports_its_path_and_blocking_class() {
        let o = json!({"spec": {"size": 11, "mode": "medium", "name": "ABCDEFG", "port": true,
            "when": "yesterday", "tags": ["a", "b", "c"], "labels": {"a": 1}, "gone": 1,
            "ref": {"metadata": {}}}});
        let out = validate(&schema(), &o);
        let got: Vec<(String, &str)> = out
            .violations
            .iter()
            .map(|v| (v.path.clone(), v.rule))
            .collect();
        for want in [
            (".spec.size", "maximum"),
            (".spec.mode", "enum"),
            (".spec.name", "pattern"),
            (".spec.name", "maxLength"),
            (".spec.port", "type"),
            (".spec.when", "format"),
            (".spec.tags", "maxItems"),
            (".spec.labels.a", "type"),
            (".spec.ref.apiVersion", "x-kubernetes-embedded-resource"),
        ] {
            assert!(
                got.contains(&(want.0.to_string(), want.1)),
                "{want:?} missing in {got:?}"
            );
        }
        assert_eq!(out.pruned, vec![".spec.gone"]);
        assert!(
            out.violations
                .iter()
                .all(|v| v.blocks == Blocks::FieldUpdate)
        );
        let missing = validate(&schema(), &json!({"spec": {}}));
        assert_eq!(missing.violations[0].path, ".spec.size");
        assert_eq!(missing.violations[0].blocks, Blocks::EveryUpdate);
        let null = validate(&schema(), &json!({"spec": {"size": 1, "mode": null}}));
        assert_eq!(null.violations[0].rule, "nullable");
    }
}
