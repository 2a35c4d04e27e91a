//! The process entry point every plugin's `main` calls.
//!
//! [`run`] installs the rustls crypto provider (ring) before any connection
//! is made — without an explicit choice rustls panics on the first TLS
//! handshake when more than one provider is compiled in — starts the tokio
//! runtime, runs the command, and turns its outcome into an exit code: a
//! closed stdout exits 0 quietly, any other error prints one `error: ...`
//! line on stderr. A panic prints one line too, never a backtrace.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use crate::output::{Paint, Stream, exit, is_broken_pipe};

/// How a command reports errors through its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Errors exit 1 (most commands).
    Standard,
    /// Errors exit 2, because 1 means "differences" (diff and drift).
    DiffLike,
}

/// Installs the ring crypto provider for rustls; safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs a command to completion and returns the process exit code.
pub fn run<F>(code_on_error: ErrorCode, command: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<u8>>,
{
    install_crypto_provider();
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "error: internal error: {}{at}; please report this as a bug",
            crate::error::one_line(&msg)
        );
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            return ExitCode::from(exit::ERROR);
        }
    };
    let result = runtime.block_on(command);
    if let Some(code) = crate::interrupt::exit_code() {
        if let Err(err) = &result {
            report(err);
        }
        return ExitCode::from(code);
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(exit::OK),
        Err(err) if err.is::<crate::error::Usage>() => {
            report(&err);
            ExitCode::from(exit::USAGE)
        }
        Err(err) => {
            report(&err);
            ExitCode::from(match code_on_error {
                ErrorCode::Standard => exit::ERROR,
                ErrorCode::DiffLike => exit::DIFF_ERROR,
            })
        }
    }
}

/// Prints an error chain as one line: `error: outer: inner: root`.
pub fn report(err: &anyhow::Error) {
    let p = Paint::for_stream(Stream::Stderr);
    if let Some(r) = err.downcast_ref::<crate::error::Refusal>() {
        // One line per refused object, at most a screenful.
        const SHOWN: usize = 50;
        let mut out = std::io::stderr().lock();
        for line in r.lines.iter().take(SHOWN) {
            let _ = writeln!(out, "{} {}", p.red("error:"), crate::error::one_line(line));
        }
        if r.lines.len() > SHOWN {
            let _ = writeln!(
                out,
                "{} and {} more",
                p.red("error:"),
                r.lines.len() - SHOWN
            );
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = crate::error::one_line(&cause.to_string());
        // thiserror's `#[error("...: {source}")]` already includes the cause.
        if parts.last().is_some_and(|last| last.ends_with(&text)) {
            continue;
        }
        parts.push(text);
    }
    let _ = writeln!(
        std::io::stderr(),
        "{} {}",
        p.red("error:"),
        parts.join(": ")
    );
}

/// For a binary invoked without anything to do: prints its help on stderr
/// (stdout stays reserved for data) and returns the usage exit code.
pub fn usage_without_command(mut command: clap::Command) -> ExitCode {
    let help = command.render_help();
    let _ = write!(std::io::stderr(), "{help}");
    ExitCode::from(exit::USAGE)
}

/// `completion SHELL`, shared by the five plugins.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells completion scripts are generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    /// bash (`source <(kubectl-pack_waves completion bash)`).
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// Prints the completion script of `command` (a plugin's clap definition)
/// for the executable `bin` (`kubectl-pack_waves`), generated from the
/// same definition the plugin parses with.
pub fn completion(
    mut command: clap::Command,
    bin: &str,
    args: &CompletionArgs,
) -> anyhow::Result<u8> {
    use clap_complete::Shell;
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    // The executable's name, not "kubectl pack-x" (a space would split the
    // script's function names). clap_complete's bash script spells a `-`
    // in the name two ways (its subcommand cases never match), so bash is
    // generated for the name without `-` and registered for the real one.
    let generated = match shell {
        Shell::Bash => bin.replace('-', "_"),
        _ => bin.to_string(),
    };
    command = command.name(generated.clone()).bin_name(generated.clone());
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, generated.clone(), &mut script);
    let mut text = String::from_utf8_lossy(&script).into_owned();
    if generated != bin {
        text = text
            .lines()
            .map(|l| match l.strip_suffix(&format!(" {generated}")) {
                Some(head) if l.trim_start().starts_with("complete ") => format!("{head} {bin}"),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        text.push('\n');
    }
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(exit::OK)
}

/// For each plugin's unit test of its command tree: clap's own
/// consistency checks (`debug_assert`), plus the suite's rule that `-o`
/// takes every format of [`crate::output::FORMATS`] (a command may add its
/// own, as `test -o junit`) or is a file to write (`-o FILE`, as sops
/// spells it).
pub fn assert_command_tree(command: clap::Command) {
    let mut command = command;
    command.build();
    command.clone().debug_assert();
    fn walk(cmd: &clap::Command, path: &str) {
        for arg in cmd.get_arguments() {
            if arg.get_short() != Some('o') {
                continue;
            }
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect();
            let names = arg.get_value_names().unwrap_or_default();
            let is_file = names
                .iter()
                .any(|n| ["FILE", "OUT", "DIR"].contains(&n.as_str()));
            let shared = crate::output::FORMATS
                .iter()
                .all(|f| values.iter().any(|v| v == f));
            assert!(
                shared || (values.is_empty() && is_file),
                "{path}: -o must be the shared output format or a FILE, found {values:?} {names:?}"
            );
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()));
        }
    }
    walk(&command, command.get_name());
}
