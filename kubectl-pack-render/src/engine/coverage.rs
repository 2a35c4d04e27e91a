//! Coverage for `kubectl pack-render test --coverage`: `if`/`elif`/`else`
//! branches are instrumented at compile time (only in coverage mode) and
//! `values` becomes an object that records every path a template reads.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Serde};
use minijinja::{Environment, Value};

use crate::pack::Pack;

#[derive(Default)]
struct Sink {
    branches: BTreeSet<String>,
    values: BTreeSet<String>,
}

fn sink() -> &'static Mutex<Sink> {
    static S: OnceLock<Mutex<Sink>> = OnceLock::new();
    S.get_or_init(Default::default)
}

/// Takes (and clears) the branches taken and values read so far.
pub fn take() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut s = sink().lock().unwrap_or_else(|e| e.into_inner());
    (
        std::mem::take(&mut s.branches),
        std::mem::take(&mut s.values),
    )
}

fn branch_re() -> &'static regex::Regex {
    static R: OnceLock<regex::Regex> = OnceLock::new();
    R.get_or_init(|| {
        regex::Regex::new(r"\{%-?\s*(if|elif|else)\b[^%]*?(-?)%\}").expect("static regex")
    })
}

fn branch_id(template: &str, source: &str, offset: usize, kind: &str) -> String {
    let line = source[..offset].matches('\n').count() + 1;
    format!("{template}:{line} {kind}")
}

/// Every branch of every template of the pack (and its subpacks).
pub fn branches(pack: &Pack) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in &pack.templates {
        // A file that could not be read fails the render that needs it.
        let Ok(source) = t.source.text() else {
            continue;
        };
        for c in branch_re().captures_iter(&source) {
            let m = c.get(0).map(|m| m.start()).unwrap_or(0);
            out.insert(branch_id(&t.name, &source, m, &c[1]));
        }
    }
    out
}

/// Adds a `__cov("<template>:<line> <kind>")` call after each branch tag.
pub fn instrument(template: &str, source: &str) -> String {
    branch_re()
        .replace_all(source, |c: &regex::Captures<'_>| {
            let start = c.get(0).map(|m| m.start()).unwrap_or(0);
            let id = branch_id(template, source, start, &c[1]);
            let trim = if &c[2] == "-" { "-" } else { "" };
            format!("{}{{{{ __cov({id:?}) {trim}}}}}", &c[0])
        })
        .into_owned()
}

/// Registers `__cov`.
pub fn register(env: &mut Environment<'static>) {
    env.add_function("__cov", |id: String| {
        sink()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .branches
            .insert(id);
        String::new()
    });
}

/// `values` that records every path read.
#[derive(Debug)]
pub struct Tracked {
    node: serde_json::Value,
    path: String,
}

impl Tracked {
    /// Wraps the root values.
    pub fn root(values: &serde_json::Value) -> Value {
        Value::from_object(Tracked {
            node: values.clone(),
            path: "values".into(),
        })
    }

    fn wrap(&self, key: &str, child: &serde_json::Value) -> Value {
        let path = format!("{}.{key}", self.path);
        sink()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values
            .insert(path.clone());
        match child {
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                Value::from_object(Tracked {
                    node: child.clone(),
                    path,
                })
            }
            scalar => Value::from(Serde(scalar)),
        }
    }
}

impl Object for Tracked {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.node {
            serde_json::Value::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match &self.node {
            serde_json::Value::Object(m) => {
                let k = key.as_str()?;
                m.get(k).map(|c| self.wrap(k, c))
            }
            serde_json::Value::Array(a) => {
                let i = usize::try_from(key.as_i64()?).ok()?;
                a.get(i).map(|c| self.wrap(&i.to_string(), c))
            }
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match &self.node {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<Value> = m.keys().map(|k| Value::from(k.as_str())).collect();
                keys.sort();
                Enumerator::Values(keys)
            }
            serde_json::Value::Array(a) => Enumerator::Seq(a.len()),
            _ => Enumerator::NonEnumerable,
        }
    }
}
