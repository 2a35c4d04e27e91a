//! The template engine: one minijinja environment per pack, every template
//! compiled once, rendered with the pack's context; errors turned into one
//! line naming the template file, line and column, with a "did you mean"
//! suggestion for undefined values.

pub mod coverage;
pub mod files;
pub mod filters;
pub mod functions;
pub mod profile;
pub mod stepping;

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::RenderError;
use crate::pack::{Pack, Source};
pub use functions::LookupFn;

/// How to build an engine.
#[derive(Clone, Default)]
pub struct EngineOptions {
    /// Undefined values are errors (`engine.strict`).
    pub strict: bool,
    /// Live lookups (`--cluster-lookup`), else `lookup()` is empty.
    pub lookup: Option<LookupFn>,
    /// Instrument macros for `--profile` / `--trace`.
    pub profile: bool,
    /// Instrument branches and track values read (`test --coverage`).
    pub coverage: bool,
    /// The step debugger's hook (`debug`): every line instrumented.
    pub debugger: Option<Arc<dyn stepping::Hook>>,
}

/// A pack's compiled templates.
pub struct Engine {
    env: Environment<'static>,
    /// Compiled again with debug info only when a render fails, to point
    /// at the exact expression (debug mode makes every render slower).
    debug_env: std::sync::OnceLock<Environment<'static>>,
    options: EngineOptions,
    /// What is compiled: the sources, or their instrumented copies.
    compiled: Arc<HashMap<String, Source>>,
    /// `<pack>/templates/` prefix used in messages.
    prefix: String,
    /// The files as written (perhaps still being read).
    sources: Arc<HashMap<String, Source>>,
}

/// Prints values the way YAML needs them: `true`/`false`, `null`.
fn yaml_formatter(
    out: &mut minijinja::Output<'_>,
    state: &mut minijinja::State<'_, '_>,
    value: &Value,
) -> Result<(), Error> {
    let write_err = |_| Error::new(ErrorKind::WriteFailure, "cannot write output");
    match value.kind() {
        ValueKind::Bool => out
            .write_str(if value.is_true() { "true" } else { "false" })
            .map_err(write_err),
        ValueKind::None => out.write_str("null").map_err(write_err),
        _ => minijinja::escape_formatter(out, state, value),
    }
}

impl Engine {
    /// Compiles every template of `pack` (helpers included). `prefix` is
    /// how files are named in messages, e.g. `demo-pack/templates/`.
    pub fn new(pack: &Pack, prefix: &str, options: &EngineOptions) -> Result<Engine, RenderError> {
        let mut sources = HashMap::new();
        let mut compiled = HashMap::new();
        let instrumented = options.profile || options.coverage || options.debugger.is_some();
        for t in &pack.templates {
            sources.insert(t.name.clone(), t.source.clone());
            if !instrumented {
                compiled.insert(t.name.clone(), t.source.clone());
                continue;
            }
            let mut source: Arc<str> = t.source.text()?;
            if options.profile {
                source = profile::instrument(&t.name, &source).into();
            }
            if options.coverage {
                source = coverage::instrument(&t.name, &source).into();
            }
            if options.debugger.is_some() {
                source = stepping::instrument(&t.name, &source).into();
            }
            compiled.insert(t.name.clone(), source.into());
        }
        let compiled = Arc::new(compiled);
        let env = Self::build(options, &compiled, false);
        Ok(Engine {
            env,
            debug_env: std::sync::OnceLock::new(),
            options: options.clone(),
            compiled,
            prefix: prefix.to_string(),
            sources: Arc::new(sources),
        })
    }

    /// An environment whose templates compile on first use, in whichever
    /// render thread needs them, so large packs compile in parallel.
    fn build(
        options: &EngineOptions,
        compiled: &Arc<HashMap<String, Source>>,
        debug: bool,
    ) -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(if options.strict {
            UndefinedBehavior::SemiStrict
        } else {
            UndefinedBehavior::Lenient
        });
        env.set_debug(debug);
        env.set_formatter(yaml_formatter);
        filters::register(&mut env);
        functions::register(&mut env, options.lookup.clone());
        if options.profile {
            profile::register(&mut env);
        }
        if options.coverage {
            coverage::register(&mut env);
        }
        if let Some(hook) = &options.debugger {
            stepping::register(&mut env, hook.clone());
        }
        let compiled = compiled.clone();
        // A file still being read is waited for; one that could not be read
        // fails the render that imports it.
        env.set_loader(move |name| match compiled.get(name) {
            None => Ok(None),
            Some(source) => source
                .text()
                .map(|text| Some(text.to_string()))
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string())),
        });
        env
    }

    /// The same templates compiled with debug info (built on first error).
    fn debug_env(&self) -> &Environment<'static> {
        self.debug_env
            .get_or_init(|| Self::build(&self.options, &self.compiled, true))
    }

    /// Renders one template with `ctx`.
    pub fn render(&self, name: &str, ctx: &Value) -> Result<String, RenderError> {
        // Compiled for this render and dropped after it (only imported
        // helpers stay cached): a large pack never holds every compiled
        // template at once, and the heap stays small.
        let Some(source) = self.compiled.get(name) else {
            return self
                .env
                .get_template(name)
                .map(|_| String::new())
                .map_err(|e| template_error(&e, &self.prefix, &self.sources, Some(ctx)));
        };
        let source = source.text()?;
        self.env
            .render_named_str(name, &source, ctx)
            .map_err(|fast| {
                // Render again with debug info for the exact place of the error.
                let detailed = self
                    .debug_env()
                    .get_template(name)
                    .and_then(|t| t.render(ctx))
                    .err();
                template_error(
                    detailed.as_ref().unwrap_or(&fast),
                    &self.prefix,
                    &self.sources,
                    Some(ctx),
                )
            })
    }

    /// The step debugger's hook, when debugging.
    pub fn debugger(&self) -> Option<&Arc<dyn stepping::Hook>> {
        self.options.debugger.as_ref()
    }

    /// Compiles template `name` without rendering it (helpers, editors).
    pub fn compile(&self, name: &str) -> Result<(), RenderError> {
        self.env
            .get_template(name)
            .map(|_| ())
            .map_err(|e| template_error(&e, &self.prefix, &self.sources, None))
    }

    /// Renders a string (NOTES.txt) as a template named `name`.
    pub fn render_str(&self, name: &str, source: &str, ctx: &Value) -> Result<String, RenderError> {
        let mut sources = (*self.sources).clone();
        sources.insert(name.to_string(), source.into());
        self.env
            .render_named_str(name, source, ctx)
            .map_err(|fast| {
                let detailed = self.debug_env().render_named_str(name, source, ctx).err();
                template_error(
                    detailed.as_ref().unwrap_or(&fast),
                    &self.prefix,
                    &sources,
                    Some(ctx),
                )
            })
    }
}

/// Turns a minijinja error into a one-line [`RenderError::Template`];
/// `ctx`, the render's context, is searched for a "did you mean".
pub fn template_error(
    err: &Error,
    prefix: &str,
    sources: &HashMap<String, Source>,
    ctx: Option<&Value>,
) -> RenderError {
    // The innermost error carries the place (an error inside an included
    // template or macro is wrapped by the caller's).
    let mut inner: &Error = err;
    while let Some(src) = std::error::Error::source(inner).and_then(|s| s.downcast_ref::<Error>()) {
        if src.line().is_none() {
            break;
        }
        inner = src;
    }
    let name = inner.name().or(err.name()).unwrap_or("?").to_string();
    let line = inner.line().or(err.line()).unwrap_or(1);
    let source = sources.get(&name).and_then(|s| s.text().ok());
    let source = source.as_deref().unwrap_or("");
    let range = inner.range().or(err.range());
    let column = range
        .as_ref()
        .and_then(|r| source.get(..r.start))
        .map(|before| before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1)
        .unwrap_or(1);
    let expr = range
        .and_then(|r| source.get(r))
        .map(str::trim)
        .unwrap_or("");
    let mut message = match inner.kind() {
        ErrorKind::UndefinedError => {
            if expr.is_empty() {
                "undefined value".to_string()
            } else {
                format!("undefined value {expr}")
            }
        }
        ErrorKind::SyntaxError => format!("syntax error: {}", inner.detail().unwrap_or("")),
        ErrorKind::UnknownFilter => format!("unknown filter: {}", inner.detail().unwrap_or(expr)),
        ErrorKind::UnknownFunction => {
            format!("unknown function: {}", inner.detail().unwrap_or(expr))
        }
        ErrorKind::TemplateNotFound => {
            format!("template not found: {}", inner.detail().unwrap_or(""))
        }
        kind => match inner.detail() {
            Some(d) => format!("{kind}: {d}"),
            None => kind.to_string(),
        },
    };
    if inner.kind() == ErrorKind::UndefinedError
        && let Some(ctx) = ctx
        && let Some(s) = suggest(expr, &context_json(ctx))
    {
        message.push_str(&format!(" (did you mean {s}?)"));
    }
    RenderError::Template {
        file: format!("{prefix}{name}"),
        line,
        column,
        message: shared::error::one_line(&message),
    }
}

/// For `values.app.nmae` finds the nearest existing key at the first
/// missing step: `values.app.name`.
pub fn suggest(expr: &str, data: &serde_json::Value) -> Option<String> {
    let path: Vec<&str> = expr.split('.').map(str::trim).collect();
    if path.len() < 2
        || !path.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        })
    {
        return None;
    }
    let mut cur = data;
    for (i, seg) in path.iter().enumerate() {
        let map = cur.as_object()?;
        match map.get(*seg) {
            Some(next) => cur = next,
            None => {
                let best = map
                    .keys()
                    .map(|k| {
                        (
                            strsim::damerau_levenshtein(&k.to_lowercase(), &seg.to_lowercase()),
                            k,
                        )
                    })
                    .min_by_key(|(d, _)| *d)?;
                let limit = (seg.chars().count() / 3).max(2);
                if best.0 > limit {
                    return None;
                }
                let mut out: Vec<&str> = path[..i].to_vec();
                out.push(best.1);
                return Some(out.join("."));
            }
        }
    }
    None
}

/// Builds the render context (`values`, `release`, `pack`, `capabilities`,
/// `files`).
pub fn context(
    pack: &Pack,
    values: &serde_json::Value,
    release: &serde_json::Value,
    capabilities: &serde_json::Value,
    track_values: bool,
) -> Value {
    let meta = &pack.file.metadata;
    let pack_info = serde_json::json!({"name": meta.name, "version": meta.version, "appVersion": meta.app_version, "description": meta.description});
    minijinja::context! {
        values => if track_values { coverage::Tracked::root(values) } else { template_value(values) },
        release => Value::from(minijinja::value::Serde(release)),
        pack => Value::from(minijinja::value::Serde(&pack_info)),
        capabilities => Value::from(minijinja::value::Serde(capabilities)),
        files => Value::from_object(files::Files::new(&pack.dir)),
    }
}

/// A JSON value as a template value: what `Value::from(Serde(json))`
/// builds (numbers as serde_json serializes them: u64, then i64, then
/// f64; maps sorted by key), without going through a serializer.
pub fn template_value(json: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match json {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (None, Some(i), _) => Value::from(i),
            (None, None, f) => Value::from(f.unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from_object(items.iter().map(template_value).collect::<Vec<_>>()),
        J::Object(map) => Value::from_object(
            map.iter()
                .map(|(k, v)| (Value::from(k.as_str()), template_value(v)))
                .collect::<std::collections::BTreeMap<Value, Value>>(),
        ),
    }
}

/// The context's data (`values`, `release`, `pack`, `capabilities`) as
/// JSON, for suggestions and editors; built only when asked for, so that a
/// render never copies its values for an error it does not have.
pub fn context_json(ctx: &Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for key in ["values", "release", "pack", "capabilities"] {
        // A part that cannot be read only narrows the suggestions.
        if let Ok(v) = ctx.get_attr(key)
            && !v.is_undefined()
            && let Ok(json) = serde_json::to_value(&v)
        {
            out.insert(key.to_string(), json);
        }
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn template_values_are_built_as_the_serde_conversion_builds_them() {
        let json = json!({"b": [1, -2, 2.5, u64::MAX, "s", null, true], "a": {"z": {}, "y": []}, "n": null});
        let direct = template_value(&json);
        let serde = Value::from(minijinja::value::Serde(&json));
        assert_eq!(direct, serde);
        assert_eq!(format!("{direct:?}"), format!("{serde:?}"));
        let env = Environment::new();
        let render = |v: &Value| {
            env.render_str(
                "{% for k, v in x|items %}{{ k }}={{ v }};{% endfor %}{{ x.b[3] + 1 }} {{ x.b[1] * 3 }} {{ x.b[2] // 1 }} {{ x|tojson }}",
                minijinja::context! { x => v },
            )
            .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(render(&direct), render(&serde));
    }

    #[test]
    fn suggestion_finds_the_nearest_key_at_the_missing_step() {
        let data = json!({"values": {"app": {"name": "x", "replicas": 1}}});
        assert_eq!(
            suggest("values.app.nmae", &data).as_deref(),
            Some("values.app.name")
        );
        assert_eq!(
            suggest("values.ap.name", &data).as_deref(),
            Some("values.app")
        );
        assert_eq!(suggest("values.app.completelydifferent", &data), None);
    }
}

#[cfg(test)]
mod filter_tests {
    //! Every filter and function of the Sherpack format, each with its meaning.
    use super::*;
    use serde_json::json;

    fn env() -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_formatter(yaml_formatter);
        filters::register(&mut env);
        functions::register(&mut env, None);
        env
    }

    fn r(src: &str) -> String {
        let ctx = minijinja::context! { v => Value::from(minijinja::value::Serde(json!({
            "m": {"b": 2, "a": 1}, "l": [3, 1, 2], "s": "Hello World", "n": -3.7, "t": true, "z": null, "e": "", "path": "/etc/nginx/nginx.conf"
        }))) };
        env()
            .render_str(src, ctx)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn every_filter_behaves_as_documented() {
        let cases: &[(&str, &str)] = &[
            ("{{ v.m | toyaml }}", "a: 1\nb: 2"),
            ("{{ v.m | tojson }}", r#"{"a":1,"b":2}"#),
            ("{{ v.l | tojson_pretty }}", "[\n  3,\n  1,\n  2\n]"),
            ("{{ ('{\"x\": 1}' | fromjson).x }}", "1"),
            ("{{ ('x: [1, 2]' | fromyaml).x[1] }}", "2"),
            ("{{ 'hi' | b64encode }}", "aGk="),
            ("{{ 'aGk=' | b64decode }}", "hi"),
            ("{{ v.t | quote }}", "\"true\""),
            ("{{ 'say \"x\"' | quote }}", "\"say \\\"x\\\"\""),
            ("{{ \"it's\" | squote }}", "'it''s'"),
            ("{{ 'a\nb' | indent(2) }}", "  a\n  b"),
            ("{{ 'a\nb' | nindent(2) }}", "\n  a\n  b"),
            ("{{ v.s | required('x') }}", "Hello World"),
            ("{{ v.e | empty }} {{ v.l | empty }}", "true false"),
            (
                "{{ v.m | haskey('a') }} {{ v.m | haskey('q') }}",
                "true false",
            ),
            ("{{ v.m | keys | join(',') }}", "a,b"),
            ("{{ v.m | values | join(',') }}", "1,2"),
            (
                "{{ v.m | merge({'c': 3}) | tojson }}",
                r#"{"a":1,"b":2,"c":3}"#,
            ),
            ("{{ v.m | pick('a') | tojson }}", r#"{"a":1}"#),
            ("{{ v.m | omit('a') | tojson }}", r#"{"b":2}"#),
            (
                "{{ 'abc' | sha256 }}",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                "{{ 'abc' | sha1 }}",
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
            ("{{ 'abc' | md5 }}", "900150983cd24fb0d6963f7d28e17f72"),
            ("{{ ('abc' | sha512)[:16] }}", "ddaf35a193617aba"),
            ("{{ 'abcdef' | trunc(3) }}", "abc"),
            (
                "{{ 'v1.2' | trimprefix('v') }} {{ 'a.yaml' | trimsuffix('.yaml') }}",
                "1.2 a",
            ),
            (
                "{{ 'myWebApp' | snakecase }} {{ 'myWebApp' | kebabcase }}",
                "my_web_app my-web-app",
            ),
            (
                "{{ 'foo_bar-baz' | camelcase }} {{ 'foo_bar' | pascalcase }}",
                "fooBarBaz FooBar",
            ),
            ("{{ v.l | tostrings(prefix='p') | join(',') }}", "p3,p1,p2"),
            (
                "{{ 'v1.28.3' | semver_match('>=1.21.0-0') }} {{ '1.20.0' | semver_match('^1.21') }}",
                "true false",
            ),
            ("{{ '42' | int + 1 }} {{ '1.5' | float * 2 }}", "43 3.0"),
            (
                "{{ v.n | abs }} {{ v.n | floor }} {{ v.n | ceil }}",
                "3.7 -4 -3",
            ),
            (
                "{{ v.path | basename }} {{ v.path | dirname }} {{ 'a.tar.gz' | extname }}",
                "nginx.conf /etc/nginx gz",
            ),
            ("{{ 'a/b/../c/./d' | cleanpath }}", "a/c/d"),
            ("{{ 'v12' | regex_match('^v[0-9]+$') }}", "true"),
            (
                "{{ 'v1.2.3' | regex_replace('v([0-9]+)', 'version-$1') }}",
                "version-1.2.3",
            ),
            ("{{ 'port: 8080' | regex_find('[0-9]+') }}", "8080"),
            (
                "{{ 'a1b2c3' | regex_find_all('[0-9]') | join(',') }}",
                "1,2,3",
            ),
            (
                "{{ v.l | append(9) | tojson }} {{ v.l | prepend(0) | tojson }}",
                "[3,1,2,9] [0,3,1,2]",
            ),
            (
                "{{ v.l | concat([7]) | tojson }} {{ v.l | without(1) | tojson }}",
                "[3,1,2,7] [3,2]",
            ),
            (
                "{{ ['a', '', none, 'b'] | compact | tojson }}",
                r#"["a","b"]"#,
            ),
            ("{{ '-' | repeat(3) }}", "---"),
            ("{{ 'hello' | substr(1, 3) }}", "el"),
            ("{{ 'aaa bbb ccc' | wrap(7) }}", "aaa bbb\nccc"),
            (
                "{{ 'kube' | hasprefix('ku') }} {{ 'kube' | hassuffix('x') }}",
                "true false",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(r(src), *want, "{src}");
        }
    }

    #[test]
    fn serialized_maps_are_remembered_by_object_never_by_a_reused_address() {
        let many =
            "{% for i in range(40) %}{{ dict('x', i) | tojson }}{{ [i] | toyaml }}{% endfor %}";
        let want: String = (0..40).map(|i| format!("{{\"x\":{i}}}- {i}")).collect();
        assert_eq!(r(many), want);
        assert_eq!(
            r("{{ v.m | tojson }} {{ v.l | tojson }} {{ v.m | tojson }}"),
            r#"{"a":1,"b":2} [3,1,2] {"a":1,"b":2}"#
        );
    }

    #[test]
    fn every_function_behaves_as_documented() {
        let cases: &[(&str, &str)] = &[
            (
                "{{ dict('a', 1, 'b', 'x') | tojson }}",
                r#"{"a":1,"b":"x"}"#,
            ),
            ("{{ list(1, 'a') | tojson }}", r#"[1,"a"]"#),
            ("{{ get(v.m, 'a') }} {{ get(v.m, 'q', 'dflt') }}", "1 dflt"),
            ("{{ set(v.m, 'c', 3) | tojson }}", r#"{"a":1,"b":2,"c":3}"#),
            ("{{ unset(v.m, 'a') | tojson }}", r#"{"b":2}"#),
            (
                "{{ dig(v, 'm', 'a', 0) }} {{ dig(v, 'm', 'q', 'none') }}",
                "1 none",
            ),
            ("{{ coalesce(v.e, none, 'x') }}", "x"),
            ("{{ ternary('yes', 'no', v.t) }}", "yes"),
            (
                "{{ tostring(5) }} {{ toint('7') + 1 }} {{ tofloat('2.5') }}",
                "5 8 2.5",
            ),
            ("{{ printf('%s-%d', 'web', 3) }}", "web-3"),
            ("{{ fromjson('[1]')[0] }} {{ fromyaml('a: b').a }}", "1 b"),
            ("{{ tpl('{{ x }}!', {'x': 'hi'}) }}", "hi!"),
            ("{{ lookup('v1', 'Secret', 'ns', 'n') | tojson }}", "{}"),
            ("{{ true }} {{ none }} {{ false }}", "true null false"),
        ];
        for (src, want) in cases {
            assert_eq!(r(src), *want, "{src}");
        }
        assert_eq!(r("{{ uuidv4() }}").len(), 36);
        assert!(r("{{ now() }}").ends_with('Z'));
        assert!(
            env()
                .render_str("{{ fail('boom') }}", ())
                .unwrap_err()
                .to_string()
                .contains("boom")
        );
        assert!(
            env()
                .render_str("{{ '' | required('needed') }}", ())
                .unwrap_err()
                .to_string()
                .contains("needed")
        );
    }
}
