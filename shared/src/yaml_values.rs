//! A fast reader for the YAML that values files are written in: block
//! mappings and sequences of single-line scalars, literal block scalars
//! (`|`, `|-`), empty flow collections and comments, read straight into a
//! `serde_json::Value`.
//!
//! Like [`crate::yaml_scan`], it only ever answers when it is sure: anything
//! outside that subset — anchors, aliases, tags, folded or keep-chomped
//! block scalars, multi-line plain or quoted scalars, non-empty flow
//! collections, complex or non-string keys, duplicate keys, tabs, several
//! documents — and anything malformed returns `None`, and the caller
//! ([`crate::yaml::parse_value`]) reads the text with the full parser, which
//! accepts it or reports the error exactly as before. Plain scalars that
//! are not plainly strings, `true`/`false`-like words, nulls or small
//! decimal integers (`0.5`, `1e3`, `0x1f`, `2001-12-14`, …) are typed by the
//! full parser itself, one scalar at a time, so typing never differs. A
//! differential test holds both readers to the same value on real and
//! mutated documents.

use serde_json::{Map, Number, Value};

use crate::yaml_scan::{
    all_printable, block_header, double_quoted, plain_value, single_quoted, split_key, trailing,
};

/// Beyond these the full parser answers (and applies its own budget).
const MAX_NODES: usize = 100_000;
const MAX_DEPTH: usize = 48;
const MAX_BYTES: usize = 16 << 20;
/// Scalars typed one by one by the full parser before giving the whole
/// text to it instead.
const MAX_DEFERRED: usize = 256;

/// The value of `text` when it is well-formed within the subset; `None`
/// means "ask the full parser".
pub fn value(text: &str) -> Option<Value> {
    if text.len() > MAX_BYTES
        || text.starts_with('\u{feff}')
        || memchr::memchr2(b'\t', b'\r', text.as_bytes()).is_some()
    {
        return None;
    }
    let mut r = Reader {
        lines: crate::yaml_scan::lines(text).map(Line::new).collect(),
        ends_with_newline: text.ends_with('\n'),
        i: 0,
        nodes: 0,
        depth: 0,
        deferred: 0,
    };
    r.skip_blank();
    if r.lines
        .get(r.i)
        .is_some_and(|l| l.indent == 0 && l.body == "---")
    {
        r.i += 1;
        r.skip_blank();
    }
    if r.lines.iter().skip(r.i).any(Line::is_marker) {
        return None;
    }
    let Some(first) = r.lines.get(r.i) else {
        return Some(Value::Null);
    };
    if first.indent != 0 {
        return None;
    }
    let v = r.node(0)?;
    r.skip_blank();
    (r.i == r.lines.len()).then_some(v)
}

#[derive(Clone, Copy)]
struct Line<'a> {
    raw: &'a str,
    indent: usize,
    /// The line without its indentation.
    body: &'a str,
}

impl<'a> Line<'a> {
    fn new(raw: &'a str) -> Line<'a> {
        let body = raw.trim_start_matches(' ');
        Line {
            raw,
            indent: raw.len() - body.len(),
            body,
        }
    }

    fn is_blank(&self) -> bool {
        self.body.is_empty() || self.body.starts_with('#')
    }

    fn is_item(&self) -> bool {
        is_item(self.body)
    }

    /// A document marker or directive at the start of a line.
    fn is_marker(&self) -> bool {
        self.indent == 0
            && (self.body.starts_with("---")
                || self.body.starts_with("...")
                || self.body.starts_with('%'))
    }
}

fn is_item(body: &str) -> bool {
    body == "-" || body.starts_with("- ")
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    ends_with_newline: bool,
    /// The next line to read.
    i: usize,
    nodes: usize,
    depth: usize,
    deferred: usize,
}

impl<'a> Reader<'a> {
    fn skip_blank(&mut self) {
        while self.lines.get(self.i).is_some_and(Line::is_blank) {
            self.i += 1;
        }
    }

    /// The next content line's indentation.
    fn next_indent(&mut self) -> Option<usize> {
        self.skip_blank();
        self.lines.get(self.i).map(|l| l.indent)
    }

    fn count(&mut self) -> Option<()> {
        self.nodes += 1;
        (self.nodes <= MAX_NODES).then_some(())
    }

    /// The block node whose first line (at `indent`) is the next line.
    fn node(&mut self, indent: usize) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let v = if self.lines[self.i].is_item() {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        };
        self.depth -= 1;
        v
    }

    /// The value of a key or dash with nothing after it on its line: a
    /// nested block, a sequence at the key's indentation, or null.
    fn nested(&mut self, indent: usize, by_key: bool) -> Option<Value> {
        match self.next_indent() {
            Some(next) if next > indent => self.node(next),
            Some(next) if next == indent && by_key && self.lines[self.i].is_item() => {
                self.depth += 1;
                let v = self.sequence(indent);
                self.depth -= 1;
                v
            }
            _ => Some(Value::Null),
        }
    }

    fn mapping(&mut self, indent: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(next) = self.next_indent() {
            if next < indent {
                break;
            }
            let line = self.lines[self.i];
            if next > indent || line.is_item() {
                return None;
            }
            let (key, rest) = split_key(line.body)?;
            if !line.body.starts_with(['"', '\'']) && !plainly_string(&key) {
                return None;
            }
            let rest = rest.trim_start_matches(' ');
            self.i += 1;
            let value = if rest.is_empty() || rest.starts_with('#') {
                self.nested(indent, true)?
            } else {
                self.inline(rest, indent)?
            };
            self.count()?;
            if map.insert(key.into_owned(), value).is_some() {
                return None; // a duplicate key: the full parser reports it
            }
        }
        Some(Value::Object(map))
    }

    fn sequence(&mut self, indent: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(next) = self.next_indent() {
            let line = self.lines[self.i];
            if next < indent || (next == indent && !line.is_item()) {
                break;
            }
            if next > indent {
                return None;
            }
            let rest = line.body[1..].trim_start_matches(' ');
            let item = if rest.is_empty() || rest.starts_with('#') {
                self.i += 1;
                self.nested(indent, false)?
            } else if is_item(rest) || rest.starts_with('?') {
                return None;
            } else if split_key(rest).is_some() {
                // `- key: value`: a mapping whose keys sit at the item's column.
                let column = indent + (line.body.len() - rest.len());
                self.lines[self.i] = Line {
                    raw: line.raw,
                    indent: column,
                    body: rest,
                };
                self.depth += 1;
                let m = self.mapping(column);
                self.depth -= 1;
                m?
            } else {
                self.i += 1;
                self.inline(rest, indent)?
            };
            self.count()?;
            items.push(item);
        }
        Some(Value::Array(items))
    }

    /// A value on the line of its key or dash (`indent` is theirs); no
    /// line may continue it.
    fn inline(&mut self, v: &str, indent: usize) -> Option<Value> {
        let value = match v.as_bytes()[0] {
            b'"' => {
                let (s, rest) = double_quoted(v)?;
                trailing(rest)?;
                Value::String(s.into_owned())
            }
            b'\'' => {
                let (s, rest) = single_quoted(v)?;
                trailing(rest)?;
                Value::String(s.into_owned())
            }
            b'|' => self.literal(&v[1..], indent)?,
            b'[' | b'{' => empty_flow(v)?,
            _ => self.plain(plain_value(v)?)?,
        };
        match self.next_indent() {
            Some(next) if next > indent => None,
            _ => Some(value),
        }
    }

    /// A literal block scalar (`|` or `|-`) whose lines follow.
    fn literal(&mut self, header: &str, indent: usize) -> Option<Value> {
        let strip = match header.as_bytes().first() {
            Some(b'-') => true,
            Some(b'+') => return None, // keep-chomping: the full parser
            _ => false,
        };
        block_header(header)?;
        let mut content: Option<usize> = None;
        let mut text = String::new();
        let mut breaks = 0; // empty lines since the last content line
        let mut last_content = None;
        while let Some(line) = self.lines.get(self.i) {
            if line.body.is_empty() {
                // Spaces on an empty line beyond the content's indentation are content.
                if line.indent > 0 && content.is_none_or(|m| line.indent > m) {
                    return None;
                }
                breaks += 1;
                self.i += 1;
                continue;
            }
            let m = match content {
                Some(m) if line.indent >= m => m,
                None if line.indent > indent => *content.insert(line.indent),
                _ => break,
            };
            let chunk = &line.raw[m..];
            if !all_printable(chunk) {
                return None;
            }
            let newlines = breaks + usize::from(last_content.is_some());
            text.extend(std::iter::repeat_n('\n', newlines));
            text.push_str(chunk);
            breaks = 0;
            last_content = Some(self.i);
            self.i += 1;
        }
        if let Some(last) = last_content {
            // The last line of a text without a final newline: the full parser.
            if last + 1 == self.lines.len() && !self.ends_with_newline {
                return None;
            }
            if !strip {
                text.push('\n');
            }
        }
        Some(Value::String(text))
    }

    /// A plain scalar: a string, null, boolean or small decimal integer at
    /// once; anything that might be another number, by the full parser.
    fn plain(&mut self, text: &str) -> Option<Value> {
        if let Some(v) = obvious(text) {
            return Some(v);
        }
        if !plainly_string(text) {
            self.deferred += 1;
            if self.deferred > MAX_DEFERRED || text.starts_with("---") || text.starts_with("...") {
                return None;
            }
            return crate::yaml::parse_document::<Value>(text, 1).ok();
        }
        Some(Value::String(text.to_string()))
    }
}

/// Null, a YAML 1.1 boolean word, or a decimal integer without a leading
/// zero that fits in 18 digits.
fn obvious(text: &str) -> Option<Value> {
    if matches!(text, "~" | "null" | "Null" | "NULL") {
        return Some(Value::Null);
    }
    if let Some(b) = bool_word(text) {
        return Some(Value::Bool(b));
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    let decimal = !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !decimal || text == "-0" {
        return None;
    }
    let n: i64 = text.parse().ok()?;
    Some(Value::Number(if n >= 0 {
        Number::from(n as u64)
    } else {
        Number::from(n)
    }))
}

/// The YAML 1.1 booleans the full parser reads (any case).
fn bool_word(text: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "yes", "y", "on"];
    const FALSE: [&str; 4] = ["false", "no", "n", "off"];
    if text.len() > 5 {
        return None;
    }
    if TRUE.iter().any(|w| text.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| text.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// A plain scalar no YAML type but string can claim: it does not start
/// like a number (digit, sign, dot) or a null, and is no boolean word.
fn plainly_string(text: &str) -> bool {
    let Some(&first) = text.as_bytes().first() else {
        return false;
    };
    let like_number_or_null = first.is_ascii_digit()
        || matches!(first, b'-' | b'+' | b'.' | b'~')
        || matches!(text, "null" | "Null" | "NULL");
    !like_number_or_null && bool_word(text).is_none()
}

/// `[]` or `{}`, with an optional comment.
fn empty_flow(v: &str) -> Option<Value> {
    let (value, rest) = if let Some(r) = v.strip_prefix('[') {
        (
            Value::Array(Vec::new()),
            r.trim_start_matches(' ').strip_prefix(']')?,
        )
    } else {
        let r = v.strip_prefix('{')?;
        (
            Value::Object(Map::new()),
            r.trim_start_matches(' ').strip_prefix('}')?,
        )
    };
    trailing(rest)?;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_an_ordinary_values_file() {
        let text = "# values\n---\nreplicas: 3\nimage:\n  repository: nginx # the image\n  tag: \"1.25\"\n  pullPolicy: IfNotPresent\nenabled: true\nswitch: Off\nnothing:\nempty: ~\nratio: 0.5\nmemory: 256Mi\nhost: 0.0.0.0\nnegative: -4\nports:\n- name: http\n  port: 80\n-   name: metrics\n    port: 9090\nargs: []\nlabels: {}\nlist:\n  - a\n  - 'it''s'\n  -\n  - - nested\nconfig: |\n  a: 1\n\n  b: 2\n\nafter: |-\n  x\n  y\nlast: value\n";
        let want: Value = crate::yaml::parse_document(text, 1).unwrap();
        assert_eq!(
            value(text),
            None,
            "a compact nested sequence is the parser's"
        );
        let text = text.replace("  - - nested\n", "  - nested\n");
        let want2: Value = crate::yaml::parse_document(&text, 1).unwrap();
        let got = value(&text).expect("the fast reader takes it");
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            serde_json::to_string(&want2).unwrap()
        );
        assert_eq!(got["ratio"], json!(0.5));
        assert_eq!(got["switch"], json!(false));
        assert_eq!(got["memory"], json!("256Mi"));
        assert_eq!(got["config"], json!("a: 1\n\nb: 2\n"));
        assert_eq!(got["after"], json!("x\ny"));
        assert!(want.is_object());
    }

    #[test]
    fn leaves_what_it_does_not_fully_understand_to_the_parser() {
        for doc in [
            "a: 1\n b: 2\n",
            "a: b: c\n",
            "a: [1, 2]\n",
            "a: \"x\n  y\"\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a:\n  - 1\n - 2\n",
            "a: plain\n  continued\n",
            "a:\tb\n",
            "? complex\n: key\n",
            "a: |2\n   x\n",
            "a: |+\n  x\n\n",
            "a: >\n  folded\n",
            "a: 1\na: 2\n",
            "1: one\n",
            "true: yes\n",
            "a: 1\n---\nb: 2\n",
            "a: |\n  x",
            "<<: {}\n",
            "a: \"\\x41\"\n",
        ] {
            assert_eq!(value(doc), None, "{doc:?}");
        }
    }

    /// Every YAML document of the fixtures (values files, real charts, SOPS
    /// files, golden streams), with mutated copies: whenever the fast reader
    /// answers, the full parser reads the same value, in the same order.
    #[test]
    fn the_fast_reader_agrees_with_the_full_parser_on_real_and_mutated_documents() {
        crate::yaml_scan::tests::differential("fast reader", 0x9e37_79b9_7f4a_7c15, |f, v| {
            let Some(quick) = value(v) else {
                return false;
            };
            let full = crate::yaml::parse_document::<Value>(v, 1);
            assert_eq!(
                full.as_ref()
                    .ok()
                    .map(|f| serde_json::to_string(f).unwrap()),
                Some(serde_json::to_string(&quick).unwrap()),
                "{}: the fast reader read what the parser reads as {full:?}:\n{v}",
                f.display()
            );
            true
        });
    }
}
