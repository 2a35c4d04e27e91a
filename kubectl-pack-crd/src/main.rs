//! `kubectl pack-crd`: upgrade CRDs safely.
//!
//! The binary parses the command line and dispatches; classification lives
//! in `classify`, object validation in `schema`, each command in its own
//! module.

mod apply_cmd;
mod backup;
mod cel;
mod classify;
mod cli;
mod crd;
mod diff_cmd;
mod migrate;
mod schema;
mod validate_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command};

fn main() -> ExitCode {
    if let Some(words) = shared::complete::requested() {
        return shared::complete::run(Cli::command(), words, cli::complete_values);
    }
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return shared::cli::usage_without_command(Cli::command());
    };
    let kube = cli.kube;
    shared::cli::run(command.error_code(), async move {
        match command {
            Command::Diff(a) => diff_cmd::run(&kube, &a).await,
            Command::Validate(a) => validate_cmd::run(&kube, &a).await,
            Command::Backup(a) => backup::run_backup(&kube, &a).await,
            Command::Restore(a) => backup::run_restore(&kube, &a).await,
            Command::Migrate(a) => migrate::run(&kube, &a).await,
            Command::Apply(a) => apply_cmd::run(&kube, &a).await,
            Command::Completion(a) => {
                shared::cli::completion(Cli::command(), "kubectl-pack_crd", &a)
            }
        }
    })
}
