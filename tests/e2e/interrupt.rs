//! Interruptions on the real server: Ctrl-C (SIGINT) and SIGTERM in the
//! middle of an apply record the revision failed ("interrupted"), give the
//! release lock back and exit 130/143; a second Ctrl-C quits at once and
//! still gives the lock back; a process killed outright leaves a lock and a
//! pending revision that the next apply takes over and marks failed.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{cluster, namespace, plugin, wait_until};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::ListParams;

/// A stream of `n` ConfigMaps named after `release`.
fn many(release: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {release}-{i}\ndata:\n  i: \"{i}\"\n---\n"))
        .collect()
}

/// Starts `waves apply RELEASE` slowly (two at a time) on `n` ConfigMaps.
fn start_apply(ns: &str, release: &str, n: usize) -> Child {
    let mut c = plugin("waves");
    c.args(["-n", ns, "apply", release, "--concurrency", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(many(release, n).as_bytes()).unwrap();
    drop(stdin);
    child
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{sig} {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (bounded) for the child; returns (exit code, stderr).
async fn finish(child: Child, within: Duration) -> (Option<i32>, String) {
    let handle = tokio::task::spawn_blocking(move || child.wait_with_output());
    let out = tokio::time::timeout(within, handle)
        .await
        .expect("the interrupted command did not exit in time")
        .unwrap()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn applied_count(ns: &str, release: &str) -> usize {
    let api: Api<ConfigMap> = Api::namespaced(cluster().client().await, ns);
    let lp = ListParams::default().labels(&format!("sherpack.io/release={release}"));
    api.list(&lp).await.unwrap().items.len()
}

/// Waits until the apply has written some objects (it is past its checks).
async fn wait_for_writes(ns: &str, release: &str) {
    wait_until(
        "the first objects applied",
        Duration::from_secs(60),
        || async { applied_count(ns, release).await > 0 },
    )
    .await;
}

async fn lease(ns: &str, release: &str) -> Option<Lease> {
    let api: Api<Lease> = Api::namespaced(cluster().client().await, ns);
    api.get_opt(&format!("sh.sherpack.lock.{release}"))
        .await
        .unwrap()
}

fn waves(ns: &str, args: &[&str]) -> (i32, String, String) {
    let mut c = plugin("waves");
    c.args(["-n", ns]).args(args);
    harness::run(c)
}

#[tokio::test]
async fn ctrl_c_during_an_apply_records_it_interrupted_and_releases_the_lock() {
    let ns = namespace("int-sigint").await;
    let child = start_apply(&ns, "big", 1500);
    wait_for_writes(&ns, "big").await;
    signal(&child, "INT");
    let (code, err) = finish(child, Duration::from_secs(60)).await;
    assert_eq!(code, Some(130), "{err}");
    assert!(
        err.contains("interrupted: no new writes are started"),
        "{err}"
    );
    assert!(applied_count(&ns, "big").await < 1500, "it stopped early");
    assert!(lease(&ns, "big").await.is_none(), "the lock was given back");
    let (_, history, _) = waves(&ns, &["history", "big"]);
    assert!(
        history.contains("failed") && history.contains("interrupted"),
        "{history}"
    );
    // The next apply needs no --wait-for-lock and finishes the job.
    let mut c = plugin("waves");
    c.args(["-n", &ns, "apply", "big"]);
    let out = harness::run_with_stdin(c, &many("big", 1500));
    assert!(out.status.success(), "{}", harness::texts(&out).1);
    assert_eq!(applied_count(&ns, "big").await, 1500);
}

#[tokio::test]
async fn sigterm_stops_an_apply_with_exit_143_and_releases_the_lock() {
    let ns = namespace("int-sigterm").await;
    let child = start_apply(&ns, "term", 1500);
    wait_for_writes(&ns, "term").await;
    signal(&child, "TERM");
    let (code, err) = finish(child, Duration::from_secs(60)).await;
    assert_eq!(code, Some(130 + 13), "{err}");
    assert!(
        lease(&ns, "term").await.is_none(),
        "the lock was given back"
    );
    let (_, history, _) = waves(&ns, &["history", "term"]);
    assert!(history.contains("interrupted"), "{history}");
}

/// stderr of a running child, read as it comes.
fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().unwrap();
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

#[tokio::test]
async fn a_second_ctrl_c_quits_at_once_while_the_first_waits_on_a_frozen_api_server() {
    let private = harness::PrivateCluster::start("int-twice");
    let mut c = Command::new(harness::bin("waves"));
    c.env("KUBECONFIG", private.kubeconfig())
        .env("NO_COLOR", "1")
        .args(["apply", "twice", "--concurrency", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(many("twice", 1500).as_bytes()).unwrap();
    drop(stdin);
    let stderr = collect_stderr(&mut child);
    let seen = |what: &'static str| {
        let stderr = stderr.clone();
        move || {
            let found = stderr.lock().unwrap().contains(what);
            async move { found }
        }
    };
    wait_until(
        "the first objects applied",
        Duration::from_secs(60),
        seen("applied ConfigMap"),
    )
    .await;
    // Freeze the API server: requests in flight (and recording the
    // revision) now hang, as with a server that stopped answering.
    let pid = std::fs::read_to_string(private.dir.join("kube-apiserver.pid")).unwrap();
    let freeze = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, pid.trim()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    freeze("-STOP");
    signal(&child, "INT");
    wait_until(
        "the first interrupt noticed",
        Duration::from_secs(10),
        seen("interrupted: no new writes"),
    )
    .await;
    signal(&child, "INT");
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    freeze("-CONT");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let err = stderr.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted twice: quitting at once"), "{err}");
}

#[tokio::test]
async fn a_lock_and_a_pending_revision_left_by_a_killed_apply_are_taken_over() {
    let ns = namespace("int-sigkill").await;
    let child = start_apply(&ns, "killed", 1500);
    wait_for_writes(&ns, "killed").await;
    signal(&child, "KILL");
    let (code, _) = finish(child, Duration::from_secs(10)).await;
    assert_eq!(code, None, "killed by a signal");
    assert!(lease(&ns, "killed").await.is_some(), "the lock stayed");
    let (_, history, _) = waves(&ns, &["history", "killed"]);
    assert!(history.contains("pending-install"), "{history}");

    // Well within the lease's 30 s: the holder's pid is gone on this host.
    let mut c = plugin("waves");
    c.args(["-n", &ns, "apply", "killed"]);
    let out = harness::run_with_stdin(c, &many("killed", 20));
    let err = harness::texts(&out).1;
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("took over the lock of release killed from")
            && err.contains("that process no longer runs"),
        "{err}"
    );
    assert!(
        err.contains("revision 1 of killed was interrupted; marked failed"),
        "{err}"
    );
    let (_, history, _) = waves(&ns, &["history", "killed"]);
    assert!(
        history.contains("deployed") && !history.contains("pending"),
        "{history}"
    );
}
