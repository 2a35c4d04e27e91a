//! `-o jsonpath=TEMPLATE`, kubectl's template language over what `-o json`
//! prints.
//!
//! Text outside braces is printed as is; `{.a.b}`, `{.items[*].name}`,
//! `{$.x}`, `{@}` print what the path selects (several results joined by a
//! space; strings bare, everything else as JSON); `{"\n"}` is a string
//! literal; `{range .items[*]}...{end}` repeats its body for each result,
//! paths inside it starting from that result. The paths themselves are
//! RFC 9535 JSONPath (evaluated by `serde_json_path`), which kubectl's
//! expressions are a dialect of: `[0]`, `[*]`, `..name`,
//! `[?(@.kind=="Pod")]` all work.

use serde_json::Value;
use serde_json_path::JsonPath;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
    nodes: Vec<Node>,
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Template {}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Path(JsonPath),
    Range(JsonPath, Vec<Node>),
}

impl Template {
    /// Parses `text` (the part after `jsonpath=`).
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut stack: Vec<(Option<JsonPath>, Vec<Node>)> = vec![(None, Vec::new())];
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                push(&mut stack, Node::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                push(&mut stack, Node::Text(rest[..open].to_string()));
            }
            let close =
                closing(&rest[open..]).ok_or_else(|| format!("unclosed '{{' in {text:?}"))?;
            let inner = rest[open + 1..open + close].trim();
            rest = &rest[open + close + 1..];
            if let Some(literal) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                push(&mut stack, Node::Text(unescape(literal)));
            } else if let Some(path) = inner.strip_prefix("range ") {
                stack.push((Some(path_of(path.trim())?), Vec::new()));
            } else if inner == "end" {
                let (Some(path), body) = stack.pop().unwrap_or((None, Vec::new())) else {
                    return Err(format!("{{end}} without {{range}} in {text:?}"));
                };
                push(&mut stack, Node::Range(path, body));
            } else {
                push(&mut stack, Node::Path(path_of(inner)?));
            }
        }
        match stack.pop() {
            Some((None, nodes)) if stack.is_empty() => Ok(Template {
                text: text.to_string(),
                nodes,
            }),
            _ => Err(format!("{{range}} without {{end}} in {text:?}")),
        }
    }

    /// The template as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The template applied to `root`.
    pub fn render(&self, root: &Value) -> String {
        let mut out = String::new();
        render(&self.nodes, root, &mut out);
        out
    }
}

fn push(stack: &mut [(Option<JsonPath>, Vec<Node>)], node: Node) {
    if let Some((_, nodes)) = stack.last_mut() {
        nodes.push(node);
    }
}

/// The offset of the `}` closing the `{` at the start of `s`, skipping
/// quoted strings.
fn closing(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("\\n", "\n")
        .replace("\\t", "\t")
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
}

/// kubectl writes `.a.b` and `@`; RFC 9535 starts every query at `$`.
fn path_of(expr: &str) -> Result<JsonPath, String> {
    let query = if expr.starts_with('$') {
        expr.to_string()
    } else if let Some(rest) = expr.strip_prefix('@') {
        format!("${rest}")
    } else if expr.starts_with('.') || expr.starts_with('[') {
        format!("${expr}")
    } else {
        format!("$.{expr}")
    };
    JsonPath::parse(&query).map_err(|e| format!("jsonpath {expr:?}: {e}"))
}

fn render(nodes: &[Node], current: &Value, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Path(p) => {
                let found: Vec<String> = p.query(current).all().into_iter().map(plain).collect();
                out.push_str(&found.join(" "));
            }
            Node::Range(p, body) => {
                for item in p.query(current).all() {
                    render(body, item, out);
                }
            }
        }
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: &str, v: &Value) -> String {
        Template::parse(t).expect("template").render(v)
    }

    #[test]
    fn kubectl_templates_render() {
        let v = json!({"items": [{"name": "a", "rev": 1}, {"name": "b", "rev": 2}], "ns": "x"});
        assert_eq!(run("{.ns}", &v), "x");
        assert_eq!(run("ns={.ns}!", &v), "ns=x!");
        assert_eq!(run("{.items[*].name}", &v), "a b");
        assert_eq!(run("{.items[1].rev}", &v), "2");
        assert_eq!(
            run(r#"{range .items[*]}{.name}:{.rev}{"\n"}{end}"#, &v),
            "a:1\nb:2\n"
        );
        assert_eq!(run(r#"{.items[?(@.rev==2)].name}"#, &v), "b");
        assert_eq!(run("{$.ns}{@.ns}", &v), "xx");
        assert_eq!(run("{[*].r}", &json!([{"r": 1}, {"r": 2}])), "1 2");
    }

    #[test]
    fn broken_templates_are_refused() {
        for t in ["{.a", "{range .a}x", "x{end}", "{.a[}"] {
            assert!(Template::parse(t).is_err(), "{t}");
        }
    }
}
