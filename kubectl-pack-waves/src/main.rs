//! `kubectl pack-waves`: apply a YAML stream in ordered waves with
//! readiness gates, pruning, release history and rollback.
//!
//! The binary parses the command line and dispatches; each concern has its
//! own module; the release store lives in `shared::release`.

mod apply_cmd;
mod certain;
mod cli;
mod delete;
mod diff_cmd;
mod dry_run;
mod engine;
mod hooks;
mod marks;
mod migrate;
mod operator;
mod plan;
mod plan_cmd;
mod preflight;
mod progress;
mod query;
mod readiness;
mod rollback;
mod validate;

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
    let code = command.error_code();
    shared::cli::run(code, async move {
        match command {
            Command::Plan(a) => plan_cmd::run(&a),
            Command::Apply(a) => apply_cmd::run(&kube, &a).await,
            Command::Diff(a) => diff_cmd::run(&kube, &a).await,
            Command::Status(a) => query::status(&kube, &a).await,
            Command::History(a) => query::history(&kube, &a).await,
            Command::List(a) => query::list(&kube, &a).await,
            Command::Migrate(a) => migrate::run(&kube, &a).await,
            Command::Rollback(a) => rollback::rollback(&kube, &a).await,
            Command::Uninstall(a) => rollback::uninstall(&kube, &a).await,
            Command::Operator(a) => operator::run(&kube, &a).await,
            Command::Completion(a) => {
                shared::cli::completion(Cli::command(), "kubectl-pack_waves", &a)
            }
        }
    })
}
