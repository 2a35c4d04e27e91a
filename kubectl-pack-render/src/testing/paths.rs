//! Paths into rendered objects for pack test assertions: dot paths
//! (`spec.template.spec.containers[0].image`, `metadata.annotations["a.b/c"]`)
//! and JSONPath (`$.spec..image`, `$.spec.containers[*].name`,
//! `$.items[?(@.name=='web')].image`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    Wildcard,
    Descend(String),
    Filter(String, String),
}

fn parse(path: &str) -> Result<Vec<Step>, String> {
    let (mut rest, jsonpath) = match path.strip_prefix('$') {
        Some(r) => (r, true),
        None => (path, false),
    };
    let mut steps = Vec::new();
    let mut first = !jsonpath;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("..") {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            steps.push(Step::Descend(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            steps.push(if &r[..end] == "*" {
                Step::Wildcard
            } else {
                Step::Key(r[..end].to_string())
            });
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("unclosed [ in path {path:?}"))?;
            let inner = r[..end].trim();
            // A quoted key may contain ']'.
            let (inner, consumed) = if inner.starts_with('"') || inner.starts_with('\'') {
                let q = &inner[..1];
                let close = r[1..]
                    .find(q)
                    .ok_or_else(|| format!("unclosed quote in path {path:?}"))?
                    + 1;
                let after = r[close + 1..]
                    .find(']')
                    .ok_or_else(|| format!("unclosed [ in path {path:?}"))?
                    + close
                    + 1;
                (&r[1..close], after)
            } else {
                (inner, end)
            };
            if r[..end].trim().starts_with('"') || r[..end].trim().starts_with('\'') {
                steps.push(Step::Key(inner.to_string()));
            } else if inner == "*" {
                steps.push(Step::Wildcard);
            } else if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (k, v) = f.split_once("==").ok_or_else(|| {
                    format!("only ?(@.key=='value') filters are supported in {path:?}")
                })?;
                steps.push(Step::Filter(
                    k.trim().to_string(),
                    v.trim().trim_matches(|c| c == '\'' || c == '"').to_string(),
                ));
            } else {
                steps.push(Step::Index(
                    inner
                        .parse()
                        .map_err(|_| format!("bad index [{inner}] in path {path:?}"))?,
                ));
            }
            rest = &r[consumed + 1..];
        } else if first {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            steps.push(Step::Key(rest[..end].to_string()));
            rest = &rest[end..];
        } else {
            return Err(format!("unexpected {rest:?} in path {path:?}"));
        }
        first = false;
    }
    Ok(steps)
}

fn descend<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(key) {
                out.push(x);
            }
            for child in m.values() {
                descend(child, key, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| descend(c, key, out)),
        _ => {}
    }
}

/// Every value the path selects (empty when nothing matches).
pub fn select<'a>(root: &'a Value, path: &str) -> Result<Vec<&'a Value>, String> {
    let steps = parse(path)?;
    let mut cur: Vec<&Value> = vec![root];
    for step in &steps {
        let mut next = Vec::new();
        for v in cur {
            match step {
                Step::Key(k) => {
                    if let Some(x) = v.get(k.as_str()) {
                        next.push(x);
                    }
                }
                Step::Index(i) => {
                    if let Some(x) = v.get(*i) {
                        next.push(x);
                    }
                }
                Step::Wildcard => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Descend(k) => descend(v, k, &mut next),
                Step::Filter(k, want) => {
                    if let Value::Array(a) = v {
                        next.extend(a.iter().filter(|item| match item.get(k.as_str()) {
                            Some(Value::String(s)) => s == want,
                            Some(other) => serde_json::to_string(other).is_ok_and(|s| s == *want),
                            None => false,
                        }));
                    }
                }
            }
        }
        cur = next;
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dot_paths_and_jsonpath_select_the_same_things() {
        let o = json!({"metadata": {"annotations": {"a.b/c": "x"}}, "spec": {"containers": [{"name": "web", "image": "n:1"}, {"name": "side", "image": "s:2"}]}});
        assert_eq!(
            select(&o, "spec.containers[1].image").unwrap(),
            vec![&json!("s:2")]
        );
        assert_eq!(
            select(&o, "metadata.annotations[\"a.b/c\"]").unwrap(),
            vec![&json!("x")]
        );
        assert_eq!(
            select(&o, "$.spec.containers[*].name").unwrap(),
            vec![&json!("web"), &json!("side")]
        );
        assert_eq!(select(&o, "$..image").unwrap().len(), 2);
        assert_eq!(
            select(&o, "$.spec.containers[?(@.name=='side')].image").unwrap(),
            vec![&json!("s:2")]
        );
        assert!(select(&o, "spec.nothing").unwrap().is_empty());
    }
}
