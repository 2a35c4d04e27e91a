//! `kubectl pack-drift`: detect drift between a release and the cluster.
//!
//! The binary parses the command line and dispatches; the comparison lives
//! in `compare`/`check`, the commands in their own modules, and the release
//! records it reads in `shared::release`.

mod check;
mod cli;
mod compare;
mod events;
mod helm;
mod history_cmd;
mod path;
mod report;
mod restore;
mod settings;
mod status_cmd;
mod sync_cmd;
mod watch;

use std::process::ExitCode;

use clap::CommandFactory;

use cli::{Cli, Command};

fn main() -> ExitCode {
    if let Some(words) = shared::complete::requested() {
        return shared::complete::run(Cli::command(), words, cli::complete_values);
    }
    let cli = Cli::parse_with_default();
    let Some(command) = cli.command else {
        return shared::cli::usage_without_command(Cli::command());
    };
    let kube = cli.kube;
    shared::cli::run(command.error_code(), async move {
        match command {
            Command::Status(a) => status_cmd::run(&kube, &a).await,
            Command::Watch(a) => watch::run(&kube, &a).await,
            Command::Sync(a) => sync_cmd::run(&kube, &a).await,
            Command::History(a) => history_cmd::run(&kube, &a).await,
            Command::Completion(a) => {
                shared::cli::completion(Cli::command(), "kubectl-pack_drift", &a)
            }
        }
    })
}
