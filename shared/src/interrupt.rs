//! Ctrl-C and SIGTERM for commands that write: the first signal asks the
//! command to stop starting new writes, let the requests in flight finish,
//! record what happened and give its lock back; the second exits at once,
//! still giving back the release locks it can within two seconds.
//!
//! A command opts in with [`watch`] (read-only commands keep the default:
//! a signal ends them at once, which is what a user expects of them). Code
//! that writes checks [`requested`] before each new write and each wait;
//! [`crate::cli::run`] turns an interrupted run into exit code 130
//! (SIGINT) or 143 (SIGTERM).

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The signal received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// Starts listening for SIGINT and SIGTERM (call inside the runtime, once
/// per command that writes).
pub fn watch() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // No handler: the default (exit at once) stays.
        return;
    };
    tokio::spawn(async move {
        loop {
            let got = tokio::select! {
                _ = int.recv() => SIGINT,
                _ = term.recv() => SIGTERM,
            };
            if SIGNAL.swap(got, Ordering::SeqCst) == 0 {
                crate::output::warn(
                    "interrupted: no new writes are started; finishing the requests in flight, recording the result and releasing the lock (press Ctrl-C again to quit at once)",
                );
                // Requests in flight get a bounded time to finish.
                tokio::spawn(async move {
                    tokio::time::sleep(GRACE).await;
                    quit(got, "still busy 30s after the interrupt: quitting").await;
                });
                continue;
            }
            quit(got, "interrupted twice: quitting at once").await;
        }
    });
}

/// How long the requests in flight may take after the first signal.
const GRACE: Duration = Duration::from_secs(30);

/// Gives back the locks it can within two seconds, and exits.
async fn quit(signal: i32, why: &str) {
    crate::output::warn(why);
    let released = tokio::time::timeout(
        Duration::from_secs(2),
        crate::release::lock::release_all_now(),
    )
    .await;
    if released.is_err() {
        crate::output::warn(
            "the release lock could not be given back in time; the next command takes it over once it expires (30s)",
        );
    }
    std::process::exit(128 + signal);
}

/// True once a signal came: start no new write, stop waiting.
pub fn requested() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// The exit code of an interrupted command (130 for SIGINT, 143 for
/// SIGTERM), or `None` when no signal came.
pub fn exit_code() -> Option<u8> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => u8::try_from(128 + s).ok(),
    }
}

/// The error a step returns when it stopped because of a signal.
pub const STOPPED: &str = "interrupted (Ctrl-C or SIGTERM) before it finished";
