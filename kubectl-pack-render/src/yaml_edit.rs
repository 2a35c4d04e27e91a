//! Surgical edits of a YAML values file: set one key path to a value while
//! every other byte — comments (full-line and trailing), key order, quoting,
//! blank lines — stays as written.
//!
//! The file is read with serde-saphyr's event parser, whose spans locate
//! each node; an edit replaces one node's text (a scalar or flow collection
//! in place, a block collection by a block of the same indentation) or
//! inserts a new entry after the last line of the deepest existing mapping.
//! Every edit is checked by reading the result back: the whole document
//! must equal the original with exactly that path set, or nothing is
//! written.

use serde_json::Value;

/// A node of the file with its byte range.
#[derive(Debug)]
enum Node {
    Scalar {
        start: usize,
        end: usize,
    },
    Map {
        flow: bool,
        start: usize,
        end: usize,
        /// Key, key start, key end, key column, value.
        entries: Vec<Entry>,
    },
    Seq {
        flow: bool,
        start: usize,
        end: usize,
        /// Column of the first item's `-` (block lists).
        item_col: Option<usize>,
    },
}

#[derive(Debug)]
struct Entry {
    key: String,
    key_end: usize,
    key_col: usize,
    value: Node,
}

impl Node {
    fn range(&self) -> (usize, usize) {
        match self {
            Node::Scalar { start, end }
            | Node::Map { start, end, .. }
            | Node::Seq { start, end, .. } => (*start, *end),
        }
    }
}

/// Sets `path` of the first document of `text` to `value`.
pub fn set(text: &str, path: &[String], value: &Value) -> Result<String, String> {
    if path.is_empty() {
        return Err("an empty value path".into());
    }
    let root = parse(text)?;
    let edited = match &root {
        None => append_root(text, path, value),
        Some(node) => edit(text, node, path, value, 0)?,
    };
    verify(text, &edited, path, value)?;
    Ok(edited)
}

fn edit(
    text: &str,
    node: &Node,
    path: &[String],
    value: &Value,
    depth: usize,
) -> Result<String, String> {
    let Node::Map {
        flow, end, entries, ..
    } = node
    else {
        return Err(format!(
            "{} is not a mapping in the file; edit it by hand",
            if depth == 0 {
                "the document".to_string()
            } else {
                path[..depth].join(".")
            }
        ));
    };
    let key = &path[depth];
    let Some(entry) = entries.iter().find(|e| &e.key == key) else {
        let nested = nest(&path[depth + 1..], value);
        return Ok(if *flow {
            let at = end - 1; // the closing brace
            let sep = if entries.is_empty() { "" } else { ", " };
            splice(
                text,
                at,
                at,
                &format!("{sep}{}: {}", render_key(key), flow_value(&nested)),
            )
        } else {
            let col = entries.first().map_or(0, |e| e.key_col);
            let at = line_end(text, *end);
            splice(
                text,
                at,
                at,
                &format!("\n{}", block_entry(key, &nested, col)),
            )
        });
    };
    if depth + 1 < path.len() {
        return edit(text, &entry.value, path, value, depth + 1);
    }
    Ok(match &entry.value {
        Node::Map {
            flow: false,
            entries: children,
            end,
            ..
        } if !value_is_scalar(value) => {
            let col = children.first().map_or(entry.key_col + 2, |e| e.key_col);
            splice(
                text,
                entry.key_end,
                *end,
                &format!(":\n{}", block_body(value, col)),
            )
        }
        Node::Seq {
            flow: false,
            item_col,
            end,
            ..
        } if !value_is_scalar(value) => {
            let col = item_col.unwrap_or(entry.key_col);
            splice(
                text,
                entry.key_end,
                *end,
                &format!(":\n{}", block_body(value, col)),
            )
        }
        Node::Map {
            flow: false, end, ..
        }
        | Node::Seq {
            flow: false, end, ..
        } => splice(
            text,
            entry.key_end,
            *end,
            &format!(": {}", flow_value(value)),
        ),
        other => {
            let (start, end) = other.range();
            if start == end {
                // `key:` with nothing after it.
                splice(text, start, end, &format!(" {}", flow_value(value)))
            } else {
                splice(text, start, end, &flow_value(value))
            }
        }
    })
}

/// A file with no mapping yet (empty or only comments): append the entry.
fn append_root(text: &str, path: &[String], value: &Value) -> String {
    let nested = nest(&path[1..], value);
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&block_entry(&path[0], &nested, 0));
    out.push('\n');
    out
}

fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    format!("{}{with}{}", &text[..start], &text[end..])
}

/// The byte offset of the end of the line holding `at - 1` (the last byte
/// of a node), before its newline.
fn line_end(text: &str, at: usize) -> usize {
    let from = at.saturating_sub(1).min(text.len());
    text[from..].find('\n').map_or(text.len(), |i| from + i)
}

fn nest(rest: &[String], value: &Value) -> Value {
    rest.iter().rev().fold(value.clone(), |v, k| {
        let mut m = serde_json::Map::new();
        m.insert(k.clone(), v);
        Value::Object(m)
    })
}

fn value_is_scalar(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => true,
    }
}

/// `key: value` (scalars) or `key:` and an indented block, at column `col`.
fn block_entry(key: &str, value: &Value, col: usize) -> String {
    let pad = " ".repeat(col);
    if value_is_scalar(value) {
        format!("{pad}{}: {}", render_key(key), flow_value(value))
    } else {
        format!("{pad}{}:\n{}", render_key(key), block_body(value, col + 2))
    }
}

/// A mapping's entries or a list's items as block lines at column `col`
/// (no trailing newline).
fn block_body(value: &Value, col: usize) -> String {
    let pad = " ".repeat(col);
    match value {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| block_entry(k, v, col))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Array(items) => items
            .iter()
            .map(|v| format!("{pad}- {}", flow_value(v)))
            .collect::<Vec<_>>()
            .join("\n"),
        other => format!("{pad}{}", flow_value(other)),
    }
}

fn render_key(key: &str) -> String {
    render_str(key)
}

/// A value in YAML flow style (JSON's quoting where plain text would read
/// back as something else).
fn flow_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => render_str(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(flow_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", render_key(k), flow_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A string as a plain scalar when that reads back as the same string in
/// block and flow context, else double-quoted.
fn render_str(s: &str) -> String {
    let plain_safe = !s.is_empty()
        && s.trim() == s
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c))
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.contains(|c: char| c.is_control() || ",[]{}".contains(c))
        && shared::yaml::parse_document::<Value>(&format!("k: {s}\n"), 1)
            .ok()
            .and_then(|v| v.get("k").cloned())
            == Some(Value::String(s.to_string()));
    if plain_safe {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// The edited file must read back as the original with only `path` set.
fn verify(before: &str, after: &str, path: &[String], value: &Value) -> Result<(), String> {
    let read = |t: &str| -> Result<Value, String> {
        if t.trim().is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        shared::yaml::parse_document::<Value>(t, 1)
            .map(|v| {
                if v.is_null() {
                    Value::Object(Default::default())
                } else {
                    v
                }
            })
            .map_err(|e| e.message)
    };
    let mut expected = read(before)?;
    let mut at = &mut expected;
    for (i, k) in path.iter().enumerate() {
        let Some(m) = at.as_object_mut() else {
            return Err(format!(
                "{} is not a mapping in the file",
                path[..i].join(".")
            ));
        };
        at = m
            .entry(k.clone())
            .or_insert(Value::Object(Default::default()));
    }
    *at = value.clone();
    let got =
        read(after).map_err(|e| format!("the edit would not read back ({e}); nothing written"))?;
    if got != expected {
        return Err("the edit would change more than the promoted value; nothing written".into());
    }
    Ok(())
}

/// Reads the first document's node tree (None: no document or a null one).
fn parse(text: &str) -> Result<Option<Node>, String> {
    use serde_saphyr::granit_parser::{Event, Parser};
    let byte_of = char_to_byte(text);
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) =
            item.map_err(|e| format!("line {}: {}", e.marker().line(), e.info()))?;
        let (s, e) = (byte_of(span.start.index()), byte_of(span.end.index()));
        let ev = match event {
            Event::Scalar(v, ..) => Ev::Scalar(v.into_owned()),
            Event::Alias(_) => Ev::Scalar(String::new()),
            Event::MappingStart(..) => Ev::MapStart,
            Event::MappingEnd => Ev::End,
            Event::SequenceStart(..) => Ev::SeqStart,
            Event::SequenceEnd => Ev::End,
            Event::DocumentEnd => break,
            _ => continue,
        };
        events.push((ev, s, e, span.start.col()));
    }
    if events.is_empty() {
        return Ok(None);
    }
    let mut pos = 0;
    let node = read_node(text, &events, &mut pos)?;
    if matches!(&node, Node::Scalar { start, end } if text[*start..*end].trim().is_empty() || matches!(text[*start..*end].trim(), "~" | "null"))
    {
        return Ok(None);
    }
    Ok(Some(node))
}

enum Ev {
    Scalar(String),
    MapStart,
    SeqStart,
    End,
}

fn char_to_byte(text: &str) -> impl Fn(usize) -> usize + '_ {
    let offsets: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    move |c| offsets.get(c).copied().unwrap_or(text.len())
}

/// True (and the end consumed) when the collection's end event is next; a
/// flow collection ends at its closing bracket, a block one at its last node.
fn closes(
    events: &[(Ev, usize, usize, usize)],
    pos: &mut usize,
    flow: bool,
    last_end: &mut usize,
) -> bool {
    let Some((Ev::End, _, e, _)) = events.get(*pos) else {
        return false;
    };
    *pos += 1;
    if flow {
        *last_end = *e;
    }
    true
}

fn read_node(
    text: &str,
    events: &[(Ev, usize, usize, usize)],
    pos: &mut usize,
) -> Result<Node, String> {
    let Some((ev, start, end, col)) = events.get(*pos) else {
        return Err("unexpected end of the document".into());
    };
    *pos += 1;
    match ev {
        Ev::Scalar(_) => Ok(Node::Scalar {
            start: *start,
            end: *end,
        }),
        Ev::End => Err("unexpected end of a collection".into()),
        Ev::MapStart => {
            let flow = text[*start..].starts_with('{');
            let mut entries = Vec::new();
            let mut last_end = *end;
            while !closes(events, pos, flow, &mut last_end) {
                match events.get(*pos) {
                    Some((Ev::Scalar(k), _, key_end, key_col)) => {
                        let (key, key_end, key_col) = (k.clone(), *key_end, *key_col);
                        *pos += 1;
                        let value = read_node(text, events, pos)?;
                        if !flow {
                            last_end = last_end.max(value.range().1).max(key_end);
                        }
                        entries.push(Entry {
                            key,
                            key_end,
                            key_col,
                            value,
                        });
                    }
                    Some(_) => {
                        // A complex key: skip it and its value.
                        read_node(text, events, pos)?;
                        let value = read_node(text, events, pos)?;
                        last_end = last_end.max(value.range().1);
                    }
                    None => return Err("unterminated mapping".into()),
                }
            }
            Ok(Node::Map {
                flow,
                start: *start,
                end: last_end,
                entries,
            })
        }
        Ev::SeqStart => {
            let flow = text[*start..].starts_with('[');
            let item_col = (!flow).then_some(*col);
            let mut last_end = *end;
            while !closes(events, pos, flow, &mut last_end) {
                match events.get(*pos) {
                    Some(_) => {
                        let item = read_node(text, events, pos)?;
                        if !flow {
                            last_end = last_end.max(item.range().1);
                        }
                    }
                    None => return Err("unterminated list".into()),
                }
            }
            Ok(Node::Seq {
                flow,
                start: *start,
                end: last_end,
                item_col,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn a_scalar_is_replaced_in_place_keeping_trailing_and_full_line_comments() {
        let text = "# production\nimage:\n  # pinned by release\n  tag: \"1.2.0\" # the tag\n  repo: web\nreplicas: 4\n";
        let out = set(text, &p("image.tag"), &json!("1.3.0")).unwrap();
        assert_eq!(
            out,
            "# production\nimage:\n  # pinned by release\n  tag: 1.3.0 # the tag\n  repo: web\nreplicas: 4\n"
        );
    }

    #[test]
    fn a_missing_key_is_added_at_the_end_of_its_mapping_with_its_indentation() {
        let text = "config:\n    logLevel: warn   # quiet\nreplicas: 4\n";
        let out = set(text, &p("config.featureFlags.newCheckout"), &json!(true)).unwrap();
        assert_eq!(
            out,
            "config:\n    logLevel: warn   # quiet\n    featureFlags:\n      newCheckout: true\nreplicas: 4\n"
        );
        let out = set("a: 1", &p("b"), &json!("x y")).unwrap();
        assert_eq!(out, "a: 1\nb: x y");
        let out = set("# nothing yet\n", &p("a.b"), &json!(1)).unwrap();
        assert_eq!(out, "# nothing yet\na:\n  b: 1\n");
    }

    #[test]
    fn flow_collections_and_strings_that_need_quotes_round_trip() {
        let text = "resources:\n  requests: {cpu: 250m, memory: 256Mi}\n";
        let out = set(text, &p("resources.requests.cpu"), &json!("500m")).unwrap();
        assert_eq!(out, "resources:\n  requests: {cpu: 500m, memory: 256Mi}\n");
        let out = set(text, &p("resources.requests.gpu"), &json!("1")).unwrap();
        assert_eq!(
            out,
            "resources:\n  requests: {cpu: 250m, memory: 256Mi, gpu: \"1\"}\n"
        );
        let out = set("a: x\n", &p("a"), &json!("true")).unwrap();
        assert_eq!(out, "a: \"true\"\n");
    }

    #[test]
    fn a_block_collection_is_replaced_by_a_block_at_its_indentation() {
        let text = "hosts:\n  - a\n  - b\nport: 1\n";
        let out = set(text, &p("hosts"), &json!(["c"])).unwrap();
        assert_eq!(out, "hosts:\n  - c\nport: 1\n");
        let out = set(text, &p("hosts"), &json!([])).unwrap();
        assert_eq!(out, "hosts: []\nport: 1\n");
    }

    #[test]
    fn a_path_through_a_non_mapping_is_refused() {
        let err = set("a: [1]\n", &p("a.b"), &json!(1)).unwrap_err();
        assert!(err.contains("a is not a mapping"), "{err}");
    }
}
