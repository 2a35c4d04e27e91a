//! `kubectl pack-waves`: apply a YAML stream in ordered waves.
//!
//! The binary only parses the command line and dispatches; the shared
//! connection flags and output conventions come from the `shared` crate.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use shared::kubeconfig::KubeArgs;

/// Apply a YAML stream in ordered waves.
///
/// Plans and applies a YAML stream in ordered waves with server-side apply, readiness gates, pruning, release history and rollback.
#[derive(Debug, Parser)]
#[command(name = "kubectl pack-waves", bin_name = "kubectl pack-waves", version)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,
}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    shared::cli::usage_without_command(Cli::command())
}
