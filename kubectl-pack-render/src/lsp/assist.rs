//! Completion, hover and go-to-definition in a template: what the text
//! around the cursor names (a `values.` path, a filter after `|`, a
//! function, a macro, an imported file) and what the pack knows of it.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::analysis::View;
use super::docs::{self, Doc};
use crate::values;

/// LSP completion item kinds used here.
const KIND_FUNCTION: u8 = 3;
const KIND_FIELD: u8 = 5;
const KIND_VARIABLE: u8 = 6;

/// Completion items for the cursor after `before` (the line's text up to it).
pub fn complete(view: &View, before: &str) -> Vec<Value> {
    if let Some((root, path, partial)) = dotted_at_end(before) {
        return members(view, &root, &path)
            .into_iter()
            .filter(|(k, ..)| k.starts_with(&partial))
            .map(|(label, detail, doc)| json!({"label": label, "kind": KIND_FIELD, "detail": detail, "documentation": doc}))
            .collect();
    }
    if !inside_expression(before) {
        return Vec::new();
    }
    let word = before
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    let head = before[..before.len() - word.len()].trim_end();
    let table: Vec<(&Doc, u8)> = if head.ends_with('|') {
        docs::FILTERS.iter().map(|d| (d, KIND_FUNCTION)).collect()
    } else {
        docs::GLOBALS
            .iter()
            .map(|d| (d, KIND_VARIABLE))
            .chain(docs::FUNCTIONS.iter().map(|d| (d, KIND_FUNCTION)))
            .collect()
    };
    table
        .into_iter()
        .filter(|(d, _)| d.name.starts_with(word))
        .map(|(d, kind)| json!({"label": d.name, "kind": kind, "detail": d.signature, "documentation": d.doc}))
        .collect()
}

/// `values.a.b.pa` at the end of `before`: ("values", ["a","b"], "pa").
fn dotted_at_end(before: &str) -> Option<(String, Vec<String>, String)> {
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || "_.-".contains(c)))
        .map_or(0, |i| i + 1);
    let token = &before[start..];
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    if parts.len() < 2 {
        return None;
    }
    let partial = parts.pop().unwrap_or_default();
    let root = parts.remove(0);
    matches!(
        root.as_str(),
        "values" | "release" | "pack" | "capabilities"
    )
    .then_some((root, parts, partial))
}

/// True when the cursor is inside `{{ }}` or `{% %}` on this line.
fn inside_expression(before: &str) -> bool {
    let open = before.rfind("{{").max(before.rfind("{%"));
    let close = before.rfind("}}").max(before.rfind("%}"));
    match (open, close) {
        (Some(o), Some(c)) => o > c,
        (Some(_), None) => true,
        _ => false,
    }
}

/// (key, type, documentation) of the object at `root.path`: for values the
/// merged keys and the schema's properties, with descriptions.
fn members(view: &View, root: &str, path: &[String]) -> Vec<(String, String, String)> {
    let data = view.data();
    let mut out: Vec<(String, String, String)> = Vec::new();
    let here = data.get(root).and_then(|v| values::get_path(v, path));
    if let Some(Value::Object(m)) = here {
        for (k, v) in m {
            out.push((
                k.clone(),
                shared::yaml::type_name(v).into(),
                format!("= {}", short(v)),
            ));
        }
    }
    if root == "values"
        && let Some((file, raw)) = &view.pack.schema
    {
        let schema = crate::schema::Schema::new(file, raw);
        if let Some(props) = schema
            .property(path)
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        {
            for (k, s) in props {
                let description = s.get("description").and_then(Value::as_str).unwrap_or("");
                let ty = s
                    .get("type")
                    .map(|t| t.to_string().trim_matches('"').to_string())
                    .unwrap_or_default();
                match out.iter_mut().find(|(key, ..)| key == k) {
                    Some(entry) => {
                        if !ty.is_empty() {
                            entry.1 = ty;
                        }
                        if !description.is_empty() {
                            entry.2 = format!("{description}\n\n{}", entry.2);
                        }
                    }
                    None => out.push((k.clone(), ty, description.to_string())),
                }
            }
        }
    }
    out
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// The dotted word under byte column `col` of `line`, and what precedes it.
fn word_at(line: &str, col: usize) -> Option<(&str, &str)> {
    let col = col.min(line.len());
    let is_word = |c: char| c.is_alphanumeric() || "_.-".contains(c);
    let start = line[..col]
        .rfind(|c: char| !is_word(c))
        .map_or(0, |i| i + 1);
    let end = line[col..]
        .find(|c: char| !is_word(c))
        .map_or(line.len(), |i| col + i);
    (start < end).then(|| (&line[start..end], &line[..start]))
}

/// Markdown for the thing under the cursor.
pub fn hover(view: &View, line: &str, col: usize) -> Option<String> {
    let (word, before) = word_at(line, col)?;
    let word = word.trim_end_matches('.');
    if let Some(path) = word.strip_prefix("values.") {
        let explain = values::explain(path, &view.layers, &view.values);
        let mut out = format!("```\n{}```", explain);
        if let Some((file, raw)) = &view.pack.schema {
            let schema = crate::schema::Schema::new(file, raw);
            if let Some(d) = schema
                .property(&values::split_path(path))
                .and_then(|s| s.get("description"))
                .and_then(Value::as_str)
            {
                out = format!("{d}\n\n{out}");
            }
        }
        return Some(out);
    }
    if let Some((root, rest)) = word.split_once('.')
        && matches!(root, "release" | "pack" | "capabilities")
    {
        let data = view.data();
        let v = values::get_path(data.get(root)?, &values::split_path(rest))?;
        return Some(format!("`{word}` = `{}`", short(v)));
    }
    let filter = before.trim_end().ends_with('|');
    let doc = docs::find(word, filter).or_else(|| docs::GLOBALS.iter().find(|d| d.name == word))?;
    Some(format!("`{}`\n\n{}", doc.signature, doc.doc))
}

/// A place in a file: path, 0-based line, byte column range.
pub struct Place {
    /// The file.
    pub path: PathBuf,
    /// 0-based line.
    pub line: usize,
    /// Start column (bytes).
    pub start: usize,
    /// End column (bytes).
    pub end: usize,
}

/// Where the thing under the cursor is defined.
pub fn definition(view: &View, line: &str, col: usize) -> Option<Place> {
    if let Some(target) = quoted_template_at(line, col) {
        let path = view.pack.dir.join("templates").join(target);
        return path.is_file().then_some(Place {
            path,
            line: 0,
            start: 0,
            end: 0,
        });
    }
    let (word, _) = word_at(line, col)?;
    if let Some(path) = word.trim_end_matches('.').strip_prefix("values.") {
        let segs = values::split_path(path);
        // The layer whose value wins, from a file.
        let layer = view
            .layers
            .iter()
            .rev()
            .find(|l| l.text.is_some() && values::get_path(&l.value, &segs).is_some())?;
        let text = layer.text.as_deref()?;
        let line = values::key_line(text, &segs)? - 1;
        let line_text = text.lines().nth(line).unwrap_or("");
        let start = line_text.len() - line_text.trim_start().len();
        return Some(Place {
            path: view.pack.dir.join(&layer.label),
            line,
            start,
            end: line_text.len(),
        });
    }
    let name = word.rsplit('.').next()?;
    macro_definition(view, name)
}

/// `{% macro NAME(` in any template of the pack.
fn macro_definition(view: &View, name: &str) -> Option<Place> {
    for t in &view.pack.templates {
        let Ok(source) = t.source.text() else {
            continue;
        };
        for (i, l) in source.lines().enumerate() {
            let Some(at) = l.find("macro ") else { continue };
            let rest = l[at + 6..].trim_start();
            if rest
                .strip_prefix(name)
                .is_some_and(|r| r.trim_start().starts_with('('))
            {
                let start = l.len() - l[at + 6..].trim_start().len();
                return Some(Place {
                    path: view.pack.dir.join("templates").join(&t.name),
                    line: i,
                    start,
                    end: start + name.len(),
                });
            }
        }
    }
    None
}

/// The template named by the quoted string under the cursor on an
/// import/include/from/extends line.
fn quoted_template_at(line: &str, col: usize) -> Option<&str> {
    let tag = ["import", "include", "from", "extends"];
    if !line.contains("{%") || !tag.iter().any(|t| line.contains(t)) {
        return None;
    }
    for q in ['"', '\''] {
        let mut from = 0;
        while let Some(open) = line[from..].find(q).map(|i| from + i) {
            let close = line[open + 1..].find(q).map(|i| open + 1 + i)?;
            if (open..=close).contains(&col) {
                return Some(&line[open + 1..close]);
            }
            from = close + 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_context_is_read_from_the_line() {
        assert_eq!(
            dotted_at_end("  image: {{ values.image.ta"),
            Some(("values".into(), vec!["image".into()], "ta".into()))
        );
        assert_eq!(
            dotted_at_end("{{ values."),
            Some(("values".into(), vec![], "".into()))
        );
        assert_eq!(dotted_at_end("{{ other.x"), None);
        assert!(inside_expression("a: {{ x | "));
        assert!(!inside_expression("a: {{ x }} b"));
        assert_eq!(
            word_at("x: {{ values.image.tag }}", 15),
            Some(("values.image.tag", "x: {{ "))
        );
        assert_eq!(
            quoted_template_at("{% from \"_helpers.j2\" import labels %}", 12),
            Some("_helpers.j2")
        );
    }
}
