//! Writing the SOPS tree as YAML (sops's 4-space style, comments kept,
//! ambiguous strings quoted, multi-line strings as literal blocks) and as
//! JSON (sops's tab indentation).

use super::tree::{Elem, Node, Scalar};
use super::yaml_in::{format_float, resolve};

const INDENT: usize = 4;

pub(super) fn emit_yaml_root(node: &Node, out: &mut String) {
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

pub(super) fn emit_json(node: &Node, depth: usize, out: &mut String) {
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
