//! `kubectl pack-render`: render packs to a clean YAML stream, test them,
//! compare environments, resolve dependencies.
//!
//! The binary parses the command line and dispatches; each concern has its
//! own module.

mod archive;
mod cli;
mod debug;
mod deps;
mod deps_audit;
mod diff_env;
mod engine;
mod environments;
mod error;
mod lsp;
mod oci;
mod output;
mod pack;
mod parallel;
mod promote;
mod remote;
mod render;
mod render_cmd;
mod schema;
mod sops_values;
mod source;
mod testing;
mod values;
mod values_from;
mod yaml_edit;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use shared::cli::ErrorCode;

use cli::{Cli, Command};

fn main() -> ExitCode {
    if let Some(words) = shared::complete::requested() {
        return shared::complete::run(Cli::command(), words, cli::complete_values);
    }
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let code = cli
        .command
        .as_ref()
        .map_or(ErrorCode::Standard, Command::error_code);
    shared::cli::run(code, async move {
        match &cli.command {
            // `--version` alone: this plugin's version, as clap prints it.
            None if cli.version == Some(None) => {
                let line = format!("kubectl pack-render {}\n", env!("CARGO_PKG_VERSION"));
                std::io::Write::write_all(&mut std::io::stdout().lock(), line.as_bytes())?;
                Ok(shared::output::exit::OK)
            }
            None => render_cmd::run(&cli, &matches).await,
            Some(Command::Test(args)) => testing::run(args).await,
            Some(Command::DiffEnv(args)) => {
                let sub = matches.subcommand_matches("diff-env").unwrap_or(&matches);
                diff_env::run(&cli.kube, args, sub).await
            }
            Some(Command::Deps(args)) => deps::run(args).await,
            Some(Command::Promote(args)) => promote::run(args),
            Some(Command::Lsp(args)) => lsp::run(args),
            Some(Command::Debug(args)) => {
                let sub = matches.subcommand_matches("debug").unwrap_or(&matches);
                debug::run(&cli.kube, args, sub).await
            }
            Some(Command::Package(args)) => archive::run_package(args),
            Some(Command::Push(args)) => oci::run_push(args).await,
            Some(Command::Pull(args)) => oci::run_pull(args).await,
            Some(Command::Versions(args)) => oci::run_versions(args).await,
            Some(Command::Completion(a)) => {
                shared::cli::completion(Cli::command(), "kubectl-pack_render", a)
            }
        }
    })
}
