//! `kubectl pack-render debug PACK`: a step debugger for templates.
//!
//! Commands come one per line from stdin — typed at a `(pack-debug)`
//! prompt on a terminal, or piped in as a script (tests, CI). Before `run`:
//! `break FILE:LINE`, `delete FILE:LINE`, `watch EXPR`, `breakpoints`.
//! While stopped: `continue`, `step` (the next template line, into macros
//! and includes), `next` (the next line at this depth or shallower),
//! `print EXPR` / `eval EXPR` (any minijinja expression in the current
//! scope, loop variables included), `locals`, `trace` (the
//! template/import/macro stack), `watch EXPR`, `reload` (re-read the pack
//! and render again, breakpoints kept), `quit`. End of input lets the render
//! finish without stopping. The hook is `engine::stepping`; values from
//! encrypted files are redacted from everything printed.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

use minijinja::{Error, ErrorKind, State, Value};

use crate::cli::DebugArgs;
use crate::engine::stepping::Hook;
use crate::pack::Pack;
use crate::render::{self, Request};

/// How the render proceeds until the next stop.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Until a breakpoint.
    Continue,
    /// At the next line.
    Step,
    /// At the next line at this stack depth or shallower.
    Next(usize),
    /// Never stop again (end of input).
    Finish,
}

/// Why a render was cut short by the user.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Abort {
    Reload,
    Quit,
}

struct Frame {
    what: String,
    template: String,
    line: u32,
}

struct Session {
    breakpoints: BTreeSet<(String, u32)>,
    watches: Vec<String>,
    mode: Mode,
    stack: Vec<Frame>,
    abort: Option<Abort>,
    input: Box<dyn BufRead + Send>,
    interactive: bool,
    /// Original sources by template name, for showing lines.
    sources: std::collections::HashMap<String, Arc<str>>,
    /// Strings never to print (values from encrypted files, and their base64).
    secrets: Vec<String>,
}

/// The debugger: the hook the engine calls, and the command loop.
struct Debugger(Mutex<Session>);

impl Debugger {
    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Hook for Debugger {
    fn line(&self, state: &State<'_, '_>, template: &str, line: u32) -> Result<(), Error> {
        let mut s = self.session();
        if s.abort.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "stopped by the debugger",
            ));
        }
        if let Some(top) = s.stack.last_mut() {
            top.template = template.to_string();
            top.line = line;
        }
        let depth = s.stack.len();
        let stop = match s.mode {
            Mode::Finish => false,
            Mode::Step => true,
            Mode::Next(d) => depth <= d,
            Mode::Continue => false,
        } || (s.mode != Mode::Finish
            && s.breakpoints.contains(&(template.to_string(), line)));
        if !stop {
            return Ok(());
        }
        s.stopped(state, template, line)
    }

    fn begin(&self, path: &str) {
        let mut s = self.session();
        let template = path
            .rsplit_once("/templates/")
            .map_or(path, |(_, t)| t)
            .to_string();
        s.stack = vec![Frame {
            what: format!("template {path}"),
            template,
            line: 1,
        }];
    }

    fn enter(&self, what: &str) {
        let mut s = self.session();
        let (template, line) = s
            .stack
            .last()
            .map(|f| (f.template.clone(), f.line))
            .unwrap_or_default();
        s.stack.push(Frame {
            what: what.to_string(),
            template,
            line,
        });
    }

    fn exit(&self) {
        let mut s = self.session();
        if s.stack.len() > 1 {
            s.stack.pop();
        }
    }
}

impl Session {
    /// Prints a reply (secrets redacted); a closed stdout ends the session.
    fn say(&mut self, text: &str) {
        let mut text = text.to_string();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "(hidden: from an encrypted file)");
        }
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
            self.abort = Some(Abort::Quit);
            self.mode = Mode::Finish;
        }
    }

    /// The next command, or None at end of input.
    fn read(&mut self) -> Option<String> {
        if self.interactive {
            eprint!("(pack-debug) ");
        }
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim().to_string()),
        }
    }

    fn source_line(&self, template: &str, line: u32) -> String {
        self.sources
            .get(template)
            .and_then(|s| s.lines().nth(line as usize - 1))
            .unwrap_or("")
            .to_string()
    }

    /// Stopped at `template:line`: show where, the watches, then obey
    /// commands until one resumes the render.
    fn stopped(&mut self, state: &State<'_, '_>, template: &str, line: u32) -> Result<(), Error> {
        let here = format!(
            "stopped at templates/{template}:{line}: {}",
            self.source_line(template, line).trim()
        );
        self.say(&here);
        for w in self.watches.clone() {
            let v = eval(state, &w);
            self.say(&format!("  watch {w} = {v}"));
        }
        loop {
            let Some(cmd) = self.read() else {
                self.mode = Mode::Finish;
                return Ok(());
            };
            let (verb, arg) = cmd
                .split_once(' ')
                .map_or((cmd.as_str(), ""), |(v, a)| (v, a.trim()));
            match verb {
                "" => continue,
                "c" | "continue" | "run" => {
                    self.mode = Mode::Continue;
                    return Ok(());
                }
                "s" | "step" => {
                    self.mode = Mode::Step;
                    return Ok(());
                }
                "n" | "next" => {
                    self.mode = Mode::Next(self.stack.len());
                    return Ok(());
                }
                "p" | "print" | "eval" => {
                    let v = eval(state, arg);
                    self.say(&format!("{arg} = {v}"));
                }
                "locals" => self.say(&locals(state)),
                "trace" | "bt" => self.say(&self.trace()),
                "reload" | "quit" | "q" => {
                    self.abort = Some(if verb == "reload" {
                        Abort::Reload
                    } else {
                        Abort::Quit
                    });
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "stopped by the debugger",
                    ));
                }
                _ => {
                    let reply = self.setup(verb, arg);
                    self.say(&reply);
                }
            }
        }
    }

    /// Commands valid before and during the run; returns the reply.
    fn setup(&mut self, verb: &str, arg: &str) -> String {
        match verb {
            "b" | "break" => match self.location(arg) {
                Ok(loc) => {
                    let reply = format!("breakpoint at templates/{}:{}", loc.0, loc.1);
                    self.breakpoints.insert(loc);
                    reply
                }
                Err(e) => e,
            },
            "delete" => match self.location(arg) {
                Ok(loc) if self.breakpoints.remove(&loc) => {
                    format!("deleted templates/{}:{}", loc.0, loc.1)
                }
                Ok(_) => format!("no breakpoint at {arg}"),
                Err(e) => e,
            },
            "breakpoints" if self.breakpoints.is_empty() => "(no breakpoints)".into(),
            "breakpoints" => self
                .breakpoints
                .iter()
                .map(|(t, l)| format!("templates/{t}:{l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            "watch" if !arg.is_empty() => {
                self.watches.push(arg.to_string());
                format!("watching {arg}")
            }
            "help" | "h" => HELP.to_string(),
            _ => format!("unknown command {verb:?}; type help"),
        }
    }

    /// `FILE:LINE` → (template name, line), checked against the pack.
    fn location(&self, arg: &str) -> Result<(String, u32), String> {
        let Some((file, line)) = arg.rsplit_once(':') else {
            return Err(format!(
                "break {arg}: write FILE:LINE, e.g. deployment.yaml:12"
            ));
        };
        let line: u32 = line
            .parse()
            .map_err(|_| format!("break {arg}: {line} is not a line number"))?;
        let name = file
            .trim_start_matches("./")
            .trim_start_matches("templates/");
        let Some(source) = self.sources.get(name) else {
            let mut names: Vec<&String> = self.sources.keys().collect();
            names.sort();
            return Err(format!(
                "break {arg}: no template {name}; the pack has {}",
                names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let lines = source.lines().count() as u32;
        if line == 0 || line > lines {
            return Err(format!("break {arg}: templates/{name} has {lines} lines"));
        }
        Ok((name.to_string(), line))
    }

    fn trace(&self) -> String {
        self.stack
            .iter()
            .rev()
            .enumerate()
            .map(|(i, f)| format!("#{i} {} at templates/{}:{}", f.what, f.template, f.line))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

const HELP: &str = "break FILE:LINE | delete FILE:LINE | breakpoints | watch EXPR | run | continue | step | next | print EXPR | eval EXPR | locals | trace | reload | quit";

/// An expression evaluated over the variables in scope.
fn eval(state: &State<'_, '_>, expr: &str) -> String {
    if expr.is_empty() {
        return "(print what? e.g. print values.image.tag)".into();
    }
    let scope = scope(state);
    match state
        .env()
        .compile_expression(expr)
        .and_then(|e| e.eval(&scope))
    {
        Ok(v) if v.is_undefined() => "undefined".into(),
        Ok(v) => show(&v),
        Err(e) => format!("error: {}", shared::error::one_line(&e.to_string())),
    }
}

fn scope(state: &State<'_, '_>) -> Value {
    let vars: std::collections::BTreeMap<String, Value> = state
        .known_variables()
        .iter()
        .filter_map(|n| state.lookup(n).map(|v| (n.to_string(), v)))
        .collect();
    Value::from(vars)
}

fn show(v: &Value) -> String {
    let s = match serde_json::to_string(v) {
        Ok(j) => j,
        Err(_) => v.to_string(),
    };
    if s.chars().count() > 400 {
        format!("{}…", s.chars().take(400).collect::<String>())
    } else {
        s
    }
}

/// The variables in scope (the context's big maps summarised).
fn locals(state: &State<'_, '_>) -> String {
    let mut names: Vec<String> = state
        .known_variables()
        .iter()
        .map(|n| n.to_string())
        .collect();
    names.sort();
    names
        .iter()
        .filter(|n| !n.starts_with("__"))
        .filter_map(|n| {
            let v = state.lookup(n)?;
            let shown = match n.as_str() {
                "values" | "capabilities" | "files" => "{…} (print it to see it)".to_string(),
                _ if v.kind() == minijinja::value::ValueKind::Plain => return None,
                _ if v.to_string().starts_with("<macro") => "(macro)".into(),
                _ => show(&v),
            };
            Some(format!("{n} = {shown}"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `debug`.
pub async fn run(
    kube: &shared::kubeconfig::KubeArgs,
    args: &DebugArgs,
    matches: &clap::ArgMatches,
) -> anyhow::Result<u8> {
    let (release, pack) = match args.args.as_slice() {
        [pack] => (String::new(), pack.clone()),
        [release, pack] => (release.clone(), pack.clone()),
        _ => anyhow::bail!("debug: give [RELEASE] PACK"),
    };
    let req = crate::render_cmd::request(kube, &args.values, matches, &pack, &release).await?;
    tokio::task::spawn_blocking(move || session(req)).await?
}

fn session(mut req: Request) -> anyhow::Result<u8> {
    let interactive = shared::output::is_terminal(shared::output::Stream::Stdin);
    let debugger = Arc::new(Debugger(Mutex::new(Session {
        breakpoints: BTreeSet::new(),
        watches: Vec::new(),
        mode: Mode::Continue,
        stack: Vec::new(),
        abort: None,
        input: Box::new(std::io::BufReader::new(std::io::stdin())),
        interactive,
        sources: Default::default(),
        secrets: Vec::new(),
    })));
    req.debugger = Some(debugger.clone());
    load(&debugger, &req)?;
    debugger
        .session()
        .say("pack-debug: set breakpoints (break FILE:LINE), then run; help lists the commands");
    // Before the run: breakpoints and watches.
    loop {
        let mut s = debugger.session();
        let Some(cmd) = s.read() else {
            s.mode = Mode::Finish;
            break;
        };
        let (verb, arg) = cmd
            .split_once(' ')
            .map_or((cmd.as_str(), ""), |(v, a)| (v, a.trim()));
        match verb {
            "" => {}
            "run" | "r" | "continue" | "c" => break,
            "step" | "s" => {
                s.mode = Mode::Step;
                break;
            }
            "quit" | "q" => return Ok(shared::output::exit::OK),
            _ => {
                let reply = s.setup(verb, arg);
                s.say(&reply);
            }
        }
    }
    loop {
        let result = render::render(&req);
        let abort = {
            let mut s = debugger.session();
            s.stack.clear();
            s.abort.take()
        };
        match abort {
            Some(Abort::Quit) => return Ok(shared::output::exit::OK),
            Some(Abort::Reload) => {
                load(&debugger, &req)?;
                let mut s = debugger.session();
                s.mode = Mode::Continue;
                let n = s.breakpoints.len();
                s.say(&format!(
                    "reloaded the pack; {n} breakpoint(s) kept; rendering again"
                ));
                continue;
            }
            None => {}
        }
        let mut s = debugger.session();
        return match result {
            Ok(r) => {
                let docs: usize = r.files.iter().map(|f| f.documents.len()).sum();
                s.say(&format!(
                    "render finished: {} template(s), {docs} document(s)",
                    r.files.len()
                ));
                Ok(shared::output::exit::OK)
            }
            Err(e) => {
                s.say(&format!("render failed: {e}"));
                Ok(shared::output::exit::ERROR)
            }
        };
    }
}

/// (Re)reads the pack's sources for showing lines and checking
/// breakpoints, and the secret strings to redact.
fn load(debugger: &Debugger, req: &Request) -> anyhow::Result<()> {
    let pack = Pack::load(&req.pack_dir)?;
    let (layers, _) = render::build_layers(&pack, req)?;
    let mut s = debugger.session();
    s.sources = pack
        .templates
        .iter()
        .map(|t| Ok((t.name.clone(), t.source.text()?)))
        .collect::<Result<_, crate::error::RenderError>>()?;
    s.secrets.clear();
    for l in layers.iter().filter(|l| l.sensitive) {
        collect_strings(&l.value, &mut s.secrets);
    }
    // Breakpoints on lines that no longer exist are dropped with a word.
    let stale: Vec<(String, u32)> = s
        .breakpoints
        .iter()
        .filter(|(t, l)| {
            s.sources
                .get(t)
                .is_none_or(|src| src.lines().count() < *l as usize)
        })
        .cloned()
        .collect();
    for b in stale {
        s.breakpoints.remove(&b);
        s.say(&format!(
            "breakpoint templates/{}:{} dropped: the file no longer has that line",
            b.0, b.1
        ));
    }
    Ok(())
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    use base64::Engine as _;
    match v {
        serde_json::Value::String(s) if s.len() >= 4 => {
            out.push(s.clone());
            out.push(base64::engine::general_purpose::STANDARD.encode(s));
        }
        serde_json::Value::Object(m) => m.values().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_evaluates_in_the_scope_of_the_stopped_line() {
        let mut env = minijinja::Environment::new();
        env.add_function("probe", |state: &State<'_, '_>, expr: String| {
            eval(state, &expr)
        });
        let src =
            "{% for i in [1, 2] %}{{ probe('i * 10 + v.x') }} {% endfor %}{{ probe('loop') }}";
        let out = env
            .render_str(src, minijinja::context! {v => Value::from(minijinja::value::Serde(serde_json::json!({"x": 5})))})
            .unwrap();
        assert_eq!(out, "15 25 undefined");
    }
}
