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
        Format::Yaml => super::yaml_in::parse_yaml(text),
    }
}

/// Writes documents in the given format (JSON: the first document).
pub fn emit(docs: &[Node], format: Format) -> String {
    match format {
        Format::Json => {
            let mut out = String::new();
            if let Some(d) = docs.first() {
                super::yaml_out::emit_json(d, 0, &mut out);
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
                super::yaml_out::emit_yaml_root(d, &mut out);
            }
            out
        }
    }
}

pub use super::yaml_in::format_float;
pub use super::yaml_out::quote_if_needed;

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
