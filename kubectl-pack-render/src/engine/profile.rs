//! `--profile` and `--trace`: macros and includes are instrumented at
//! compile time with calls that record enter/exit, so the report shows time
//! per macro and the call tree, without slowing down normal renders (the
//! instrumentation only exists when asked for).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use minijinja::Environment;

/// One recorded event of the call tree.
#[derive(Debug, Clone)]
pub struct TraceEvent {
    /// Nesting depth (0 = called from the template body).
    pub depth: usize,
    /// `macro NAME (file)` or `include NAME`.
    pub what: String,
    /// Time spent inside.
    pub elapsed: Duration,
}

/// The call tree of one template render and the values it read.
pub type TemplateTrace = (String, Vec<TraceEvent>, Vec<String>);

#[derive(Default)]
struct Recorder {
    totals: BTreeMap<String, (u64, Duration)>,
    events: Vec<TemplateTrace>,
}

fn recorder() -> &'static Mutex<Recorder> {
    static R: OnceLock<Mutex<Recorder>> = OnceLock::new();
    R.get_or_init(Default::default)
}

thread_local! {
    static STACK: std::cell::RefCell<Vec<(String, Instant, usize)>> = const { std::cell::RefCell::new(Vec::new()) };
    static EVENTS: std::cell::RefCell<Vec<TraceEvent>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Starts recording the call tree of one template render on this thread.
pub fn begin_template() {
    EVENTS.with(|e| e.borrow_mut().clear());
}

/// Stores the call tree recorded since [`begin_template`] under
/// `template`, with the values read meanwhile (see [`super::coverage`]).
pub fn end_template(template: &str) {
    let events = EVENTS.with(|e| std::mem::take(&mut *e.borrow_mut()));
    let (_, values) = super::coverage::take();
    let mut r = recorder().lock().unwrap_or_else(|e| e.into_inner());
    r.events
        .push((template.to_string(), events, values.into_iter().collect()));
}

/// Per-macro totals: name -> (calls, total time).
pub fn totals() -> BTreeMap<String, (u64, Duration)> {
    recorder()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .totals
        .clone()
}

/// The recorded call trees, per template.
pub fn trees() -> Vec<TemplateTrace> {
    let mut t = recorder()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .events
        .clone();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

/// Registers `__prof_enter`/`__prof_exit`.
pub fn register(env: &mut Environment<'static>) {
    env.add_function("__prof_enter", |what: String| {
        STACK.with(|s| {
            let mut s = s.borrow_mut();
            let depth = s.len();
            // Reserve the event slot so the tree prints in call order.
            let slot = EVENTS.with(|e| {
                let mut e = e.borrow_mut();
                e.push(TraceEvent {
                    depth,
                    what: what.clone(),
                    elapsed: Duration::ZERO,
                });
                e.len() - 1
            });
            s.push((what, Instant::now(), slot));
        });
        String::new()
    });
    env.add_function("__prof_exit", || {
        STACK.with(|s| {
            if let Some((what, start, slot)) = s.borrow_mut().pop() {
                let elapsed = start.elapsed();
                EVENTS.with(|e| {
                    if let Some(ev) = e.borrow_mut().get_mut(slot) {
                        ev.elapsed = elapsed;
                    }
                });
                let mut r = recorder().lock().unwrap_or_else(|e| e.into_inner());
                let entry = r.totals.entry(what).or_default();
                entry.0 += 1;
                entry.1 += elapsed;
            }
        });
        String::new()
    });
}

/// Adds enter/exit calls around every macro body and include in `source`.
pub fn instrument(template: &str, source: &str) -> String {
    static MACRO: OnceLock<regex::Regex> = OnceLock::new();
    static END: OnceLock<regex::Regex> = OnceLock::new();
    static INCLUDE: OnceLock<regex::Regex> = OnceLock::new();
    let macro_re = MACRO.get_or_init(|| {
        regex::Regex::new(r"\{%-?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)\s*\([^%]*?(-?)%\}")
            .expect("static regex")
    });
    let end_re =
        END.get_or_init(|| regex::Regex::new(r"\{%(-?)\s*endmacro\s*-?%\}").expect("static regex"));
    let include_re = INCLUDE.get_or_init(|| {
        regex::Regex::new(r#"\{%-?\s*include\s+["']([^"']+)["'][^%]*-?%\}"#).expect("static regex")
    });
    let s = macro_re.replace_all(source, |c: &regex::Captures<'_>| {
        let trim = if &c[2] == "-" { "-" } else { "" };
        format!(
            "{}{{{{ __prof_enter(\"macro {} ({template})\") {trim}}}}}",
            &c[0], &c[1]
        )
    });
    let s = end_re.replace_all(&s, |c: &regex::Captures<'_>| {
        let trim = if &c[1] == "-" { "-" } else { "" };
        format!("{{{{{trim} __prof_exit() }}}}{}", &c[0])
    });
    let s = include_re.replace_all(&s, |c: &regex::Captures<'_>| {
        format!(
            "{{{{ __prof_enter(\"include {}\") }}}}{}{{{{ __prof_exit() }}}}",
            &c[1], &c[0]
        )
    });
    s.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrumentation_keeps_output_and_whitespace_control() {
        let src = "{% macro name(x) -%}\n  hello {{ x }}\n{%- endmacro %}[{{ name('a') }}]";
        let mut plain = Environment::new();
        plain.add_template_owned("t", src.to_string()).unwrap();
        let mut env = Environment::new();
        register(&mut env);
        env.add_template_owned("t", instrument("t", src)).unwrap();
        let a = plain.get_template("t").unwrap().render(()).unwrap();
        let b = env.get_template("t").unwrap().render(()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, "[hello a]");
        assert!(totals().contains_key("macro name (t)"));
    }
}
