//! `kubectl pack-secrets`: sOPS-compatible secrets for packs.
//!
//! The binary only parses the command line and dispatches; the shared
//! connection flags and output conventions come from the `shared` crate.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use shared::kubeconfig::KubeArgs;

/// SOPS-compatible secrets for packs.
///
/// SOPS-compatible age encryption of values files, provider pulls (Vault, AWS, GCP, Azure) and sync into Kubernetes Secrets.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl pack-secrets",
    bin_name = "kubectl pack-secrets",
    version
)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,
}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    shared::cli::usage_without_command(Cli::command())
}
