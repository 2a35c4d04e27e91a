//! The five binaries as kubectl plugins: discovered by `kubectl plugin
//! list`, run through `kubectl pack-<x>`, with the shared help, version and
//! exit-code conventions.

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub const PLUGINS: [&str; 5] = ["render", "drift", "crd", "secrets", "waves"];

/// A directory holding only our five plugins (as krew lays them out:
/// `kubectl-pack_<x>`), to put first on PATH.
fn plugin_path() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    for p in PLUGINS {
        std::os::unix::fs::symlink(
            harness::bin(p),
            dir.path().join(format!("kubectl-pack_{p}")),
        )
        .unwrap();
    }
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (dir, path)
}

#[test]
fn kubectl_plugin_list_shows_all_five() {
    let (dir, path) = plugin_path();
    let out = Command::new(harness::kubectl_bin())
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for p in PLUGINS {
        let expected: PathBuf = dir.path().join(format!("kubectl-pack_{p}"));
        assert!(
            stdout.contains(&expected.display().to_string()),
            "kubectl-pack_{p} missing from:\n{stdout}"
        );
    }
}

#[test]
fn kubectl_runs_each_plugin_by_its_dashed_name() {
    let (_dir, path) = plugin_path();
    for p in PLUGINS {
        let out = Command::new(harness::kubectl_bin())
            .args([&format!("pack-{p}"), "--help"])
            .env("PATH", &path)
            .output()
            .unwrap();
        let (stdout, stderr) = harness::texts(&out);
        assert!(out.status.success(), "kubectl pack-{p} --help: {stderr}");
        assert!(
            stdout.contains(&format!("Usage: kubectl pack-{p}")),
            "{stdout}"
        );
        for flag in [
            "--kubeconfig",
            "--context",
            "--namespace",
            "--as-group",
            "--request-timeout",
            "--insecure-skip-tls-verify",
        ] {
            assert!(
                stdout.contains(flag),
                "kubectl pack-{p} --help lacks {flag}"
            );
        }
        let out = Command::new(harness::kubectl_bin())
            .args([&format!("pack-{p}"), "--version"])
            .env("PATH", &path)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("kubectl pack-{p} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    for p in PLUGINS {
        let out = Command::new(harness::bin(p))
            .arg("--no-such-flag")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let (_, stderr) = harness::texts(&out);
        assert!(stderr.contains("--no-such-flag"), "{stderr}");

        // Nothing to do: help on stderr (stdout stays clean), exit 2.
        let out = Command::new(harness::bin(p)).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("kubectl pack-{p}")));
    }
}

#[test]
fn closed_stdout_is_not_a_crash() {
    for p in PLUGINS {
        // Reader closes the pipe before the long help is written.
        let mut child = Command::new(harness::bin(p))
            .arg("--help")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    }
}
