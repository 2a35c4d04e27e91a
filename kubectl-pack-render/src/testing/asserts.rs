//! Pack test assertions: each takes the selected documents (or the render
//! error) and returns the failures, each saying what was expected and what
//! was found.

use serde_json::Value;

use super::paths::select;
use super::policy;

/// What an assertion looks at.
pub struct Subject<'a> {
    /// `(template path, document number, object)` for every selected document.
    pub docs: Vec<(&'a str, usize, &'a Value)>,
    /// The render error, if the render failed.
    pub error: Option<&'a str>,
}

fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn param<'a>(spec: &'a Value, key: &str, kind: &str) -> Result<&'a Value, String> {
    spec.get(key).ok_or_else(|| format!("{kind} needs `{key}`"))
}

fn path_param<'a>(spec: &'a Value, kind: &str) -> Result<&'a str, String> {
    param(spec, "path", kind)?
        .as_str()
        .ok_or_else(|| format!("{kind}: `path` must be a string"))
}

/// `contains` on a list: an item equal to `want`, or (for maps) a superset of it.
fn list_contains(list: &[Value], want: &Value) -> bool {
    list.iter()
        .any(|item| item == want || is_superset(item, want))
}

fn is_superset(item: &Value, want: &Value) -> bool {
    match (item, want) {
        (Value::Object(i), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| i.get(k).is_some_and(|x| x == v || is_superset(x, v))),
        _ => item == want,
    }
}

/// Evaluates one assertion (`kind` with its `spec`); `Ok(())` or the failures.
pub fn check(kind: &str, spec: &Value, subject: &Subject<'_>) -> Result<(), Vec<String>> {
    let one = |m: String| Err(vec![m]);
    if kind == "failedTemplate" {
        return match subject.error {
            None => one("expected the render to fail, but it succeeded".into()),
            Some(err) => {
                let want = spec
                    .get("contains")
                    .or_else(|| spec.get("errorMessage"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if err.contains(want) {
                    Ok(())
                } else {
                    one(format!(
                        "expected an error containing {want:?}, got {err:?}"
                    ))
                }
            }
        };
    }
    if let Some(err) = subject.error {
        return one(format!("render failed: {err}"));
    }
    match kind {
        "containsDocument" => {
            let kind_want = spec.get("kind").and_then(Value::as_str);
            let name_want = spec.get("name").and_then(Value::as_str);
            let api_want = spec.get("apiVersion").and_then(Value::as_str);
            let found = subject.docs.iter().any(|(_, _, o)| {
                kind_want.is_none_or(|k| o["kind"] == k)
                    && name_want.is_none_or(|n| o["metadata"]["name"] == n)
                    && api_want.is_none_or(|a| o["apiVersion"] == a)
            });
            if found {
                Ok(())
            } else {
                one(format!(
                    "no document with kind {kind_want:?} and name {name_want:?}"
                ))
            }
        }
        "hasDocuments" => {
            let want = spec.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
            if subject.docs.len() == want {
                Ok(())
            } else {
                one(format!(
                    "expected {want} documents, got {}",
                    subject.docs.len()
                ))
            }
        }
        _ => {
            if subject.docs.is_empty() {
                return one("no documents were rendered to check".into());
            }
            let mut failures = Vec::new();
            for (template, index, obj) in &subject.docs {
                if let Err(msg) = check_document(kind, spec, obj) {
                    failures.push(format!("{msg} ({template} document {index})"));
                }
            }
            if failures.is_empty() {
                Ok(())
            } else {
                Err(failures)
            }
        }
    }
}

fn check_document(kind: &str, spec: &Value, obj: &Value) -> Result<(), String> {
    match kind {
        "equal" | "notEqual" => {
            let path = path_param(spec, kind)?;
            let want = param(spec, "value", kind)?;
            let got = select(obj, path)?;
            let equal = got.len() == 1 && got[0] == want;
            match (kind, equal) {
                ("equal", false) => Err(format!(
                    "equal {path}: expected {}, got {}",
                    show(want),
                    match got.as_slice() {
                        [] => "nothing (path not found)".to_string(),
                        [one] => show(one),
                        many => show(&Value::Array(many.iter().map(|v| (*v).clone()).collect())),
                    }
                )),
                ("notEqual", true) => Err(format!(
                    "notEqual {path}: expected anything but {}, got it",
                    show(want)
                )),
                _ => Ok(()),
            }
        }
        "matchRegex" | "notMatchRegex" => {
            let path = path_param(spec, kind)?;
            let pattern = param(spec, "pattern", kind)?
                .as_str()
                .ok_or("matchRegex: pattern must be a string")?;
            let re = regex::Regex::new(pattern).map_err(|e| format!("{kind}: bad pattern: {e}"))?;
            let got = select(obj, path)?;
            let Some(Value::String(s)) = got.first() else {
                return Err(format!(
                    "{kind} {path}: expected a string, got {}",
                    got.first()
                        .map(|v| show(v))
                        .unwrap_or_else(|| "nothing".into())
                ));
            };
            match (kind, re.is_match(s)) {
                ("matchRegex", false) => Err(format!(
                    "matchRegex {path}: {s:?} does not match /{pattern}/"
                )),
                ("notMatchRegex", true) => {
                    Err(format!("notMatchRegex {path}: {s:?} matches /{pattern}/"))
                }
                _ => Ok(()),
            }
        }
        "exists" | "notExists" => {
            let path = path_param(spec, kind)?;
            let found = !select(obj, path)?.is_empty();
            match (kind, found) {
                ("exists", false) => Err(format!("exists {path}: not found")),
                ("notExists", true) => Err(format!(
                    "notExists {path}: found {}",
                    show(select(obj, path)?[0])
                )),
                _ => Ok(()),
            }
        }
        "isOneOf" => {
            let path = path_param(spec, kind)?;
            let options = param(spec, "values", kind)?
                .as_array()
                .ok_or("isOneOf: values must be a list")?;
            let got = select(obj, path)?;
            match got.first() {
                Some(v) if options.contains(v) => Ok(()),
                other => Err(format!(
                    "isOneOf {path}: expected one of {}, got {}",
                    show(&Value::Array(options.clone())),
                    other.map(|v| show(v)).unwrap_or_else(|| "nothing".into())
                )),
            }
        }
        "hasLength" => {
            let path = path_param(spec, kind)?;
            let want = param(spec, "count", kind)?
                .as_u64()
                .ok_or("hasLength: count must be a number")? as usize;
            let got = select(obj, path)?;
            let len = match got.first() {
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(m)) => m.len(),
                Some(Value::String(s)) => s.chars().count(),
                _ => return Err(format!("hasLength {path}: not a list, map or string")),
            };
            if len == want {
                Ok(())
            } else {
                Err(format!("hasLength {path}: expected {want}, got {len}"))
            }
        }
        "contains" | "notContains" => {
            let path = path_param(spec, kind)?;
            let want = param(spec, "content", kind)?;
            let got = select(obj, path)?;
            let holds = match got.first() {
                Some(Value::Array(a)) => list_contains(a, want),
                Some(Value::String(s)) => want.as_str().is_some_and(|w| s.contains(w)),
                Some(Value::Object(m)) => {
                    want.as_str().is_some_and(|w| m.contains_key(w)) || is_superset(got[0], want)
                }
                _ => false,
            };
            match (kind, holds) {
                ("contains", false) => Err(format!(
                    "contains {path}: {} not found in {}",
                    show(want),
                    got.first()
                        .map(|v| show(v))
                        .unwrap_or_else(|| "nothing".into())
                )),
                ("notContains", true) => Err(format!("notContains {path}: {} found", show(want))),
                _ => Ok(()),
            }
        }
        "isKind" => {
            let want = param(spec, "of", kind)?
                .as_str()
                .ok_or("isKind: of must be a string")?;
            if obj["kind"] == want {
                Ok(())
            } else {
                Err(format!(
                    "isKind: expected {want}, got {}",
                    show(&obj["kind"])
                ))
            }
        }
        "isAPIVersion" => {
            let want = param(spec, "of", kind)?
                .as_str()
                .ok_or("isAPIVersion: of must be a string")?;
            if obj["apiVersion"] == want {
                Ok(())
            } else {
                Err(format!(
                    "isAPIVersion: expected {want}, got {}",
                    show(&obj["apiVersion"])
                ))
            }
        }
        "isValidKubernetes" => policy::valid_kubernetes(obj)
            .map(|_| ())
            .map_err(|e| format!("isValidKubernetes: {e}")),
        "matchPolicy" => {
            let name = spec
                .as_str()
                .or_else(|| spec.get("policy").and_then(Value::as_str))
                .unwrap_or("");
            if name != "pod-security-restricted" {
                return Err(format!(
                    "matchPolicy: unknown policy {name:?} (known: pod-security-restricted)"
                ));
            }
            let v = policy::pod_security_restricted(obj);
            if v.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "matchPolicy pod-security-restricted: {}",
                    v.join("; ")
                ))
            }
        }
        other => Err(format!("unknown assertion {other:?}")),
    }
}
