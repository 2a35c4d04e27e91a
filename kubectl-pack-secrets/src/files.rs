//! Reading and writing the files the commands work on: format by extension,
//! atomic replacement that keeps the file's mode, private (0600) plaintext
//! output, and sops's `["a"]["b"]` key paths.

use std::path::Path;

use anyhow::{Context, Result, bail};
use shared::sops::tree::{Elem, Format, Node};

/// A file's text and format.
pub struct Loaded {
    /// Display name.
    pub name: String,
    /// Contents.
    pub text: String,
    /// YAML or JSON.
    pub format: Format,
}

/// Reads a file whose format follows its extension.
pub fn load(path: &Path) -> Result<Loaded> {
    let text = match path.to_str() {
        Some(p) => shared::yaml::read_input(p)?,
        None => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    };
    Ok(Loaded {
        name: path.display().to_string(),
        text,
        format: Format::from_path(path),
    })
}

/// Replaces `path` atomically (`shared::files::write_atomic`), keeping its
/// permissions; new files get `mode`.
pub fn write_atomic(path: &Path, contents: &str, mode: u32) -> Result<()> {
    shared::files::write_atomic(path, contents.as_bytes(), mode)
}

/// Parses sops's key path syntax: `["a"]["b"][0]` (also `a.b` as a shorthand).
pub fn parse_path(expr: &str) -> Result<Vec<PathPart>> {
    let expr = expr.trim();
    if !expr.starts_with('[') {
        if expr.is_empty() {
            bail!("empty key path; use the form '[\"key\"][\"sub\"]'");
        }
        return Ok(expr
            .split('.')
            .map(|k| PathPart::Key(k.to_string()))
            .collect());
    }
    let mut parts = Vec::new();
    let mut rest = expr;
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            bail!("invalid key path {expr}: expected '[' at '{rest}'");
        };
        if let Some(after) = inner.strip_prefix('"') {
            let end = after
                .find("\"]")
                .with_context(|| format!("invalid key path {expr}: unterminated string"))?;
            parts.push(PathPart::Key(after[..end].to_string()));
            rest = &after[end + 2..];
        } else {
            let end = inner
                .find(']')
                .with_context(|| format!("invalid key path {expr}: missing ']'"))?;
            let idx: usize = inner[..end].trim().parse().with_context(|| {
                format!(
                    "invalid key path {expr}: '{}' is not a list index",
                    &inner[..end]
                )
            })?;
            parts.push(PathPart::Index(idx));
            rest = &inner[end + 1..];
        }
    }
    Ok(parts)
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

fn step<'a>(node: &'a Node, part: &PathPart) -> Option<&'a Node> {
    match (node, part) {
        (Node::Map(_), PathPart::Key(k)) => node.get(k),
        (Node::Seq(items), PathPart::Index(i)) => items
            .iter()
            .filter_map(|e| match e {
                Elem::Value(v) => Some(v),
                Elem::Comment(_) => None,
            })
            .nth(*i),
        _ => None,
    }
}

/// The node at a path.
pub fn get<'a>(node: &'a Node, path: &[PathPart]) -> Option<&'a Node> {
    path.iter().try_fold(node, step)
}

fn step_mut<'a>(node: &'a mut Node, part: &PathPart, create: bool) -> Option<&'a mut Node> {
    match part {
        PathPart::Key(k) => {
            if create && node.get(k).is_none() {
                if !matches!(node, Node::Map(_)) {
                    return None;
                }
                node.insert(k, Node::map());
            }
            match node {
                Node::Map(entries) => entries.iter_mut().find_map(|e| match e {
                    Elem::Value((key, v)) if key == k => Some(v),
                    _ => None,
                }),
                _ => None,
            }
        }
        PathPart::Index(i) => match node {
            Node::Seq(items) => items
                .iter_mut()
                .filter_map(|e| match e {
                    Elem::Value(v) => Some(v),
                    Elem::Comment(_) => None,
                })
                .nth(*i),
            _ => None,
        },
    }
}

/// Sets the value at a path, creating maps on the way.
pub fn set(root: &mut Node, path: &[PathPart], value: Node) -> Result<()> {
    let Some((last, parents)) = path.split_last() else {
        bail!("empty key path");
    };
    let mut node = root;
    for (i, p) in parents.iter().enumerate() {
        node = step_mut(node, p, true)
            .with_context(|| format!("key path: element {} is not a map or list", i + 1))?;
    }
    match last {
        PathPart::Key(k) => {
            if !matches!(node, Node::Map(_)) {
                bail!("key path: the parent of \"{k}\" is not a map");
            }
            node.insert(k, value);
        }
        PathPart::Index(_) => {
            let slot = step_mut(node, last, false).context("key path: list index out of range")?;
            *slot = value;
        }
    }
    Ok(())
}

/// Removes the value at a path; false when it was not there.
pub fn unset(root: &mut Node, path: &[PathPart]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = root;
    for p in parents {
        match step_mut(node, p, false) {
            Some(n) => node = n,
            None => return false,
        }
    }
    match (last, node) {
        (PathPart::Key(k), n @ Node::Map(_)) => n.remove(k).is_some(),
        (PathPart::Index(i), Node::Seq(items)) => {
            let pos = items
                .iter()
                .enumerate()
                .filter(|(_, e)| matches!(e, Elem::Value(_)))
                .nth(*i)
                .map(|(p, _)| p);
            match pos {
                Some(p) => {
                    items.remove(p);
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

/// The format of a path as printed in messages.
pub fn format_name(f: Format) -> &'static str {
    match f {
        Format::Yaml => "YAML",
        Format::Json => "JSON",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sops_key_paths() {
        assert_eq!(
            parse_path(r#"["a"]["b c"][2]"#).unwrap(),
            vec![
                PathPart::Key("a".into()),
                PathPart::Key("b c".into()),
                PathPart::Index(2)
            ]
        );
        assert_eq!(parse_path("a.b").unwrap().len(), 2);
        assert!(parse_path(r#"["a"#).is_err());
    }

    #[test]
    fn set_creates_maps_and_unset_removes() {
        let mut n = Node::map();
        set(
            &mut n,
            &parse_path(r#"["db"]["password"]"#).unwrap(),
            Node::str("x"),
        )
        .unwrap();
        assert_eq!(n.get("db").unwrap().get("password"), Some(&Node::str("x")));
        assert!(unset(&mut n, &parse_path(r#"["db"]["password"]"#).unwrap()));
        assert!(!unset(
            &mut n,
            &parse_path(r#"["db"]["password"]"#).unwrap()
        ));
    }
}
