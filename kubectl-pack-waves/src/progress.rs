//! Progress output: on a terminal one indicatif bar per wave (applied /
//! ready / failed, current object, elapsed); otherwise one plain line per
//! event on stderr.

use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use shared::output::{Stream, is_terminal};

/// Progress reporter.
pub struct Progress {
    tty: bool,
    bar: Mutex<Option<ProgressBar>>,
    start: Instant,
}

impl Progress {
    /// Chooses bars on a terminal, lines otherwise.
    pub fn new() -> Progress {
        Progress {
            tty: is_terminal(Stream::Stderr),
            bar: Mutex::new(None),
            start: Instant::now(),
        }
    }

    fn line(&self, msg: &str) {
        eprintln!("[{:>6.1}s] {msg}", self.start.elapsed().as_secs_f64());
    }

    /// A wave starts.
    pub fn wave_start(&self, wave: i64, n: usize) {
        if self.tty {
            let bar = ProgressBar::new(n as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "wave {prefix:>3} [{bar:30}] {pos}/{len} ready {elapsed} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(wave.to_string());
            if let Ok(mut b) = self.bar.lock() {
                *b = Some(bar);
            }
        } else {
            self.line(&format!("wave {wave}: applying {n} objects"));
        }
    }

    /// An object was applied.
    pub fn applied(&self, key: &str) {
        if self.tty {
            if let Ok(b) = self.bar.lock()
                && let Some(bar) = b.as_ref()
            {
                bar.set_message(format!("applied {key}"));
            }
        } else {
            self.line(&format!("applied {key}"));
        }
    }

    /// An object is waited for.
    pub fn waiting(&self, key: &str, reason: &str) {
        if self.tty {
            if let Ok(b) = self.bar.lock()
                && let Some(bar) = b.as_ref()
            {
                bar.set_message(format!("waiting for {key}: {reason}"));
            }
        } else {
            self.line(&format!("waiting for {key}: {reason}"));
        }
    }

    /// An object became ready after waiting.
    pub fn ready(&self, key: &str) {
        if !self.tty {
            self.line(&format!("ready {key}"));
        }
    }

    /// An object failed.
    pub fn failed(&self, key: &str, reason: &str) {
        if self.tty {
            if let Ok(b) = self.bar.lock()
                && let Some(bar) = b.as_ref()
            {
                bar.println(format!("failed {key}: {reason}"));
            }
        } else {
            self.line(&format!("failed {key}: {reason}"));
        }
    }

    /// A wave ended.
    pub fn wave_end(&self, wave: i64, failure: Option<&str>) {
        if self.tty {
            if let Ok(mut b) = self.bar.lock()
                && let Some(bar) = b.take()
            {
                bar.set_position(bar.length().unwrap_or(0));
                bar.finish_with_message(if failure.is_some() { "failed" } else { "done" });
            }
        } else {
            match failure {
                Some(_) => self.line(&format!("wave {wave}: failed")),
                None => self.line(&format!("wave {wave}: ready")),
            }
        }
    }

    /// A plain message.
    pub fn note(&self, msg: &str) {
        self.line(msg);
    }
}
