//! Every flag of `kubectl pack-crd`, defined once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shared::kubeconfig::KubeArgs;
pub use shared::output::OutputArgs;
use shared::release::args::StorageArgs;

/// Upgrade CRDs safely.
///
/// Classifies CRD schema changes, validates the custom resources already
/// stored against a new schema, backs them up and restores them, migrates
/// their storage version, and applies CRDs as a step of the render | waves
/// pipeline. CRDs are never deleted by this suite unless asked explicitly.
#[derive(Debug, Parser)]
#[command(name = "kubectl pack-crd", bin_name = "kubectl pack-crd", version)]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify every change from OLD to NEW as breaking, risky or safe (exit 1 on breaking).
    Diff(DiffArgs),
    /// Check that every stored custom resource validates against the new CRDs.
    Validate(ValidateArgs),
    /// Save CRDs and all their objects (all namespaces) to a file or the release store.
    Backup(BackupArgs),
    /// Recreate CRDs and objects from a backup (server-side apply, status restored).
    Restore(RestoreArgs),
    /// Move every stored object of a CRD to another storage version.
    Migrate(MigrateArgs),
    /// Pipeline step: apply the stream's CRDs safely, pass every other document through.
    Apply(ApplyArgs),
    /// Print the shell completion script (bash, zsh or fish).
    Completion(shared::cli::CompletionArgs),
}

/// `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The CRD before: a file, '-' or cluster:NAME.
    pub old: String,
    /// The CRD after: a file, '-' or cluster:NAME.
    pub new: String,
    /// Risky changes fail too.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where CRDs come from.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// File with the new CRDs ('-' or absent: stdin).
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        default_value = "-"
    )]
    pub filename: String,
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// CRD names (e.g. widgets.example.com).
    #[arg(required = true)]
    pub crds: Vec<String>,
    /// Write to FILE (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Keep it in the release store instead (chunked if large); prints its id.
    #[arg(long, conflicts_with = "output")]
    pub store: bool,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Backup file ('-': stdin).
    #[arg(required_unless_present = "from_store")]
    pub file: Option<String>,
    /// A backup kept with `backup --store` (its id).
    #[arg(long, value_name = "ID", conflicts_with = "file")]
    pub from_store: Option<String>,
    /// Restore objects of namespace A into namespace B (repeatable: A=B).
    #[arg(long, value_name = "A=B", value_parser = parse_namespace_pair)]
    pub namespace_map: Vec<String>,
    /// Take over fields other managers own instead of reporting conflicts.
    #[arg(long)]
    pub force_conflicts: bool,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// CRD name.
    pub crd: String,
    /// The version to store objects in.
    #[arg(long, value_name = "VERSION")]
    pub to: String,
    /// Back up the CRD and its objects to FILE first.
    #[arg(long, value_name = "FILE")]
    pub backup: Option<PathBuf>,
    /// Afterwards stop serving the other versions.
    #[arg(long)]
    pub drop_old: bool,
}

/// What to do with the stream's CRDs.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Diff against live and apply them here.
    Managed,
    /// Drop CRDs from the stream.
    Ignore,
    /// Someone else owns them: check they exist and the stream's objects validate.
    External,
}

/// How to treat breaking changes in managed mode.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Refuse breaking changes.
    Safe,
    /// Apply anyway.
    Force,
    /// Ask on the terminal.
    Interactive,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// managed, ignore or external (default: the pack's crdPolicy.mode, else managed).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// safe, force or interactive (default: the pack's crdPolicy.upgradeStrategy, else safe).
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,
    /// Back up each changed CRD and its objects into DIR first.
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Validate stored objects against the new schema first; refuse if any would break.
    #[arg(long)]
    pub validate: bool,
    /// How long to wait for Established and NamesAccepted.
    #[arg(long, default_value = "60s", value_name = "DURATION",
          value_parser = shared::kubeconfig::positive_duration)]
    pub timeout: std::time::Duration,
}

/// `--namespace-map FROM=TO`: two namespace names.
fn parse_namespace_pair(text: &str) -> Result<String, String> {
    match text.split_once('=') {
        Some((a, b))
            if shared::identity::check_name("Namespace", a).is_ok()
                && shared::identity::check_name("Namespace", b).is_ok() =>
        {
            Ok(text.to_string())
        }
        _ => Err("expected FROM=TO, two namespace names".to_string()),
    }
}

/// Completion values from the cluster: CRD names.
pub fn complete_values(q: shared::complete::Query) -> shared::complete::Values {
    Box::pin(async move {
        Ok(match q.arg.as_str() {
            "crds" | "crd" => Some(shared::complete::crd_names(&q).await?),
            _ => None,
        })
    })
}

impl Command {
    /// Its column of the exit-code table (`shared::output::exit`): `diff`
    /// and `validate` are checks (1 = breaking changes / invalid objects).
    pub fn error_code(&self) -> shared::cli::ErrorCode {
        match self {
            Command::Diff(_) | Command::Validate(_) => shared::cli::ErrorCode::DiffLike,
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
