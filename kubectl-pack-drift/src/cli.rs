//! Every flag of `kubectl pack-drift`, defined once.

use clap::{Args, Parser, Subcommand};
use shared::kubeconfig::KubeArgs;
pub use shared::output::{Format, OutputArgs};
use shared::release::args::StorageArgs;

use crate::report::Severity;
use crate::settings::Flags;

/// Detect drift between a release and the cluster.
///
/// Compares each object of a release with what was recorded at apply time
/// (only the fields the release set, as the server normalized them), names
/// who changed what and when, and restores it on request.
/// Exit codes: 0 clean, 1 drift at or above --fail-on, 2 error.
///
/// `kubectl pack-drift RELEASE` is `kubectl pack-drift status RELEASE`.
#[derive(Debug, Parser)]
#[command(name = "kubectl pack-drift", bin_name = "kubectl pack-drift", version)]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the process arguments; without a subcommand, `status` is meant
    /// (`kubectl pack-drift RELEASE`, `kubectl pack-drift -A`).
    pub fn parse_with_default() -> Cli {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        match Cli::try_parse_from(&args) {
            Ok(cli) => cli,
            Err(e)
                if matches!(
                    e.kind(),
                    clap::error::ErrorKind::InvalidSubcommand
                        | clap::error::ErrorKind::UnknownArgument
                ) =>
            {
                // A named subcommand with a bad argument: its own error.
                let named = args.iter().skip(1).any(|a| {
                    matches!(
                        a.to_str(),
                        Some("status" | "watch" | "sync" | "history" | "completion")
                    )
                });
                if named {
                    e.exit();
                }
                let mut with_status = args.clone();
                with_status.insert(1.min(args.len()), "status".into());
                Cli::try_parse_from(&with_status).unwrap_or_else(|e| e.exit())
            }
            Err(e) => e.exit(),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a release once (the default command).
    Status(StatusArgs),
    /// Watch a release and report drift as it happens; optionally correct it.
    Watch(WatchArgs),
    /// Restore drifted and deleted objects to the recorded state.
    Sync(SyncArgs),
    /// Show the release's drift events (detected, corrected, failed).
    History(HistoryArgs),
    /// Print the shell completion script (bash, zsh or fish).
    Completion(shared::cli::CompletionArgs),
}

/// What every check takes.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Ignore changes at or below this path (repeatable), e.g. spec.replicas or
    /// 'metadata.annotations["example.com/x"]' or /spec/template/metadata.
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Ignore changes made by this manager (NAME or NAME:PATH, repeatable).
    #[arg(long, value_name = "NAME[:PATH]")]
    pub trusted_manager: Vec<String>,
    /// Drop the built-in trust of the HPA on spec.replicas.
    #[arg(long)]
    pub no_default_trusted: bool,
    /// Do not look for unexpected objects carrying the release's label.
    #[arg(long)]
    pub no_unexpected: bool,
}

impl CheckArgs {
    /// The flag part of the settings.
    pub fn flags(&self) -> Flags {
        Flags {
            ignore: self.ignore.clone(),
            trusted: self.trusted_manager.clone(),
            no_default_trusted: self.no_default_trusted,
        }
    }
}

/// `status` (and the bare command).
#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// Release name.
    #[arg(value_parser = shared::release::parse_name)]
    pub release: Option<String>,
    /// Check every release in every namespace.
    #[arg(
        short = 'A',
        long = "all",
        visible_alias = "all-namespaces",
        conflicts_with = "release"
    )]
    pub all: bool,
    /// RELEASE is a Helm release: read Helm's own record and compare by server-side dry-run.
    #[arg(long, conflicts_with = "all")]
    pub helm: bool,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Exit 1 only for drift at or above this severity.
    #[arg(long, value_enum, default_value = "low", value_name = "SEVERITY")]
    pub fail_on: Severity,
    /// Do not record a drift event in the release's history.
    #[arg(long)]
    pub read_only: bool,
}

/// `watch`.
#[derive(Debug, Args, Clone)]
pub struct WatchArgs {
    /// Release name (none: every release of the namespace; with -A, of all namespaces).
    #[arg(value_parser = shared::release::parse_name)]
    pub release: Option<String>,
    /// Follow every release in every namespace (new releases and revisions join on their own).
    #[arg(short = 'A', long, conflicts_with = "release")]
    pub all_namespaces: bool,
    #[command(flatten)]
    pub check: CheckArgs,
    /// Full re-check period besides the watches (default: the pack's drift.interval, else 5m).
    #[arg(long, value_name = "DURATION", value_parser = shared::kubeconfig::positive_duration)]
    pub interval: Option<std::time::Duration>,
    /// POST a JSON report to this URL when drift is found or corrected.
    #[arg(long, value_name = "URL")]
    pub notify_webhook: Option<String>,
    /// POST a Slack message (incoming webhook format) to this URL.
    #[arg(long, value_name = "URL")]
    pub notify_slack: Option<String>,
    /// Restore drifted objects (at most 3 attempts per object, then DriftCorrectionFailed).
    #[arg(long)]
    pub auto_sync: bool,
    /// Serve Prometheus metrics and /healthz on this address (e.g. 127.0.0.1:9100).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub leader: shared::leader::LeaderArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `sync`.
#[derive(Debug, Args, Clone)]
pub struct SyncArgs {
    /// Release name.
    #[arg(value_parser = shared::release::parse_name)]
    pub release: String,
    #[command(flatten)]
    pub check: CheckArgs,
    /// Show the server-side dry-run diff only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Restore only these objects (KIND/NAME as kubectl spells them:
    /// deployment/web, deploy/web, secrets/*; repeatable).
    #[arg(long, value_name = "KIND/NAME", value_parser = shared::select::parse)]
    pub only: Vec<shared::select::Selector>,
}

/// `history`.
#[derive(Debug, Args, Clone)]
pub struct HistoryArgs {
    /// Release name.
    #[arg(value_parser = shared::release::parse_name)]
    pub release: String,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Show at most the N latest events.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Completion values from the cluster: release names (also where a
/// subcommand could go: `kubectl pack-drift RELEASE` is `status RELEASE`).
pub fn complete_values(q: shared::complete::Query) -> shared::complete::Values {
    Box::pin(async move {
        Ok(match (q.arg.as_str(), q.path.is_empty()) {
            ("release", _) | ("", true) => Some(shared::complete::releases(&q).await?),
            _ => None,
        })
    })
}

impl Command {
    /// Its column of the exit-code table (`shared::output::exit`): every
    /// drift command is a check (0 clean, 1 drift, 2 error).
    pub fn error_code(&self) -> shared::cli::ErrorCode {
        shared::cli::ErrorCode::DiffLike
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
