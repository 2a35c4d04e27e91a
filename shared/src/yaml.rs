//! All YAML reading and writing of the suite goes through this module.
//!
//! Backed by serde-saphyr (safe Rust, already a dependency of kube). The
//! reader follows kubectl's YAML 1.1 reading of plain scalars (`on`, `yes`
//! are booleans, `0644` is octal) so a manifest means the same to us as to
//! `kubectl apply`. The writer quotes every string that a YAML 1.1 reader
//! would take for something else (`"on"`, `"yes"`, `"0755"`, `"~"`), so that
//! our output piped into kubectl reads back as strings. Multi-line strings
//! are written as literal blocks (`|`), never folded.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One raw document cut out of a YAML stream, before parsing (a slice of
/// the stream: no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDocument<'a> {
    /// 1-based position of the document in the stream (empty ones count).
    pub index: usize,
    /// 1-based line in the stream where the document's content starts.
    pub line: usize,
    /// The document's text (without its `---` separator line).
    pub text: &'a str,
}

impl RawDocument<'_> {
    /// True when the document holds nothing but whitespace and comments.
    pub fn is_empty(&self) -> bool {
        self.text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#')
        })
    }
}

/// A parse error with its line in the whole stream (1-based) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line in the stream, if the parser reported one.
    pub line: Option<usize>,
    /// One-line message.
    pub message: String,
}

/// Splits a YAML stream into documents at `---` lines (and `...` ends), the
/// way kubectl's reader does, keeping each document's first line.
pub fn split_documents(stream: &str) -> Vec<RawDocument<'_>> {
    let mut docs = Vec::new();
    let mut start = 0; // byte offset where the current document starts
    let mut start_line = 1;
    let mut index = 1;
    let bytes = stream.as_bytes();
    // Every line: (its offset, its end after the newline, its number).
    let newlines = memchr::memchr_iter(b'\n', bytes).map(|i| i + 1);
    let ends =
        newlines.chain((!stream.ends_with('\n') && !stream.is_empty()).then_some(bytes.len()));
    let mut offset = 0;
    for (lineno, end) in (1..).zip(ends) {
        let line_start = offset;
        offset = end;
        // Only a line starting with `-` or `.` may be a separator.
        if !matches!(bytes[line_start], b'-' | b'.') {
            continue;
        }
        let line = stream[line_start..end].trim_end_matches(['\n', '\r']);
        let is_separator = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = line == "..." || line.starts_with("... ");
        if is_separator || is_end {
            if line_start > start || lineno > 1 {
                docs.push(RawDocument {
                    index,
                    line: start_line,
                    text: &stream[start..line_start],
                });
                index += 1;
            }
            start = end;
            start_line = lineno + 1;
            // `--- {a: 1}`: content on the separator line itself.
            if is_separator && line.len() > 3 && !line[3..].trim().is_empty() {
                start = line_start + 4;
                start_line = lineno;
            }
        }
    }
    if stream.len() > start {
        docs.push(RawDocument {
            index,
            line: start_line,
            text: &stream[start..],
        });
    }
    docs
}

/// The limits every YAML reader of the suite applies (streams, values
/// files, Pack.yaml, SOPS files): serde-saphyr's default budget per
/// document (at most 250,000 nodes, 1,000,000 events, 50,000 aliases,
/// nesting 64, 64 MiB of scalars) and [`MAX_INPUT_BYTES`] per input. A
/// limit hit is a one-line error naming the file and the limit.
pub fn budget() -> serde_saphyr::Budget {
    serde_saphyr::Budget::default()
}

/// The most bytes read from one input (a file or standard input).
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a whole input (`-` is standard input) up to [`MAX_INPUT_BYTES`];
/// a bigger one is refused instead of filling memory.
pub fn read_input(path: &str) -> Result<String, crate::Error> {
    use std::io::Read;
    let too_big = |what: &str| crate::Error::Read {
        path: what.into(),
        source: std::io::Error::other(format!(
            "larger than the {} MiB an input may have",
            MAX_INPUT_BYTES / 1024 / 1024
        )),
    };
    let mut text = String::new();
    if path == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(crate::Error::ReadStdin)?;
    } else {
        let file = std::fs::File::open(path).map_err(|source| crate::Error::Read {
            path: path.into(),
            source,
        })?;
        // A regular file's size is known: one allocation, one read.
        if let Ok(meta) = file.metadata()
            && meta.is_file()
        {
            if meta.len() > MAX_INPUT_BYTES {
                return Err(too_big(path));
            }
            text.reserve_exact(meta.len() as usize + 1);
        }
        file.take(MAX_INPUT_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|source| crate::Error::Read {
                path: path.into(),
                source,
            })?;
    }
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_big(if path == "-" { "STDIN" } else { path }));
    }
    Ok(text)
}

/// Reads everything from `reader` up to [`MAX_INPUT_BYTES`] (a compressed
/// record that expands past it is refused, not decompressed into memory).
pub fn read_bounded(reader: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    read_at_most(reader, MAX_INPUT_BYTES)
}

fn read_at_most(reader: impl std::io::Read, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    reader.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "it expands past the {} MiB limit",
            limit / 1024 / 1024
        )));
    }
    Ok(out)
}

/// A breached budget as words: which limit, and why it exists.
pub fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let b = budget();
    let what = match breach {
        B::Nodes { .. } => format!("more than {} nodes", b.max_nodes),
        B::Events { .. } => format!("more than {} YAML events", b.max_events),
        B::Aliases { .. } => format!("more than {} aliases", b.max_aliases),
        B::Anchors { .. } => format!("more than {} anchors", b.max_anchors),
        B::Depth { .. } => format!("nested deeper than {} levels", b.max_depth),
        B::Documents { .. } => format!("more than {} documents", b.max_documents),
        B::ScalarBytes { .. } => "more than 64 MiB of text".to_string(),
        B::AliasAnchorRatio { .. } => "far more aliases than anchors".to_string(),
        B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
            "aliases that expand past the size limit".to_string()
        }
        _ => "a size limit".to_string(),
    };
    format!(
        "YAML over the reading limits: {what} (aliases that expand into a huge document are refused); make the file smaller"
    )
}

fn reader_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options.with_snippet = false;
    options.budget = Some(budget());
    options
}

fn writer_options() -> serde_saphyr::SerializerOptions {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = true;
    options.folded_wrap_chars = usize::MAX;
    options.min_fold_chars = usize::MAX;
    options
}

/// Parses one document into a value. `first_line` is the document's first
/// line in the stream, so that the error's line is the stream's line.
pub fn parse_document<T: DeserializeOwned>(text: &str, first_line: usize) -> Result<T, ParseError> {
    serde_saphyr::from_str_with_options(text, reader_options()).map_err(|e| {
        let line = e
            .location()
            .map(|l| l.line() as usize)
            .filter(|l| *l > 0)
            .map(|l| l + first_line - 1);
        let mut inner = &e;
        while let serde_saphyr::Error::AliasError { error, .. }
        | serde_saphyr::Error::WithSnippet { error, .. } = inner
        {
            inner = error;
        }
        if let serde_saphyr::Error::Budget { breach, .. } = inner {
            return ParseError {
                line: None,
                message: budget_message(breach),
            };
        }
        let rendered = e.to_string();
        // The message may end with " at line X column Y" relative to the
        // document; drop that, we report the stream's line ourselves.
        let first = rendered.lines().next().unwrap_or("").to_string();
        let message = match first.find(" at line ") {
            Some(pos) if line.is_some() => first[..pos].to_string(),
            _ => first,
        };
        // The library's advice to its programmer is not the user's.
        let message = match message.find(", set DuplicateKeyPolicy") {
            Some(pos) => format!("{}; remove one of them", &message[..pos]),
            None => message,
        };
        ParseError {
            line,
            message: crate::error::one_line(&message),
        }
    })
}

/// [`parse_document`] into a JSON value, by the fast reader for the block
/// YAML of values files when it is sure ([`crate::yaml_values`]), else by
/// the full parser (same value, same errors).
pub fn parse_value(text: &str, first_line: usize) -> Result<serde_json::Value, ParseError> {
    match crate::yaml_values::value(text) {
        Some(v) => Ok(v),
        None => parse_document(text, first_line),
    }
}

/// The identity fields of one document, read without building the document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentHead {
    /// False when the document is a scalar or a sequence.
    pub is_mapping: bool,
    /// True when the document holds no node at all (or only `null`).
    pub is_null: bool,
    /// `apiVersion`, when it is a string.
    pub api_version: Option<String>,
    /// `kind`, when it is a string.
    pub kind: Option<String>,
    /// `metadata.name`, when it is a string.
    pub name: Option<String>,
}

/// Checks that `text` is valid YAML and reads `apiVersion`, `kind` and
/// `metadata.name` from the event stream, without building the document
/// (several times faster than a full parse; renders use it on every
/// document they emit). `first_line` offsets error lines as in
/// [`parse_document`].
pub fn document_head(text: &str, first_line: usize) -> Result<DocumentHead, ParseError> {
    if let Some(head) = crate::yaml_scan::head(text) {
        return Ok(head);
    }
    full_document_head(text, first_line)
}

/// [`document_head`] by the event parser: every document the scanner
/// leaves, and the reference the scanner is tested against.
pub fn full_document_head(text: &str, first_line: usize) -> Result<DocumentHead, ParseError> {
    use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

    /// The keys that matter, or `Other`.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Key {
        ApiVersion,
        Kind,
        Metadata,
        Name,
        Other,
    }
    enum Frame {
        Map {
            key: Option<Key>,
            expecting_key: bool,
            is_key: bool,
        },
        Seq {
            is_key: bool,
        },
    }
    fn is_key_of(f: &Frame) -> bool {
        match f {
            Frame::Map { is_key, .. } | Frame::Seq { is_key } => *is_key,
        }
    }
    let plain_non_string = crate::yaml_scan::plain_non_string;

    let mut head = DocumentHead::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut saw_root = false;
    for item in Parser::new_from_str(text) {
        let (event, _span) = item.map_err(|e| ParseError {
            line: Some(e.marker().line() + first_line - 1),
            message: crate::error::one_line(e.info().as_str()),
        })?;
        // Whether the node starting now is a key of the enclosing map.
        let node_is_key = matches!(
            stack.last(),
            Some(Frame::Map {
                expecting_key: true,
                ..
            })
        );
        match event {
            Event::Scalar(value, style, ..) => {
                if stack.is_empty() {
                    saw_root = true;
                    head.is_null = style == ScalarStyle::Plain
                        && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                    continue;
                }
                let depth = stack.len();
                if let Some(Frame::Map {
                    key, expecting_key, ..
                }) = stack.last_mut()
                    && *expecting_key
                {
                    *key = Some(match (depth, value.as_ref()) {
                        (1, "apiVersion") => Key::ApiVersion,
                        (1, "kind") => Key::Kind,
                        (1, "metadata") => Key::Metadata,
                        (2, "name") => Key::Name,
                        _ => Key::Other,
                    });
                    *expecting_key = false;
                    continue;
                }
                let string = !(style == ScalarStyle::Plain && plain_non_string(&value));
                let key_at = |i: usize| match stack.get(i) {
                    Some(Frame::Map { key, .. }) => *key,
                    _ => None,
                };
                if string {
                    match (depth, key_at(0), key_at(1)) {
                        (1, Some(Key::ApiVersion), _) => {
                            head.api_version = Some(value.into_owned())
                        }
                        (1, Some(Key::Kind), _) => head.kind = Some(value.into_owned()),
                        (2, Some(Key::Metadata), Some(Key::Name)) => {
                            head.name = Some(value.into_owned())
                        }
                        _ => {}
                    }
                }
                if let Some(Frame::Map { expecting_key, .. }) = stack.last_mut() {
                    *expecting_key = true;
                }
            }
            Event::Alias(_) => match stack.last_mut() {
                Some(Frame::Map {
                    expecting_key, key, ..
                }) => {
                    if *expecting_key {
                        *key = None;
                    }
                    *expecting_key = !*expecting_key;
                }
                _ => saw_root = true,
            },
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if stack.is_empty() {
                    saw_root = true;
                    head.is_mapping = matches!(event, Event::MappingStart(..));
                }
                if node_is_key && let Some(Frame::Map { key, .. }) = stack.last_mut() {
                    *key = None;
                }
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map {
                        key: None,
                        expecting_key: true,
                        is_key: node_is_key,
                    }
                } else {
                    Frame::Seq {
                        is_key: node_is_key,
                    }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let was_key = stack.pop().is_some_and(|f| is_key_of(&f));
                if let Some(Frame::Map { expecting_key, .. }) = stack.last_mut() {
                    // After a key comes its value; after a value, the next key.
                    *expecting_key = !was_key;
                }
            }
            _ => {}
        }
    }
    if !saw_root {
        head.is_null = true;
    }
    Ok(head)
}

/// The JSON Schema type of a value (`integer` for whole numbers), as
/// schemas name it: CRD validation messages and the language server's
/// completion details use it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parses a YAML (or JSON) text holding a single value, such as a values file.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    parse_document(text, 1)
}

/// Serializes one value as a YAML document (no `---`), ending in a newline.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, crate::Error> {
    let mut s = serde_saphyr::to_string_with_options(value, writer_options())
        .map_err(|e| crate::Error::WriteYaml(e.to_string()))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Writes objects as one stream, each document preceded by `---`.
pub fn write_stream<'a, W: std::io::Write>(
    out: &mut W,
    objects: impl IntoIterator<Item = &'a Value>,
) -> Result<(), StreamWriteError> {
    for obj in objects {
        let doc = to_string(obj).map_err(StreamWriteError::Yaml)?;
        out.write_all(b"---\n").map_err(StreamWriteError::Io)?;
        out.write_all(doc.as_bytes())
            .map_err(StreamWriteError::Io)?;
    }
    out.flush().map_err(StreamWriteError::Io)
}

/// Why writing a stream failed: the YAML, or the output (maybe a closed pipe).
#[derive(Debug, thiserror::Error)]
pub enum StreamWriteError {
    /// A value could not be serialized.
    #[error(transparent)]
    Yaml(crate::Error),
    /// The writer failed (a closed stdout shows up here as `BrokenPipe`).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        let endless = std::io::repeat(0);
        assert!(read_at_most(endless, 1 << 20).is_err());
        assert_eq!(read_at_most(&b"abc"[..], 3).unwrap(), b"abc");
    }

    #[test]
    fn budget_errors_are_words_not_structs() {
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
        for (prev, c) in "abcdefgh".chars().zip("bcdefghi".chars()) {
            bomb.push_str(&format!(
                "{c}: &{c} [{}]\n",
                vec![format!("*{prev}"); 9].join(",")
            ));
        }
        let err = parse_document::<serde_json::Value>(&bomb, 1).unwrap_err();
        assert!(
            err.message.contains("more than 250000 nodes"),
            "{}",
            err.message
        );
        assert!(!err.message.contains('{'), "{}", err.message);
    }

    #[test]
    fn split_keeps_lines_and_counts_empty_documents() {
        let docs = split_documents("a: 1\n---\n\n---\nb: 2\nc: 3\n...\n");
        assert_eq!(docs.len(), 3);
        assert_eq!((docs[0].index, docs[0].line), (1, 1));
        assert!(docs[1].is_empty());
        assert_eq!((docs[2].index, docs[2].line), (3, 5));
        assert_eq!(docs[2].text, "b: 2\nc: 3\n");
    }

    #[test]
    fn leading_separator_does_not_make_an_empty_first_document() {
        let docs = split_documents("---\na: 1\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].line, 2);
    }

    #[test]
    fn separator_inside_block_scalar_is_indented_so_not_split() {
        let docs = split_documents("data:\n  x: |\n    ---\n    y\n");
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn reads_like_kubectl_yaml_1_1() {
        let v: Value = from_str("a: on\nb: 0644\nc: ~\nd: '0755'\n").unwrap();
        assert_eq!(v, json!({"a": true, "b": 420, "c": null, "d": "0755"}));
    }

    #[test]
    fn parse_error_line_is_the_stream_line() {
        let err = parse_document::<Value>("a: 1\nb: [\n", 10).unwrap_err();
        assert!(err.line.unwrap() >= 10, "{err:?}");
        assert!(!err.message.contains('\n'));
    }

    #[test]
    fn document_head_reads_identity_and_rejects_bad_yaml() {
        let h = document_head("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n  name: web\ndata:\n  name: not-this\n", 1).unwrap();
        assert_eq!(
            (
                h.api_version.as_deref(),
                h.kind.as_deref(),
                h.name.as_deref()
            ),
            (Some("v1"), Some("ConfigMap"), Some("web"))
        );
        assert!(h.is_mapping);
        let h = document_head(
            "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": \"s\"}}",
            1,
        )
        .unwrap();
        assert_eq!(h.name.as_deref(), Some("s"));
        let h = document_head("apiVersion: 1\nkind: X\nmetadata: {name: [a]}\n", 1).unwrap();
        assert_eq!(
            (h.api_version, h.name),
            (None, None),
            "non-strings do not count"
        );
        let h = document_head("- a\n- b\n", 1).unwrap();
        assert!(!h.is_mapping);
        assert!(document_head("# only a comment\n", 1).unwrap().is_null);
        let err = document_head("a: 1\n b: [\n", 10).unwrap_err();
        assert!(err.line.unwrap() >= 10, "{err:?}");
    }

    #[test]
    fn writes_ambiguous_strings_quoted() {
        let v = json!({"a": "on", "b": "0755", "c": "~", "d": "yes", "e": "true", "f": "1.0", "g": "plain"});
        let s = to_string(&v).unwrap();
        let back: Value = from_str(&s).unwrap();
        assert_eq!(back, v, "{s}");
        assert!(s.contains("g: plain"), "{s}");
    }
}
