//! The document tree SOPS encrypts: ordered maps, lists, typed scalars and
//! comments, read from and written to YAML (with comments) and JSON.
//!
//! SOPS works on this tree rather than on serde values because it must keep
//! key order and comments and must know each scalar's type (`int`, `bool`,
//! ...) to write the `type:` of an encrypted value. YAML scalars resolve with
//! the YAML 1.2 core schema, like sops's go-yaml v3 reader.

use serde_json::Value;

/// A map entry, list item or comment line.
#[derive(Debug, Clone, PartialEq)]
pub enum Elem<T> {
    /// A real entry.
    Value(T),
    /// A full-line comment (text after `#`, leading space kept).
    Comment(String),
}

/// One node of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// An ordered map (keys are strings; other key types are written as text).
    Map(Vec<Elem<(String, Node)>>),
    /// A list.
    Seq(Vec<Elem<Node>>),
    /// A leaf.
    Scalar(Scalar),
}

/// A typed leaf value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// `null`, `~` or nothing.
    Null,
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp, kept as its RFC 3339 text.
    Time(String),
    /// Raw bytes (`!!binary`).
    Bytes(Vec<u8>),
}

/// File formats SOPS knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML, possibly several documents.
    Yaml,
    /// JSON, one document.
    Json,
}

impl Format {
    /// The format a path implies (`.json` is JSON, anything else YAML).
    pub fn from_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

impl Node {
    /// An empty map.
    pub fn map() -> Node {
        Node::Map(Vec::new())
    }

    /// The value under `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find_map(|e| match e {
                Elem::Value((k, v)) if k == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// Removes and returns the value under `key` of a map.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let Node::Map(entries) = self else {
            return None;
        };
        let pos = entries
            .iter()
            .position(|e| matches!(e, Elem::Value((k, _)) if k == key))?;
        match entries.remove(pos) {
            Elem::Value((_, v)) => Some(v),
            Elem::Comment(_) => None,
        }
    }

    /// Sets `key` of a map (replacing in place, or appending).
    pub fn insert(&mut self, key: &str, value: Node) {
        if let Node::Map(entries) = self {
            for e in entries.iter_mut() {
                if let Elem::Value((k, v)) = e
                    && k == key
                {
                    *v = value;
                    return;
                }
            }
            entries.push(Elem::Value((key.to_string(), value)));
        }
    }

    /// A string node.
    pub fn str(s: impl Into<String>) -> Node {
        Node::Scalar(Scalar::Str(s.into()))
    }

    /// The plain JSON value of this node (comments dropped, times as
    /// strings, bytes as UTF-8 text).
    pub fn to_json(&self) -> Value {
        match self {
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .filter_map(|e| match e {
                        Elem::Value((k, v)) => Some((k.clone(), v.to_json())),
                        Elem::Comment(_) => None,
                    })
                    .collect(),
            ),
            Node::Seq(items) => Value::Array(
                items
                    .iter()
                    .filter_map(|e| match e {
                        Elem::Value(v) => Some(v.to_json()),
                        Elem::Comment(_) => None,
                    })
                    .collect(),
            ),
            Node::Scalar(s) => match s {
                Scalar::Null => Value::Null,
                Scalar::Str(s) | Scalar::Time(s) => Value::String(s.clone()),
                Scalar::Int(i) => Value::from(*i),
                Scalar::Float(f) => serde_json::Number::from_f64(*f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
                Scalar::Bool(b) => Value::Bool(*b),
                Scalar::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
            },
        }
    }

    /// The node for a JSON value (key order kept).
    pub fn from_json(v: &Value) -> Node {
        match v {
            Value::Null => Node::Scalar(Scalar::Null),
            Value::Bool(b) => Node::Scalar(Scalar::Bool(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Node::Scalar(Scalar::Int(i)),
                None => Node::Scalar(Scalar::Float(n.as_f64().unwrap_or(0.0))),
            },
            Value::String(s) => Node::str(s.clone()),
            Value::Array(a) => {
                Node::Seq(a.iter().map(|v| Elem::Value(Node::from_json(v))).collect())
            }
            Value::Object(m) => Node::Map(
                m.iter()
                    .map(|(k, v)| Elem::Value((k.clone(), Node::from_json(v))))
                    .collect(),
            ),
        }
    }
}

/// Parses a file's text into documents (JSON: exactly one).
pub fn parse(text: &str, format: Format) -> Result<Vec<Node>, String> {
    match format {
        Format::Json => {
            let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
            Ok(vec![Node::from_json(&v)])
        }
        Format::Yaml => parse_yaml(text),
    }
}

/// Writes documents in the given format (JSON: the first document).
pub fn emit(docs: &[Node], format: Format) -> String {
    match format {
        Format::Json => {
            let mut out = String::new();
            if let Some(d) = docs.first() {
                emit_json(d, 0, &mut out);
            }
            out.push('\n');
            out
        }
        Format::Yaml => {
            let mut out = String::new();
            for (i, d) in docs.iter().enumerate() {
                if i > 0 || docs.len() > 1 {
                    out.push_str("---\n");
                }
                emit_yaml_root(d, &mut out);
            }
            out
        }
    }
}

// ---------------------------------------------------------------- YAML in

fn parse_yaml(text: &str) -> Result<Vec<Node>, String> {
    use serde_saphyr::granit_parser::{Event, Parser};

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
    anchors: std::collections::HashMap<usize, Node>,
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
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Ev::Alias(id) => self
                .anchors
                .get(id)
                .cloned()
                .ok_or_else(|| "alias to an unknown anchor".to_string()),
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
                    self.anchors.insert(anchor, node.clone());
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
                    self.anchors.insert(anchor, node.clone());
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
fn resolve(v: &str, plain: bool, tag: Option<&str>) -> Scalar {
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

// --------------------------------------------------------------- YAML out

const INDENT: usize = 4;

fn emit_yaml_root(node: &Node, out: &mut String) {
    match node {
        Node::Map(entries) if !entries.is_empty() => emit_map(entries, 0, out),
        Node::Seq(items) if !items.is_empty() => emit_seq(items, 0, out),
        other => {
            out.push_str(&inline(other, 0));
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn emit_comment(c: &str, indent: usize, out: &mut String) {
    pad(out, indent);
    out.push('#');
    out.push_str(c);
    out.push('\n');
}

fn emit_map(entries: &[Elem<(String, Node)>], indent: usize, out: &mut String) {
    let mut first = true;
    for e in entries {
        // The first line of a map inside a list item follows the `- `.
        let ind = if first {
            indent_first(out, indent)
        } else {
            indent
        };
        first = false;
        match e {
            Elem::Comment(c) => {
                pad(out, ind);
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Elem::Value((k, v)) => {
                pad(out, ind);
                out.push_str(&quote_if_needed(k));
                out.push(':');
                emit_value(v, indent, out);
            }
        }
    }
}

/// After `- ` the cursor is already indented: write nothing more for the first line.
fn indent_first(out: &str, indent: usize) -> usize {
    if out.ends_with("- ") { 0 } else { indent }
}

fn emit_seq(items: &[Elem<Node>], indent: usize, out: &mut String) {
    for e in items {
        match e {
            Elem::Comment(c) => emit_comment(c, indent, out),
            Elem::Value(v) => {
                pad(out, indent);
                out.push_str("- ");
                match v {
                    Node::Map(m) if !m.is_empty() => emit_map(m, indent + 2, out),
                    Node::Seq(s) if !s.is_empty() => {
                        out.push('\n');
                        emit_seq(s, indent + 2, out);
                    }
                    other => {
                        emit_scalar_after(other, indent + 2, out);
                    }
                }
            }
        }
    }
}

/// Writes the value part after `key:`.
fn emit_value(v: &Node, indent: usize, out: &mut String) {
    match v {
        Node::Map(m) if !m.is_empty() => {
            out.push('\n');
            emit_map(m, indent + INDENT, out);
        }
        Node::Seq(s) if !s.is_empty() => {
            out.push('\n');
            emit_seq(s, indent + INDENT, out);
        }
        other => {
            out.push(' ');
            emit_scalar_after(other, indent + INDENT, out);
        }
    }
}

/// Writes a scalar (or empty collection) where the cursor is, then a newline;
/// multi-line strings become literal blocks indented by `block_indent`.
fn emit_scalar_after(v: &Node, block_indent: usize, out: &mut String) {
    if let Node::Scalar(Scalar::Str(s)) = v
        && s.contains('\n')
        && literal_ok(s)
    {
        let chomp = if s.ends_with("\n\n") {
            "+"
        } else if s.ends_with('\n') {
            ""
        } else {
            "-"
        };
        let indicator = if s.starts_with(' ') { "4" } else { "" };
        out.push('|');
        out.push_str(indicator);
        out.push_str(chomp);
        out.push('\n');
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            if !line.is_empty() {
                pad(out, block_indent);
                out.push_str(line);
            }
            out.push('\n');
        }
        return;
    }
    out.push_str(&inline(v, block_indent));
    out.push('\n');
}

/// Strings that a literal block can carry unchanged.
fn literal_ok(s: &str) -> bool {
    !s.contains(['\r', '\t'])
        && !s.chars().any(|c| c.is_control() && c != '\n')
        && !s.lines().any(|l| l.ends_with(' '))
}

fn inline(v: &Node, _indent: usize) -> String {
    match v {
        Node::Map(_) => "{}".into(),
        Node::Seq(_) => "[]".into(),
        Node::Scalar(s) => match s {
            Scalar::Null => "null".into(),
            Scalar::Str(s) => quote_if_needed(s),
            Scalar::Time(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => {
                if f.is_nan() {
                    ".nan".into()
                } else if f.is_infinite() {
                    if *f > 0.0 {
                        ".inf".into()
                    } else {
                        "-.inf".into()
                    }
                } else {
                    let s = format_float(*f);
                    // Keep it a float when read back.
                    if s.contains('.') { s } else { format!("{s}.0") }
                }
            }
            Scalar::Bool(b) => b.to_string(),
            Scalar::Bytes(b) => {
                use base64::Engine;
                format!(
                    "!!binary {}",
                    base64::engine::general_purpose::STANDARD.encode(b)
                )
            }
        },
    }
}

/// Plain when a YAML 1.1 or 1.2 reader reads it back as this same string;
/// double-quoted (JSON escaping, valid YAML) otherwise.
pub fn quote_if_needed(s: &str) -> String {
    if needs_quotes(s) {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s != s.trim() || s.contains('\n') {
        return true;
    }
    let first = s.as_bytes()[0];
    if b"-?:,[]{}#&*!|>'\"%@`".contains(&first) {
        // `-x` is fine as plain, but `- x`, `-` and `-1` are not.
        if !(first == b'-'
            && s.len() > 1
            && !s.as_bytes()[1].is_ascii_whitespace()
            && !s.as_bytes()[1].is_ascii_digit()
            && s.as_bytes()[1] != b'.')
        {
            return true;
        }
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control())
    {
        return true;
    }
    if !matches!(resolve(s, true, None), Scalar::Str(_)) {
        return true;
    }
    // YAML 1.1 readers (kubectl) take these for booleans, and 0-prefixed digits for octal.
    let lower = s.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "=" | "<<"
    ) || (s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
        || s.contains('_') && s.replace('_', "").parse::<f64>().is_ok()
        || s.parse::<f64>().is_ok()
        || s.len() >= 10 && s.as_bytes()[4] == b'-' && s[..4].bytes().all(|b| b.is_ascii_digit())
}

// --------------------------------------------------------------- JSON out

fn emit_json(node: &Node, depth: usize, out: &mut String) {
    let tabs = |out: &mut String, n: usize| out.extend(std::iter::repeat_n('\t', n));
    match node {
        Node::Map(entries) => {
            let vals: Vec<_> = entries
                .iter()
                .filter_map(|e| match e {
                    Elem::Value(kv) => Some(kv),
                    Elem::Comment(_) => None,
                })
                .collect();
            if vals.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{\n");
            for (i, (k, v)) in vals.iter().enumerate() {
                tabs(out, depth + 1);
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                emit_json(v, depth + 1, out);
                if i + 1 < vals.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            tabs(out, depth);
            out.push('}');
        }
        Node::Seq(items) => {
            let vals: Vec<_> = items
                .iter()
                .filter_map(|e| match e {
                    Elem::Value(v) => Some(v),
                    Elem::Comment(_) => None,
                })
                .collect();
            if vals.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (i, v) in vals.iter().enumerate() {
                tabs(out, depth + 1);
                emit_json(v, depth + 1, out);
                if i + 1 < vals.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            tabs(out, depth);
            out.push(']');
        }
        Node::Scalar(_) => out.push_str(&node.to_json().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_round_trip_keeps_order_types_and_comments() {
        let text = "# head\nz: 1\na:\n    # inner\n    b: \"on\"\n    c: [1, 2]\n    d:\n        - x\n        - k: v\n          l: 2.5\nt: true\nn: null\ns: |\n    line1\n    # not a comment\n";
        let docs = parse(text, Format::Yaml).unwrap();
        assert_eq!(docs.len(), 1);
        let out = emit(&docs, Format::Yaml);
        let again = parse(&out, Format::Yaml).unwrap();
        assert_eq!(docs, again, "{out}");
        assert!(
            out.starts_with("# head\nz: 1\na:\n    # inner\n    b: \"on\"\n"),
            "{out}"
        );
        assert_eq!(docs[0].get("a").unwrap().get("b"), Some(&Node::str("on")));
        assert_eq!(
            docs[0].get("s"),
            Some(&Node::str("line1\n# not a comment\n"))
        );
        assert_eq!(docs[0].get("t"), Some(&Node::Scalar(Scalar::Bool(true))));
    }

    #[test]
    fn multi_document_and_json() {
        let docs = parse("a: 1\n---\nb: 2\n", Format::Yaml).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(emit(&docs, Format::Yaml), "---\na: 1\n---\nb: 2\n");
        let j = parse("{\"b\": 1, \"a\": [true, 1.5, null]}", Format::Json).unwrap();
        assert_eq!(
            emit(&j, Format::Json),
            "{\n\t\"b\": 1,\n\t\"a\": [\n\t\ttrue,\n\t\t1.5,\n\t\tnull\n\t]\n}\n"
        );
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "on",
            "yes",
            "0755",
            "1.5",
            "true",
            "~",
            "",
            " x",
            "a: b",
            "-1",
            "2021-01-01",
        ] {
            assert!(quote_if_needed(s).starts_with('"'), "{s}");
        }
        for s in [
            "hello",
            "age1abc",
            "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",
            "-x",
        ] {
            assert_eq!(quote_if_needed(s), s);
        }
    }

    #[test]
    fn floats_render_like_go() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e21), "1000000000000000000000");
    }
}
