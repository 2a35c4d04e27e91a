//! Every flag of `kubectl pack-secrets`, defined once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use shared::kubeconfig::KubeArgs;

/// SOPS-compatible secrets for packs.
///
/// Encrypt values files with age exactly as sops does (files stay readable by
/// `sops`), edit them without plaintext on disk, pull secrets from Vault,
/// AWS, GCP and Azure, and sync them into Kubernetes Secrets.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl pack-secrets",
    bin_name = "kubectl pack-secrets",
    version
)]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeArgs,

    #[command(flatten)]
    pub ids: IdentityArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate an age identity (0600 key file) and print its recipient.
    Init(InitArgs),
    /// Encrypt a YAML or JSON file (stdout, or in place with -i).
    Encrypt(EncryptArgs),
    /// Decrypt a file to stdout (or -o FILE); --extract one value.
    Decrypt(DecryptArgs),
    /// Decrypt to a private temp file, run $EDITOR, re-encrypt.
    Edit(FileArgs),
    /// Re-encrypt with a new data key (after removing a recipient).
    Rotate(RotateArgs),
    /// Re-wrap the data key for the recipients .sops.yaml lists now.
    Updatekeys(FileArgs),
    /// Set one value: set FILE '["a"]["b"]' VALUE (VALUE is JSON, or a plain string).
    Set(SetArgs),
    /// Remove one value: unset FILE '["a"]["b"]'.
    Unset(UnsetArgs),
    /// Show whether a file is encrypted, its recipients, lastmodified and MAC state.
    Status(StatusArgs),
    /// Fetch a secret from a provider into an encrypted values file or a Secret.
    Pull(PullArgs),
    /// Create/update Kubernetes Secrets from provider secrets (spec file or Pod annotations).
    Sync(SyncArgs),
    /// Print the shell completion script (bash, zsh or fish).
    Completion(shared::cli::CompletionArgs),
}

/// Identity flags of commands that decrypt.
#[derive(Debug, Args, Clone, Default)]
pub struct IdentityArgs {
    /// Age identity file to use (repeatable; merged with SOPS_AGE_KEY*, ~/.config/sops/age/keys.txt).
    #[arg(long = "identity", value_name = "FILE", global = true)]
    pub identity: Vec<PathBuf>,
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the key (default: ~/.config/kubectl-pack/age/keys.txt).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Recipient and rule flags of `encrypt`.
#[derive(Debug, Args, Clone, Default)]
pub struct RecipientArgs {
    /// Age recipient (repeatable, or comma separated); default: the first matching .sops.yaml creation rule.
    #[arg(long = "age", value_name = "RECIPIENT", value_delimiter = ',')]
    pub age: Vec<String>,
    /// Encrypt only values under keys matching this regex (e.g. '^(data|stringData)$').
    #[arg(long, value_name = "RE", group = "rule")]
    pub encrypted_regex: Option<String>,
    /// Leave values under keys matching this regex plain.
    #[arg(long, value_name = "RE", group = "rule")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values under keys ending with this suffix.
    #[arg(long, value_name = "S", group = "rule")]
    pub encrypted_suffix: Option<String>,
    /// Leave values under keys ending with this suffix plain (default _unencrypted).
    #[arg(long, value_name = "S", group = "rule")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values after a comment matching this regex.
    #[arg(long, value_name = "RE", group = "rule")]
    pub encrypted_comment_regex: Option<String>,
    /// Leave values after a comment matching this regex plain.
    #[arg(long, value_name = "RE", group = "rule")]
    pub unencrypted_comment_regex: Option<String>,
    /// MAC only the encrypted values (sops's mac_only_encrypted).
    #[arg(long)]
    pub mac_only_encrypted: bool,
}

/// `encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The plaintext file (YAML, or JSON by extension).
    pub file: PathBuf,
    /// Replace the file instead of printing.
    #[arg(long, short = 'i')]
    pub in_place: bool,
    #[command(flatten)]
    pub recipients: RecipientArgs,
}

/// `decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The encrypted file.
    pub file: PathBuf,
    /// Write the plaintext here (mode 0600) instead of stdout.
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Print one value, e.g. '["db"]["password"]'.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Decrypt even if the MAC does not match (warns).
    #[arg(long)]
    pub ignore_mac: bool,
}

/// Commands taking one file.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// The encrypted file.
    pub file: PathBuf,
}

/// `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The encrypted file (rewritten in place).
    pub file: PathBuf,
    /// Add this recipient while rotating (repeatable).
    #[arg(long = "add-age", value_name = "RECIPIENT", value_delimiter = ',')]
    pub add_age: Vec<String>,
    /// Remove this recipient while rotating (repeatable).
    #[arg(long = "rm-age", value_name = "RECIPIENT", value_delimiter = ',')]
    pub rm_age: Vec<String>,
}

/// `set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The encrypted file.
    pub file: PathBuf,
    /// The key path, e.g. '["db"]["password"]'.
    pub path: String,
    /// The value: JSON ('"text"', 42, '{"a":1}'), or a plain string.
    pub value: String,
}

/// `unset`.
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// The encrypted file.
    pub file: PathBuf,
    /// The key path, e.g. '["db"]["password"]'.
    pub path: String,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The file.
    pub file: PathBuf,
    #[command(flatten)]
    pub output: shared::output::OutputArgs,
}

/// Provider connection flags shared by pull and sync.
#[derive(Debug, Args, Clone)]
pub struct ProviderArgs {
    /// Timeout of one provider request (e.g. 10s, 1m; a bare number is seconds).
    #[arg(long = "provider-timeout", value_name = "DURATION", default_value = "10s",
          value_parser = shared::kubeconfig::positive_duration)]
    pub provider_timeout: std::time::Duration,
    /// Retries of transient provider errors (timeouts, 5xx, throttling).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub retries: u32,
}

/// `pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// vault://MOUNT/PATH[#key], aws-sm://ID[#key], aws-ssm://PATH, gcp-sm://projects/P/secrets/S[/versions/V], azure-kv://VAULT/NAME[/VERSION].
    pub source: String,
    /// Write (or merge into) this encrypted values file.
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with = "to_secret")]
    pub output: Option<PathBuf>,
    /// Apply a Kubernetes Secret of this name (server-side apply) instead.
    #[arg(long, value_name = "NAME")]
    pub to_secret: Option<String>,
    /// Place the fetched values under this dot path of the values file (e.g. db.credentials).
    #[arg(long, value_name = "PATH")]
    pub into: Option<String>,
    #[command(flatten)]
    pub recipients: RecipientArgs,
    #[command(flatten)]
    pub provider: ProviderArgs,
}

/// `sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Spec file(s) (SecretSync / ExternalSecret-like); without them, Pods with the sync annotation drive it.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub filename: Vec<PathBuf>,
    /// Watch Pods in all namespaces.
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// Keep watching and re-syncing on changes.
    #[arg(long)]
    pub watch: bool,
    /// Re-fetch every synced secret this often while watching (e.g. 30s, 5m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "1h",
          value_parser = shared::kubeconfig::positive_duration)]
    pub refresh: std::time::Duration,
    /// With --watch: serve /healthz, /readyz and /metrics (Prometheus) here, e.g. 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR", requires = "watch")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub leader: shared::leader::LeaderArgs,
    #[command(flatten)]
    pub provider: ProviderArgs,
}

impl Command {
    /// Its column of the exit-code table (`shared::output::exit`): no
    /// secrets command is a check.
    pub fn error_code(&self) -> shared::cli::ErrorCode {
        shared::cli::ErrorCode::Standard
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
