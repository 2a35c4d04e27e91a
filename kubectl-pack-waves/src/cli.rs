//! Every flag of `kubectl pack-waves`, defined once.

use clap::{Args, Parser, Subcommand, ValueEnum};
use shared::kubeconfig::KubeArgs;
pub use shared::output::{Format, OutputArgs};
pub use shared::release::args::{StorageArgs, storage, store};

/// Apply YAML streams in ordered waves.
///
/// Plans and applies a YAML stream in waves with server-side apply,
/// readiness gates between waves, pruning, release history and rollback.
#[derive(Debug, Parser)]
#[command(name = "kubectl pack-waves", bin_name = "kubectl pack-waves", version)]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the waves, dependencies and readiness rule of every object (no cluster needed).
    Plan(PlanArgs),
    /// Apply a stream as a new revision of RELEASE.
    Apply(ApplyArgs),
    /// Show what apply would change (server-side dry-run; exit 1 on changes).
    Diff(DiffArgs),
    /// Show the latest revision of RELEASE and the readiness of its objects.
    Status(ReleaseArgs),
    /// List the revisions of RELEASE.
    History(ReleaseArgs),
    /// Re-apply an earlier revision (default: the previous deployed one).
    Rollback(RollbackArgs),
    /// Delete RELEASE's objects (reverse wave order) and its history.
    Uninstall(UninstallArgs),
    /// List releases in the namespace (-A: all namespaces).
    List(ListArgs),
    /// Re-encode a release's stored revisions: move them to another storage and/or compression.
    Migrate(MigrateArgs),
    /// Run or steer the PackRelease operator (releases kept deployed from a registry).
    Operator(OperatorArgs),
    /// Print the shell completion script (bash, zsh or fish).
    Completion(shared::cli::CompletionArgs),
}

/// `operator`.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    #[command(subcommand)]
    pub command: OperatorCommand,
}

/// `operator` subcommands.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Reconcile PackReleases until stopped (-n: that namespace; -A: all).
    Run(OperatorRunArgs),
    /// Print the PackRelease CRD (pipe it to `kubectl pack-crd apply`).
    Crd,
    /// Stop reconciling a PackRelease (spec.suspend: true).
    Suspend(PackReleaseArgs),
    /// Reconcile a suspended PackRelease again.
    Resume(PackReleaseArgs),
    /// Reconcile a PackRelease now (also retries a stalled one).
    SyncNow(PackReleaseArgs),
}

/// A PackRelease by name (in -n or the context's namespace).
#[derive(Debug, Args)]
pub struct PackReleaseArgs {
    /// The PackRelease's name.
    #[arg(value_parser = shared::release::parse_name)]
    pub name: String,
}

/// `operator run`.
#[derive(Debug, Args)]
pub struct OperatorRunArgs {
    /// Watch PackReleases in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Serve /healthz, /readyz and /metrics (Prometheus) here, e.g. 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The first delay after a failed registry poll; it doubles up to --retry-max.
    #[arg(long, value_name = "DURATION", default_value = "30s",
          value_parser = shared::kubeconfig::positive_duration)]
    pub retry_initial: std::time::Duration,
    /// The longest delay between failed registry polls.
    #[arg(long, value_name = "DURATION", default_value = "10m",
          value_parser = shared::kubeconfig::positive_duration)]
    pub retry_max: std::time::Duration,
    /// Failed registry polls in a row before a PackRelease is `Stalled`.
    #[arg(long, value_name = "N", default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub stall_after: u32,
    /// Let a PackRelease deploy outside its own namespace (spec.targetNamespace, or objects
    /// naming another namespace). Off: such a PackRelease is refused, so a tenant who may
    /// create PackReleases cannot use the operator's permissions elsewhere.
    #[arg(long)]
    pub allow_cross_namespace: bool,
    /// PackReleases reconciled at once (a slow deploy does not hold up the others).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// How long one deploy may wait for readiness.
    #[arg(long, value_name = "DURATION", default_value = "5m",
          value_parser = shared::kubeconfig::positive_duration)]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub leader: shared::leader::LeaderArgs,
}

/// `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Release name.
    #[arg(value_parser = shared::release::parse_name)]
    pub release: String,
    /// Where the revisions are now.
    #[arg(long, default_value = "secret", value_name = "KIND",
          value_parser = shared::release::args::parse_storage)]
    pub from_storage: String,
    /// Where they should be (default: where they are).
    #[arg(long = "storage", value_name = "KIND",
          value_parser = shared::release::args::parse_storage)]
    pub to_storage: Option<String>,
    /// Compression of the rewritten records: zstd, gzip or none.
    #[arg(long, default_value = "zstd", value_name = "KIND",
          value_parser = ["zstd", "gzip", "none"])]
    pub compression: String,
}

/// Where the stream comes from.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// Files or directories to read (default: stdin; '-' is stdin).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: Vec<String>,
}

impl InputArgs {
    /// The inputs, stdin when none.
    pub fn inputs(&self) -> Vec<String> {
        if self.filename.is_empty() {
            vec!["-".into()]
        } else {
            self.filename.clone()
        }
    }
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What to do when a wave fails.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop; the revision is recorded as failed.
    Stop,
    /// Go on with the next waves; the revision is recorded as failed.
    Continue,
    /// Re-apply the previous deployed revision.
    Rollback,
}

/// The Pod states `--rollback-on` watches for: the Pod phase `Failed` and
/// the container waiting reasons the kubelet reports for a Pod that will
/// not start.
pub const POD_FAILURE_STATES: [&str; 9] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "Failed",
];

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Release name (at most 53 characters).
    #[arg(value_parser = shared::release::parse_name)]
    pub release: String,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Create the namespace if it does not exist.
    #[arg(long)]
    pub create_namespace: bool,
    /// Take over fields owned by other managers.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Objects applied at once within a wave (1-1024).
    #[arg(long, default_value_t = crate::engine::DEFAULT_CONCURRENCY, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub concurrency: usize,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Helm's spelling: wait until Jobs complete. Waiting (the default)
    /// always waits for Jobs to complete; this makes sure --wait is on.
    #[arg(long)]
    pub wait_for_jobs: bool,
    /// On a failed wave: stop, continue, or rollback.
    #[arg(long, value_enum, default_value = "stop")]
    pub on_failure: OnFailure,
    /// Helm 4's spelling of --on-failure rollback (Helm 3's --atomic).
    #[arg(long, visible_alias = "atomic", conflicts_with = "on_failure")]
    pub rollback_on_failure: bool,
    /// Pod states that fail the apply at once and roll back (e.g. CrashLoopBackOff,ImagePullBackOff,ErrImagePull,Failed).
    #[arg(long, value_name = "STATES", value_delimiter = ',',
          value_parser = clap::builder::PossibleValuesParser::new(POD_FAILURE_STATES))]
    pub rollback_on: Vec<String>,
    /// Apply only this wave (recorded as a partial revision).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub wave: Option<i64>,
    /// Revisions to keep (oldest superseded ones are deleted).
    #[arg(
        long,
        visible_alias = "history-max",
        default_value_t = 10,
        value_name = "N"
    )]
    pub max_history: usize,
    /// Wait for another apply of this release to finish instead of failing.
    #[arg(long)]
    pub wait_for_lock: bool,
    /// Also delete CRDs that left the stream (never by default).
    #[arg(long)]
    pub prune_crds: bool,
    /// Do not delete objects that left the stream.
    #[arg(long)]
    pub no_prune: bool,
    /// Ask before each next wave (needs a terminal).
    #[arg(long)]
    pub pause_between_waves: bool,
    #[command(flatten)]
    pub replace: ReplaceArgs,
    /// Take over objects of the stream that exist but are not this
    /// release's (created by hand, by another release, Helm, Argo CD, Flux
    /// or kapp); without it they are refused before anything is written.
    #[arg(long)]
    pub take_ownership: bool,
    /// Deploy a stream with no objects (which prunes everything the release
    /// had); without it such a stream is refused, as a failed render would
    /// send one.
    #[arg(long)]
    pub allow_empty: bool,
}

/// How far a command that changes a release goes: `--dry-run`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum DryRun {
    /// Change the cluster.
    #[default]
    None,
    /// Show what would change from the recorded revision; no request to
    /// the API server writes anything.
    Client,
    /// Also send every change as a server-side dry-run (admission,
    /// validation, ownership, RBAC checked by the server); nothing changes.
    Server,
}

/// `--dry-run`, `--wait` and `--timeout`: the same flags with the same
/// meaning on every command that changes a release (apply, rollback,
/// uninstall).
#[derive(Debug, Args, Clone, Copy)]
pub struct ChangeArgs {
    /// none, client (what would change, from the recorded revision; no
    /// writes) or server (also a server-side dry-run of every change);
    /// --dry-run alone is client.
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1,
          require_equals = true, default_missing_value = "client", value_name = "MODE")]
    pub dry_run: DryRun,
    /// Wait until the change is done — objects ready wave by wave (apply,
    /// rollback), deleted objects gone (uninstall) — up to --timeout;
    /// --wait=false returns once the requests are accepted.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub wait: bool,
    /// How long the whole command may take (e.g. 5m, 90s).
    #[arg(long, default_value = "5m", value_name = "DURATION",
          value_parser = shared::kubeconfig::positive_duration)]
    pub timeout: std::time::Duration,
}

/// `--force-replace`, shared by apply and rollback.
#[derive(Debug, Args, Clone, Copy)]
pub struct ReplaceArgs {
    /// Delete and create again objects whose change the server refuses in
    /// place (immutable fields); a StatefulSet keeps its Pods and PVCs.
    #[arg(long)]
    pub force_replace: bool,
}

/// `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Release name.
    #[arg(value_parser = shared::release::parse_name)]
    pub release: String,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Dry-run as if --force-conflicts were given.
    #[arg(long)]
    pub force_conflicts: bool,
}

/// Commands taking a release.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Release name.
    #[arg(value_parser = shared::release::parse_name)]
    pub release: String,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Release name.
    #[arg(value_parser = shared::release::parse_name)]
    pub release: String,
    /// Revision to go back to (default: the one before the latest deployed).
    pub revision: Option<u32>,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Same as --dry-run=server (the server-side diff of the rollback).
    #[arg(long)]
    pub diff: bool,
    /// Roll back only these objects (KIND/NAME as kubectl spells them:
    /// deployment/web, deploy/web, secrets/*; repeatable); the others stay as they are.
    #[arg(long, value_name = "KIND/NAME", value_parser = shared::select::parse)]
    pub only: Vec<shared::select::Selector>,
    /// Roll back every object except these (KIND/NAME, globs, repeatable).
    #[arg(long, value_name = "KIND/NAME", conflicts_with = "only",
          value_parser = shared::select::parse)]
    pub except: Vec<shared::select::Selector>,
    /// Wait for another operation on this release instead of failing.
    #[arg(long)]
    pub wait_for_lock: bool,
    #[command(flatten)]
    pub replace: ReplaceArgs,
}

/// `uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Release name.
    #[arg(value_parser = shared::release::parse_name)]
    pub release: String,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Keep the release history (marked uninstalled).
    #[arg(long)]
    pub keep_history: bool,
    /// Also delete Namespaces the release took over (--take-ownership);
    /// a Namespace that existed before the release is kept otherwise.
    #[arg(long)]
    pub delete_namespaces: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Wait for another operation on this release instead of failing.
    #[arg(long)]
    pub wait_for_lock: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// All namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Completion values from the cluster: release names and revisions.
pub fn complete_values(q: shared::complete::Query) -> shared::complete::Values {
    Box::pin(async move {
        Ok(match q.arg.as_str() {
            "release" => Some(shared::complete::releases(&q).await?),
            "revision" => Some(shared::complete::revisions(&q).await?),
            _ => None,
        })
    })
}

impl Command {
    /// Its column of the exit-code table (`shared::output::exit`): `diff`
    /// and `status` (1 = not all ready) are checks.
    pub fn error_code(&self) -> shared::cli::ErrorCode {
        match self {
            Command::Diff(_) | Command::Status(_) => shared::cli::ErrorCode::DiffLike,
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
