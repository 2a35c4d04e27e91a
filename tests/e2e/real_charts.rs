//! Real-world streams (public charts rendered by Helm 4, read from
//! `../shared/fixtures/real-charts/`) through the whole suite on the real
//! server: `pack-crd apply | pack-waves apply` of v1 (CRDs established,
//! custom resources in the same run, hook Jobs run to completion, workloads
//! ready through the kubelet stand-in and the real controllers),
//! `pack-drift` clean, v2 as an upgrade (prune; an immutable field refused
//! before anything is written), drift clean again, rollback to v1, and an
//! uninstall that keeps the CRDs. No Secret value of these streams may
//! appear in any output.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use harness::{Kubelet, cluster, kubectl, run, workspace_root};
use serde_json::Value;

/// The team's shared folder: `$PACK_SHARED_DIR`, else `shared/` next to
/// the checkout, else `/work/shared` (where it lives on the team's machines,
/// whatever folder a CI clone is in).
fn shared_dir() -> PathBuf {
    let candidates = std::env::var_os("PACK_SHARED_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            workspace_root().join("../shared"),
            PathBuf::from("/work/shared"),
        ]);
    for dir in candidates {
        if dir.join("fixtures/real-charts").is_dir() {
            return dir;
        }
    }
    panic!(
        "the real-world streams are not found: set PACK_SHARED_DIR to the folder holding fixtures/real-charts/"
    )
}

/// A stream of the shared fixtures (read in place, never copied).
fn stream(chart: &str, version: &str) -> PathBuf {
    let path = shared_dir()
        .join("fixtures/real-charts")
        .join(chart)
        .join(format!("{version}.yaml"));
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// Every output of a test, checked for Secret values at the end.
#[derive(Default)]
struct Outputs(Vec<String>);

impl Outputs {
    fn keep(&mut self, r: (i32, String, String)) -> (i32, String, String) {
        self.0.push(format!("{}\n{}", r.1, r.2));
        r
    }

    /// No Secret value (as written in the stream, base64-decoded, or as
    /// stringData) appears in any output.
    fn assert_no_secret_values(&self, streams: &[PathBuf]) {
        let mut values = Vec::new();
        for path in streams {
            let text = std::fs::read_to_string(path).expect("stream");
            let objects = shared::stream::parse_stream(&text, shared::stream::Origin::Stdin)
                .expect("stream parses");
            for o in objects.iter().filter(|o| o.kind() == "Secret") {
                for (field, decode) in [("data", true), ("stringData", false)] {
                    for v in o.object[field]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(_, v)| v)
                    {
                        let Some(v) = v.as_str() else { continue };
                        values.push(v.to_string());
                        if decode {
                            use base64::Engine as _;
                            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(v) {
                                values.push(String::from_utf8_lossy(&bytes).into_owned());
                            }
                        }
                    }
                }
            }
        }
        // Short values ("true", "1") would match by chance.
        values.retain(|v| v.len() >= 12);
        assert!(
            !values.is_empty(),
            "the streams hold Secret values to look for"
        );
        for (i, out) in self.0.iter().enumerate() {
            for v in &values {
                assert!(
                    !out.contains(v.as_str()),
                    "output #{i} shows a Secret value"
                );
            }
        }
    }
}

/// `kubectl pack-crd apply < STREAM | kubectl pack-waves apply RELEASE ...`,
/// as a user's shell runs it (with pipefail).
fn crd_then_waves(stream: &str, release: &str, ns: &str, extra: &[&str]) -> (i32, String, String) {
    let script =
        r#"set -o pipefail; "$CRD" apply < "$STREAM" | "$WAVES" apply "$RELEASE" -n "$NS" "$@""#;
    let mut c = Command::new("bash");
    c.args(["-c", script, "pipe"])
        .args(extra)
        .env("CRD", harness::bin("crd"))
        .env("WAVES", harness::bin("waves"))
        .env("STREAM", stream)
        .env("RELEASE", release)
        .env("NS", ns)
        .env("KUBECONFIG", cluster().kubeconfig())
        .env("NO_COLOR", "1");
    run(c)
}

fn plugin(name: &str, args: &[&str]) -> (i32, String, String) {
    let mut c = harness::plugin(name);
    c.args(args);
    run(c)
}

fn kctl_json(args: &[&str]) -> Value {
    let mut c = kubectl();
    c.args(args).args(["-o", "json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "kubectl {args:?}: {err}");
    serde_json::from_str(&out).expect("kubectl JSON")
}

fn exists(kind: &str, ns: &str, name: &str) -> bool {
    let mut c = kubectl();
    c.args([
        "get",
        kind,
        name,
        "-n",
        ns,
        "--ignore-not-found",
        "-o",
        "name",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "kubectl get {kind}/{name}: {err}");
    !out.trim().is_empty()
}

/// Runs a blocking step off the async runtime (the kubelet stand-in keeps
/// working meanwhile).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("step")
}

async fn drift_is_clean(outputs: &mut Outputs, release: &str, ns: &str, when: &str) {
    let (release, ns) = (release.to_string(), ns.to_string());
    let r = blocking(move || plugin("drift", &[&release, "-n", &ns, "--read-only"])).await;
    let (code, out, err) = outputs.keep(r);
    assert_eq!(code, 0, "drift {when}: {out}{err}");
}

const MON: &str = "monitoring";
const PROM: &str = "mon-kube-prometheus-stack-prometheus";
const ALERTMANAGER: &str = "mon-kube-prometheus-stack-alertmanager";

fn monitoring_crds() -> Vec<Value> {
    kctl_json(&["get", "crd"])["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|c| c["spec"]["group"] == "monitoring.coreos.com")
        .cloned()
        .collect()
}

#[tokio::test]
async fn kube_prometheus_stack_installs_upgrades_rolls_back_and_uninstalls_keeping_its_crds() {
    let v1 = stream("kube-prometheus-stack", "v1");
    let v2 = stream("kube-prometheus-stack", "v2");
    let _kubelet = Kubelet::start(&[MON, "kube-system"]).await;
    let mut outputs = Outputs::default();
    let timeout = ["--timeout", "4m"];

    // v1: CRDs first, then everything else, hooks included, in one pipe.
    let (s, t) = (v1.to_string_lossy().into_owned(), timeout);
    let r = blocking(move || {
        crd_then_waves(&s, "mon", MON, &[&["--create-namespace"][..], &t].concat())
    })
    .await;
    let (code, _, err) = outputs.keep(r);
    assert_eq!(code, 0, "install: {err}");
    let crds = monitoring_crds();
    assert_eq!(crds.len(), 10, "the stream's 10 CRDs");
    for c in &crds {
        let established = c["status"]["conditions"].as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x["type"] == "Established" && x["status"] == "True")
        });
        assert!(established, "{} not Established", c["metadata"]["name"]);
    }
    assert!(
        exists("prometheus", MON, PROM),
        "custom resources applied in the same run"
    );
    assert!(exists("alertmanager", MON, ALERTMANAGER));
    let rules = kctl_json(&["get", "prometheusrules", "-n", MON]);
    let in_stream = std::fs::read_to_string(&v1)
        .expect("v1")
        .matches("\nkind: PrometheusRule\n")
        .count();
    assert_eq!(rules["items"].as_array().map(Vec::len), Some(in_stream));
    assert_eq!(in_stream, 35);
    for hook in [
        "hook pre-install: Job/mon-kube-prometheus-stack-admission-create",
        "hook post-install: Job/mon-kube-prometheus-stack-admission-patch",
        "hook Job/mon-kube-prometheus-stack-admission-patch deleted (hook-succeeded)",
    ] {
        assert!(err.contains(hook), "missing '{hook}' in:\n{err}");
    }
    // The Job needed its ServiceAccount: hook-succeeded deletes after the phase.
    let sa_gone = err
        .find("hook ServiceAccount/mon-kube-prometheus-stack-admission deleted")
        .expect("hook ServiceAccount deleted");
    assert!(
        err.find("hook pre-install: Job/mon-kube-prometheus-stack-admission-create")
            .unwrap()
            < sa_gone
    );
    assert!(!exists(
        "job",
        MON,
        "mon-kube-prometheus-stack-admission-create"
    ));
    assert!(!exists(
        "clusterrole",
        MON,
        "mon-kube-prometheus-stack-admission"
    ));
    drift_is_clean(&mut outputs, "mon", MON, "after install").await;

    // v2: alertmanager and kube-state-metrics removed, retention changed.
    let s = v2.to_string_lossy().into_owned();
    let r = blocking(move || crd_then_waves(&s, "mon", MON, &timeout)).await;
    let (code, _, err) = outputs.keep(r);
    assert_eq!(code, 0, "upgrade: {err}");
    assert!(
        err.contains("revision 2 deployed") && err.contains(", 11 pruned"),
        "{err}"
    );
    assert!(!exists("alertmanager", MON, ALERTMANAGER), "pruned");
    assert!(
        !exists("deployment", MON, "mon-kube-state-metrics"),
        "pruned"
    );
    let prom = kctl_json(&["get", "prometheus", PROM, "-n", MON]);
    assert_eq!(prom["spec"]["retention"], "30d");
    drift_is_clean(&mut outputs, "mon", MON, "after upgrade").await;

    // Back to v1.
    let r = blocking(|| {
        plugin(
            "waves",
            &["rollback", "mon", "1", "-n", MON, "--timeout", "4m"],
        )
    })
    .await;
    let (code, _, err) = outputs.keep(r);
    assert_eq!(code, 0, "rollback: {err}");
    assert!(
        exists("alertmanager", MON, ALERTMANAGER),
        "restored by the rollback"
    );
    assert!(exists("deployment", MON, "mon-kube-state-metrics"));
    drift_is_clean(&mut outputs, "mon", MON, "after rollback").await;

    // Uninstall: the release's objects go, its CRDs stay.
    let r = blocking(|| plugin("waves", &["uninstall", "mon", "-n", MON])).await;
    let (code, _, err) = outputs.keep(r);
    assert_eq!(code, 0, "uninstall: {err}");
    assert!(!exists("prometheus", MON, PROM));
    assert!(!exists(
        "deployment",
        MON,
        "mon-kube-prometheus-stack-operator"
    ));
    assert_eq!(monitoring_crds().len(), 10, "uninstall keeps the CRDs");
    outputs.assert_no_secret_values(&[v1, v2]);
}

const DATA: &str = "data";

fn postgres_password() -> String {
    kctl_json(&["get", "secret", "db-postgresql", "-n", DATA])["data"]["postgres-password"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn postgresql_upgrade_refuses_an_immutable_change_before_writing_and_applies_the_rest() {
    let v1 = stream("postgresql", "v1");
    let v2 = stream("postgresql", "v2");
    let _kubelet = Kubelet::start(&[DATA]).await;
    let mut outputs = Outputs::default();

    let s = v1.to_string_lossy().into_owned();
    let r = blocking(move || {
        crd_then_waves(&s, "db", DATA, &["--create-namespace", "--timeout", "3m"])
    })
    .await;
    let (code, _, err) = outputs.keep(r);
    assert_eq!(code, 0, "install: {err}");
    let sts = kctl_json(&["get", "statefulset", "db-postgresql", "-n", DATA]);
    assert_eq!(sts["status"]["readyReplicas"], 1, "ready through its Pod");
    let password_v1 = postgres_password();
    drift_is_clean(&mut outputs, "db", DATA, "after install").await;

    // v2 grows volumeClaimTemplates (immutable): refused, nothing written.
    let s = v2.to_string_lossy().into_owned();
    let r = blocking(move || crd_then_waves(&s, "db", DATA, &["--timeout", "3m"])).await;
    let (code, _, err) = outputs.keep(r);
    assert_eq!(code, 1, "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("StatefulSet.apps/db-postgresql -n data"))
        .unwrap_or_else(|| panic!("no line names the StatefulSet:\n{err}"));
    assert!(
        line.contains("spec.volumeClaimTemplates cannot be changed on a live StatefulSet"),
        "{line}"
    );
    assert!(
        err.contains("error: nothing applied: 1 object(s) refused"),
        "{err}"
    );
    assert_eq!(
        postgres_password(),
        password_v1,
        "the Secret was not touched"
    );
    assert!(!exists("service", DATA, "db-postgresql-metrics"));
    drift_is_clean(&mut outputs, "db", DATA, "after the refused upgrade").await;

    // The same upgrade without the immutable change goes through.
    let v2_text = std::fs::read_to_string(&v2).expect("v2");
    assert!(v2_text.contains("storage: \"20Gi\""));
    let dir = tempfile::tempdir().expect("tempdir");
    let v2_same_size = dir.path().join("v2.yaml");
    std::fs::write(
        &v2_same_size,
        v2_text.replace("storage: \"20Gi\"", "storage: \"8Gi\""),
    )
    .expect("write");
    let s = v2_same_size.to_string_lossy().into_owned();
    let r = blocking(move || crd_then_waves(&s, "db", DATA, &["--timeout", "3m"])).await;
    let (code, _, err) = outputs.keep(r);
    assert_eq!(code, 0, "upgrade: {err}");
    assert_ne!(postgres_password(), password_v1, "the Secret was updated");
    assert!(exists("service", DATA, "db-postgresql-metrics"), "added");
    let sts = kctl_json(&["get", "statefulset", "db-postgresql", "-n", DATA]);
    let containers = sts["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(Vec::len);
    assert_eq!(containers, Some(2), "the metrics sidecar rolled out");
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
    drift_is_clean(&mut outputs, "db", DATA, "after upgrade").await;

    let r = blocking(|| {
        plugin(
            "waves",
            &["rollback", "db", "1", "-n", DATA, "--timeout", "3m"],
        )
    })
    .await;
    let (code, _, err) = outputs.keep(r);
    assert_eq!(code, 0, "rollback: {err}");
    assert_eq!(postgres_password(), password_v1);
    assert!(
        !exists("service", DATA, "db-postgresql-metrics"),
        "pruned by the rollback"
    );
    drift_is_clean(&mut outputs, "db", DATA, "after rollback").await;

    let r = blocking(|| plugin("waves", &["uninstall", "db", "-n", DATA])).await;
    let (code, _, err) = outputs.keep(r);
    assert_eq!(code, 0, "uninstall: {err}");
    assert!(!exists("statefulset", DATA, "db-postgresql"));
    outputs.assert_no_secret_values(&[v1, v2]);
    harness::wait_until("the Secret to be gone", Duration::from_secs(10), || async {
        !exists("secret", DATA, "db-postgresql")
    })
    .await;
}
