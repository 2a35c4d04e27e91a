//! Output conventions shared by every plugin.
//!
//! stdout carries data only (YAML, JSON, tables); progress, warnings and
//! errors go to stderr. Colour is used only when the stream is a terminal and
//! `NO_COLOR` is unset or empty. A closed stdout (`... | head`) is not an
//! error: the process ends quietly with status 0 (see [`crate::cli`]).
//! Exit codes are defined once, in [`exit`].

use std::io::{IsTerminal, Write};

use owo_colors::OwoColorize;

/// The suite's exit codes, one table for the five plugins (kubectl's and
/// `kubectl diff`'s conventions). Each command is of one [`Kind`]:
///
/// | outcome                                   | ordinary | check |
/// |-------------------------------------------|----------|-------|
/// | success (check: nothing found)            | 0        | 0     |
/// | check: differences / drift / findings     | —        | 1     |
/// | failure (the cluster, a file, the input)  | 1        | 2     |
/// | usage: a command line that cannot be run | 2        | 2     |
/// | interrupted (Ctrl-C / SIGTERM)            | 130/143  | 130/143 |
///
/// Checks are `pack-waves diff` and `status` (1 = not all ready),
/// `pack-drift` (all of it), `pack-crd diff` and `validate`, `pack-render
/// diff-env`; every other command is ordinary. Each plugin's `Command`
/// says its kind (`error_code`), and [`crate::cli::run`] turns an outcome
/// into the code.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A failure (every command except the diff-like ones).
    pub const ERROR: u8 = 1;
    /// Diff-like commands (`kubectl diff`, drift): differences were found.
    pub const DIFFERENCES: u8 = 1;
    /// Diff-like commands: an error, as opposed to differences.
    pub const DIFF_ERROR: u8 = 2;
    /// Usage errors (clap's own exit code, and [`crate::error::Usage`]).
    pub const USAGE: u8 = 2;

    /// Which column of the table a command uses.
    pub use crate::cli::ErrorCode as Kind;
}

/// `-o/--output`, one definition for every command that prints objects or
/// a report: `text` (the default, for people), `wide` (text with every
/// column the command has), `json`, `yaml`, `name` (one `kind/name`, release
/// or revision per line, for scripts) and `jsonpath=TEMPLATE` (kubectl's
/// templates over what `json` prints).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable (coloured on a terminal).
    #[default]
    Text,
    /// Text with every column.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// One name per line.
    Name,
    /// kubectl's JSONPath template.
    JsonPath(crate::jsonpath::Template),
}

/// The plain format names `-o` takes (`jsonpath=` takes a template).
pub const FORMATS: [&str; 6] = ["text", "wide", "json", "yaml", "name", "jsonpath="];

/// The clap value parser of [`Format`]: an unknown name is clap's own
/// "invalid value ... [possible values: ...]" usage error, a broken
/// template names what is wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatParser;

impl clap::builder::TypedValueParser for FormatParser {
    type Value = Format;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Format, clap::Error> {
        if value.to_string_lossy().starts_with("jsonpath=") {
            // clap words the error: invalid value '...' for '--output': why.
            let template = |text: &str| -> Result<Format, String> {
                match text.strip_prefix("jsonpath=").unwrap_or_default() {
                    "" => Err("jsonpath= needs a template, e.g. jsonpath='{.revision}'".into()),
                    t => crate::jsonpath::Template::parse(t).map(Format::JsonPath),
                }
            };
            return template.parse_ref(cmd, arg, value);
        }
        let names = clap::builder::PossibleValuesParser::new(FORMATS);
        let name = names.parse_ref(cmd, arg, value)?;
        Ok(match name.as_str() {
            "wide" => Format::Wide,
            "json" => Format::Json,
            "yaml" => Format::Yaml,
            "name" => Format::Name,
            _ => Format::Text,
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            FORMATS
                .iter()
                .map(|n| clap::builder::PossibleValue::new(*n)),
        ))
    }
}

/// `-o/--output FORMAT`, flattened into every reporting command.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Output format: text, wide, json, yaml, name or jsonpath=TEMPLATE.
    #[arg(short = 'o', long = "output", default_value = "text", value_name = "FORMAT",
          value_parser = FormatParser)]
    pub output: Format,
}

impl Format {
    /// True for the formats people read (`text`, `wide`): the command
    /// prints its own text.
    pub fn is_text(&self) -> bool {
        matches!(self, Format::Text | Format::Wide)
    }
}

/// Writes `value` in a machine format (`names` for `-o name`); writes
/// nothing for `text`/`wide` (the caller prints its own text).
pub fn write_structured<T: serde::Serialize>(
    out: &mut impl Write,
    format: &Format,
    value: &T,
    names: &[String],
) -> anyhow::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(value)?)?,
        Format::Yaml => write!(out, "{}", crate::yaml::to_string(value)?)?,
        Format::Name => {
            for n in names {
                writeln!(out, "{n}")?;
            }
        }
        Format::JsonPath(t) => {
            // As kubectl: no newline of its own (`{"\n"}` adds one).
            write!(out, "{}", t.render(&serde_json::to_value(value)?))?;
        }
        Format::Text | Format::Wide => {}
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
