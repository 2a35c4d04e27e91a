//! `kubectl pack-crd`: upgrade CRDs safely.
//!
//! The binary only parses the command line and dispatches; the shared
//! connection flags and output conventions come from the `shared` crate.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use shared::kubeconfig::KubeArgs;

/// Upgrade CRDs safely.
///
/// Classifies CRD schema changes, validates live custom resources against a new schema, and backs up, restores, migrates and applies CRDs safely.
#[derive(Debug, Parser)]
#[command(name = "kubectl pack-crd", bin_name = "kubectl pack-crd", version)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,
}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    shared::cli::usage_without_command(Cli::command())
}
