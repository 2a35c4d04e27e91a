//! Validating an object against a CRD version's structural schema, as the
//! API server would on the object's next write: types, required, enum,
//! bounds, lengths, items, properties, pattern, format, nullable,
//! additionalProperties, int-or-string, embedded resources, and the CEL
//! rules (`x-kubernetes-validations`, see [`crate::cel`]). Unknown fields
//! are not errors: the server prunes them, so they are reported as "would
//! be pruned" unless `x-kubernetes-preserve-unknown-fields` keeps them.
//!
//! Each violation says which updates it blocks, following the server's
//! validation ratcheting (KEP-4008; beta and on by default in 1.30, GA in
//! 1.33; apiextensions-apiserver `validation/ratcheting.go`): an error found
//! at a node is forgiven when that node is unchanged by the update. The node
//! is the one the error is raised at (the parent object for `required` and
//! `additionalProperties`, the node holding a CEL rule), or its nearest
//! ancestor the server can correlate with the old object: items of lists
//! that are not `x-kubernetes-list-type: map` are not correlated, so their
//! errors belong to the list. Errors raised at the root block every update
//! (every update changes the root), and so do CEL rules that use `oldSelf`
//! (never ratcheted) and CEL evaluation errors (no such key...).

use serde::Serialize;
use serde_json::Value;

use crate::cel::{self, Verdict};

/// How a violation blocks writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Blocks {
    /// Every update of the object fails.
    EveryUpdate,
    /// Only updates that change the violation's `field` fail (ratcheting).
    FieldUpdate,
}

/// One problem found in an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Path in the object (`.spec.size`).
    pub path: String,
    /// Which keyword (`maximum`, `required`, `x-kubernetes-validations`...).
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
    /// How it blocks writes.
    pub blocks: Blocks,
    /// For [`Blocks::FieldUpdate`]: the node whose change makes the server
    /// check it again (the path itself, its parent object, or the list
    /// holding it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Violation {
    /// Human wording of [`Violation::blocks`].
    pub fn blocks_words(&self) -> String {
        match (&self.blocks, &self.field) {
            (Blocks::FieldUpdate, Some(f)) if *f != self.path => {
                format!("blocks only updates touching {f}")
            }
            (Blocks::FieldUpdate, _) => "blocks only updates touching this field".into(),
            (Blocks::EveryUpdate, _) => "blocks every update of this object".into(),
        }
    }
}

/// What checking one object found.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Schema violations.
    pub violations: Vec<Violation>,
    /// Paths of unknown fields the server would drop.
    pub pruned: Vec<String>,
    /// CEL rules evaluated.
    pub cel_checked: usize,
    /// CEL rules this interpreter could not evaluate.
    pub cel_not_checked: usize,
    /// Why, one line per distinct rule and reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cel_not_checked_reasons: Vec<String>,
}

/// The node an error at a path is forgiven through: `""` is the root.
type Anchor<'a> = &'a str;

/// Validates `obj` against `schema` (the version's `openAPIV3Schema`).
pub fn validate(schema: &Value, obj: &Value) -> Outcome {
    let mut out = Outcome::default();
    // apiVersion, kind and metadata are the server's; check the rest.
    if let Some(map) = obj.as_object() {
        for (k, v) in map {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            let path = format!(".{k}");
            match schema["properties"].get(k) {
                Some(s) => check(s, v, &path, &path, &mut out),
                None if schema["x-kubernetes-preserve-unknown-fields"] == true => {}
                None => out.pruned.push(format!(".{k}")),
            }
        }
        if let Some(req) = schema["required"].as_array() {
            for r in req.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    let message = "required field is missing".to_string();
                    violation(&mut out, &format!(".{r}"), "", "required", message);
                }
            }
        }
        let mut root = Value::Object(map.clone());
        // Rules at the root see apiVersion, kind and metadata.name/generateName only.
        if let Some(meta) = map.get("metadata") {
            root["metadata"] = serde_json::json!({});
            for k in ["name", "generateName"] {
                if let Some(v) = meta.get(k) {
                    root["metadata"][k] = v.clone();
                }
            }
        }
        rules(schema, &root, "", "", &mut out);
    }
    out
}

/// Records a violation at `path`, forgiven through `anchor`.
fn violation(
    out: &mut Outcome,
    path: &str,
    anchor: Anchor<'_>,
    rule: &'static str,
    message: String,
) {
    let (blocks, field) = if anchor.is_empty() {
        (Blocks::EveryUpdate, None)
    } else {
        (Blocks::FieldUpdate, Some(anchor.to_string()))
    };
    out.violations.push(Violation {
        path: path.to_string(),
        rule,
        message,
        blocks,
        field,
    });
}

/// Evaluates the CEL rules of `s` on `v` (at `path`, anchored at `anchor`).
fn rules(s: &Value, v: &Value, path: &str, anchor: Anchor<'_>, out: &mut Outcome) {
    let Some(entries) = s["x-kubernetes-validations"].as_array() else {
        return;
    };
    let value = cel::to_cel(s, v);
    for entry in entries {
        let rule = entry["rule"].as_str().unwrap_or_default();
        let at = match entry["fieldPath"].as_str() {
            Some(fp) if !fp.is_empty() => format!("{path}{fp}"),
            _ if path.is_empty() => ".".to_string(),
            _ => path.to_string(),
        };
        match cel::evaluate(entry, &value) {
            Verdict::Pass => out.cel_checked += 1,
            Verdict::Fail(message) => {
                out.cel_checked += 1;
                // Transition rules (oldSelf) are never ratcheted.
                let anchor = if cel::uses_old_self(rule) { "" } else { anchor };
                violation(out, &at, anchor, "x-kubernetes-validations", message);
            }
            Verdict::Error(e) => {
                out.cel_checked += 1;
                let message = format!("{e} evaluating rule: {rule}");
                violation(out, &at, "", "x-kubernetes-validations", message);
            }
            Verdict::NotChecked(why) => {
                out.cel_not_checked += 1;
                let reason = format!("{rule}: {why}");
                if !out.cel_not_checked_reasons.contains(&reason) {
                    out.cel_not_checked_reasons.push(reason);
                }
            }
        }
    }
}

/// Checks `v` at `path` against `s`; errors raised here are forgiven
/// through `anchor`.
fn check(s: &Value, v: &Value, path: &str, anchor: Anchor<'_>, out: &mut Outcome) {
    if v.is_null() {
        if s["nullable"] != true {
            let message = "null is not allowed here".to_string();
            violation(out, path, anchor, "nullable", message);
        }
        return;
    }
    if !keywords(s, v, path, anchor, out) {
        return;
    }
    match v {
        Value::Object(map) => object(s, map, path, anchor, out),
        Value::Array(items) => array(s, items, path, anchor, out),
        Value::String(text) => string(s, text, path, anchor, out),
        Value::Number(n) => number(s, n, path, anchor, out),
        Value::Bool(_) | Value::Null => {}
    }
    rules(s, v, path, anchor, out);
}

/// Type, enum and composition; false when the type is wrong (nothing more
/// is checked below a wrong type, as on the server).
fn keywords(s: &Value, v: &Value, path: &str, anchor: Anchor<'_>, out: &mut Outcome) -> bool {
    let actual = shared::yaml::type_name(v);
    if s["x-kubernetes-int-or-string"] == true {
        if !matches!(actual, "integer" | "string") {
            let message = format!("must be an integer or a string, is {actual}");
            violation(out, path, anchor, "type", message);
            return false;
        }
    } else if let Some(want) = s["type"].as_str() {
        let ok = want == actual || (want == "number" && actual == "integer");
        if !ok {
            let message = format!("must be {want}, is {actual}");
            violation(out, path, anchor, "type", message);
            return false;
        }
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        let allowed: Vec<String> = e.iter().map(|x| x.to_string()).collect();
        let message = format!("{v} is not one of {}", allowed.join(", "));
        violation(out, path, anchor, "enum", message);
    }
    for key in ["allOf", "anyOf", "oneOf", "not"] {
        if s.get(key).is_some() {
            check_composition(s, key, v, path, anchor, out);
        }
    }
    true
}

fn array(s: &Value, items: &[Value], path: &str, anchor: Anchor<'_>, out: &mut Outcome) {
    bound(out, path, anchor, "minItems", s, items.len() as f64, true);
    bound(out, path, anchor, "maxItems", s, items.len() as f64, false);
    let Some(item) = s.get("items") else {
        return;
    };
    // Only items of map lists are correlated with their old selves.
    let correlated = s["x-kubernetes-list-type"] == "map";
    for (i, it) in items.iter().enumerate() {
        let child = format!("{path}[{i}]");
        let child_anchor = if correlated { child.as_str() } else { anchor };
        check(item, it, &child, child_anchor, out);
    }
}

fn string(s: &Value, text: &str, path: &str, anchor: Anchor<'_>, out: &mut Outcome) {
    let n = text.chars().count() as f64;
    bound(out, path, anchor, "minLength", s, n, true);
    bound(out, path, anchor, "maxLength", s, n, false);
    if let Some(p) = s["pattern"].as_str() {
        match regex::Regex::new(p) {
            Ok(re) if !re.is_match(text) => {
                let message = format!("{text:?} does not match {p}");
                violation(out, path, anchor, "pattern", message)
            }
            Ok(_) => {}
            Err(_) => {
                let message = format!("pattern {p} cannot be evaluated here");
                violation(out, path, anchor, "pattern", message)
            }
        }
    }
    if let Some(f) = s["format"].as_str()
        && let Some(why) = format_error(f, text)
    {
        violation(out, path, anchor, "format", why);
    }
}

fn number(s: &Value, n: &serde_json::Number, path: &str, anchor: Anchor<'_>, out: &mut Outcome) {
    let x = n.as_f64().unwrap_or(0.0);
    let excl = |k: &str| s[k] == true;
    if let Some(min) = s["minimum"].as_f64()
        && (x < min || (excl("exclusiveMinimum") && x == min))
    {
        let message = format!("{n} is below the minimum {min}");
        violation(out, path, anchor, "minimum", message);
    }
    if let Some(max) = s["maximum"].as_f64()
        && (x > max || (excl("exclusiveMaximum") && x == max))
    {
        let message = format!("{n} is above the maximum {max}");
        violation(out, path, anchor, "maximum", message);
    }
    if let Some(f) = s["format"].as_str() {
        let out_of = |lo: f64, hi: f64| x < lo || x > hi;
        if (f == "int32" && out_of(i32::MIN as f64, i32::MAX as f64))
            || (f == "int64" && !(n.is_i64() || n.is_u64()))
        {
            violation(
                out,
                path,
                anchor,
                "format",
                format!("{n} is not a valid {f}"),
            );
        }
    }
}

fn object(
    s: &Value,
    map: &serde_json::Map<String, Value>,
    path: &str,
    anchor: Anchor<'_>,
    out: &mut Outcome,
) {
    bound(
        out,
        path,
        anchor,
        "minProperties",
        s,
        map.len() as f64,
        true,
    );
    bound(
        out,
        path,
        anchor,
        "maxProperties",
        s,
        map.len() as f64,
        false,
    );
    if let Some(req) = s["required"].as_array() {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                let message = "required field is missing".to_string();
                violation(out, &format!("{path}.{r}"), anchor, "required", message);
            }
        }
    }
    let embedded = s["x-kubernetes-embedded-resource"] == true;
    if embedded {
        for k in ["apiVersion", "kind"] {
            if !map.get(k).is_some_and(Value::is_string) {
                let message = format!("an embedded resource needs {k}");
                let at = format!("{path}.{k}");
                violation(out, &at, anchor, "x-kubernetes-embedded-resource", message);
            }
        }
    }
    let preserve = s["x-kubernetes-preserve-unknown-fields"] == true;
    let props = s["properties"].as_object();
    for (k, v) in map {
        let child = format!("{path}.{k}");
        if let Some(ps) = props.and_then(|p| p.get(k)) {
            check(ps, v, &child, &child, out);
        } else if let Some(ap) = s.get("additionalProperties") {
            match ap {
                Value::Bool(false) => {
                    let message = "no additional properties are allowed".to_string();
                    violation(out, &child, anchor, "additionalProperties", message)
                }
                Value::Object(_) => check(ap, v, &child, &child, out),
                _ => {}
            }
        } else if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
        } else if !preserve {
            out.pruned.push(child);
        }
    }
}

fn check_composition(
    s: &Value,
    key: &str,
    v: &Value,
    path: &str,
    anchor: Anchor<'_>,
    out: &mut Outcome,
) {
    let passes = |sub: &Value| {
        let mut o = Outcome::default();
        check(sub, v, path, anchor, &mut o);
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
        violation(out, path, anchor, rule, format!("does not satisfy {key}"));
    }
}

#[allow(clippy::too_many_arguments)]
fn bound(
    out: &mut Outcome,
    path: &str,
    anchor: Anchor<'_>,
    key: &'static str,
    s: &Value,
    actual: f64,
    lower: bool,
) {
    if let Some(limit) = s[key].as_f64() {
        let bad = if lower {
            actual < limit
        } else {
            actual > limit
        };
        if bad {
            let side = if lower { "below" } else { "above" };
            let message = format!("{actual} is {side} {key} {limit}");
            violation(out, path, anchor, key, message);
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
        assert_eq!((out.cel_checked, out.cel_not_checked), (1, 0));
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
        // required is raised at the parent object: forgiven while .spec is unchanged.
        let missing = validate(&schema(), &json!({"spec": {}}));
        assert_eq!(missing.violations[0].path, ".spec.size");
        assert_eq!(missing.violations[0].blocks, Blocks::FieldUpdate);
        assert_eq!(missing.violations[0].field.as_deref(), Some(".spec"));
        assert_eq!(
            missing.violations[0].blocks_words(),
            "blocks only updates touching .spec"
        );
        let null = validate(&schema(), &json!({"spec": {"size": 1, "mode": null}}));
        assert_eq!(null.violations[0].rule, "nullable");
    }

    #[test]
    fn ratcheting_anchors_follow_what_the_server_correlates() {
        let schema = json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": "self.size <= 10 || self.mode == 'slow'", "message": "big gadgets must be slow"},
                                         {"rule": "self.owner != ''"},
                                         {"rule": "oldSelf.mode != 'frozen'", "message": "frozen"}],
            "properties": {
                "size": {"type": "integer"}, "mode": {"type": "string"}, "owner": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer", "maximum": 100}}}}}}}});
        let o = json!({"spec": {"size": 30, "mode": "frozen", "tags": ["abcd"], "ports": [{"name": "a", "port": 200}]}});
        let out = validate(&schema, &o);
        let got: Vec<(&str, &str, Blocks, Option<&str>)> = out
            .violations
            .iter()
            .map(|v| (v.path.as_str(), v.rule, v.blocks, v.field.as_deref()))
            .collect();
        let cel = "x-kubernetes-validations";
        for want in [
            (
                ".spec.tags[0]",
                "maxLength",
                Blocks::FieldUpdate,
                Some(".spec.tags"),
            ),
            (
                ".spec.ports[0].port",
                "maximum",
                Blocks::FieldUpdate,
                Some(".spec.ports[0].port"),
            ),
            (".spec", cel, Blocks::FieldUpdate, Some(".spec")),
            (".spec", cel, Blocks::EveryUpdate, None),
        ] {
            assert!(got.contains(&want), "{want:?} missing in {got:?}");
        }
        assert_eq!(got.iter().filter(|g| g.1 == cel).count(), 3, "{got:?}");
        assert_eq!(out.cel_checked, 3);
        let missing_root = validate(&schema, &json!({"metadata": {"name": "x"}}));
        assert_eq!(missing_root.violations[0].blocks, Blocks::EveryUpdate);
        let root_rule = json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.metadata.name.size() < 3"}]});
        let out = validate(
            &root_rule,
            &json!({"metadata": {"name": "long", "labels": {"a": "b"}}}),
        );
        assert_eq!(out.violations[0].blocks, Blocks::EveryUpdate);
        assert_eq!(out.violations[0].path, ".");
    }
}
