//! A purpose-built scanner for the YAML that renders emit: block mappings
//! and sequences of single-line scalars, block scalars (`|`, `>`), one-line
//! flow collections and comments. It checks the document's structure line by
//! line and reads `apiVersion`, `kind` and `metadata.name` in one pass, many
//! times faster than an event parser.
//!
//! It only ever says "this document is well-formed, and here is its head".
//! Anything outside the subset it fully understands — anchors, aliases,
//! tags, multi-line plain or quoted scalars, complex keys, tabs, directives,
//! unusual escapes — and anything malformed returns `None`, and the caller
//! ([`crate::yaml::document_head`]) reads the document with the full parser,
//! which accepts it or reports the error exactly as before. A differential
//! test holds the two readers to the same answer on real charts and on
//! mutated documents.

use std::borrow::Cow;

use crate::yaml::DocumentHead;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Map,
    Seq,
}

/// Which identity key a mapping entry is, for the head.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// The root mapping.
    Root,
    /// The mapping under the root's `metadata`.
    Metadata,
    /// Anything else.
    Other,
}

#[derive(Debug)]
struct Block {
    indent: usize,
    kind: Kind,
    role: Role,
    /// A sequence at the same indentation as its parent key (`key:\n- a`).
    compact: bool,
}

/// A value that opened a nested block: `key:` or `-` with nothing after.
struct Pending {
    indent: usize,
    /// Opened by a mapping key (a sequence may then sit at the same indentation).
    by_key: bool,
    role: Role,
}

/// The head of `text` when it is well-formed within the subset; `None`
/// means "ask the full parser".
pub fn head(text: &str) -> Option<DocumentHead> {
    if memchr::memchr2(b'\t', b'\r', text.as_bytes()).is_some() || text.starts_with('\u{feff}') {
        return None;
    }
    let mut s = Scan::default();
    for line in lines(text) {
        s.line(line)?;
    }
    if s.stack.is_empty() {
        return (!s.saw_content).then(|| DocumentHead {
            is_null: true,
            ..Default::default()
        });
    }
    Some(DocumentHead {
        is_mapping: true,
        is_null: false,
        api_version: s.api_version.flatten(),
        kind: s.kind.flatten(),
        name: s.name.flatten(),
    })
}

/// The lines of `text` split at `\n` (as `str::split` would, a final
/// empty one included), found with a vectorised search.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text.as_bytes())
        .chain(std::iter::once(text.len()))
        .map(move |end| {
            let line = &text[start..end];
            start = end + 1;
            line
        })
}

#[derive(Default)]
struct Scan {
    stack: Vec<Block>,
    pending: Option<Pending>,
    /// Inside a block scalar: (parent indentation, content indentation once known).
    block_scalar: Option<(usize, Option<usize>)>,
    saw_content: bool,
    /// Some(None): the key was seen with a non-string value.
    api_version: Option<Option<String>>,
    kind: Option<Option<String>>,
    name: Option<Option<String>>,
    metadata_seen: bool,
}

impl Scan {
    fn line(&mut self, line: &str) -> Option<()> {
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        if let Some((parent, content)) = self.block_scalar {
            if body.is_empty() {
                // Spaces on an empty line before the content's indentation is known may not exceed it.
                return (content.is_some() || indent == 0).then_some(());
            }
            match content {
                Some(m) if indent >= m => return Some(()),
                None if indent > parent => {
                    self.block_scalar = Some((parent, Some(indent)));
                    return Some(());
                }
                _ if indent <= parent => self.block_scalar = None,
                _ => return None,
            }
        }
        if body.is_empty() || body.starts_with('#') {
            return Some(());
        }
        if indent == 0
            && (body.starts_with("---") || body.starts_with("...") || body.starts_with('%'))
        {
            return None;
        }
        self.saw_content = true;
        self.entry(indent, body)
    }

    /// A block line at `indent`: a sequence item or a mapping entry.
    fn entry(&mut self, indent: usize, body: &str) -> Option<()> {
        let kind = if body == "-" || body.starts_with("- ") {
            Kind::Seq
        } else {
            Kind::Map
        };
        let role = self.place(indent, kind)?;
        match kind {
            Kind::Map => self.map_entry(indent, body, role),
            Kind::Seq => {
                let rest = body[1..].trim_start_matches(' ');
                let item_indent = indent + (body.len() - rest.len());
                if rest.is_empty() || rest.starts_with('#') {
                    self.pending = Some(Pending {
                        indent,
                        by_key: false,
                        role: Role::Other,
                    });
                    return Some(());
                }
                if rest == "-" || rest.starts_with("- ") || rest.starts_with('?') {
                    return None;
                }
                if split_key(rest).is_some() {
                    // `- key: value`: a mapping whose keys sit at the item's column.
                    self.stack.push(Block {
                        indent: item_indent,
                        kind: Kind::Map,
                        role: Role::Other,
                        compact: false,
                    });
                    return self.map_entry(item_indent, rest, Role::Other);
                }
                self.value(indent, rest, false).map(|_| ())
            }
        }
    }

    /// Finds (or opens) the block this line belongs to; its role.
    fn place(&mut self, indent: usize, kind: Kind) -> Option<Role> {
        if let Some(p) = self.pending.take() {
            let nested = indent > p.indent || (indent == p.indent && p.by_key && kind == Kind::Seq);
            if nested {
                let compact = indent == p.indent;
                self.stack.push(Block {
                    indent,
                    kind,
                    role: if kind == Kind::Map {
                        p.role
                    } else {
                        Role::Other
                    },
                    compact,
                });
                return Some(self.stack.last()?.role);
            }
            // Otherwise the key's value was empty (null).
        }
        if self.stack.is_empty() {
            if indent != 0 || kind != Kind::Map || self.saw_root() {
                return None;
            }
            self.stack.push(Block {
                indent: 0,
                kind: Kind::Map,
                role: Role::Root,
                compact: false,
            });
            return Some(Role::Root);
        }
        while self.stack.last().is_some_and(|b| {
            b.indent > indent || (b.indent == indent && b.kind != kind && b.compact)
        }) {
            self.stack.pop();
        }
        let top = self.stack.last()?;
        (top.indent == indent && top.kind == kind).then_some(top.role)
    }

    fn saw_root(&self) -> bool {
        self.api_version.is_some() || self.kind.is_some() || self.metadata_seen
    }

    /// `key: value` at `indent` in a mapping of `role`.
    fn map_entry(&mut self, indent: usize, body: &str, role: Role) -> Option<()> {
        let (key, rest) = split_key(body)?;
        let rest = rest.trim_start_matches(' ');
        let child_role = match (role, key.as_ref()) {
            (Role::Root, "metadata") => {
                if self.metadata_seen {
                    return None;
                }
                self.metadata_seen = true;
                Role::Metadata
            }
            _ => Role::Other,
        };
        let slot = match (role, key.as_ref()) {
            (Role::Root, "apiVersion") => Some(0),
            (Role::Root, "kind") => Some(1),
            (Role::Metadata, "name") => Some(2),
            _ => None,
        };
        let string = if rest.is_empty() || rest.starts_with('#') {
            self.pending = Some(Pending {
                indent,
                by_key: true,
                role: child_role,
            });
            None
        } else {
            // metadata in flow style, or an identity in a block scalar: the full parser reads it.
            if child_role == Role::Metadata || (slot.is_some() && rest.starts_with(['|', '>'])) {
                return None;
            }
            self.value(indent, rest, slot.is_some())?
                .map(Cow::into_owned)
        };
        if let Some(slot) = slot {
            let field = match slot {
                0 => &mut self.api_version,
                1 => &mut self.kind,
                _ => &mut self.name,
            };
            if field.is_some() {
                return None; // a duplicate identity key: leave it to the full reader
            }
            *field = Some(string);
        }
        Some(())
    }

    /// A value on the line of its key or dash; its string when it is one
    /// and `want` says it is needed (an identity field).
    fn value<'a>(&mut self, indent: usize, v: &'a str, want: bool) -> Option<Option<Cow<'a, str>>> {
        let first = v.chars().next()?;
        match first {
            '"' => {
                let (s, rest) = double_quoted(v)?;
                trailing(rest)?;
                Some(want.then_some(s))
            }
            '\'' => {
                let (s, rest) = single_quoted(v)?;
                trailing(rest)?;
                Some(want.then_some(s))
            }
            '|' | '>' => {
                block_header(&v[1..])?;
                self.block_scalar = Some((indent, None));
                Some(None)
            }
            '[' | '{' => {
                let rest = flow(v)?;
                trailing(rest)?;
                Some(None)
            }
            _ => {
                let plain = plain_value(v)?;
                Some((want && !plain_non_string(plain)).then_some(Cow::Borrowed(plain)))
            }
        }
    }
}

/// Splits `key: rest` (or `key:` at the end); None when the line is not a
/// simple mapping entry.
pub(crate) fn split_key(body: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = match body.chars().next()? {
        '"' => double_quoted(body)?,
        '\'' => single_quoted(body)?,
        _ => {
            let end =
                find_pair(body, b':', b' ').or_else(|| body.strip_suffix(':').map(str::len))?;
            let key = &body[..end];
            if !plain_key_ok(key) {
                return None;
            }
            (Cow::Borrowed(key), &body[end..])
        }
    };
    let rest = after.strip_prefix(':')?;
    (rest.is_empty() || rest.starts_with(' ')).then_some((key, rest))
}

fn plain_key_ok(key: &str) -> bool {
    let Some(&first) = key.as_bytes().first() else {
        return false;
    };
    !is_indicator(first)
        && first != b'<'
        && !key.ends_with(' ')
        && find_pair(key, b' ', b'#').is_none()
        && all_printable(key)
}

/// A character that may not start a plain scalar (YAML's indicators).
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// Where byte `a` followed by byte `b` first occurs.
fn find_pair(s: &str, a: u8, b: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    memchr::memchr_iter(a, bytes).find(|&i| bytes.get(i + 1) == Some(&b))
}

pub(crate) fn all_printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b)) || s.chars().all(printable)
}

/// A plain scalar value (with an optional trailing comment removed).
pub(crate) fn plain_value(v: &str) -> Option<&str> {
    let first = *v.as_bytes().first()?;
    if (is_indicator(first) && first != b'-')
        || (first == b'-' && (v == "-" || v[1..].starts_with(' ')))
    {
        return None;
    }
    let text = match find_pair(v, b' ', b'#') {
        Some(i) => &v[..i],
        None => v,
    }
    .trim_end_matches(' ');
    if find_pair(text, b':', b' ').is_some() || text.ends_with(':') || !all_printable(text) {
        return None;
    }
    Some(text)
}

/// Only spaces and an optional comment may follow a closed scalar.
pub(crate) fn trailing(rest: &str) -> Option<()> {
    let t = rest.trim_start_matches(' ');
    (t.is_empty() || (t.starts_with('#') && t.len() < rest.len())).then_some(())
}

fn printable(c: char) -> bool {
    !(c.is_control() || matches!(c, '\u{feff}' | '\u{fffe}' | '\u{ffff}'))
}

/// `|`, `|-`, `|+`, `>`… with an optional comment (no indentation digit).
pub(crate) fn block_header(h: &str) -> Option<()> {
    let h = h.strip_prefix(['-', '+']).unwrap_or(h);
    trailing(h)
}

/// A double-quoted scalar closed on this line: (value, rest after the quote).
pub(crate) fn double_quoted(v: &str) -> Option<(Cow<'_, str>, &str)> {
    let body = &v[1..];
    // Without escapes the value is the text between the quotes.
    if let Some(end) = memchr::memchr2(b'"', b'\\', body.as_bytes())
        && body.as_bytes()[end] == b'"'
    {
        let s = &body[..end];
        return all_printable(s).then_some((Cow::Borrowed(s), &body[end + 1..]));
    }
    let mut out = String::new();
    let mut chars = v.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((Cow::Owned(out), &v[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                out.push(match e {
                    '\\' => '\\',
                    '"' => '"',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    ' ' => ' ',
                    _ => return None, // rarer escapes: the full parser decodes them
                });
            }
            c if printable(c) => out.push(c),
            _ => return None,
        }
    }
    None
}

/// A single-quoted scalar closed on this line.
pub(crate) fn single_quoted(v: &str) -> Option<(Cow<'_, str>, &str)> {
    let body = &v[1..];
    let at = body.find('\'')?;
    // Without a doubled quote the value is the text between the quotes.
    if !body[at + 1..].starts_with('\'') {
        let s = &body[..at];
        return all_printable(s).then_some((Cow::Borrowed(s), &body[at + 1..]));
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let at = rest.find('\'')?;
        out.push_str(&rest[..at]);
        if rest[at + 1..].starts_with('\'') {
            out.push('\'');
            rest = &rest[at + 2..];
        } else {
            let s = &rest[at + 1..];
            return out.chars().all(printable).then_some((Cow::Owned(out), s));
        }
    }
}

/// A flow collection closed on this line; the text after it.
fn flow(v: &str) -> Option<&str> {
    let (close, mut rest) = match v.chars().next()? {
        '[' => (']', &v[1..]),
        '{' => ('}', &v[1..]),
        _ => return None,
    };
    let map = close == '}';
    loop {
        rest = rest.trim_start_matches(' ');
        if let Some(r) = rest.strip_prefix(close) {
            return Some(r);
        }
        // One entry: a node, and for maps `: node`.
        rest = flow_node(rest, map)?;
        if map {
            rest = rest.trim_start_matches(' ');
            rest = rest.strip_prefix(':')?;
            if !rest.starts_with(' ') {
                return None;
            }
            rest = flow_node(rest.trim_start_matches(' '), false)?;
        }
        rest = rest.trim_start_matches(' ');
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with(close) {
            return None;
        }
    }
}

/// One flow node; the text after it. `key`: stop a plain scalar at `:`.
fn flow_node(v: &str, key: bool) -> Option<&str> {
    match v.chars().next()? {
        '"' => double_quoted(v).map(|(_, r)| r),
        '\'' => single_quoted(v).map(|(_, r)| r),
        '[' | '{' if !key => flow(v),
        c if "&*!%@`,[]{}#|>?:-".contains(c) => None,
        _ => {
            let end = v
                .find(|c: char| ",[]{}".contains(c) || (key && c == ':'))
                .unwrap_or(v.len());
            let text = v[..end].trim_end_matches(' ');
            if text.is_empty()
                || text.contains(": ")
                || text.contains(" #")
                || text.ends_with(':')
                || !text.chars().all(printable)
            {
                return None;
            }
            if !key && v[..end].contains(':') && !text.contains("://") {
                return None; // `a:b` inside a flow value is legal but subtle: ask the parser
            }
            Some(&v[text.len()..])
        }
    }
}

/// A plain scalar that YAML resolves to something else than a string.
pub(crate) fn plain_non_string(v: &str) -> bool {
    matches!(
        v,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "false"
            | "True"
            | "False"
            | "TRUE"
            | "FALSE"
    ) || v.parse::<f64>().is_ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn h(t: &str) -> Option<(Option<String>, Option<String>, Option<String>)> {
        head(t).map(|h| (h.api_version, h.kind, h.name))
    }

    #[test]
    fn reads_the_head_of_ordinary_manifests() {
        let doc = "# Source: x\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: \"web\"\n  labels:\n    app: web # the app\n  annotations: {a: \"1\", b: c}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - name: web\n          args: [\"--port\", \"80\"]\n          env:\n          - name: A\n            value: 'it''s'\n      volumes: []\ndata:\n  config.yaml: |\n    a: 1\n\n    b: [\n  other: >-\n    text\n";
        assert_eq!(
            h(doc),
            Some((
                Some("apps/v1".into()),
                Some("Deployment".into()),
                Some("web".into())
            ))
        );
        assert_eq!(
            h("apiVersion: 1\nkind: X\nmetadata:\n  name: null\n"),
            Some((None, Some("X".into()), None))
        );
        assert!(head("# only\n\n").unwrap().is_null);
    }

    #[test]
    fn leaves_what_it_does_not_fully_understand_to_the_parser() {
        for doc in [
            "a: 1\n b: 2\n",           // bad indentation
            "a: b: c\n",               // mapping value in a plain scalar
            "a: [1, 2\n",              // unclosed flow
            "a: \"x\n  y\"\n",         // multi-line quoted
            "a: &x 1\nb: *x\n",        // anchors
            "a: !!str 1\n",            // tags
            "a:\n  - 1\n - 2\n",       // bad sequence indentation
            "a: plain\n  continued\n", // multi-line plain scalar
            "- a\n- b\n",              // not a mapping
            "a:\tb\n",                 // tab
            "? complex\n: key\n",      // complex key
            "a: |2\n   x\n",           // indentation indicator
            "kind: A\nkind: B\n",      // duplicate identity key
            "metadata: {name: x}\n",   // flow metadata
            "a: \"\\x41\"\n",          // rare escape
            "a: `reserved`\n",
            "a: 1\n---\nb: 2\n",
        ] {
            assert_eq!(head(doc), None, "{doc:?}");
        }
    }

    /// Every YAML file of the shared fixtures (real charts, SOPS
    /// files, Sherpack outputs) and every document of the tests' golden
    /// streams, with a mutated copy of each: whenever the scanner answers,
    /// the event parser accepts the document with the same head.
    /// Every YAML file of the team's shared fixtures wherever this
    /// checkout is (as the e2e suite finds them: real charts, SOPS files,
    /// Sherpack outputs) and of the project's own fixtures, golden streams
    /// and examples.
    pub(crate) fn fixture_files() -> Vec<std::path::PathBuf> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        let shared = std::env::var_os("PACK_SHARED_DIR")
            .map(std::path::PathBuf::from)
            .into_iter()
            .chain([root.join("../shared"), "/work/shared".into()])
            .find(|d| d.join("fixtures/real-charts").is_dir());
        let mut dirs = vec![
            root.join("tests/fixtures"),
            root.join("tests/golden"),
            root.join("examples"),
        ];
        dirs.extend(shared.map(|d| d.join("fixtures")));
        for dir in dirs {
            collect(&dir, &mut files);
        }
        assert!(files.len() > 10, "fixtures found: {}", files.len());
        files
    }

    /// Runs `check` on every document of the fixtures and on six mutated
    /// copies of each (`seed` picks the mutations); `check` says whether
    /// the fast reader under test answered (and asserts that its answer is
    /// the full parser's). Asserts that it answered most real documents and
    /// prints how many it took.
    pub(crate) fn differential(
        what: &str,
        mut seed: u64,
        mut check: impl FnMut(&std::path::Path, &str) -> bool,
    ) {
        let (mut docs, mut fast, mut mutated_fast) = (0, 0, 0);
        for f in fixture_files() {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            for raw in crate::yaml::split_documents(&text) {
                docs += 1;
                fast += usize::from(check(&f, raw.text));
                for _ in 0..6 {
                    mutated_fast += usize::from(check(&f, &mutate(raw.text, &mut seed)));
                }
            }
        }
        eprintln!(
            "{docs} documents: {fast} by the {what}, {mutated_fast} mutated ones accepted and confirmed"
        );
        assert!(
            fast * 2 > docs,
            "the {what} should take most real documents: {fast} of {docs}"
        );
    }

    /// Whenever the scanner answers, the event parser accepts the document
    /// with the same head.
    #[test]
    fn the_scanner_agrees_with_the_event_parser_on_real_and_mutated_documents() {
        differential("scanner", 0x2545_f491_4f6c_dd1d, |f, v| {
            let Some(quick) = head(v) else {
                return false;
            };
            let full = crate::yaml::full_document_head(v, 1);
            assert_eq!(
                full.as_ref().ok(),
                Some(&quick),
                "{}: the scanner accepted what the parser reads as {full:?}:\n{v}",
                f.display()
            );
            true
        });
    }

    fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                collect(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }

    /// One random edit of the kinds that break YAML: a line removed,
    /// re-indented or duplicated, or a structural character inserted.
    pub(crate) fn mutate(text: &str, seed: &mut u64) -> String {
        let mut next = |n: usize| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed % n.max(1) as u64) as usize
        };
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.is_empty() {
            return text.to_string();
        }
        let i = next(lines.len());
        match next(7) {
            0 => {
                lines.remove(i);
            }
            1 => lines[i].insert(0, ' '),
            2 => {
                if lines[i].starts_with(' ') {
                    lines[i].remove(0);
                }
            }
            3 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            _ => {
                let c = [
                    "\"", "'", ": ", "[", "{", "- ", "#", "&a ", "|", ":", "0", "1.5", "yes", "~",
                    "-", "0x1", "\\", "\n ",
                ];
                let c = c[next(c.len())];
                let at = next(lines[i].len() + 1);
                let at = (0..=at)
                    .rev()
                    .find(|a| lines[i].is_char_boundary(*a))
                    .unwrap_or(0);
                lines[i].insert_str(at, c);
            }
        }
        lines.join("\n") + "\n"
    }
}
