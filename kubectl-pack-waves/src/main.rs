//! `kubectl pack-waves`: apply a yaml stream in ordered waves.
//!
//! The binary only parses the command line and dispatches; the shared
//! connection flags and output conventions come from the `shared` crate.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use shared::kubeconfig::KubeArgs;

/// Plans and applies a YAML stream in ordered waves with server-side apply, readiness gates, pruning, release history and rollback.
#[derive(Debug, Parser)]
#[command(name = "kubectl pack-waves", bin_name = "kubectl pack-waves", version, about = "Apply a YAML stream in ordered waves")]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,
}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    shared::cli::usage_without_command(Cli::command())
}
