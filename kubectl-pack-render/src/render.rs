//! The render pipeline: load the pack, build the values layers, validate
//! them against the schema, render every template (subpacks first) and cut
//! the output into Kubernetes objects that remember their template.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::engine::{self, Engine, EngineOptions, LookupFn};
use crate::environments::{self, TemplateFilter};
use crate::error::RenderError;
use crate::pack::{Pack, parse_yaml_file};
use crate::schema::Schema;
use crate::values::strvals::{self, Mode};
use crate::values::{self, Layer};

/// Which `--set`-family flag an expression came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetFlag {
    /// `--set`
    Set,
    /// `--set-string`
    String,
    /// `--set-json`
    Json,
    /// `--set-file`
    File,
}

impl SetFlag {
    /// The flag as typed.
    pub fn name(self) -> &'static str {
        match self {
            SetFlag::Set => "--set",
            SetFlag::String => "--set-string",
            SetFlag::Json => "--set-json",
            SetFlag::File => "--set-file",
        }
    }
}

/// Everything a render needs besides the pack.
#[derive(Clone, Default)]
pub struct Request {
    /// Directory holding Pack.yaml.
    pub pack_dir: PathBuf,
    /// Release name (defaults to the pack name when empty).
    pub release: String,
    /// `release.namespace`.
    pub namespace: String,
    /// `-e`.
    pub environment: Option<String>,
    /// `-f` files in order (`-` = stdin).
    pub values_files: Vec<String>,
    /// `--set`-family expressions in command-line order.
    pub sets: Vec<(SetFlag, String)>,
    /// `--values-from` layers, already fetched.
    pub extra_layers: Vec<Layer>,
    /// `--kube-version`.
    pub kube_version: Option<String>,
    /// `--api-versions` additions.
    pub api_versions: Vec<String>,
    /// `--no-schema`.
    pub no_schema: bool,
    /// `--env-subst` (or `engine.envSubst` in Pack.yaml).
    pub env_subst: bool,
    /// Live `lookup()`.
    pub lookup: Option<LookupFn>,
    /// Instrument for `--profile`/`--trace`.
    pub profile: bool,
    /// Only render templates the filter allows (pack tests use this).
    pub only_templates: Option<Vec<String>>,
    /// Record branches taken and values read (`test --coverage`).
    pub coverage: bool,
    /// Record values read per template for `--trace` (renders on one thread).
    pub trace: bool,
    /// The step debugger's hook (`debug`; renders on one thread).
    pub debugger: Option<std::sync::Arc<dyn engine::stepping::Hook>>,
}

/// Branches taken and values read by one render (coverage mode only).
#[derive(Debug, Clone, Default)]
pub struct RenderCoverage {
    /// `<template>:<line> <if|elif|else>`.
    pub branches_taken: std::collections::BTreeSet<String>,
    /// `values.a.b` paths.
    pub values_read: std::collections::BTreeSet<String>,
}

/// One rendered document.
#[derive(Debug, Clone)]
pub struct Document {
    /// 1-based document number in its template's output.
    pub index: usize,
    /// The template's whole output, shared by its documents.
    output: std::sync::Arc<String>,
    /// This document's text in it, blank lines around it left out.
    range: std::ops::Range<usize>,
    /// The whole object, parsed on first use: writing a YAML stream only
    /// needs the checked head, which keeps large renders fast.
    object: std::sync::OnceLock<Value>,
}

impl Document {
    /// The document's text as rendered (without its final newline).
    pub fn body(&self) -> &str {
        &self.output[self.range.clone()]
    }

    /// The parsed object.
    pub fn object(&self) -> &Value {
        self.object
            .get_or_init(|| shared::yaml::parse_document(self.body(), 1).unwrap_or(Value::Null))
    }
}

/// One rendered template.
#[derive(Debug, Clone)]
pub struct RenderedFile {
    /// `<pack>/templates/<file>` (subpacks: `<pack>/charts/<sub>/templates/<file>`).
    pub path: String,
    /// Its Kubernetes objects.
    pub documents: Vec<Document>,
    /// Render time.
    pub elapsed: Duration,
}

/// The result of a render.
pub struct Rendered {
    /// Rendered templates, subpacks first, then sorted by path.
    pub files: Vec<RenderedFile>,
    /// Rendered NOTES.txt of the root pack.
    pub notes: Option<String>,
    /// Coverage, when asked for.
    pub coverage: RenderCoverage,
    /// The root pack's metadata and settings for the stream header.
    pub pack: shared::release::PackInfo,
}

/// Kubernetes version assumed when `--kube-version` is not given.
pub const DEFAULT_KUBE_VERSION: &str = "v1.33.0";

const BUILTIN_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "apiregistration.k8s.io/v1",
    "apps/v1",
    "authentication.k8s.io/v1",
    "authorization.k8s.io/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "certificates.k8s.io/v1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "events.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1",
    "networking.k8s.io/v1",
    "node.k8s.io/v1",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1",
];

fn capabilities(req: &Request) -> Value {
    let version = req
        .kube_version
        .clone()
        .unwrap_or_else(|| DEFAULT_KUBE_VERSION.to_string());
    let version = if version.starts_with('v') {
        version
    } else {
        format!("v{version}")
    };
    let mut parts = version.trim_start_matches('v').split('.');
    let major = parts.next().unwrap_or("1").to_string();
    let minor = parts.next().unwrap_or("0").to_string();
    let mut api: Vec<String> = BUILTIN_API_VERSIONS.iter().map(|s| s.to_string()).collect();
    api.extend(req.api_versions.iter().cloned());
    json!({"kubeVersion": {"version": version, "gitVersion": version, "major": major, "minor": minor}, "apiVersions": api})
}

fn read_stdin_once() -> Result<String, RenderError> {
    shared::yaml::read_input("-").map_err(|e| RenderError::ValuesFile {
        path: "-".into(),
        message: e.to_string(),
    })
}

fn subst(layer: &mut Layer) -> Result<(), RenderError> {
    let lookup = |name: &str| std::env::var(name).ok();
    values::env_subst(std::sync::Arc::make_mut(&mut layer.value), &lookup).map_err(|var| {
        RenderError::EnvVar {
            file: layer.label.clone(),
            var,
        }
    })
}

/// Builds every values layer of the root pack, lowest first.
pub fn build_layers(
    pack: &Pack,
    req: &Request,
) -> Result<(Vec<Layer>, TemplateFilter), RenderError> {
    let mut layers = Vec::new();
    if !req.no_schema
        && let Some((file, raw)) = &pack.schema
    {
        layers.push(Layer::new(
            format!("schema defaults ({file})"),
            Schema::new(file, raw).defaults(),
            None,
        ));
    }
    let mut file_layers = vec![Layer::new(
        "values.yaml",
        pack.values.clone(),
        pack.values_text.clone(),
    )];
    let mut filter = TemplateFilter::default();
    if let Some(env) = &req.environment {
        let e = environments::resolve(pack, env)?;
        filter = e.templates;
        file_layers.extend(e.layers);
    }
    for f in &req.values_files {
        let f = &crate::sops_values::strip_scheme(f).to_string();
        let (label, text) = if f == "-" {
            ("-f STDIN".to_string(), read_stdin_once()?)
        } else {
            let text = crate::pack::read_bounded(std::path::Path::new(f)).map_err(|message| {
                RenderError::ValuesFile {
                    path: f.clone(),
                    message,
                }
            })?;
            (format!("-f {f}"), text)
        };
        let (text, sensitive) =
            crate::sops_values::decrypt_if_encrypted(if f == "-" { "STDIN" } else { f }, text)?;
        let value = parse_yaml_file(
            std::path::Path::new(if f == "-" { "STDIN" } else { f }),
            &text,
        )?;
        if !value.is_object() {
            return Err(RenderError::ValuesFile {
                path: f.clone(),
                message: "must hold a mapping of values".into(),
            });
        }
        let mut layer = Layer::new(label, value, Some(text));
        layer.sensitive = sensitive;
        file_layers.push(layer);
    }
    if req.env_subst || pack.file.engine.env_subst {
        for l in &mut file_layers {
            subst(l)?;
        }
    }
    layers.extend(file_layers);
    layers.extend(req.extra_layers.iter().cloned());
    for (flag, expr) in &req.sets {
        let set_err = |message: String| RenderError::Set {
            flag: flag.name(),
            expr: expr.clone(),
            message,
        };
        let mut map = Map::new();
        match flag {
            SetFlag::Set => {
                strvals::parse_into(expr, Mode::Typed, &mut map).map_err(|e| set_err(e.message))?
            }
            SetFlag::String => {
                strvals::parse_into(expr, Mode::String, &mut map).map_err(|e| set_err(e.message))?
            }
            SetFlag::Json => {
                strvals::parse_into(expr, Mode::Json, &mut map).map_err(|e| set_err(e.message))?
            }
            SetFlag::File => {
                let (key, path) = strvals::split_file_arg(expr).map_err(|e| set_err(e.message))?;
                let content = std::fs::read_to_string(&path)
                    .map_err(|e| set_err(format!("cannot read {path}: {e}")))?;
                let mut tmp = Map::new();
                strvals::parse_into(&format!("{key}=x"), Mode::String, &mut tmp)
                    .map_err(|e| set_err(e.message))?;
                set_leaf(&mut tmp, Value::String(content));
                map = tmp;
            }
        }
        layers.push(Layer::new(
            format!("{} {expr}", flag.name()),
            Value::Object(map),
            None,
        ));
    }
    Ok((layers, filter))
}

/// Replaces the single leaf of a one-path map (used by `--set-file`).
fn set_leaf(map: &mut Map<String, Value>, value: Value) {
    fn walk(v: &mut Value, value: Value) {
        match v {
            Value::Object(m) => {
                if let Some(child) = m.values_mut().next() {
                    walk(child, value)
                }
            }
            Value::Array(a) => {
                if let Some(child) = a.iter_mut().rev().find(|c| !c.is_null()) {
                    walk(child, value)
                }
            }
            leaf => *leaf = value,
        }
    }
    if let Some(child) = map.values_mut().next() {
        walk(child, value);
    }
}

/// Renders the pack of `req`.
pub fn render(req: &Request) -> Result<Rendered, RenderError> {
    render_pack(&Pack::load(&req.pack_dir)?, req)
}

/// Renders an already loaded pack (pack tests load it once for all tests).
pub fn render_pack(pack: &Pack, req: &Request) -> Result<Rendered, RenderError> {
    let (layers, filter) = build_layers(pack, req)?;
    let values = values::merge_layers(&layers);
    if !req.no_schema
        && let Some((file, raw)) = &pack.schema
    {
        Schema::new(file, raw)
            .validate(&values, &layers)
            .map_err(|problems| RenderError::Schema {
                file: format!("{}/{file}", pack.name()),
                problems,
            })?;
    }
    let release_name = if req.release.is_empty() {
        pack.name().to_string()
    } else {
        req.release.clone()
    };
    let release = json!({
        "name": release_name, "namespace": req.namespace, "revision": 1,
        "isInstall": true, "isUpgrade": false, "service": "kubectl-pack",
    });
    let caps = capabilities(req);
    let options = EngineOptions {
        strict: pack.file.engine.strict,
        lookup: req.lookup.clone(),
        profile: req.profile,
        coverage: req.coverage,
        debugger: req.debugger.clone(),
    };
    if req.coverage || req.trace {
        engine::coverage::take();
    }

    let mut jobs: Vec<Job> = Vec::new();
    collect_jobs(
        pack,
        &format!("{}/", pack.name()),
        &values,
        &release,
        &caps,
        &options,
        Some(&filter),
        req,
        &mut jobs,
    )?;
    let files = run_jobs(&jobs, req.trace || req.debugger.is_some())?;
    // The engines and contexts (a template value tree of all values) are
    // freed while the caller writes the stream.
    crate::parallel::drop_in_background(jobs);

    let notes = match &pack.notes {
        Some(src) => {
            let engine = Engine::new(pack, &format!("{}/templates/", pack.name()), &options)?;
            let ctx = engine::context(pack, &values, &release, &caps, false);
            Some(engine.render_str("NOTES.txt", src, &ctx)?)
        }
        None => None,
    };
    let mut coverage = RenderCoverage::default();
    if req.coverage {
        let (branches, values_read) = engine::coverage::take();
        coverage = RenderCoverage {
            branches_taken: branches,
            values_read,
        };
    }
    Ok(Rendered {
        files,
        notes,
        coverage,
        pack: pack.file.stream_info(),
    })
}

struct Job {
    engine: std::sync::Arc<Engine>,
    template: String,
    path: String,
    ctx: minijinja::Value,
    profile: bool,
}

#[allow(clippy::too_many_arguments)]
fn collect_jobs(
    pack: &Pack,
    prefix: &str,
    values: &Value,
    release: &Value,
    caps: &Value,
    options: &EngineOptions,
    filter: Option<&TemplateFilter>,
    req: &Request,
    jobs: &mut Vec<Job>,
) -> Result<(), RenderError> {
    for sub in &pack.subpacks {
        let dep = &sub.dependency;
        if dep.enabled == Some(false) {
            continue;
        }
        if !dep.condition.is_empty()
            && let Some(flag) = values::get_path(values, &values::split_path(&dep.condition))
            && flag.as_bool() == Some(false)
        {
            continue;
        }
        let key = dep.key();
        let mut sub_values = Value::Object(Map::new());
        if let Some((file, raw)) = &sub.pack.schema {
            values::merge(&mut sub_values, &Schema::new(file, raw).defaults());
        }
        values::merge(&mut sub_values, &sub.pack.values);
        if let Some(v) = values.get(key) {
            values::merge(&mut sub_values, v);
        }
        if let Some(g) = values.get("global") {
            values::merge(&mut sub_values, &json!({"global": g}));
        }
        let rel = sub
            .pack
            .dir
            .strip_prefix(&pack.dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| key.to_string());
        let sub_prefix = format!("{prefix}{rel}/");
        let sub_options = EngineOptions {
            strict: sub.pack.file.engine.strict,
            ..options.clone()
        };
        collect_jobs(
            &sub.pack,
            &sub_prefix,
            &sub_values,
            release,
            caps,
            &sub_options,
            None,
            req,
            jobs,
        )?;
    }
    let tprefix = format!("{prefix}templates/");
    let engine = std::sync::Arc::new(Engine::new(pack, &tprefix, options)?);
    let ctx = engine::context(pack, values, release, caps, req.coverage || req.trace);
    if let Some(f) = filter {
        let names = pack
            .templates
            .iter()
            .filter(|t| !t.helper)
            .map(|t| t.name.as_str());
        for w in f.unmatched(names) {
            shared::output::warn(&w);
        }
    }
    for t in &pack.templates {
        if t.helper || !filter.is_none_or(|f| f.allows(&t.name)) {
            continue;
        }
        let path = format!("{tprefix}{}", t.output_name());
        if let Some(only) = &req.only_templates
            && !only.iter().any(|o| path.ends_with(o.as_str()))
        {
            continue;
        }
        jobs.push(Job {
            engine: engine.clone(),
            template: t.name.clone(),
            path,
            ctx: ctx.clone(),
            profile: options.profile,
        });
    }
    Ok(())
}

fn run_one(job: &Job) -> Result<RenderedFile, RenderError> {
    let start = Instant::now();
    if let Some(hook) = job.engine.debugger() {
        hook.begin(&job.path);
    }
    if job.profile {
        crate::engine::profile::begin_template();
    }
    let text = job.engine.render(&job.template, &job.ctx)?;
    if job.profile {
        crate::engine::profile::end_template(&job.path);
    }
    let elapsed = start.elapsed();
    let documents = split_documents(&job.path, text)?;
    Ok(RenderedFile {
        path: job.path.clone(),
        documents,
        elapsed,
    })
}

/// Renders the jobs on up to two threads, keeping their order.
fn run_jobs(jobs: &[Job], sequential: bool) -> Result<Vec<RenderedFile>, RenderError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(2);
    if sequential || workers < 2 || jobs.len() < 8 {
        return jobs.iter().map(run_one).collect();
    }
    crate::parallel::in_order_on_threads(jobs, workers, run_one)?
        .into_iter()
        .collect()
}

/// The range of `text` (at `offset` in its output) without its leading
/// blank lines and trailing whitespace.
fn trimmed_range(text: &str, offset: usize) -> std::ops::Range<usize> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim().is_empty() {
            break;
        }
        start += line.len();
    }
    let end = start + text[start..].trim_end().len();
    offset + start..offset + end
}

/// Cuts a template's output into documents; each must be a Kubernetes object.
pub fn split_documents(path: &str, text: String) -> Result<Vec<Document>, RenderError> {
    let output = std::sync::Arc::new(text);
    let mut out = Vec::new();
    for raw in shared::yaml::split_documents(&output) {
        if raw.is_empty() {
            continue;
        }
        let not_object = |line: usize, message: String| RenderError::NotAnObject {
            file: path.to_string(),
            document: raw.index,
            line,
            message,
        };
        let missing = |what: &str| {
            let first_content = raw.line
                + raw
                    .text
                    .lines()
                    .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
                    .count();
            not_object(first_content, format!("not a Kubernetes object: {what}"))
        };
        let head = shared::yaml::document_head(raw.text, raw.line).map_err(|e| {
            not_object(
                e.line.unwrap_or(raw.line),
                format!("invalid YAML: {}", e.message),
            )
        })?;
        if head.is_null {
            continue;
        }
        if !head.is_mapping {
            return Err(missing(
                "expected a mapping with apiVersion, kind and metadata.name",
            ));
        }
        let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        for (field, present) in [
            ("apiVersion", has(&head.api_version)),
            ("kind", has(&head.kind)),
            ("metadata.name", has(&head.name)),
        ] {
            if !present {
                return Err(missing(&format!("missing {field}")));
            }
        }
        // The raw text is a slice of the output: its offset in it.
        let offset = raw.text.as_ptr() as usize - output.as_ptr() as usize;
        out.push(Document {
            index: raw.index,
            range: trimmed_range(raw.text, offset),
            output: output.clone(),
            object: std::sync::OnceLock::new(),
        });
    }
    Ok(out)
}
