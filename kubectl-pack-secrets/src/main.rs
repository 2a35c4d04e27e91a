//! `kubectl pack-secrets`: SOPS-compatible secrets for packs.
//!
//! The binary parses the command line and dispatches; each subcommand has
//! its own module, the SOPS format itself lives in `shared::sops`.

mod cli;
mod crypt;
mod edit;
mod files;
mod init;
mod keyring;
mod providers;
mod pull;
mod sync;
mod target;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command};

fn main() -> ExitCode {
    if let Some(words) = shared::complete::requested() {
        return shared::complete::run(Cli::command(), words, shared::complete::no_values);
    }
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return shared::cli::usage_without_command(Cli::command());
    };
    let ids = cli.ids;
    let kube = cli.kube;
    shared::cli::run(command.error_code(), async move {
        match command {
            Command::Init(a) => init::run(&a),
            Command::Encrypt(a) => crypt::encrypt(&a),
            Command::Decrypt(a) => crypt::decrypt(&a, &ids),
            Command::Edit(a) => edit::edit(&a, &ids),
            Command::Rotate(a) => crypt::rotate(&a, &ids),
            Command::Updatekeys(a) => crypt::updatekeys(&a, &ids),
            Command::Set(a) => edit::set(&a, &ids),
            Command::Unset(a) => edit::unset(&a, &ids),
            Command::Status(a) => crypt::status(&a, &ids),
            Command::Pull(a) => pull::run(&kube, &ids, &a).await,
            Command::Sync(a) => sync::run(&kube, &a).await,
            Command::Completion(a) => {
                shared::cli::completion(Cli::command(), "kubectl-pack_secrets", &a)
            }
        }
    })
}
