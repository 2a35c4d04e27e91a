//! CEL validation rules (`x-kubernetes-validations`), evaluated the way the
//! API server evaluates them on an update of a stored object that leaves the
//! rule's node as it is.
//!
//! The interpreter is the `cel` crate with cel-go's strings, lists and math
//! extensions, plus the Kubernetes list functions (`isSorted`, `sum`, `min`,
//! `max`) and regex `find`/`findAll`. Values are typed from the schema as the
//! server types them: `integer` -> int, `number` -> double, objects -> maps
//! whose declared property names are escaped (`__dash__`, `__dot__`, ...).
//!
//! What the server does with a rule's result (apiextensions-apiserver
//! `schema/cel/validation.go`): `false` is ratcheted (only an update that
//! changes the rule's node fails) unless the rule uses `oldSelf`; an
//! evaluation error (no such key, division by zero, index out of bounds,
//! overflow) is never ratcheted. A rule that needs something this
//! interpreter lacks (a Kubernetes library such as `quantity()`, `url()`,
//! `ip()`, `optionalOldSelf`) is reported as not checked, with the reason.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Env, ExecutionError, Program, Value as Cel};
use serde_json::Value;

/// What one rule said about one value.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The rule holds.
    Pass,
    /// The rule evaluated to false: its message.
    Fail(String),
    /// The rule could not be evaluated (the server fails the same way).
    Error(String),
    /// This interpreter cannot evaluate it: why.
    NotChecked(String),
}

/// One compiled rule.
struct Compiled {
    program: Program,
    uses_old_self: bool,
}

thread_local! {
    static ENV: Arc<Env> = Arc::new(environment());
    static PROGRAMS: RefCell<HashMap<String, Result<Arc<Compiled>, String>>> = RefCell::new(HashMap::new());
}

fn environment() -> Env {
    let mut env = Env::stdlib();
    // Each extension registers distinct names; a clash would be a bug in
    // this list, and then the rules needing it are reported as not checked.
    for ext in [
        cel::extensions::strings as fn(&mut Env) -> _,
        cel::extensions::lists,
        cel::extensions::math,
    ] {
        let added = env.add_extension(ext);
        debug_assert!(added.is_ok(), "CEL extension: {added:?}");
    }
    env
}

/// Kubernetes' own library functions that the interpreter lacks, registered
/// per evaluation context.
fn add_kubernetes_functions(ctx: &mut Context<'_, '_>) {
    use cel::extractors::This;
    let registered = [
        ctx.add_function("isSorted", |This(list): This<Arc<Vec<Cel>>>| {
            list.windows(2)
                .all(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Greater))
        }),
        ctx.add_function("sum", |This(list): This<Arc<Vec<Cel>>>| -> Cel {
            let ints: Option<i64> = list.iter().try_fold(0i64, |acc, v| match v {
                Cel::Int(i) => acc.checked_add(*i),
                _ => None,
            });
            match ints {
                Some(i) => Cel::Int(i),
                None => Cel::Float(
                    list.iter()
                        .map(|v| match v {
                            Cel::Int(i) => *i as f64,
                            Cel::UInt(u) => *u as f64,
                            Cel::Float(f) => *f,
                            _ => f64::NAN,
                        })
                        .sum(),
                ),
            }
        }),
        ctx.add_function("min", |This(list): This<Arc<Vec<Cel>>>| {
            extreme(&list, true)
        }),
        ctx.add_function("max", |This(list): This<Arc<Vec<Cel>>>| {
            extreme(&list, false)
        }),
        ctx.add_function("find", |This(s): This<Arc<String>>, re: Arc<String>| {
            regex::Regex::new(&re)
                .map(|r| {
                    let found = r.find(&s).map(|m| m.as_str().to_string());
                    Cel::String(Arc::new(found.unwrap_or_default()))
                })
                .map_err(|e| ExecutionError::function_error("find", e.to_string()))
        }),
        ctx.add_function("findAll", |This(s): This<Arc<String>>, re: Arc<String>| {
            regex::Regex::new(&re)
                .map(|r| {
                    Cel::List(Arc::new(
                        r.find_iter(&s)
                            .map(|m| Cel::String(Arc::new(m.as_str().to_string())))
                            .collect(),
                    ))
                })
                .map_err(|e| ExecutionError::function_error("findAll", e.to_string()))
        }),
    ];
    // A name the environment already declared would keep the environment's
    // meaning; none does (tested).
    debug_assert!(registered.iter().all(Result::is_ok), "{registered:?}");
}

fn extreme(list: &[Cel], min: bool) -> Result<Cel, ExecutionError> {
    let mut best: Option<&Cel> = None;
    for v in list {
        best = match best {
            None => Some(v),
            Some(b) => {
                let better = match v.partial_cmp(b) {
                    Some(std::cmp::Ordering::Less) => min,
                    Some(std::cmp::Ordering::Greater) => !min,
                    _ => false,
                };
                Some(if better { v } else { b })
            }
        };
    }
    best.cloned().ok_or_else(|| {
        ExecutionError::function_error(if min { "min" } else { "max" }, "empty list")
    })
}

fn compile(rule: &str) -> Result<Arc<Compiled>, String> {
    PROGRAMS.with(|cache| {
        if let Some(found) = cache.borrow().get(rule) {
            return found.clone();
        }
        let compiled = ENV
            .with(|env| env.compile(rule))
            .map(|program| {
                let uses_old_self = program.references().has_variable("oldSelf");
                Arc::new(Compiled {
                    program,
                    uses_old_self,
                })
            })
            .map_err(|e| format!("cannot parse the rule here ({})", one_line(&e.to_string())));
        cache
            .borrow_mut()
            .insert(rule.to_string(), compiled.clone());
        compiled
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `rule` (the text) refers to `oldSelf` (a transition rule).
pub fn uses_old_self(rule: &str) -> bool {
    compile(rule).is_ok_and(|c| c.uses_old_self)
}

/// Evaluates one `x-kubernetes-validations` entry against `value` (already
/// converted with [`to_cel`]) as an update that leaves it unchanged would:
/// `oldSelf` is the same value.
pub fn evaluate(entry: &Value, value: &Cel) -> Verdict {
    let Some(rule) = entry["rule"].as_str() else {
        return Verdict::Pass;
    };
    if entry["optionalOldSelf"] == true {
        return Verdict::NotChecked("optionalOldSelf rules are not evaluated here".into());
    }
    let compiled = match compile(rule) {
        Ok(c) => c,
        Err(why) => return Verdict::NotChecked(why),
    };
    ENV.with(|env| {
        let mut ctx = Context::with_env(env.clone());
        add_kubernetes_functions(&mut ctx);
        if ctx.add_variable("self", value.clone()).is_err()
            || (compiled.uses_old_self && ctx.add_variable("oldSelf", value.clone()).is_err())
        {
            return Verdict::NotChecked("cannot bind self".into());
        }
        match compiled.program.execute(&ctx) {
            Ok(Cel::Bool(true)) => Verdict::Pass,
            Ok(Cel::Bool(false)) => Verdict::Fail(message(entry, rule)),
            Ok(other) => Verdict::NotChecked(format!(
                "the rule gave {} instead of a bool",
                other.type_of()
            )),
            Err(e) => classify_error(e),
        }
    })
}

/// The errors the API server raises the same way become `Error`; the rest
/// mean this interpreter lacks something.
fn classify_error(e: ExecutionError) -> Verdict {
    match e {
        ExecutionError::NoSuchKey(k) => Verdict::Error(format!("no such key: {k}")),
        ExecutionError::DivisionByZero(_) | ExecutionError::RemainderByZero(_) => {
            Verdict::Error("division by zero".into())
        }
        ExecutionError::IndexOutOfBounds(i) => {
            Verdict::Error(format!("index out of bounds: {}", show(&i)))
        }
        ExecutionError::Overflow(op, _, _) => Verdict::Error(format!("integer overflow in {op}")),
        ExecutionError::UndeclaredReference(name) => {
            Verdict::NotChecked(format!("{name} is not available in this interpreter"))
        }
        other => Verdict::NotChecked(format!(
            "not evaluated here: {}",
            one_line(&other.to_string())
        )),
    }
}

fn show(v: &Cel) -> String {
    match v {
        Cel::Int(i) => i.to_string(),
        Cel::UInt(u) => u.to_string(),
        _ => "?".into(),
    }
}

/// The rule's own message, else the server's wording.
fn message(entry: &Value, rule: &str) -> String {
    match entry["message"].as_str() {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => format!("failed rule: {rule}"),
    }
}

/// CEL keywords that the server escapes as property names (`__in__`).
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// A declared property name as CEL sees it (Kubernetes' escaping).
pub fn escape_property(name: &str) -> String {
    if RESERVED.contains(&name) {
        return format!("__{name}__");
    }
    name.replace("__", "__underscores__")
        .replace('.', "__dot__")
        .replace('-', "__dash__")
        .replace('/', "__slash__")
}

/// `value` as the server hands it to a rule at a node with `schema`.
pub fn to_cel(schema: &Value, value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => {
            if schema["type"] == "number" {
                Cel::Float(n.as_f64().unwrap_or(f64::NAN))
            } else if let Some(i) = n.as_i64() {
                Cel::Int(i)
            } else if let Some(u) = n.as_u64() {
                Cel::UInt(u)
            } else {
                Cel::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => {
            let item_schema = &schema["items"];
            Cel::List(Arc::new(
                items.iter().map(|v| to_cel(item_schema, v)).collect(),
            ))
        }
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let mut out: HashMap<Key, Cel> = HashMap::with_capacity(map.len());
            for (k, v) in map {
                let (key, child) = match props.and_then(|p| p.get(k)) {
                    Some(s) => (escape_property(k), s),
                    None => (k.clone(), &schema["additionalProperties"]),
                };
                out.insert(Key::String(Arc::new(key)), to_cel(child, v));
            }
            Cel::Map(Map::from(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(rule: &str, schema: Value, v: Value) -> Verdict {
        evaluate(&json!({"rule": rule}), &to_cel(&schema, &v))
    }

    #[test]
    fn rules_from_real_charts_evaluate() {
        let schema = json!({"type": "object", "properties": {"type": {"type": "string"},
            "rollingUpdate": {"type": "object"}}});
        let rule = "!(self.type != 'RollingUpdate' && has(self.rollingUpdate))";
        assert_eq!(
            run(
                rule,
                schema.clone(),
                json!({"type": "RollingUpdate", "rollingUpdate": {}})
            ),
            Verdict::Pass
        );
        assert_eq!(
            run(
                rule,
                schema,
                json!({"type": "OnDelete", "rollingUpdate": {}})
            ),
            Verdict::Fail(format!("failed rule: {rule}"))
        );
        let auth = "[has(self.basicAuth), has(self.authorization), has(self.oauth2)].filter(x, x).size() <= 1";
        assert_eq!(
            run(auth, json!({}), json!({"basicAuth": {}, "oauth2": {}})),
            Verdict::Fail(format!("failed rule: {auth}"))
        );
    }

    #[test]
    fn integers_stay_int_and_numbers_become_double() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}, "r": {"type": "number"},
            "l": {"type": "array", "items": {"type": "integer"}}}});
        let v = json!({"n": 3, "r": 0, "l": [3, 1, 2]});
        for rule in [
            "self.n * 2 == 6",
            "self.r < 1.0",
            "self.l.map(x, x * 2)[0] == 6",
            "self.l.sum() == 6",
            "self.l.min() == 1 && self.l.max() == 3",
            "!self.l.isSorted() && [1, 2].isSorted()",
            "'abc-12'.find('[0-9]+') == '12' && 'a1b2'.findAll('[0-9]').size() == 2",
            "'ABC'.lowerAscii() == 'abc'",
        ] {
            assert_eq!(
                run(rule, schema.clone(), v.clone()),
                Verdict::Pass,
                "{rule}"
            );
        }
    }

    #[test]
    fn evaluation_errors_and_unsupported_functions_are_told_apart() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(
            run("self.owner == 'x'", schema.clone(), json!({})),
            Verdict::Error("no such key: owner".into())
        );
        assert!(matches!(
            run(
                "quantity(self.a).isGreaterThan(quantity('1'))",
                schema.clone(),
                json!({"a": "2"})
            ),
            Verdict::NotChecked(_)
        ));
        assert!(matches!(
            run("self.a ==", schema, json!({"a": "x"})),
            Verdict::NotChecked(_)
        ));
    }

    #[test]
    fn transition_rules_see_the_value_as_its_own_old_value() {
        let schema = json!({"type": "string"});
        assert!(uses_old_self("self == oldSelf"));
        assert!(!uses_old_self("self == 'x'"));
        assert_eq!(
            run("self == oldSelf", schema.clone(), json!("a")),
            Verdict::Pass
        );
        assert_eq!(
            evaluate(
                &json!({"rule": "oldSelf != 'frozen'", "message": "frozen gadgets cannot change"}),
                &to_cel(&schema, &json!("frozen"))
            ),
            Verdict::Fail("frozen gadgets cannot change".into())
        );
    }

    #[test]
    fn declared_property_names_are_escaped_like_the_server_does() {
        let schema = json!({"type": "object", "properties": {"x-y": {"type": "string"}, "in": {"type": "string"}},
            "additionalProperties": false});
        assert_eq!(
            run(
                "self.x__dash__y == 'a' && self.__in__ == 'b'",
                schema,
                json!({"x-y": "a", "in": "b"})
            ),
            Verdict::Pass
        );
        let labels = json!({"type": "object", "additionalProperties": {"type": "string"}});
        assert_eq!(
            run("self['a-b'] == 'c'", labels, json!({"a-b": "c"})),
            Verdict::Pass
        );
    }
}
