//! The values schema: JSON Schema (draft-07 or 2020-12) or Sherpack's
//! simplified form (`schemaVersion: sherpack/v1`, properties with `type`,
//! `required: true`, `default`, `min`/`max`, `enumValues`, `pattern`),
//! which is converted to JSON Schema. Supplies defaults (the lowest values
//! layer) and reports every violation at once, each with its value path and
//! the layer that set the value.

use serde_json::{Map, Value, json};

use crate::values::{Layer, get_path};

/// A compiled schema.
pub struct Schema {
    /// File name, for messages.
    pub file: String,
    /// The schema as JSON Schema.
    pub json: Value,
}

impl Schema {
    /// Reads a schema value (either form).
    pub fn new(file: &str, raw: &Value) -> Self {
        let json = if raw.get("schemaVersion").and_then(Value::as_str) == Some("sherpack/v1") {
            simplified_to_json_schema(raw)
        } else {
            raw.clone()
        };
        Schema {
            file: file.to_string(),
            json,
        }
    }

    /// The defaults the schema declares, as a values map.
    pub fn defaults(&self) -> Value {
        defaults_of(&self.json).unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// Validates `values`; returns every violation as `path: message (set
    /// by layer:line)`.
    pub fn validate(&self, values: &Value, layers: &[Layer]) -> Result<(), Vec<String>> {
        let mut problems: Vec<String> = Vec::new();
        for (path, message) in self.violations(values)? {
            let shown = if path.is_empty() {
                "(root)".to_string()
            } else {
                path.join(".")
            };
            let layer = layers
                .iter()
                .rev()
                .find(|l| get_path(&l.value, &path).is_some());
            let origin = layer
                .map(|l| format!(" (set by {})", l.place(&path)))
                .unwrap_or_default();
            // The message quotes the value: never for one that came from a Secret.
            let message = if layer.is_some_and(|l| l.sensitive) {
                "invalid value (from a Secret; hidden)".to_string()
            } else {
                message
            };
            problems.push(format!("{shown}: {message}{origin}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Every violation as (value path, one-line message); an invalid schema
    /// is one problem naming the file.
    pub fn violations(&self, values: &Value) -> Result<Vec<(Vec<String>, String)>, Vec<String>> {
        let validator = jsonschema::validator_for(&self.json)
            .map_err(|e| vec![format!("{}: invalid schema: {e}", self.file)])?;
        Ok(validator
            .iter_errors(values)
            .map(|error| {
                let path: Vec<String> = error
                    .instance_path()
                    .as_str()
                    .split('/')
                    .skip(1)
                    .map(|s| s.replace("~1", "/").replace("~0", "~"))
                    .collect();
                (path, shared::error::one_line(&error.to_string()))
            })
            .collect())
    }

    /// The schema of the value at `path` (through `properties`, `items`
    /// for list indices), if the schema describes it.
    pub fn property(&self, path: &[String]) -> Option<&Value> {
        let mut cur = &self.json;
        for seg in path {
            cur = match cur.get("properties").and_then(|p| p.get(seg)) {
                Some(next) => next,
                None if seg.parse::<usize>().is_ok() => cur.get("items")?,
                None => cur.get("additionalProperties").filter(|v| v.is_object())?,
            };
        }
        Some(cur)
    }
}

fn defaults_of(schema: &Value) -> Option<Value> {
    if let Some(d) = schema.get("default") {
        return Some(d.clone());
    }
    let props = schema.get("properties")?.as_object()?;
    let mut out = Map::new();
    for (k, sub) in props {
        if let Some(d) = defaults_of(sub) {
            out.insert(k.clone(), d);
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Converts Sherpack's simplified schema into JSON Schema.
pub fn simplified_to_json_schema(raw: &Value) -> Value {
    fn convert(node: &Value) -> Value {
        let Some(obj) = node.as_object() else {
            return json!({});
        };
        let mut out = Map::new();
        for (k, v) in obj {
            match k.as_str() {
                "type" | "pattern" | "default" | "description" | "enum" | "format" | "title" => {
                    out.insert(k.clone(), v.clone());
                }
                "min" => {
                    out.insert("minimum".into(), v.clone());
                }
                "max" => {
                    out.insert("maximum".into(), v.clone());
                }
                "minLength" | "maxLength" | "minItems" | "maxItems" | "minimum" | "maximum" => {
                    out.insert(k.clone(), v.clone());
                }
                "enumValues" => {
                    out.insert("enum".into(), v.clone());
                }
                "items" => {
                    out.insert("items".into(), convert(v));
                }
                "properties" => {
                    let mut props = Map::new();
                    let mut required = Vec::new();
                    if let Some(p) = v.as_object() {
                        for (name, sub) in p {
                            if sub.get("required").and_then(Value::as_bool) == Some(true) {
                                required.push(Value::String(name.clone()));
                            }
                            props.insert(name.clone(), convert(sub));
                        }
                    }
                    out.insert("properties".into(), Value::Object(props));
                    if !required.is_empty() {
                        out.insert("required".into(), Value::Array(required));
                    }
                }
                _ => {}
            }
        }
        Value::Object(out)
    }
    let mut schema = convert(raw);
    if let Some(o) = schema.as_object_mut() {
        o.entry("type").or_insert_with(|| json!("object"));
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplified_schema_gives_defaults_and_reports_all_violations_with_origin() {
        let raw: Value = shared::yaml::from_str(
            "schemaVersion: sherpack/v1\nproperties:\n  app:\n    type: object\n    properties:\n      name: {type: string, required: true}\n      replicas: {type: integer, default: 1, min: 0, max: 10}\n  pull: {type: string, enumValues: [Always, Never]}\n",
        )
        .unwrap();
        let schema = Schema::new("values.schema.yaml", &raw);
        assert_eq!(schema.defaults(), json!({"app": {"replicas": 1}}));
        let layers = vec![Layer::new(
            "values.yaml",
            json!({"app": {"replicas": 50}, "pull": "Sometimes"}),
            Some("app:\n  replicas: 50\npull: Sometimes\n".into()),
        )];
        let problems = schema.validate(&layers[0].value, &layers).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems.iter().any(|p| p.starts_with(
                "app.replicas: 50 is greater than the maximum of 10 (set by values.yaml:2)"
            )),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("app: \"name\" is a required property")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("pull:") && p.contains("values.yaml:3")),
            "{problems:?}"
        );
    }
}
