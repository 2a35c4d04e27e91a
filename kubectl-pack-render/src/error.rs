//! Typed errors of `kubectl pack-render`. Each renders as one line that
//! names the file (and line/column or document) and, where it helps, what
//! to do.

use std::path::PathBuf;

/// What can go wrong while loading, rendering or testing a pack.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// An encrypted values file or source cannot be decrypted.
    #[error("{source_ref}: {message}")]
    Secret {
        /// The file or `--values-from` source.
        source_ref: String,
        /// Why (never a plaintext value).
        message: String,
    },
    /// A file could not be read.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// A YAML file (values, Pack.yaml, environment) does not parse.
    #[error("{}{}: invalid YAML: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Line of the error, if known.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// The directory has no Pack.yaml.
    #[error("{}: not a pack (no Pack.yaml); pass the directory that holds Pack.yaml", dir.display())]
    NotAPack {
        /// The directory given.
        dir: PathBuf,
    },
    /// Pack.yaml is malformed.
    #[error("{}: {message}", path.display())]
    PackFile {
        /// Pack.yaml.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A dependency's pack is not where it should be.
    #[error("pack {pack}: dependency {name} not found at {}; run `kubectl pack-render deps resolve` or add it under charts/", looked.display())]
    MissingDependency {
        /// The depending pack.
        pack: String,
        /// The dependency.
        name: String,
        /// Where it was looked for.
        looked: PathBuf,
    },
    /// A template failed to compile or render.
    #[error("{file}:{line}:{column}: {message}")]
    Template {
        /// `<pack>/templates/<file>`.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What went wrong (with a suggestion for undefined values).
        message: String,
    },
    /// A rendered document is not a Kubernetes object.
    #[error("{file}: document {document} (line {line}): {message}")]
    NotAnObject {
        /// `<pack>/templates/<file>`.
        file: String,
        /// 1-based document number within the file's output.
        document: usize,
        /// Line of the document in the file's output.
        line: usize,
        /// What is missing.
        message: String,
    },
    /// The values violate the schema.
    #[error("{file}: {} schema violation(s): {}", problems.len(), problems.join("; "))]
    Schema {
        /// The schema file.
        file: String,
        /// Every violation, with path and origin.
        problems: Vec<String>,
    },
    /// A values file given with -f does not exist or cannot be read.
    #[error("values file {path}: {message}")]
    ValuesFile {
        /// As given.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A `--set`-family expression is malformed.
    #[error("{flag} {expr:?}: {message}")]
    Set {
        /// `--set`, `--set-string`, `--set-json`, `--set-file`.
        flag: &'static str,
        /// The expression.
        expr: String,
        /// What is wrong.
        message: String,
    },
    /// `-e NAME` names no environment.
    #[error("unknown environment {name:?} (available: {available}); add environments/{name}.yaml")]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The environments that exist.
        available: String,
    },
    /// `_inherit` chains loop.
    #[error("environment inheritance cycle: {cycle}")]
    InheritCycle {
        /// `a -> b -> a`.
        cycle: String,
    },
    /// `${VAR}` without a default and the variable is unset.
    #[error("{file}: environment variable {var} is not set (use ${{{var}:-default}} or export it)")]
    EnvVar {
        /// The values file.
        file: String,
        /// The variable.
        var: String,
    },
    /// `--values-from` failed.
    #[error("--values-from {source_ref}: {message}")]
    ValuesFrom {
        /// `configmap/NAME` or `secret/NAME`.
        source_ref: String,
        /// What went wrong.
        message: String,
    },
    /// `--show-only` matched nothing.
    #[error("--show-only {path}: no rendered template matches (rendered: {available})")]
    ShowOnly {
        /// The path given.
        path: String,
        /// What was rendered.
        available: String,
    },
    /// Dependency resolution failed.
    #[error("{0}")]
    Dependencies(String),
    /// A render thread stopped without a result (it panicked): the stream
    /// would miss its templates, so nothing is written.
    #[error(
        "rendering stopped unexpectedly in a worker thread; nothing was written (please report this with the pack)"
    )]
    WorkerStopped,
}
