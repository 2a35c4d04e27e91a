//! Output conventions shared by every plugin.
//!
//! stdout carries data only (YAML, JSON, tables); progress, warnings and
//! errors go to stderr. Colour is used only when the stream is a terminal and
//! `NO_COLOR` is unset or empty. A closed stdout (`... | head`) is not an
//! error: the process ends quietly with status 0 (see [`crate::cli`]).
//! Exit codes are defined once, in [`exit`].

use std::io::{IsTerminal, Write};

use owo_colors::OwoColorize;

/// Process exit codes, kubectl's conventions.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A failure (every command except the diff-like ones).
    pub const ERROR: u8 = 1;
    /// Diff-like commands (`kubectl diff`, drift): differences were found.
    pub const DIFFERENCES: u8 = 1;
    /// Diff-like commands: an error, as opposed to differences.
    pub const DIFF_ERROR: u8 = 2;
    /// Usage errors (clap's own exit code).
    pub const USAGE: u8 = 2;
}

/// The `-o` formats of the reporting commands (status, history, diff, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable (coloured on a terminal).
    Text,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Writes `value` as pretty JSON or YAML; `Text` writes nothing (the
/// caller prints its own text).
pub fn write_structured<T: serde::Serialize>(
    out: &mut impl Write,
    format: Format,
    value: &T,
) -> anyhow::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(value)?)?,
        Format::Yaml => write!(out, "{}", crate::yaml::to_string(value)?)?,
        Format::Text => {}
    }
    Ok(())
}

/// Which standard stream a decision is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Standard input.
    Stdin,
}

/// True when `NO_COLOR` is set to a non-empty value (no-color.org).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// True when the stream is a terminal.
pub fn is_terminal(stream: Stream) -> bool {
    match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
        Stream::Stdin => std::io::stdin().is_terminal(),
    }
}

/// Colours for one stream, decided once: on only for a terminal without
/// `NO_COLOR`.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    /// Decides for `stream`.
    pub fn for_stream(stream: Stream) -> Self {
        Paint {
            enabled: is_terminal(stream) && !no_color_requested(),
        }
    }

    /// Never colours (for files and tests).
    pub fn plain() -> Self {
        Paint { enabled: false }
    }

    /// Whether colour is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn paint(&self, text: &str, f: impl Fn(&str) -> String) -> String {
        if self.enabled {
            f(text)
        } else {
            text.to_string()
        }
    }

    /// Red (errors, removals).
    pub fn red(&self, text: &str) -> String {
        self.paint(text, |t| t.red().to_string())
    }
    /// Green (success, additions).
    pub fn green(&self, text: &str) -> String {
        self.paint(text, |t| t.green().to_string())
    }
    /// Yellow (warnings).
    pub fn yellow(&self, text: &str) -> String {
        self.paint(text, |t| t.yellow().to_string())
    }
    /// Bold (headings, names).
    pub fn bold(&self, text: &str) -> String {
        self.paint(text, |t| t.bold().to_string())
    }
    /// Dimmed (secondary detail).
    pub fn dim(&self, text: &str) -> String {
        self.paint(text, |t| t.dimmed().to_string())
    }
}

/// Prints `warning: <message>` on stderr.
pub fn warn(message: &str) {
    let p = Paint::for_stream(Stream::Stderr);
    let _ = writeln!(std::io::stderr(), "{} {message}", p.yellow("warning:"));
}

/// Prints `error: <message>` on stderr (for a command that goes on to
/// return its own exit code).
pub fn error(message: &str) {
    let p = Paint::for_stream(Stream::Stderr);
    let _ = writeln!(std::io::stderr(), "{} {message}", p.red("error:"));
}

/// Prints an informational line on stderr (progress, what was done).
pub fn info(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// True if the error (or anything in its chain) is a closed pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
