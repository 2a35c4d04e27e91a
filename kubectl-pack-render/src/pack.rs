//! Loading a pack from disk: `Pack.yaml`, `values.yaml`, the schema file,
//! `templates/` (helpers, NOTES.txt), `environments/` and `charts/`
//! subpacks — the Sherpack format.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::error::RenderError;
pub use crate::source::{Batch, Reading, Source};

/// `Pack.yaml`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PackFile {
    /// Must be `sherpack/v1`.
    pub api_version: String,
    /// `application` or `library`.
    pub kind: String,
    /// Name, version and descriptive fields.
    pub metadata: Metadata,
    /// Subpacks this pack uses.
    pub dependencies: Vec<Dependency>,
    /// Template engine settings.
    pub engine: Engine,
    /// How dependencies are resolved.
    pub resolution: Resolution,
    /// Packs that must not be in the same resolution (name + range).
    pub conflicts: Vec<Dependency>,
    /// Drift detection settings for `kubectl pack-drift` (carried in the stream header).
    pub drift: Option<Value>,
    /// CRD policy for `kubectl pack-crd` (carried in the stream header).
    pub crd_policy: Option<Value>,
}

impl PackFile {
    /// What the stream header carries to the plugins downstream.
    pub fn stream_info(&self) -> shared::release::PackInfo {
        let mut settings = serde_json::Map::new();
        if let Some(d) = &self.drift {
            settings.insert("drift".into(), d.clone());
        }
        if let Some(c) = &self.crd_policy {
            settings.insert("crdPolicy".into(), c.clone());
        }
        shared::release::PackInfo {
            name: self.metadata.name.clone(),
            version: self.metadata.version.clone(),
            settings: if settings.is_empty() {
                Value::Null
            } else {
                Value::Object(settings)
            },
        }
    }
}

/// `Pack.yaml` `metadata`.
#[derive(Debug, Clone, Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Metadata {
    /// Pack name.
    pub name: String,
    /// Semver version.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Version of the packaged application.
    pub app_version: String,
    /// Supported Kubernetes versions (semver range).
    pub kube_version: String,
}

/// A `dependencies[]` entry.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Dependency {
    /// Pack name.
    pub name: String,
    /// Semver range.
    pub version: String,
    /// `file://path` (relative to the pack) or empty for `charts/<name>`.
    pub repository: String,
    /// `false` disables the dependency.
    pub enabled: Option<bool>,
    /// Dot path into the parent's values; false disables.
    pub condition: String,
    /// Name to use for the subpack (values key and output).
    pub alias: String,
    /// A remote dependency that cannot be fetched is skipped with a warning.
    pub optional: bool,
    /// Pre-release versions (1.3.0-rc.1) may be chosen.
    pub allow_prerelease: bool,
}

impl Dependency {
    /// The name the parent uses for it (alias, else name).
    pub fn key(&self) -> &str {
        if self.alias.is_empty() {
            &self.name
        } else {
            &self.alias
        }
    }
}

/// `Pack.yaml` `engine`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Engine {
    /// Undefined values are errors (default true).
    pub strict: bool,
    /// `${VAR}` substitution in values strings.
    pub env_subst: bool,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            strict: true,
            env_subst: false,
        }
    }
}

/// `Pack.yaml` `resolution`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Resolution {
    /// `newest-compatible` (default), `minimal` or `locked`.
    pub strategy: String,
    /// What a declared conflict does: `fail` (default) or `warn`
    /// (`prefer-first` is refused, naming the field).
    pub conflict_resolution: String,
}

/// Every field `Pack.yaml` may have, by section (the rest is warned about:
/// a misspelt field must not be silently ignored).
const KNOWN_FIELDS: [(&str, &[&str]); 5] = [
    (
        "",
        &[
            "apiVersion",
            "kind",
            "metadata",
            "dependencies",
            "engine",
            "resolution",
            "conflicts",
            "drift",
            "crdPolicy",
        ],
    ),
    (
        "metadata",
        &[
            "name",
            "version",
            "description",
            "appVersion",
            "kubeVersion",
            "home",
            "icon",
            "keywords",
            "maintainers",
            "sources",
            "annotations",
            "license",
            "deprecated",
            "type",
        ],
    ),
    (
        "dependencies",
        &[
            "name",
            "version",
            "repository",
            "enabled",
            "condition",
            "alias",
            "optional",
            "allowPrerelease",
            "tags",
            "importValues",
            "import-values",
        ],
    ),
    ("engine", &["strict", "envSubst"]),
    ("resolution", &["strategy", "conflictResolution"]),
];

/// `Pack.yaml` fields this version does not know (`dependencies[1].verison`).
pub fn unknown_fields(raw: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (section, known) in KNOWN_FIELDS {
        let maps: Vec<(String, &Value)> = match section {
            "" => vec![(String::new(), raw)],
            "dependencies" => raw[section]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, d)| (format!("dependencies[{i}]."), d))
                .collect(),
            _ => vec![(format!("{section}."), &raw[section])],
        };
        for (prefix, map) in maps {
            for key in map.as_object().into_iter().flat_map(|m| m.keys()) {
                if !known.contains(&key.as_str()) {
                    out.push(format!("{prefix}{key}"));
                }
            }
        }
    }
    out
}

/// One file under `templates/`.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    /// Path under `templates/` with `/` separators (the template's name).
    pub name: String,
    /// File contents (shared with the engine, never copied), perhaps still
    /// being read ([`Reading::Background`]).
    pub source: Source,
    /// `_`-prefixed or `.tpl`: importable, never rendered.
    pub helper: bool,
}

impl TemplateFile {
    /// Name in the output (`.j2`/`.jinja2` dropped).
    pub fn output_name(&self) -> &str {
        self.name
            .strip_suffix(".j2")
            .or_else(|| self.name.strip_suffix(".jinja2"))
            .unwrap_or(&self.name)
    }
}

/// A loaded pack.
#[derive(Debug, Clone)]
pub struct Pack {
    /// The pack directory.
    pub dir: PathBuf,
    /// `Pack.yaml`.
    pub file: PackFile,
    /// `values.yaml` text and value (empty map if absent).
    pub values_text: Option<String>,
    /// Parsed `values.yaml` (shared with the render's values layer).
    pub values: std::sync::Arc<Value>,
    /// Schema file name and contents, if any.
    pub schema: Option<(String, Value)>,
    /// Every template, sorted by path.
    pub templates: Vec<TemplateFile>,
    /// `templates/NOTES.txt`, if present.
    pub notes: Option<String>,
    /// Subpacks found under `charts/` (or `file://` dependencies).
    pub subpacks: Vec<Subpack>,
    /// The template files still being read, when loaded with
    /// [`Reading::Background`].
    pub reading: Option<std::sync::Arc<Batch>>,
}

/// A subpack with the dependency entry that names it.
#[derive(Debug, Clone)]
pub struct Subpack {
    /// The `dependencies[]` entry (synthesized for unlisted `charts/` dirs).
    pub dependency: Dependency,
    /// The loaded subpack.
    pub pack: Pack,
    /// The folder a remote dependency's archive was unpacked into (kept
    /// as long as the pack is).
    pub _unpacked: Option<std::sync::Arc<tempfile::TempDir>>,
}

const TEMPLATE_EXTENSIONS: [&str; 7] = ["yaml", "yml", "j2", "jinja2", "txt", "json", "tpl"];
const SCHEMA_FILES: [&str; 4] = [
    "values.schema.yaml",
    "values.schema.json",
    "schema.yaml",
    "schema.json",
];

fn read(path: &Path) -> Result<String, RenderError> {
    read_bounded(path).map_err(|message| RenderError::Io {
        path: path.to_path_buf(),
        message,
    })
}

/// A file read up to the suite's input limit (`shared::yaml::MAX_INPUT_BYTES`).
pub fn read_bounded(path: &Path) -> Result<String, String> {
    shared::yaml::read_input(&path.to_string_lossy()).map_err(|e| match e {
        shared::Error::Read { source, .. } => source.to_string(),
        other => other.to_string(),
    })
}

/// Parses a YAML file into a value, with a one-line error naming it.
pub fn parse_yaml_file(path: &Path, text: &str) -> Result<Value, RenderError> {
    shared::yaml::parse_value(text, 1)
        .map(|v| {
            if v.is_null() {
                Value::Object(Default::default())
            } else {
                v
            }
        })
        .map_err(|e| RenderError::Yaml {
            path: path.to_path_buf(),
            line: e.line,
            message: e.message,
        })
}

impl Pack {
    /// Loads the pack in `dir` and its subpacks.
    pub fn load(dir: &Path) -> Result<Pack, RenderError> {
        Pack::load_with(dir, Reading::Now)
    }

    /// Every template file has been read (at once for [`Reading::Now`]);
    /// the first one that could not be.
    pub fn finish_reading(&self) -> Result<(), RenderError> {
        self.reading.as_ref().map_or(Ok(()), |b| b.wait_all())
    }

    /// [`Pack::load`], the root pack's template files read as `reading`
    /// says (subpacks' at once).
    pub fn load_with(dir: &Path, reading: Reading) -> Result<Pack, RenderError> {
        let pack_yaml = dir.join("Pack.yaml");
        if !pack_yaml.is_file() {
            return Err(RenderError::NotAPack {
                dir: dir.to_path_buf(),
            });
        }
        let text = read(&pack_yaml)?;
        let raw = parse_yaml_file(&pack_yaml, &text)?;
        for field in unknown_fields(&raw) {
            shared::output::warn(&format!(
                "{}: unknown field {field} is ignored; check its spelling",
                pack_yaml.display()
            ));
        }
        if !matches!(
            raw["resolution"]["conflictResolution"].as_str(),
            None | Some("fail" | "warn")
        ) {
            return Err(RenderError::PackFile {
                path: pack_yaml,
                message: format!(
                    "resolution.conflictResolution {} is not supported; use fail (the default) or warn",
                    raw["resolution"]["conflictResolution"]
                ),
            });
        }
        let file: PackFile = serde_json::from_value(raw).map_err(|e| RenderError::PackFile {
            path: pack_yaml.clone(),
            message: e.to_string(),
        })?;
        if file.api_version != "sherpack/v1" {
            return Err(RenderError::PackFile {
                path: pack_yaml,
                message: format!(
                    "apiVersion must be sherpack/v1, found {:?}",
                    file.api_version
                ),
            });
        }
        if file.metadata.name.is_empty() {
            return Err(RenderError::PackFile {
                path: pack_yaml,
                message: "metadata.name is required".into(),
            });
        }
        if let Err(e) = semver::Version::parse(&file.metadata.version) {
            return Err(RenderError::PackFile {
                path: pack_yaml,
                message: format!(
                    "metadata.version {:?} is not a semantic version ({e}); write MAJOR.MINOR.PATCH, for example 1.2.3",
                    file.metadata.version
                ),
            });
        }

        // The templates are read while values.yaml and the schema are parsed.
        let tdir = dir.join("templates");
        let (loaded, templates) = std::thread::scope(|s| {
            let templates = s.spawn(|| load_templates(&tdir, reading));
            (load_values(dir), templates.join())
        });
        let ((values_text, values), schema) = loaded?;
        let (templates, notes, batch) = templates.map_err(|_| RenderError::WorkerStopped)??;

        let mut pack = Pack {
            dir: dir.to_path_buf(),
            file,
            values_text,
            values: values.into(),
            schema,
            templates,
            notes,
            subpacks: Vec::new(),
            reading: batch,
        };
        pack.subpacks = pack.load_subpacks()?;
        Ok(pack)
    }

    /// The pack's name.
    pub fn name(&self) -> &str {
        &self.file.metadata.name
    }

    fn load_subpacks(&self) -> Result<Vec<Subpack>, RenderError> {
        let mut out: Vec<Subpack> = Vec::new();
        let charts = self.dir.join("charts");
        for dep in &self.file.dependencies {
            if crate::remote::is_remote(&dep.repository) {
                if dep.enabled == Some(false) {
                    continue;
                }
                out.push(self.remote_subpack(dep)?);
                continue;
            }
            let dir = match dep.repository.strip_prefix("file://") {
                Some(rel) if !rel.is_empty() => self.dir.join(rel),
                _ => charts.join(&dep.name),
            };
            // A file:// repository of several packs: pick the one by name.
            let dir = if dir.join("Pack.yaml").is_file() {
                dir
            } else {
                dir.join(&dep.name)
            };
            if !dir.join("Pack.yaml").is_file() {
                // Resolved later by `deps` from repositories; rendering needs it present.
                return Err(RenderError::MissingDependency {
                    pack: self.name().to_string(),
                    name: dep.name.clone(),
                    looked: dir,
                });
            }
            let pack = Pack::load(&dir)?;
            out.push(Subpack {
                dependency: dep.clone(),
                pack,
                _unpacked: None,
            });
        }
        if charts.is_dir() {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&charts)
                .map_err(|e| RenderError::Io {
                    path: charts.clone(),
                    message: e.to_string(),
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("Pack.yaml").is_file())
                .collect();
            dirs.sort();
            for dir in dirs {
                if out.iter().any(|s| s.pack.dir == dir) {
                    continue;
                }
                let pack = Pack::load(&dir)?;
                let dependency = Dependency {
                    name: pack.name().to_string(),
                    ..Default::default()
                };
                out.push(Subpack {
                    dependency,
                    pack,
                    _unpacked: None,
                });
            }
        }
        Ok(out)
    }
}

impl Pack {
    /// A remote dependency, from its archive in `charts/` (digest checked
    /// against `Pack.lock.yaml`).
    fn remote_subpack(&self, dep: &Dependency) -> Result<Subpack, RenderError> {
        let fail = |e: anyhow::Error| {
            RenderError::Dependencies(shared::error::one_line(&format!("{e:#}")))
        };
        let archive = crate::remote::archive_for(&self.dir, dep).map_err(fail)?;
        let (tmp, inner) = crate::archive::unpack_file(&archive).map_err(fail)?;
        Ok(Subpack {
            dependency: dep.clone(),
            pack: Pack::load(&inner)?,
            _unpacked: Some(std::sync::Arc::new(tmp)),
        })
    }
}

/// `values.yaml` (text and value; an empty map without one) and the schema file.
#[allow(clippy::type_complexity)]
fn load_values(
    dir: &Path,
) -> Result<((Option<String>, Value), Option<(String, Value)>), RenderError> {
    let values_path = dir.join("values.yaml");
    let values = if values_path.is_file() {
        let t = read(&values_path)?;
        let v = parse_yaml_file(&values_path, &t)?;
        (Some(t), v)
    } else {
        (None, Value::Object(Default::default()))
    };
    let mut schema = None;
    for name in SCHEMA_FILES {
        let p = dir.join(name);
        if p.is_file() {
            let t = read(&p)?;
            schema = Some((name.to_string(), parse_yaml_file(&p, &t)?));
            break;
        }
    }
    Ok((values, schema))
}

/// Every template under `tdir` (sorted by path) and `NOTES.txt`; the
/// files are read on several threads (a large pack has thousands), before
/// this returns or in the background.
#[allow(clippy::type_complexity)]
fn load_templates(
    tdir: &Path,
    reading: Reading,
) -> Result<(Vec<TemplateFile>, Option<String>, Option<Arc<Batch>>), RenderError> {
    if !tdir.is_dir() {
        return Ok((Vec::new(), None, None));
    }
    let mut files = Vec::new();
    walk(tdir, &mut files)?;
    files.sort();
    let mut notes = None;
    // What to read (path, regular file), and each template's (name, helper).
    let mut to_read = Vec::new();
    let mut templates = Vec::new();
    for (path, is_regular) in files {
        let rel = path.strip_prefix(tdir).unwrap_or(&path);
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if name == "NOTES.txt" {
            notes = Some(read(&path)?);
            continue;
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if !TEMPLATE_EXTENSIONS.contains(&ext) {
            continue;
        }
        let helper = path
            .file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with('_'))
            || ext == "tpl";
        to_read.push((path, is_regular));
        templates.push((name, helper));
    }
    // Many small files: several threads keep the reads going (a read that
    // misses the page cache waits on the disk).
    let workers = if to_read.len() < 64 { 1 } else { READ_THREADS };
    let batch = Batch::start(to_read, workers, read_template);
    let mut templates: Vec<TemplateFile> = templates
        .into_iter()
        .enumerate()
        .map(|(i, (name, helper))| TemplateFile {
            name,
            source: batch.source(i),
            helper,
        })
        .collect();
    if reading == Reading::Background {
        return Ok((templates, notes, Some(batch)));
    }
    // At once: every file read, the first that could not be is the error.
    batch.wait_all()?;
    for t in &mut templates {
        t.source = t.source.text()?.into();
    }
    Ok((templates, notes, None))
}

/// Threads that read a large pack's template files.
const READ_THREADS: usize = 4;

/// A template file. A regular file (as its directory entry says) takes
/// one read into this thread's buffer — a short read of a regular file is
/// its end — and is copied once into the text the engine shares; anything
/// else, or a file that fills the buffer, is read as any input.
fn read_template(path: &Path, regular: bool) -> Result<Arc<str>, String> {
    use std::io::Read;
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 64 << 10]);
    }
    if !regular {
        return read_bounded(path).map(Arc::from);
    }
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let whole = BUFFER.with_borrow_mut(|buf| -> Result<Option<Arc<str>>, String> {
        let n = loop {
            match file.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            }
        };
        if n == buf.len() {
            return Ok(None);
        }
        let text = std::str::from_utf8(&buf[..n])
            .map_err(|_| "stream did not contain valid UTF-8".to_string())?;
        Ok(Some(Arc::from(text)))
    })?;
    match whole {
        Some(text) => Ok(text),
        None => read_bounded(path).map(Arc::from),
    }
}

/// Every file under `dir`, and whether its directory entry says it is a
/// regular file.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, bool)>) -> Result<(), RenderError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RenderError::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let p = entry.path();
        // The entry's type comes with the directory listing (no stat);
        // a symbolic link is followed.
        let file_type = entry.file_type().ok();
        let is_dir = match file_type {
            Some(t) if !t.is_symlink() => t.is_dir(),
            _ => p.is_dir(),
        };
        if is_dir {
            walk(&p, out)?;
        } else {
            out.push((p, file_type.is_some_and(|t| t.is_file())));
        }
    }
    Ok(())
}
