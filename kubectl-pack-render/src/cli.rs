//! The command line of `kubectl pack-render`: every flag defined once.

use clap::{ArgMatches, Args, Parser, Subcommand};
use shared::kubeconfig::KubeArgs;

use crate::render::SetFlag;

/// Render a pack to a clean YAML stream.
///
/// Renders a pack (Pack.yaml, values, Jinja2 templates, environments, schema)
/// to a YAML stream on stdout, ready for `kubectl pack-waves apply` or
/// `kubectl apply -f -`. Offline unless --values-from or --cluster-lookup.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl pack-render",
    bin_name = "kubectl pack-render",
    version,
    disable_version_flag = true
)]
#[command(args_conflicts_with_subcommands = true, arg_required_else_help = true)]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// [RELEASE] PACK: release name (defaults to the pack's name) and pack directory.
    #[arg(value_name = "RELEASE] [PACK", num_args = 1..=2)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// With PACK = oci://HOST/REPO: the pack version (tag) to render, as
    /// Helm's --version; alone: print this plugin's version.
    #[arg(short = 'V', long = "version", value_name = "VERSION", num_args = 0..=1)]
    pub version: Option<Option<String>>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Run the pack's unit tests (PACK/tests/*_test.yaml).
    Test(TestArgs),
    /// Show how two environments' renders differ, object by object (exit 1 if they do).
    DiffEnv(DiffEnvArgs),
    /// Resolve, show and explain the pack's dependencies.
    Deps(DepsArgs),
    /// Step through the templates' rendering: breakpoints, step/next, print/eval, locals, trace, watch, reload.
    Debug(DebugArgs),
    /// Serve the Language Server Protocol over stdio for a pack's files (editors start it).
    Lsp(crate::lsp::LspArgs),
    /// Copy environment FROM's values that differ (or --only PATHS) into TO's file, keeping its comments.
    Promote(PromoteArgs),
    /// Write a reproducible archive of the pack (NAME-VERSION.tgz); prints its path.
    Package(PackageArgs),
    /// Push a pack archive to an OCI registry (oci://HOST/REPO[:TAG], the tag defaults to the version).
    Push(PushArgs),
    /// Pull a pack from an OCI registry into NAME-VERSION.tgz.
    Pull(PullArgs),
    /// List a repository's semver tags that match --constraint, newest first.
    Versions(VersionsArgs),
    /// Print the shell completion script (bash, zsh or fish).
    Completion(shared::cli::CompletionArgs),
}

/// Where values come from (shared by render, test and diff-env).
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Values")]
pub struct ValuesArgs {
    /// Environment to render (environments/<NAME>.yaml).
    #[arg(short = 'e', long = "environment", value_name = "NAME")]
    pub environment: Option<String>,
    /// Values file (repeatable, later wins; - = stdin).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values_files: Vec<String>,

    /// Age identity file for encrypted values files (repeatable; SOPS_AGE_KEY*, ~/.config/sops/age/keys.txt are also used).
    #[arg(long = "identity", value_name = "FILE")]
    pub identity: Vec<std::path::PathBuf>,
    /// Set values: a.b=c,list[0]=x (Helm syntax, types inferred).
    #[arg(long = "set", value_name = "EXPR")]
    pub set: Vec<String>,
    /// Set string values (no type inference).
    #[arg(long = "set-string", value_name = "EXPR")]
    pub set_string: Vec<String>,
    /// Set a value to a file's contents: key=path.
    #[arg(long = "set-file", value_name = "KEY=PATH")]
    pub set_file: Vec<String>,
    /// Set JSON values: key=<json>.
    #[arg(long = "set-json", value_name = "KEY=JSON")]
    pub set_json: Vec<String>,
    /// Read values from the cluster: configmap/NAME or secret/NAME (? = optional; repeatable).
    #[arg(long = "values-from", value_name = "KIND/NAME[?]")]
    pub values_from: Vec<String>,
    /// Kubernetes version for capabilities.kubeVersion (default v1.33.0).
    #[arg(long = "kube-version", value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// Extra API versions for capabilities.apiVersions (repeatable).
    #[arg(long = "api-versions", value_name = "GROUP/VERSION")]
    pub api_versions: Vec<String>,
    /// Skip schema defaults and validation.
    #[arg(long)]
    pub no_schema: bool,
    /// Substitute ${VAR} and ${VAR:-default} in values from the environment.
    #[arg(long)]
    pub env_subst: bool,
    /// Let lookup() read the live cluster (read-only).
    #[arg(long)]
    pub cluster_lookup: bool,
}

/// Output format.
/// Render-only output flags.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format: yaml (a YAML stream, the default; text and wide are
    /// the same), json (a List), name (kind/name per object) or
    /// jsonpath=TEMPLATE (over the List).
    #[arg(short = 'o', long = "output", default_value = "yaml", value_name = "FORMAT",
          value_parser = shared::output::FormatParser)]
    pub format: shared::output::Format,
    /// Write each template's output to DIR/<pack>/templates/<file> instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<std::path::PathBuf>,
    /// Only output these templates (e.g. templates/deployment.yaml; repeatable).
    #[arg(long = "show-only", value_name = "PATH")]
    pub show_only: Vec<String>,
    /// Print NOTES.txt as a trailing comment instead of on stderr.
    #[arg(long)]
    pub notes: bool,
    /// Print render time per template and per macro (stderr).
    #[arg(long)]
    pub profile: bool,
    /// Print the include/import/macro call tree (stderr).
    #[arg(long)]
    pub trace: bool,
    /// Print a value's final value and every layer that set it, then exit.
    #[arg(long, value_name = "VALUE.PATH")]
    pub explain: Option<String>,
}

/// `test` arguments.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// The pack directory.
    pub pack: String,
    /// Only run tests whose suite or name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Stop at the first failing test.
    #[arg(long)]
    pub fail_fast: bool,
    /// Output format: the shared ones (text ✓/✗ per test, wide, json,
    /// yaml, name = failed tests, jsonpath=TEMPLATE) or junit (JUnit XML).
    #[arg(short = 'o', long = "output", default_value = "text", value_name = "FORMAT",
          value_parser = TestFormatParser)]
    pub format: TestFormat,
    /// Rewrite snapshots instead of comparing.
    #[arg(long)]
    pub update_snapshots: bool,
    /// Report templates rendered, if-branches taken and values read.
    #[arg(long)]
    pub coverage: bool,
}

/// `test` output format: every `-o` format, plus JUnit XML for CI systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestFormat {
    /// One of the shared formats (`text` is ✓/✗ per test with expected/actual).
    Report(shared::output::Format),
    /// JUnit XML.
    Junit,
}

/// The value parser of [`TestFormat`] (`pretty`, the old name of `text`,
/// still accepted).
#[derive(Debug, Clone, Copy)]
pub struct TestFormatParser;

impl clap::builder::TypedValueParser for TestFormatParser {
    type Value = TestFormat;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<TestFormat, clap::Error> {
        match value.to_str() {
            Some("junit") => Ok(TestFormat::Junit),
            Some("pretty") => Ok(TestFormat::Report(shared::output::Format::Text)),
            _ => shared::output::FormatParser
                .parse_ref(cmd, arg, value)
                .map(TestFormat::Report),
        }
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let names = shared::output::FORMATS.into_iter().chain(["junit"]);
        Some(Box::new(names.map(clap::builder::PossibleValue::new)))
    }
}

/// `package` arguments.
#[derive(Debug, Clone, Args)]
pub struct PackageArgs {
    /// The pack directory.
    #[arg(value_name = "PACK")]
    pub pack: std::path::PathBuf,
    /// Where to write the archive.
    #[arg(
        short = 'd',
        long = "destination",
        value_name = "DIR",
        default_value = "."
    )]
    pub destination: std::path::PathBuf,
}

/// How to reach an OCI registry (push, pull, and render of oci://).
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Registry")]
pub struct RegistryArgs {
    /// Registry user name (with --password-stdin); else Docker's config.json, else anonymous.
    #[arg(long, value_name = "NAME", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from stdin.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Talk to the registry over plain HTTP (a local or test registry).
    #[arg(long)]
    pub plain_http: bool,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl RegistryArgs {
    /// The password given on stdin (first line), read once per process
    /// however many registries a command talks to.
    pub fn password(&self) -> anyhow::Result<String> {
        static PASSWORD: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
        PASSWORD
            .get_or_init(|| {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| format!("--password-stdin: cannot read stdin: {e}"))?;
                let password = line.trim_end_matches(['\r', '\n']).to_string();
                if password.is_empty() {
                    return Err("--password-stdin: stdin holds no password".to_string());
                }
                Ok(password)
            })
            .clone()
            .map_err(anyhow::Error::msg)
    }
}

/// `push` arguments.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// The archive `package` wrote.
    #[arg(value_name = "ARCHIVE")]
    pub archive: std::path::PathBuf,
    /// oci://HOST[:PORT]/REPOSITORY[:TAG].
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `pull` arguments.
#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    /// oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST].
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    /// The version (tag) to pull, when the reference has none.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Where to write the archive.
    #[arg(
        short = 'd',
        long = "destination",
        value_name = "DIR",
        default_value = "."
    )]
    pub destination: std::path::PathBuf,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `versions` arguments.
#[derive(Debug, Clone, Args)]
pub struct VersionsArgs {
    /// oci://HOST[:PORT]/REPOSITORY.
    #[arg(value_name = "REPOSITORY")]
    pub reference: String,
    /// Semver range the versions must match (e.g. '>=1.2, <2', '^1.4', '~2.0').
    #[arg(long, value_name = "RANGE")]
    pub constraint: Option<String>,
    /// Include pre-releases (1.3.0-rc.1).
    #[arg(long)]
    pub devel: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `diff-env` arguments.
#[derive(Debug, Args)]
pub struct DiffEnvArgs {
    /// First environment.
    pub from: String,
    /// Second environment.
    pub to: String,
    /// The pack directory.
    pub pack: String,
    /// Values applied to both renders.
    #[command(flatten)]
    pub values: ValuesArgs,
}

/// `debug` arguments.
#[derive(Debug, Args)]
pub struct DebugArgs {
    /// [RELEASE] PACK: release name (defaults to the pack's name) and pack directory.
    #[arg(value_name = "RELEASE] [PACK", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    /// Values, as for a render.
    #[command(flatten)]
    pub values: ValuesArgs,
}

/// `promote` arguments.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The environment to copy from (e.g. staging).
    pub from: String,
    /// The environment whose file is edited (e.g. production).
    pub to: String,
    /// The pack directory.
    pub pack: String,
    /// Only these value paths (e.g. image.tag; repeatable or comma-separated).
    #[arg(long, value_name = "PATHS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Write without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// `deps` arguments.
#[derive(Debug, Args)]
pub struct DepsArgs {
    #[command(subcommand)]
    pub command: DepsCommand,
}

/// `deps` subcommands.
#[derive(Debug, Subcommand)]
pub enum DepsCommand {
    /// Resolve versions and write Pack.lock.yaml.
    Resolve {
        /// The pack directory.
        pack: String,
    },
    /// Fetch oci:// and https:// dependencies into charts/ and pin them (version, digest) in Pack.lock.yaml.
    Update {
        /// The pack directory.
        pack: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Print the dependency tree.
    Graph {
        /// The pack directory.
        pack: String,
    },
    /// Newer versions the ranges allow or exclude, deprecated/yanked versions, unpinned remote packs, licences (exit 1 on a problem in use).
    Audit {
        /// The pack directory.
        pack: String,
        /// Output format: text (a table), json, yaml, name, jsonpath=TEMPLATE.
        #[arg(short = 'o', long = "output", default_value = "text", value_name = "FORMAT",
              value_parser = shared::output::FormatParser)]
        format: shared::output::Format,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Explain why a pack is included.
    Why {
        /// The dependency's name.
        name: String,
        /// The pack directory.
        pack: String,
    },
}

/// The `--set`-family expressions in command-line order.
pub fn ordered_sets(matches: &ArgMatches) -> Vec<(SetFlag, String)> {
    let mut out: Vec<(usize, SetFlag, String)> = Vec::new();
    for (id, flag) in [
        ("set", SetFlag::Set),
        ("set_string", SetFlag::String),
        ("set_json", SetFlag::Json),
        ("set_file", SetFlag::File),
    ] {
        if let (Some(indices), Some(vals)) =
            (matches.indices_of(id), matches.get_many::<String>(id))
        {
            for (i, v) in indices.zip(vals) {
                out.push((i, flag, v.clone()));
            }
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, f, v)| (f, v)).collect()
}

/// Completion values from the pack typed so far: environment names
/// (`environments/NAME.yaml`) for `-e` and diff-env's FROM and TO.
pub fn complete_values(q: shared::complete::Query) -> shared::complete::Values {
    Box::pin(async move {
        if !matches!(q.arg.as_str(), "environment" | "from" | "to") {
            return Ok(None);
        }
        let pack = q
            .value("pack")
            .or_else(|| {
                q.seen
                    .get("args")
                    .and_then(|a| a.last())
                    .map(String::as_str)
            })
            .unwrap_or(".");
        Ok(Some(environment_names(std::path::Path::new(pack))))
    })
}

/// The environments a pack defines, sorted.
fn environment_names(pack: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(pack.join("environments")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('_') {
                return None; // a base to inherit from, not an environment
            }
            name.strip_suffix(".yaml")
                .or_else(|| name.strip_suffix(".yml"))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

impl Command {
    /// Its column of the exit-code table (`shared::output::exit`):
    /// `diff-env` is a check (1 = the environments differ); the render
    /// itself and the others are ordinary.
    pub fn error_code(&self) -> shared::cli::ErrorCode {
        match self {
            Command::DiffEnv(_) => shared::cli::ErrorCode::DiffLike,
            _ => shared::cli::ErrorCode::Standard,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Regression guard for every flag: clap's checks of the whole tree
    /// and one `-o` definition.
    #[test]
    fn command_tree_is_consistent() {
        shared::cli::assert_command_tree(super::Cli::command());
    }
}
