//! The step debugger's hook into minijinja: instrumented compilation.
//!
//! minijinja has no tracing API, so `kubectl pack-render debug` compiles
//! every template from an instrumented copy of its source: each source line
//! that starts outside a tag gets a call `{{ __dbg_line("name", N) }}`
//! after its indentation (with the line's own `-` whitespace control
//! repeated, so the output is byte for byte the same), and every macro body
//! and include is wrapped in `__dbg_enter`/`__dbg_exit`. The functions
//! receive minijinja's `State`, which gives the debugger the current
//! scope: `known_variables()` and `lookup()` for `locals`, and
//! `env().compile_expression()` evaluated over them for `print`. The call
//! blocks while the debugger is stopped, so the render simply waits on its
//! thread. Normal renders never see any of this.

use std::sync::Arc;

use minijinja::{Environment, Error, State};

/// What the debugger does at each hook.
pub trait Hook: Send + Sync {
    /// The render of template `path` (as in the stream's `# Source:`) starts.
    fn begin(&self, path: &str);
    /// Line `line` (1-based) of template `template` is about to run.
    fn line(&self, state: &State<'_, '_>, template: &str, line: u32) -> Result<(), Error>;
    /// A macro or include starts (`macro NAME`, `include FILE`).
    fn enter(&self, what: &str);
    /// It ended.
    fn exit(&self);
}

/// Registers the hook functions on `env`.
pub fn register(env: &mut Environment<'static>, hook: Arc<dyn Hook>) {
    let h = hook.clone();
    env.add_function(
        "__dbg_line",
        move |state: &State<'_, '_>, template: String, line: u32| -> Result<String, Error> {
            h.line(state, &template, line)?;
            Ok(String::new())
        },
    );
    let h = hook.clone();
    env.add_function("__dbg_enter", move |what: String| {
        h.enter(&what);
        String::new()
    });
    env.add_function("__dbg_exit", move || {
        hook.exit();
        String::new()
    });
}

/// Where a line starts, for the scanner.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    Tag(&'static str),
    Raw,
}

/// The instrumented source of `template`.
pub fn instrument(template: &str, source: &str) -> String {
    let mut out = String::with_capacity(source.len() * 2);
    let mut mode = Mode::Text;
    for (i, line) in source.split_inclusive('\n').enumerate() {
        let body = line.trim_start_matches([' ', '\t']);
        let indent = &line[..line.len() - body.len()];
        if mode == Mode::Text && !body.trim().is_empty() {
            let strip = if ["{%-", "{{-", "{#-"].iter().any(|t| body.starts_with(t)) {
                "-"
            } else {
                ""
            };
            out.push_str(indent);
            out.push_str(&format!(
                "{{{{{strip} __dbg_line({template:?}, {}) }}}}",
                i + 1
            ));
            out.push_str(body);
        } else {
            out.push_str(line);
        }
        mode = scan(line, mode);
    }
    wrap_calls(&out)
}

/// The mode after `line`, starting in `mode`.
fn scan(line: &str, mut mode: Mode) -> Mode {
    let mut rest = line;
    loop {
        match mode {
            Mode::Text => {
                let Some(at) = rest.find('{') else {
                    return mode;
                };
                let after = &rest[at + 1..];
                let (close, skip): (&'static str, usize) = match after.chars().next() {
                    Some('{') => ("}}", 2),
                    Some('%') => ("%}", 2),
                    Some('#') => ("#}", 2),
                    _ => {
                        rest = after;
                        continue;
                    }
                };
                let tag = &rest[at..];
                if close == "%}" && is_raw_start(tag) {
                    mode = Mode::Raw;
                    rest = &tag[tag.find("%}").map_or(tag.len(), |e| e + 2)..];
                    continue;
                }
                mode = Mode::Tag(close);
                rest = &rest[at + skip..];
            }
            Mode::Tag(close) => {
                let Some(end) = rest.find(close) else {
                    return mode;
                };
                mode = Mode::Text;
                rest = &rest[end + 2..];
            }
            Mode::Raw => {
                let Some(end) = find_endraw(rest) else {
                    return mode;
                };
                mode = Mode::Text;
                rest = &rest[end..];
            }
        }
    }
}

fn is_raw_start(tag: &str) -> bool {
    let inner = tag[2..].trim_start_matches('-').trim_start();
    inner.starts_with("raw")
        && inner[3..]
            .trim_start()
            .trim_start_matches('-')
            .starts_with("%}")
}

/// The offset just after `{% endraw %}` in `s`.
fn find_endraw(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = s[from..].find("{%").map(|i| from + i) {
        let inner = s[at + 2..].trim_start_matches('-').trim_start();
        if inner.starts_with("endraw") {
            return s[at..].find("%}").map(|e| at + e + 2);
        }
        from = at + 2;
    }
    None
}

/// Wraps macro bodies and includes in enter/exit calls (the profiler's
/// patterns, with the debugger's functions).
fn wrap_calls(source: &str) -> String {
    super::profile::instrument("", source)
        .replace("__prof_enter(\"macro ", "__dbg_enter(\"macro ")
        .replace("__prof_enter(\"include ", "__dbg_enter(\"include ")
        .replace("__prof_exit()", "__dbg_exit()")
        .replace(" ()\")", "\")")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Lines(Mutex<Vec<(String, u32)>>);
    impl Hook for Lines {
        fn begin(&self, _: &str) {}
        fn line(&self, _: &State<'_, '_>, t: &str, l: u32) -> Result<(), Error> {
            self.0.lock().unwrap().push((t.to_string(), l));
            Ok(())
        }
        fn enter(&self, _: &str) {}
        fn exit(&self) {}
    }

    #[test]
    fn instrumentation_keeps_the_output_byte_for_byte() {
        let src = "{%- set c = 1 -%}\n{% macro m(x) -%}\n  hi {{ x }}\n{%- endmacro %}\na: {{ m(c) }}\n{%- for i in [1, 2] %}\n  - {{ i }}\n{%- endfor %}\n{# a\ncomment #}\n{% raw %}\n{{ not }}\n{% endraw %}\nb: {{ dict(\n  x=1) }}\n";
        let mut plain = Environment::new();
        plain.add_template_owned("t", src.to_string()).unwrap();
        let expected = plain.get_template("t").unwrap().render(()).unwrap();
        let hook = Arc::new(Lines(Mutex::new(Vec::new())));
        let mut env = Environment::new();
        register(&mut env, hook.clone());
        env.add_template_owned("t", instrument("t", src)).unwrap();
        let got = env.get_template("t").unwrap().render(()).unwrap();
        assert_eq!(got, expected);
        let lines: Vec<u32> = hook.0.lock().unwrap().iter().map(|(_, l)| *l).collect();
        assert!(lines.contains(&7), "loop body line hit: {lines:?}");
        assert_eq!(
            lines.iter().filter(|l| **l == 7).count(),
            2,
            "once per iteration"
        );
        assert!(
            !lines.contains(&10) && !lines.contains(&12) && !lines.contains(&15),
            "inside comment/raw/expression: {lines:?}"
        );
    }
}
