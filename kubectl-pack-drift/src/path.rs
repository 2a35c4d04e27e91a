//! Paths into objects (`spec.template.spec.containers[name=app].image`,
//! `metadata.annotations["kubectl.kubernetes.io/restartedAt"]`) and the
//! ignore patterns that match them (`--ignore`, the pack's `drift.ignore`,
//! the `sherpack.io/drift-ignore` annotation). Patterns use the same syntax
//! plus `[*]`/`*` for any one segment, or a JSON pointer (`/spec/replicas`).

use std::fmt;

use serde_json::Value;

/// One step into an object.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    /// A map key.
    Field(String),
    /// A list item found by its key fields (`[name=app]`).
    Key(Vec<(String, Value)>),
    /// A list item by position.
    Index(usize),
    /// A member of a set-like list (`[=value]`).
    Member(Value),
}

/// A path from the object's root.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Path(pub Vec<Seg>);

fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Field(name) if plain(name) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Seg::Field(name) => write!(f, "[{}]", Value::String(name.clone()))?,
                Seg::Key(keys) => {
                    let parts: Vec<String> = keys
                        .iter()
                        .map(|(k, v)| format!("{k}={}", scalar(v)))
                        .collect();
                    write!(f, "[{}]", parts.join(","))?;
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Member(v) => write!(f, "[={}]", scalar(v))?,
            }
        }
        Ok(())
    }
}

impl Path {
    /// The path one step further.
    pub fn child(&self, seg: Seg) -> Path {
        let mut p = self.clone();
        p.0.push(seg);
        p
    }

    /// True when the path starts with the field names `prefix`.
    pub fn starts_with(&self, prefix: &[&str]) -> bool {
        prefix.len() <= self.0.len()
            && prefix
                .iter()
                .zip(&self.0)
                .all(|(p, s)| matches!(s, Seg::Field(f) if f == p))
    }

    /// The path of a `fieldsV1` key path (`f:spec`, `k:{"name":"a"}`).
    pub fn from_fpath(fpath: &[String]) -> Path {
        Path(
            fpath
                .iter()
                .filter_map(|k| {
                    if let Some(f) = k.strip_prefix("f:") {
                        Some(Seg::Field(f.to_string()))
                    } else if let Some(j) = k.strip_prefix("k:") {
                        match serde_json::from_str::<Value>(j) {
                            Ok(Value::Object(m)) => Some(Seg::Key(m.into_iter().collect())),
                            _ => None,
                        }
                    } else if let Some(v) = k.strip_prefix("v:") {
                        serde_json::from_str(v).ok().map(Seg::Member)
                    } else {
                        k.strip_prefix("i:")
                            .and_then(|i| i.parse().ok())
                            .map(Seg::Index)
                    }
                })
                .collect(),
        )
    }

    /// True when a segment is the field `name`.
    pub fn has_field(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|s| matches!(s, Seg::Field(f) if f == name))
    }
}

/// One step of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum PatSeg {
    Field(String),
    Key(Vec<(String, String)>),
    Index(usize),
    Any,
}

/// An ignore pattern: matches a path and everything below it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    text: String,
    segs: Vec<PatSeg>,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Pattern {
    /// Parses `a.b["c/d"][name=x][0][*]` or a JSON pointer `/a/b/0`.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty path".into());
        }
        let segs = if let Some(ptr) = t.strip_prefix('/') {
            ptr.split('/')
                .map(|s| {
                    let s = s.replace("~1", "/").replace("~0", "~");
                    match s.as_str() {
                        "*" | "-" => PatSeg::Any,
                        _ => PatSeg::Field(s),
                    }
                })
                .collect()
        } else {
            parse_dotted(t)?
        };
        Ok(Pattern {
            text: t.to_string(),
            segs,
        })
    }

    /// True when `path` is this pattern's path or below it.
    pub fn matches(&self, path: &Path) -> bool {
        self.segs.len() <= path.0.len()
            && self.segs.iter().zip(&path.0).all(|(p, s)| match (p, s) {
                (PatSeg::Any, _) => true,
                (PatSeg::Field(a), Seg::Field(b)) => a == "*" || a == b,
                // A JSON pointer's numeric step or a name reaches list items too.
                (PatSeg::Field(a), Seg::Index(n)) => a.parse::<usize>().ok() == Some(*n),
                (PatSeg::Field(a), Seg::Key(keys)) => {
                    keys.iter().any(|(k, v)| k == "name" && scalar(v) == *a)
                }
                (PatSeg::Key(want), Seg::Key(have)) => want
                    .iter()
                    .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && scalar(hv) == *v)),
                (PatSeg::Index(a), Seg::Index(b)) => a == b,
                (PatSeg::Key(want), Seg::Member(v)) => {
                    want.len() == 1 && want[0].0.is_empty() && scalar(v) == want[0].1
                }
                _ => false,
            })
    }
}

fn parse_dotted(t: &str) -> Result<Vec<PatSeg>, String> {
    let mut segs = Vec::new();
    let mut rest = t;
    let mut after_dot = false;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if after_dot || r.is_empty() {
                return Err(format!(
                    "empty field name in '{t}'; write fields separated by single dots, e.g. spec.replicas"
                ));
            }
            after_dot = true;
            rest = r;
            continue;
        }
        after_dot = false;
        if let Some(r) = rest.strip_prefix('[') {
            let close = if let Some(q) = r.strip_prefix('"') {
                // A quoted key may contain ']' and '.'.
                let end = q
                    .find('"')
                    .ok_or_else(|| format!("unterminated quote in '{t}'"))?;
                r[1 + end..]
                    .find(']')
                    .map(|i| 1 + end + i)
                    .ok_or_else(|| format!("missing ']' in '{t}'"))?
            } else {
                r.find(']').ok_or_else(|| format!("missing ']' in '{t}'"))?
            };
            let inner = r[..close].trim();
            rest = &r[close + 1..];
            segs.push(if inner == "*" {
                PatSeg::Any
            } else if let Some(q) = inner.strip_prefix('"') {
                PatSeg::Field(q.trim_end_matches('"').to_string())
            } else if let Some(q) = inner.strip_prefix('\'') {
                PatSeg::Field(q.trim_end_matches('\'').to_string())
            } else if let Ok(n) = inner.parse::<usize>() {
                PatSeg::Index(n)
            } else if inner.contains('=') {
                let mut keys = Vec::new();
                for part in inner.split(',') {
                    let (k, v) = part
                        .split_once('=')
                        .ok_or_else(|| format!("expected key=value in '[{inner}]' of '{t}'"))?;
                    keys.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
                }
                PatSeg::Key(keys)
            } else {
                return Err(format!(
                    "'[{inner}]' in '{t}' is not an index, \"key\", name=value or *"
                ));
            });
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        segs.push(if name == "*" {
            PatSeg::Any
        } else {
            PatSeg::Field(name.to_string())
        });
        rest = &rest[end..];
    }
    Ok(segs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(segs: Vec<Seg>) -> Path {
        Path(segs)
    }

    #[test]
    fn paths_print_like_kubectl_users_write_them() {
        let p = path(vec![
            Seg::Field("spec".into()),
            Seg::Field("containers".into()),
            Seg::Key(vec![("name".into(), json!("app"))]),
            Seg::Field("image".into()),
        ]);
        assert_eq!(p.to_string(), "spec.containers[name=app].image");
        let a = path(vec![
            Seg::Field("metadata".into()),
            Seg::Field("annotations".into()),
            Seg::Field("kubectl.kubernetes.io/last-applied-configuration".into()),
        ]);
        assert_eq!(
            a.to_string(),
            r#"metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]"#
        );
    }

    #[test]
    fn patterns_match_the_path_and_below() {
        let a = path(vec![
            Seg::Field("metadata".into()),
            Seg::Field("annotations".into()),
            Seg::Field("kubectl.kubernetes.io/last-applied-configuration".into()),
        ]);
        let seed = Pattern::parse(
            r#"metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]"#,
        )
        .unwrap();
        assert!(seed.matches(&a));
        assert!(Pattern::parse("metadata.annotations").unwrap().matches(&a));
        assert!(!Pattern::parse("metadata.labels").unwrap().matches(&a));
        let img = path(vec![
            Seg::Field("spec".into()),
            Seg::Field("containers".into()),
            Seg::Key(vec![("name".into(), json!("app"))]),
            Seg::Field("image".into()),
        ]);
        assert!(
            Pattern::parse("spec.containers[name=app].image")
                .unwrap()
                .matches(&img)
        );
        assert!(
            Pattern::parse("spec.containers[*].image")
                .unwrap()
                .matches(&img)
        );
        assert!(
            Pattern::parse("/spec/containers/app/image")
                .unwrap()
                .matches(&img)
        );
        assert!(
            !Pattern::parse("spec.containers[name=side].image")
                .unwrap()
                .matches(&img)
        );
        assert!(Pattern::parse("spec.x[").is_err());
        assert!(Pattern::parse("").is_err());
    }
}
