//! `kubectl pack-render`: render a pack to a clean YAML stream.
//!
//! The binary only parses the command line and dispatches; the shared
//! connection flags and output conventions come from the `shared` crate.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use shared::kubeconfig::KubeArgs;

/// Render a pack to a clean YAML stream.
///
/// Renders a pack (Pack.yaml, values, Jinja2 templates, environments, encrypted values, schema) to a YAML stream on stdout, ready for `kubectl pack-waves apply`.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl pack-render",
    bin_name = "kubectl pack-render",
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
