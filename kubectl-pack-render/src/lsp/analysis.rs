//! What the language server knows about a pack: the pack as on disk with
//! the editor's open buffers laid over it, the values layers a render
//! would use, and the diagnostics of each kind of file (templates, values
//! files, environments, Pack.yaml, the schema).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::engine::{self, Engine, EngineOptions};
use crate::error::RenderError;
use crate::pack::{Pack, TemplateFile};
use crate::schema::Schema;
use crate::values::{self, Layer};

/// Severity of a diagnostic (LSP's numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// 1.
    Error = 1,
    /// 2.
    Warning = 2,
}

/// A problem at a 0-based line and a range of byte columns in that line.
#[derive(Debug, Clone)]
pub struct Problem {
    /// 0-based line.
    pub line: usize,
    /// Byte column where the range starts.
    pub start: usize,
    /// Byte column where it ends (exclusive).
    pub end: usize,
    /// How bad.
    pub severity: Severity,
    /// One line.
    pub message: String,
}

/// What a file of the pack is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// `templates/<name>`.
    Template(String),
    /// `values.yaml` or another values file at the pack's top.
    Values,
    /// `environments/<name>.yaml`.
    Environment(String),
    /// `Pack.yaml`.
    PackFile,
    /// `values.schema.*` / `schema.*`.
    Schema,
    /// Anything else.
    Other,
}

/// The pack directory holding `file` (the nearest parent with Pack.yaml).
pub fn pack_root(file: &Path) -> Option<PathBuf> {
    file.ancestors()
        .skip(1)
        .find(|d| d.join("Pack.yaml").is_file())
        .map(Path::to_path_buf)
}

/// The kind of `file` in the pack at `root`.
pub fn kind(root: &Path, file: &Path) -> FileKind {
    let Ok(rel) = file.strip_prefix(root) else {
        return FileKind::Other;
    };
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [t, rest @ ..] if t == "templates" && !rest.is_empty() => {
            FileKind::Template(rest.join("/"))
        }
        [e, f] if e == "environments" => {
            let stem = f.trim_end_matches(".yaml").trim_end_matches(".yml");
            FileKind::Environment(stem.to_string())
        }
        [f] if f == "Pack.yaml" => FileKind::PackFile,
        [f] if f.starts_with("values.schema.") || f.starts_with("schema.") => FileKind::Schema,
        [f] if f.starts_with("values") && (f.ends_with(".yaml") || f.ends_with(".yml")) => {
            FileKind::Values
        }
        _ => FileKind::Other,
    }
}

/// A pack with the editor's buffers over it.
pub struct View {
    /// The pack (templates, values.yaml and schema from the buffers).
    pub pack: Pack,
    /// Values layers, lowest first: schema defaults, values.yaml, the
    /// environment (when one is chosen).
    pub layers: Vec<Layer>,
    /// Their merge.
    pub values: Value,
    /// Problems found while laying the buffers over (file → problems).
    pub load_problems: HashMap<PathBuf, Vec<Problem>>,
}

impl View {
    /// Loads the pack at `root` with `buffers` (absolute path → text) over
    /// it; `environment` adds that environment's layers.
    pub fn load(
        root: &Path,
        buffers: &HashMap<PathBuf, String>,
        environment: Option<&str>,
    ) -> Result<View, Problem> {
        if let Some(text) = buffers.get(&root.join("Pack.yaml"))
            && let Err(p) = parse_yaml(text)
        {
            return Err(p);
        }
        let mut pack = Pack::load(root).map_err(|e| whole_file(&e.to_string()))?;
        let mut load_problems: HashMap<PathBuf, Vec<Problem>> = HashMap::new();
        for (path, text) in buffers {
            match kind(root, path) {
                FileKind::Template(name) => overlay_template(&mut pack, &name, text),
                FileKind::Values if path.file_name().is_some_and(|f| f == "values.yaml") => {
                    match parse_yaml(text) {
                        Ok(v) => {
                            pack.values = v.into();
                            pack.values_text = Some(text.clone());
                        }
                        Err(p) => load_problems.entry(path.clone()).or_default().push(p),
                    }
                }
                FileKind::Schema => match parse_yaml(text) {
                    Ok(v) => {
                        let name = path
                            .file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        pack.schema = Some((name, v));
                    }
                    Err(p) => load_problems.entry(path.clone()).or_default().push(p),
                },
                _ => {}
            }
        }
        let mut layers = Vec::new();
        if let Some((file, raw)) = &pack.schema {
            layers.push(Layer::new(
                format!("schema defaults ({file})"),
                Schema::new(file, raw).defaults(),
                None,
            ));
        }
        layers.push(Layer::new(
            "values.yaml",
            pack.values.clone(),
            pack.values_text.clone(),
        ));
        if let Some(env) = environment {
            layers.extend(env_layers(&pack, env, buffers).map_err(|e| whole_file(&e.to_string()))?);
        }
        let values = Value::clone(&values::merge_layers(&layers));
        Ok(View {
            pack,
            layers,
            values,
            load_problems,
        })
    }

    /// The render context (with a preview release).
    pub fn context(&self) -> minijinja::Value {
        let release = json!({"name": "preview", "namespace": "default", "revision": 1, "isInstall": true, "isUpgrade": false, "service": "kubectl-pack"});
        let caps = json!({"kubeVersion": {"version": crate::render::DEFAULT_KUBE_VERSION, "gitVersion": crate::render::DEFAULT_KUBE_VERSION, "major": "1", "minor": "33"}, "apiVersions": ["v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "policy/v1", "rbac.authorization.k8s.io/v1", "autoscaling/v2"]});
        engine::context(&self.pack, &self.values, &release, &caps, false)
    }

    /// The render context as JSON (completion and hover read it).
    pub fn data(&self) -> Value {
        engine::context_json(&self.context())
    }

    /// An engine over the buffers; undefined values are errors so that the
    /// editor shows them even when the pack renders leniently.
    pub fn engine(&self) -> Result<Engine, RenderError> {
        let options = EngineOptions {
            strict: true,
            ..Default::default()
        };
        Engine::new(&self.pack, "templates/", &options)
    }

    /// Renders template `name` (the live preview).
    pub fn render(&self, name: &str) -> Result<String, RenderError> {
        self.engine()?.render(name, &self.context())
    }
}

fn overlay_template(pack: &mut Pack, name: &str, text: &str) {
    let helper =
        name.rsplit('/').next().is_some_and(|f| f.starts_with('_')) || name.ends_with(".tpl");
    match pack.templates.iter_mut().find(|t| t.name == name) {
        Some(t) => t.source = text.into(),
        None if name != "NOTES.txt" => pack.templates.push(TemplateFile {
            name: name.to_string(),
            source: text.into(),
            helper,
        }),
        None => {}
    }
}

/// The layers of environment `env`, the buffer of its own file (or any in
/// its chain) replacing what is on disk.
fn env_layers(
    pack: &Pack,
    env: &str,
    buffers: &HashMap<PathBuf, String>,
) -> Result<Vec<Layer>, RenderError> {
    let mut layers = crate::environments::resolve(pack, env)?.layers;
    for layer in &mut layers {
        if let Some(text) = buffers.get(&pack.dir.join(&layer.label))
            && let Ok(mut v) = parse_yaml(text)
        {
            if let Some(m) = v.as_object_mut() {
                m.remove("_inherit");
                m.remove("_templates");
            }
            layer.value = v.into();
            layer.text = Some(text.clone());
        }
    }
    Ok(layers)
}

/// A YAML mapping (null = empty), or the problem at its line.
pub fn parse_yaml(text: &str) -> Result<Value, Problem> {
    match shared::yaml::parse_document::<Value>(text, 1) {
        Ok(Value::Null) => Ok(Value::Object(Default::default())),
        Ok(v) => Ok(v),
        Err(e) => {
            let line = e.line.unwrap_or(1).saturating_sub(1);
            Err(Problem {
                line,
                start: 0,
                end: text.lines().nth(line).map_or(0, str::len),
                severity: Severity::Error,
                message: format!("invalid YAML: {}", e.message),
            })
        }
    }
}

fn whole_file(message: &str) -> Problem {
    Problem {
        line: 0,
        start: 0,
        end: 0,
        severity: Severity::Error,
        message: shared::error::one_line(message),
    }
}

/// Every problem of `file` (whose current text is `text`).
pub fn diagnose(
    root: &Path,
    file: &Path,
    text: &str,
    buffers: &HashMap<PathBuf, String>,
    environment: Option<&str>,
) -> Vec<Problem> {
    let kind = kind(root, file);
    let env = match &kind {
        FileKind::Environment(name) if !name.starts_with('_') => Some(name.as_str()),
        _ => environment,
    };
    let view = match View::load(root, buffers, env) {
        Ok(v) => v,
        Err(p) => {
            // Pack.yaml's own problem belongs to Pack.yaml; elsewhere it says why nothing else was checked.
            return match kind {
                FileKind::PackFile => vec![p],
                _ => vec![Problem {
                    message: format!("the pack does not load: {}", p.message),
                    ..whole_file("")
                }],
            };
        }
    };
    if let Some(problems) = view.load_problems.get(file) {
        return problems.clone();
    }
    match kind {
        FileKind::Template(name) => template_problems(&view, &name, text),
        FileKind::Values => values_problems(&view, file, text),
        FileKind::Environment(_) => match parse_yaml(text) {
            Err(p) => vec![p],
            Ok(_) => schema_problems(&view, text, &view.values),
        },
        FileKind::Schema => schema_problems(
            &view,
            view.pack.values_text.as_deref().unwrap_or(""),
            &view.values,
        )
        .into_iter()
        .map(|p| Problem {
            message: format!("values.yaml: {}", p.message),
            line: 0,
            start: 0,
            end: 0,
            ..p
        })
        .collect(),
        FileKind::PackFile => crate::pack::unknown_fields(&parse_yaml(text).unwrap_or(Value::Null))
            .into_iter()
            .map(|f| {
                let line = values::key_line(text, &values::split_path(&f)).unwrap_or(1) - 1;
                Problem {
                    line,
                    start: 0,
                    end: text.lines().nth(line).map_or(0, str::len),
                    severity: Severity::Warning,
                    message: format!("unknown field {f} is ignored; check its spelling"),
                }
            })
            .collect(),
        FileKind::Other => Vec::new(),
    }
}

fn values_problems(view: &View, file: &Path, text: &str) -> Vec<Problem> {
    let value = match parse_yaml(text) {
        Ok(v) => v,
        Err(p) => return vec![p],
    };
    if file.file_name().is_some_and(|f| f == "values.yaml") {
        return schema_problems(view, text, &view.values);
    }
    // Another values file (for -f): checked merged over values.yaml.
    let mut merged = view.values.clone();
    values::merge(&mut merged, &value);
    schema_problems(view, text, &merged)
}

/// Schema violations of `values`, each at the line of `text` that sets it.
fn schema_problems(view: &View, text: &str, values: &Value) -> Vec<Problem> {
    let Some((file, raw)) = &view.pack.schema else {
        return Vec::new();
    };
    let schema = Schema::new(file, raw);
    let violations = match schema.violations(values) {
        Ok(v) => v,
        Err(problems) => return problems.iter().map(|p| whole_file(p)).collect(),
    };
    violations
        .into_iter()
        .filter_map(|(path, message)| {
            // Only what this file sets (or the root) is this file's problem.
            let line = match values::key_line(text, &path) {
                Some(l) => l - 1,
                None if path.is_empty()
                    || parse_yaml(text)
                        .ok()
                        .and_then(|v| values::get_path(&v, &path).cloned())
                        .is_some() =>
                {
                    0
                }
                None => return None,
            };
            let line_text = text.lines().nth(line).unwrap_or("");
            let start = line_text.len() - line_text.trim_start().len();
            Some(Problem {
                line,
                start,
                end: line_text.len(),
                severity: Severity::Error,
                message: format!(
                    "{}: {message} ({})",
                    if path.is_empty() {
                        "(root)".into()
                    } else {
                        path.join(".")
                    },
                    schema.file
                ),
            })
        })
        .collect()
}

fn template_problems(view: &View, name: &str, text: &str) -> Vec<Problem> {
    let helper = view
        .pack
        .templates
        .iter()
        .any(|t| t.name == name && t.helper);
    let engine = match view.engine() {
        Ok(e) => e,
        Err(e) => return vec![whole_file(&e.to_string())],
    };
    if helper {
        return engine
            .compile(name)
            .err()
            .map(|e| template_problem(&e, name, text))
            .into_iter()
            .collect();
    }
    let output = match engine.render(name, &view.context()) {
        Ok(o) => o,
        Err(e) => return vec![template_problem(&e, name, text)],
    };
    match crate::render::split_documents(&format!("templates/{name}"), output) {
        Ok(_) => Vec::new(),
        Err(RenderError::NotAnObject {
            document, message, ..
        }) => {
            let line = document_line(text, document);
            vec![Problem {
                line,
                start: 0,
                end: text.lines().nth(line).map_or(0, str::len),
                severity: Severity::Error,
                message: format!("document {document} of the output: {message}"),
            }]
        }
        Err(e) => vec![whole_file(&e.to_string())],
    }
}

/// The 0-based line of the template where output document `n` (1-based)
/// starts: after the (n-1)th `---` line.
fn document_line(text: &str, n: usize) -> usize {
    if n <= 1 {
        return text
            .lines()
            .position(|l| {
                !l.trim().is_empty() && l.trim() != "---" && !l.trim_start().starts_with('#')
            })
            .unwrap_or(0);
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_end() == "---")
        .nth(n - 2)
        .map_or(0, |(i, _)| i)
}

/// A template error as a problem: in this file at its place, or at line 1
/// naming the included file it happened in.
fn template_problem(e: &RenderError, name: &str, text: &str) -> Problem {
    let RenderError::Template {
        file,
        line,
        column,
        message,
    } = e
    else {
        return whole_file(&e.to_string());
    };
    if file != &format!("templates/{name}") {
        return Problem {
            message: format!("{file}:{line}:{column}: {message}"),
            ..whole_file("")
        };
    }
    let line = line.saturating_sub(1);
    let line_text = text.lines().nth(line).unwrap_or("");
    let start = line_text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(line_text.len(), |(i, _)| i);
    let word = line_text[start..]
        .find(|c: char| !(c.is_alphanumeric() || "_.-".contains(c)))
        .unwrap_or(line_text.len() - start);
    let end = if word == 0 {
        line_text.len()
    } else {
        start + word
    };
    Problem {
        line,
        start,
        end,
        severity: Severity::Error,
        message: message.clone(),
    }
}
