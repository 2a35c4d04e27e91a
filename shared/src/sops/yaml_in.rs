//! Reading YAML into the SOPS tree: the event stream of serde-saphyr's
//! parser for structure and scalar styles, plus a line scan for full-line
//! comments (which the event stream does not carry), attached before the
//! entry that follows them. Anchors and merge keys are resolved.

use super::tree::{Elem, Node, Scalar};

pub(super) fn parse_yaml(text: &str) -> Result<Vec<Node>, String> {
    use serde_saphyr::granit_parser::{Event, Parser};

    use serde_saphyr::budget::{EnforcingPolicy, check_yaml_budget};
    // The limits every reader applies, before anything is built.
    let report = check_yaml_budget(text, crate::yaml::budget(), EnforcingPolicy::AllContent)
        .map_err(|e| {
            format!(
                "line {}: {}",
                e.marker().line(),
                crate::error::one_line(&e.info())
            )
        })?;
    if let Some(breach) = &report.breached {
        return Err(crate::yaml::budget_message(breach));
    }
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            format!(
                "line {}: {}",
                e.marker().line(),
                crate::error::one_line(e.info().as_str())
            )
        })?;
        let line = span.start.line();
        let owned = match event {
            Event::Scalar(v, style, anchor, tag) => {
                let tag = tag.and_then(|t| t.core_suffix().map(|c| format!("!!{c}")));
                Ev::Scalar {
                    value: v.into_owned(),
                    plain: style == serde_saphyr::granit_parser::ScalarStyle::Plain,
                    anchor,
                    tag,
                }
            }
            Event::Alias(id) => Ev::Alias(id),
            Event::MappingStart(_, anchor, _) => Ev::MapStart(anchor),
            Event::SequenceStart(_, anchor, _) => Ev::SeqStart(anchor),
            Event::MappingEnd => Ev::End,
            Event::SequenceEnd => Ev::End,
            Event::DocumentStart(..) => Ev::DocStart,
            Event::DocumentEnd => Ev::DocEnd,
            _ => continue,
        };
        events.push((owned, line));
    }
    let comments = comment_lines(text);
    let mut p = TreeParser {
        events,
        pos: 0,
        comments,
        next_comment: 0,
        anchors: std::collections::HashMap::new(),
        built: 0,
    };
    let mut docs = Vec::new();
    while p.pos < p.events.len() {
        match p.events[p.pos].0 {
            Ev::DocStart => {
                p.pos += 1;
                let doc_line = p.events.get(p.pos).map(|e| e.1).unwrap_or(usize::MAX);
                let mut node = if matches!(p.events.get(p.pos), Some((Ev::DocEnd, _))) {
                    Node::Scalar(Scalar::Null)
                } else {
                    p.node()?
                };
                // Comments before the root, and left over at the end, belong to the root map.
                let _ = doc_line;
                let end_line = p.events.get(p.pos).map(|e| e.1).unwrap_or(usize::MAX);
                if let Node::Map(entries) = &mut node {
                    for c in p.take_comments_before(end_line) {
                        entries.push(Elem::Comment(c));
                    }
                }
                docs.push(node);
            }
            _ => p.pos += 1,
        }
    }
    Ok(docs)
}

#[derive(Debug)]
enum Ev {
    Scalar {
        value: String,
        plain: bool,
        anchor: usize,
        tag: Option<String>,
    },
    Alias(usize),
    MapStart(usize),
    SeqStart(usize),
    End,
    DocStart,
    DocEnd,
}

/// Full-line comments: (1-based line, text after `#`). `---` lines end a
/// document, so comments after them belong to the next.
fn comment_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_block: Option<usize> = None; // indent of a block scalar's parent
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(parent) = in_block {
            if trimmed.is_empty() || indent > parent {
                continue;
            }
            in_block = None;
        }
        if let Some(c) = trimmed.strip_prefix('#') {
            out.push((i + 1, c.to_string()));
            continue;
        }
        let t = trimmed.trim_end();
        // A block scalar starts: its lines are content, not comments.
        let head = t.split(" #").next().unwrap_or(t).trim_end();
        if head.ends_with('|')
            || head.ends_with('>')
            || head.ends_with("|-")
            || head.ends_with(">-")
            || head.ends_with("|+")
            || head.ends_with(">+")
        {
            in_block = Some(indent);
        }
    }
    out
}

struct TreeParser {
    events: Vec<(Ev, usize)>,
    pos: usize,
    comments: Vec<(usize, String)>,
    next_comment: usize,
    /// Anchored nodes and how many nodes each holds.
    anchors: std::collections::HashMap<usize, (Node, usize)>,
    /// Nodes built so far, aliases counted expanded (bounded by the budget).
    built: usize,
}

impl TreeParser {
    fn take_comments_before(&mut self, line: usize) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((l, c)) = self.comments.get(self.next_comment) {
            if *l >= line {
                break;
            }
            out.push(c.clone());
            self.next_comment += 1;
        }
        out
    }

    fn node(&mut self) -> Result<Node, String> {
        let Some((ev, _line)) = self.events.get(self.pos) else {
            return Err("unexpected end of document".into());
        };
        self.pos += 1;
        let start = self.built;
        self.built += 1;
        match ev {
            Ev::Scalar {
                value,
                plain,
                anchor,
                tag,
            } => {
                let (value, plain, anchor, tag) = (value.clone(), *plain, *anchor, tag.clone());
                let node = Node::Scalar(resolve(&value, plain, tag.as_deref()));
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                Ok(node)
            }
            Ev::Alias(id) => {
                let (node, size) = self
                    .anchors
                    .get(id)
                    .ok_or_else(|| "alias to an unknown anchor".to_string())?;
                self.built += size;
                if self.built > crate::yaml::budget().max_nodes {
                    return Err(crate::yaml::budget_message(
                        &serde_saphyr::budget::BudgetBreach::Nodes { nodes: self.built },
                    ));
                }
                Ok(node.clone())
            }
            Ev::MapStart(anchor) => {
                let anchor = *anchor;
                let mut entries = Vec::new();
                loop {
                    let Some((ev, line)) = self.events.get(self.pos) else {
                        return Err("unterminated mapping".into());
                    };
                    if matches!(ev, Ev::End) {
                        self.pos += 1;
                        break;
                    }
                    let line = *line;
                    for c in self.take_comments_before(line) {
                        entries.push(Elem::Comment(c));
                    }
                    let key = match self.node()? {
                        Node::Scalar(s) => scalar_text(&s),
                        _ => {
                            return Err(format!(
                                "line {line}: complex mapping keys are not supported"
                            ));
                        }
                    };
                    let value = self.node()?;
                    if key == "<<" {
                        // Merge key: copy the referenced map's entries.
                        if let Node::Map(merged) = value {
                            for e in merged {
                                if let Elem::Value((k, v)) = e
                                    && !entries
                                        .iter()
                                        .any(|x| matches!(x, Elem::Value((xk, _)) if *xk == k))
                                {
                                    entries.push(Elem::Value((k, v)));
                                }
                            }
                        }
                        continue;
                    }
                    entries.push(Elem::Value((key, value)));
                }
                let node = Node::Map(entries);
                if anchor > 0 {
                    self.anchors
                        .insert(anchor, (node.clone(), self.built - start));
                }
                Ok(node)
            }
            Ev::SeqStart(anchor) => {
                let anchor = *anchor;
                let mut items = Vec::new();
                loop {
                    let Some((ev, line)) = self.events.get(self.pos) else {
                        return Err("unterminated sequence".into());
                    };
                    if matches!(ev, Ev::End) {
                        self.pos += 1;
                        break;
                    }
                    let line = *line;
                    for c in self.take_comments_before(line) {
                        items.push(Elem::Comment(c));
                    }
                    items.push(Elem::Value(self.node()?));
                }
                let node = Node::Seq(items);
                if anchor > 0 {
                    self.anchors
                        .insert(anchor, (node.clone(), self.built - start));
                }
                Ok(node)
            }
            Ev::End | Ev::DocStart | Ev::DocEnd => Err("malformed YAML event stream".into()),
        }
    }
}

/// The text of a scalar used as a map key.
fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Null => "null".into(),
        Scalar::Str(s) | Scalar::Time(s) => s.clone(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => format_float(*f),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Resolves a scalar with the YAML 1.2 core schema (plus timestamps, as go-yaml does).
pub(super) fn resolve(v: &str, plain: bool, tag: Option<&str>) -> Scalar {
    match tag {
        Some("!!str") | Some("tag:yaml.org,2002:str") => return Scalar::Str(v.to_string()),
        Some("!!binary") | Some("tag:yaml.org,2002:binary") => {
            use base64::Engine;
            let compact: String = v.split_whitespace().collect();
            if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(compact) {
                return Scalar::Bytes(b);
            }
            return Scalar::Str(v.to_string());
        }
        _ => {}
    }
    if !plain {
        return Scalar::Str(v.to_string());
    }
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = v.parse::<i64>()
    {
        return Scalar::Int(i);
    }
    if let Some(h) = v.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(h, 16)
    {
        return Scalar::Int(i);
    }
    if let Some(o) = v.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(o, 8)
    {
        return Scalar::Int(i);
    }
    if looks_like_float(v)
        && let Ok(f) = v.parse::<f64>()
    {
        return Scalar::Float(f);
    }
    if is_timestamp(v) {
        return Scalar::Time(v.to_string());
    }
    Scalar::Str(v.to_string())
}

fn looks_like_float(v: &str) -> bool {
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().any(|b| b.is_ascii_digit())
}

/// `2006-01-02T15:04:05Z` style timestamps (RFC 3339, what sops writes for `time`).
fn is_timestamp(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':'
        && (v.ends_with('Z') || v[19..].contains(['+', '-']))
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip, no exponent.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    format!("{f}")
}
