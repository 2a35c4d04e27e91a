//! `kubectl pack-drift` on the real API server (the controller-manager runs,
//! so defaults and owners are real): no false positives after a fresh
//! apply; each kind of change found with its path, manager and severity;
//! the same objects as `kubectl diff --server-side --force-conflicts`;
//! `sync` restores; ignore rules, HPA trust, history, `watch` with
//! notifications, metrics, auto-sync giving up, reconnects; Helm releases.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{cluster, kubectl, namespace, plugin, run, run_with_stdin, texts};
use serde_json::Value;

fn drift(ns: &str, args: &[&str]) -> (i32, String, String) {
    let mut c = plugin("drift");
    c.args(["-n", ns]).args(args);
    run(c)
}

fn apply(ns: &str, release: &str, stream: &str) {
    let mut c = plugin("waves");
    c.args(["-n", ns, "apply", release, "--wait=false"]);
    let out = run_with_stdin(c, stream);
    let (o, e) = texts(&out);
    assert!(out.status.success(), "waves apply failed:\n{o}\n{e}");
}

fn kctl(ns: &str, args: &[&str]) -> String {
    let mut c = kubectl();
    c.args(["-n", ns]).args(args);
    let (code, o, e) = run(c);
    assert_eq!(code, 0, "kubectl {args:?} failed: {e}");
    o
}

fn kctl_stdin(ns: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut c = kubectl();
    c.args(["-n", ns]).args(args);
    let out = run_with_stdin(c, stdin);
    let (o, e) = texts(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

fn json_report(ns: &str, args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let (code, o, e) = drift(ns, &all);
    assert!(code == 0 || code == 1, "exit {code}: {e}");
    (
        code,
        serde_json::from_str(&o).unwrap_or_else(|_| panic!("not JSON: {o}")),
    )
}

/// `Kind/name` of every drifted object.
fn drifted(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = report["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

fn field<'a>(report: &'a Value, object: &str, path: &str) -> &'a Value {
    let o = report["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            ) == object
        })
        .unwrap_or_else(|| panic!("{object} not drifted in {report}"));
    o["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not reported for {object}: {o}"))
}

/// A release as users write it: a Deployment, a StatefulSet, a Service,
/// a ConfigMap and a Secret.
const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web, tier: front}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: registry.example/web:1.0
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
        ports:
        - {name: http, containerPort: 8080, protocol: TCP}
        resources:
          limits: {cpu: "1", memory: 1Gi}
          requests: {cpu: 1000m, memory: 512Mi}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http, protocol: TCP}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: registry.example/db:1
        resources: {requests: {cpu: 500m, memory: 0.5Gi}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast, level: "3"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: SENTINEL-drift-original}
"#;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.drift.example.com}
spec:
  group: drift.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 3}
              port: {x-kubernetes-int-or-string: true}
---
apiVersion: drift.example.com/v1
kind: Gadget
metadata: {name: g1}
spec: {port: http}
"#;

#[tokio::test]
async fn a_fresh_apply_has_no_drift_with_defaults_quantities_and_custom_resources() {
    let ns = namespace("drift-clean").await;
    apply(&ns, "app", &format!("{APP}---\n{CRD}"));
    // Let the controller-manager act (ReplicaSets, endpoints, defaults).
    std::thread::sleep(Duration::from_secs(2));
    let (code, out, err) = drift(&ns, &["app"]);
    assert_eq!(code, 0, "false positive:\n{out}\n{err}");
    assert!(out.contains("no drift in 7 object(s)"), "{out}");
    // Same verdict as kubectl's own server-side diff.
    let (kcode, kout, kerr) = kctl_stdin(
        &ns,
        &["diff", "--server-side", "--force-conflicts", "-f", "-"],
        APP,
    );
    assert_eq!(kcode, 0, "kubectl diff disagrees:\n{kout}\n{kerr}");
}

#[tokio::test]
async fn each_kind_of_change_is_found_with_path_manager_and_severity_and_sync_restores_it() {
    let ns = namespace("drift-cases").await;
    apply(&ns, "app", APP);
    // kubectl edit (through $EDITOR), scale, patch, label, set image.
    let mut edit = kubectl();
    edit.args(["-n", &ns, "edit", "configmap", "settings"])
        .env("EDITOR", "sed -i s/mode:\\ fast/mode:\\ slow/");
    let (code, _, e) = run(edit);
    assert_eq!(code, 0, "kubectl edit: {e}");
    kctl(&ns, &["scale", "deployment/web", "--replicas=5"]);
    kctl(
        &ns,
        &["label", "--overwrite", "deployment/web", "tier=back"],
    );
    kctl(
        &ns,
        &[
            "set",
            "image",
            "deployment/web",
            "app=registry.example/web:2.0",
        ],
    );
    // Reordering env is not drift; changing a value is.
    kctl(
        &ns,
        &[
            "patch",
            "deployment/web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/template/spec/containers/0/env","value":[{"name":"B","value":"2"},{"name":"A","value":"1"}]}]"#,
        ],
    );
    kctl(
        &ns,
        &[
            "patch",
            "statefulset/db",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/template/spec/containers/0/resources/requests/cpu","value":"750m"}]"#,
        ],
    );
    kctl(
        &ns,
        &[
            "patch",
            "secret/creds",
            "-p",
            r#"{"stringData":{"password":"SENTINEL-drift-changed"}}"#,
        ],
    );
    kctl(&ns, &["delete", "service/web"]);
    let (code, o, e) = kctl_stdin(
        &ns,
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray, labels: {sherpack.io/release: app}}\ndata: {x: \"1\"}\n",
    );
    assert_eq!(code, 0, "{o}{e}");

    let (code, r) = json_report(&ns, &["app"]);
    assert_eq!(code, 1);
    assert_eq!(
        drifted(&r),
        [
            "ConfigMap/settings",
            "ConfigMap/stray",
            "Deployment/web",
            "Secret/creds",
            "Service/web",
            "StatefulSet/db"
        ]
    );
    let f = field(&r, "ConfigMap/settings", "data.mode");
    assert_eq!(
        (f["recorded"].as_str(), f["live"].as_str()),
        (Some("fast"), Some("slow"))
    );
    assert_eq!(f["manager"], "kubectl-edit");
    assert!(f["time"].is_string());
    assert_eq!(f["severity"], "Medium");
    let f = field(&r, "Deployment/web", "spec.replicas");
    assert_eq!(
        (f["recorded"].as_i64(), f["live"].as_i64()),
        (Some(2), Some(5))
    );
    assert_eq!(
        (f["manager"].as_str(), f["subresource"].as_str()),
        (Some("kubectl"), Some("scale")),
        "kubectl scale is named: the server records its managedFields entry (without a time)"
    );
    assert_eq!(f["severity"], "High");
    let f = field(&r, "Deployment/web", "metadata.labels.tier");
    assert_eq!(f["manager"], "kubectl-label");
    assert_eq!(f["severity"], "Low");
    let f = field(
        &r,
        "Deployment/web",
        "spec.template.spec.containers[name=app].image",
    );
    assert_eq!(f["manager"], "kubectl-set");
    assert_eq!(f["severity"], "Critical");
    let web = r["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "web" && o["kind"] == "Deployment")
        .unwrap();
    assert!(
        !web["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"].as_str().unwrap().contains("env")),
        "env reordering reported as drift: {web}"
    );
    let f = field(
        &r,
        "StatefulSet/db",
        "spec.template.spec.containers[name=db].resources.requests.cpu",
    );
    assert_eq!(
        (f["recorded"].as_str(), f["live"].as_str()),
        (Some("500m"), Some("750m"))
    );
    assert_eq!(f["manager"], "kubectl-patch");
    let f = field(&r, "Secret/creds", "data.password");
    assert_eq!(f["masked"], true);
    assert_eq!(f["severity"], "Critical");
    let deleted = r["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "Service")
        .unwrap();
    assert_eq!(
        (deleted["state"].as_str(), deleted["severity"].as_str()),
        (Some("deleted"), Some("Critical"))
    );
    let stray = r["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "stray")
        .unwrap();
    assert_eq!(
        (stray["state"].as_str(), stray["severity"].as_str()),
        (Some("unexpected"), Some("Medium"))
    );
    assert_eq!(r["severity"], "Critical");

    // The text report names the culprit and never shows the secret.
    let (code, text, _) = drift(&ns, &["app", "--read-only"]);
    assert_eq!(code, 1);
    assert!(
        text.contains("data.mode: fast -> slow  (by kubectl-edit at "),
        "{text}"
    );
    assert!(
        text.contains("spec.replicas: 2 -> 5  (by kubectl through the scale subresource)"),
        "{text}"
    );
    assert!(
        text.contains("data.password: secret value changed"),
        "{text}"
    );
    assert!(!text.contains("SENTINEL"), "secret value printed");
    // --fail-on critical still fails (image, Secret data, deletion are Critical).
    assert_eq!(
        drift(&ns, &["app", "--read-only", "--fail-on", "critical"]).0,
        1
    );
    kctl(&ns, &["delete", "configmap/stray"]);

    // An env value change is drift.
    kctl(
        &ns,
        &["set", "env", "deployment/web", "-c", "app", "A=changed"],
    );
    let (_, r) = json_report(&ns, &["app", "--read-only"]);
    field(
        &r,
        "Deployment/web",
        "spec.template.spec.containers[name=app].env[name=A].value",
    );

    // kubectl diff --server-side --force-conflicts finds the same release objects.
    let (kcode, kout, kerr) = kctl_stdin(
        &ns,
        &["diff", "--server-side", "--force-conflicts", "-f", "-"],
        APP,
    );
    assert_eq!(kcode, 1, "{kerr}");
    let mut theirs: Vec<String> = [
        "ConfigMap/settings",
        "Deployment/web",
        "Secret/creds",
        "Service/web",
        "StatefulSet/db",
    ]
    .iter()
    .filter(|k| {
        let (kind, name) = k.split_once('/').unwrap();
        let group = if matches!(kind, "Deployment" | "StatefulSet") {
            "apps.v1."
        } else {
            "v1."
        };
        kout.contains(&format!("{group}{kind}.{ns}.{name}"))
    })
    .map(|s| s.to_string())
    .collect();
    theirs.sort();
    let (_, r) = json_report(&ns, &["app", "--read-only"]);
    assert_eq!(drifted(&r), theirs, "kubectl diff output:\n{kout}");

    // sync --dry-run shows, sync restores, status is clean, history has both.
    let (code, out, _) = drift(&ns, &["sync", "app", "--dry-run"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("re-create Service/web") && out.contains("-  replicas: 5"),
        "{out}"
    );
    assert!(!out.contains("SENTINEL"));
    // Both sides in one key order: in a restored (not re-created) object
    // the identity lines never show as changed.
    let text = format!("\n{out}");
    let restored: Vec<&str> = text
        .split("\nre")
        .filter(|block| block.starts_with("store "))
        .collect();
    assert!(!restored.is_empty(), "{out}");
    for block in restored {
        assert!(
            !block
                .lines()
                .any(|l| ["+apiVersion", "-apiVersion", "+kind", "-kind"]
                    .iter()
                    .any(|p| l.starts_with(p))),
            "{out}"
        );
    }
    assert_eq!(
        kctl(
            &ns,
            &["get", "deployment/web", "-o", "jsonpath={.spec.replicas}"]
        ),
        "5"
    );
    let (code, out, err) = drift(&ns, &["sync", "app"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = drift(&ns, &["app"]);
    assert_eq!(code, 0, "not clean after sync:\n{out}\n{err}");
    assert_eq!(
        kctl(
            &ns,
            &["get", "deployment/web", "-o", "jsonpath={.spec.replicas}"]
        ),
        "2"
    );
    let (code, hist, _) = drift(&ns, &["history", "app", "-o", "json"]);
    assert_eq!(code, 0);
    let events: Value = serde_json::from_str(&hist).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"detected"));
    assert_eq!(kinds.last(), Some(&"corrected"));
    let (_, last, _) = drift(&ns, &["history", "app", "--limit", "1", "-o", "json"]);
    let last: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(last.as_array().unwrap().len(), 1);
    assert_eq!(last[0]["kind"], "corrected");
    assert_eq!(last[0]["by"], "sync");
}

#[tokio::test]
async fn hpa_owned_replicas_and_ignore_rules_are_not_drift() {
    let ns = namespace("drift-ignore").await;
    let stream = format!(
        "{APP}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: annotated\n  annotations: {{sherpack.io/drift-ignore: \"data.generated\"}}\ndata: {{generated: a, kept: b}}\n"
    );
    apply(&ns, "app", &stream);
    let (code, o, e) = kctl_stdin(
        &ns,
        &["apply", "-f", "-"],
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 10\n",
    );
    assert_eq!(code, 0, "{o}{e}");
    kctl(&ns, &["scale", "deployment/web", "--replicas=4"]);
    kctl(
        &ns,
        &[
            "patch",
            "configmap/annotated",
            "-p",
            r#"{"data":{"generated":"z"}}"#,
        ],
    );
    kctl(
        &ns,
        &[
            "patch",
            "configmap/settings",
            "-p",
            r#"{"data":{"level":"9"}}"#,
        ],
    );
    // HPA-scaled replicas and the annotated path are ignored; --ignore takes the rest.
    let (code, out, err) = drift(&ns, &["app", "--ignore", "data.level", "--read-only"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 ignored change(s)"), "{out}");
    // Without the HPA trust the scale is drift again.
    let (code, r) = json_report(
        &ns,
        &[
            "app",
            "--ignore",
            "data.level",
            "--no-default-trusted",
            "--read-only",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(drifted(&r), ["Deployment/web"]);
    // A bad pattern is a usage error, not a crash.
    let (code, _, err) = drift(&ns, &["app", "--ignore", "spec.x[", "--read-only"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--ignore 'spec.x['") && err.lines().count() == 1,
        "{err}"
    );
    let (code, _, err) = drift(&ns, &["missing"]);
    assert_eq!(code, 2);
    assert!(err.contains("release missing not found"), "{err}");
}

#[tokio::test]
async fn the_packs_drift_block_travels_from_render_through_waves() {
    let ns = namespace("drift-pack").await;
    let pack = harness::write_tree(&[
        (
            "Pack.yaml",
            "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: tuned, version: 1.2.3}\ndrift:\n  ignore:\n    - data.volatile\n    - 'metadata.annotations[\"example.com/touched\"]'\n",
        ),
        ("values.yaml", "v: 1\n"),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuned\n  annotations: {example.com/touched: \"no\"}\ndata: {volatile: \"{{ values.v }}\", stable: x}\n",
        ),
    ]);
    let mut r = plugin("render");
    r.arg(pack.path());
    let (code, stream, e) = run(r);
    assert_eq!(code, 0, "{e}");
    assert!(stream.starts_with("# kubectl-pack.io/pack: {"), "{stream}");
    // The header is a YAML comment: kubectl accepts the stream as it is.
    let (code, _, e) = kctl_stdin(&ns, &["apply", "--dry-run=server", "-f", "-"], &stream);
    assert_eq!(code, 0, "{e}");
    apply(&ns, "tuned", &stream);
    kctl(
        &ns,
        &[
            "patch",
            "configmap/tuned",
            "-p",
            r#"{"data":{"volatile":"2"},"metadata":{"annotations":{"example.com/touched":"yes"}}}"#,
        ],
    );
    let (code, out, e) = drift(&ns, &["tuned", "--read-only"]);
    assert_eq!(code, 0, "pack ignore rules not applied:\n{out}{e}");
    kctl(
        &ns,
        &[
            "patch",
            "configmap/tuned",
            "-p",
            r#"{"data":{"stable":"y"}}"#,
        ],
    );
    let (code, r) = json_report(&ns, &["tuned", "--read-only"]);
    assert_eq!(code, 1);
    assert_eq!(
        field(&r, "ConfigMap/tuned", "data.stable")["severity"],
        "Medium"
    );
    // A Medium drift does not fail a check that only cares about High and up.
    assert_eq!(
        drift(&ns, &["tuned", "--read-only", "--fail-on", "high"]).0,
        0
    );
    // Another manager puts the recorded value back and owns it now: information, not drift.
    let (code, o, e) = kctl_stdin(
        &ns,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=operator",
            "-f",
            "-",
        ],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tuned}\ndata: {stable: x}\n",
    );
    assert_eq!(code, 0, "{o}{e}");
    let (code, out, e) = drift(&ns, &["tuned", "--read-only"]);
    assert_eq!(code, 0, "{out}{e}");
    assert!(
        out.contains(
            "info: ConfigMap/tuned: data.stable is now owned by operator (value unchanged)"
        ),
        "{out}"
    );
    // -A: every release of the cluster, this one among them (others may be mid-test).
    let (code, out, err) = drift(&ns, &["-A", "-o", "json", "--read-only"]);
    assert!((0..=2).contains(&code), "{err}");
    let all: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("not JSON: {out}{err}"));
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|r| r["release"] == "tuned"
                && r["namespace"] == ns.as_str()
                && r["drifted"] == serde_json::json!([])),
        "{out}"
    );
}

/// A local HTTP server recording (path, body) of every POST.
struct Hook {
    port: u16,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

fn hook() -> Hook {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap_or(0);
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut len = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            if let Ok(v) = serde_json::from_slice(&body) {
                sink.lock().unwrap().push((path, v));
            }
        }
    });
    Hook { port, got }
}

/// Reads a child's stdout lines on a thread.
fn lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    reader_lines(child.stdout.take().unwrap())
}

/// Reads lines of `out` on a thread.
fn reader_lines(out: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(rx: &std::sync::mpsc::Receiver<String>, want: &str, within: Duration) -> String {
    let end = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(want) => return l,
            Ok(l) => seen.push(l),
            Err(_) => break,
        }
    }
    panic!(
        "no line with '{want}' within {within:?}; saw:\n{}",
        seen.join("\n")
    );
}

fn get(port: u16, path: &str) -> String {
    harness::http_get(port, path)
}

#[tokio::test]
async fn watch_detects_notifies_serves_metrics_and_auto_sync_gives_up_without_permission() {
    let ns = namespace("drift-watch").await;
    apply(&ns, "app", APP);
    // The developer may read and record history, but not patch Deployments.
    let rbac = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: drift-watcher}\nrules:\n- apiGroups: [\"\", apps, autoscaling]\n  resources: [configmaps, secrets, services, deployments, statefulsets, horizontalpodautoscalers]\n  verbs: [get, list, watch]\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [create, update, patch]\n- apiGroups: [\"\"]\n  resources: [events]\n  verbs: [create]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: drift-watcher}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: drift-watcher}\nsubjects: [{kind: User, name: developer, apiGroup: rbac.authorization.k8s.io}]\n";
    let (code, o, e) = kctl_stdin(&ns, &["apply", "-f", "-"], rbac);
    assert_eq!(code, 0, "{o}{e}");
    let hook = hook();
    let metrics = harness::free_port();
    let mut c = plugin("drift");
    c.args([
        "--context",
        "developer",
        "-n",
        &ns,
        "watch",
        "app",
        "--auto-sync",
        "--no-unexpected",
    ])
    .arg("--notify-webhook")
    .arg(format!("http://127.0.0.1:{}/hook", hook.port))
    .arg("--notify-slack")
    .arg(format!(
        "http://127.0.0.1:{}/services/T0/B0/SENTINEL-slack-token",
        hook.port
    ))
    .arg("--metrics-addr")
    .arg(format!("127.0.0.1:{metrics}"))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let rx = lines(&mut child);
    // Wait until the watches are up (the metrics endpoint answers first).
    let start = Instant::now();
    while !get_ok(metrics) && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));

    // A change the developer may correct: ConfigMaps are patchable.
    let t = Instant::now();
    kctl(
        &ns,
        &[
            "patch",
            "configmap/settings",
            "-p",
            r#"{"data":{"mode":"slow"}}"#,
        ],
    );
    let l = wait_line(&rx, "DRIFT ConfigMap/settings", Duration::from_secs(10));
    let detected_in = t.elapsed();
    assert!(
        l.contains("data.mode: fast -> slow (by kubectl-patch)"),
        "{l}"
    );
    wait_line(&rx, "CORRECTED ConfigMap/settings", Duration::from_secs(10));
    assert_eq!(
        kctl(
            &ns,
            &["get", "configmap/settings", "-o", "jsonpath={.data.mode}"]
        ),
        "fast"
    );

    // One it may not: three attempts, then DriftCorrectionFailed, not a fight.
    kctl(&ns, &["scale", "deployment/web", "--replicas=7"]);
    wait_line(&rx, "DRIFT Deployment/web", Duration::from_secs(10));
    wait_line(
        &rx,
        "RETRY Deployment/web correction attempt 1 failed",
        Duration::from_secs(10),
    );
    wait_line(
        &rx,
        "RETRY Deployment/web correction attempt 2 failed",
        Duration::from_secs(10),
    );
    let l = wait_line(&rx, "FAILED Deployment/web", Duration::from_secs(15));
    assert!(
        l.contains("DriftCorrectionFailed: gave up after 3 attempts") && l.contains("forbidden"),
        "{l}"
    );
    let events = kctl(
        &ns,
        &[
            "get",
            "events",
            "--field-selector",
            "reason=DriftCorrectionFailed",
            "-o",
            "jsonpath={.items[*].involvedObject.name}",
        ],
    );
    assert_eq!(events, "web");

    let page = get(metrics, "/metrics");
    let release = format!("release=\"app\",namespace=\"{ns}\"");
    assert!(
        page.contains(&format!(
            "drift_detected_total{{{release},severity=\"Medium\"}} 1"
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "drift_detected_total{{{release},severity=\"High\"}} 1"
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "drift_corrections_total{{{release},result=\"success\"}} 1"
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "drift_corrections_total{{{release},result=\"failure\"}} 3"
        )),
        "{page}"
    );
    assert!(
        page.contains("drift_check_duration_seconds_count"),
        "{page}"
    );
    assert!(get(metrics, "/healthz").ends_with("ok\n"));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("SENTINEL"),
        "a webhook token reached the output: {err}"
    );

    let got = hook.got.lock().unwrap().clone();
    let webhook: Vec<&Value> = got
        .iter()
        .filter(|(p, _)| p == "/hook")
        .map(|(_, v)| v)
        .collect();
    let first = webhook.first().expect("no webhook call");
    assert_eq!(first["release"], "app");
    assert_eq!(first["event"], "detected");
    assert_eq!(first["objects"][0]["object"], "ConfigMap/settings");
    assert_eq!(first["objects"][0]["changes"][0]["path"], "data.mode");
    assert_eq!(
        first["objects"][0]["changes"][0]["manager"],
        "kubectl-patch"
    );
    assert!(webhook.iter().any(|v| v["event"] == "corrected"));
    assert!(
        webhook
            .iter()
            .any(|v| v["event"] == "failed" && v["severity"] == "High")
    );
    let slack: Vec<&Value> = got
        .iter()
        .filter(|(p, _)| p.starts_with("/services/"))
        .map(|(_, v)| v)
        .collect();
    assert!(
        slack
            .iter()
            .any(|v| v["attachments"][0]["color"] == "#e01e5a"
                && v["text"]
                    .as_str()
                    .unwrap()
                    .contains("Drift failed in release app")),
        "{slack:?}"
    );
    assert!(
        slack
            .iter()
            .any(|v| v["attachments"][0]["color"] == "#ecb22e")
    );
    eprintln!("watch detected the change in {detected_in:?}");
}

fn get_ok(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[tokio::test]
async fn watch_reconnects_with_backoff_when_the_api_server_comes_back() {
    let private = harness::PrivateCluster::start("drift-watch");
    let kc = private.kubeconfig();
    let with_kc = |bin: &str| {
        let mut c = Command::new(harness::bin(bin));
        c.env("KUBECONFIG", &kc)
            .env("NO_COLOR", "1")
            .args(["-n", "default"]);
        c
    };
    let mut a = with_kc("waves");
    a.args(["apply", "app", "--wait=false"]);
    let out = run_with_stdin(
        a,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n",
    );
    assert!(out.status.success(), "{:?}", texts(&out));
    let mut w = with_kc("drift");
    w.args(["watch", "app", "--interval", "10m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = w.spawn().unwrap();
    let rx = lines(&mut child);
    std::thread::sleep(Duration::from_secs(2));
    private.stop_apiserver();
    wait_line(&rx, "lost", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    private.start_apiserver();
    // The watch's backoff grows while the server is away, and a restart on
    // a loaded 2-core machine can take a while: a generous bound.
    wait_line(&rx, "resumed", Duration::from_secs(150));
    let mut p = Command::new(harness::kubectl_bin());
    p.env("KUBECONFIG", &kc).args([
        "-n",
        "default",
        "patch",
        "configmap/c",
        "-p",
        r#"{"data":{"k":"changed"}}"#,
    ]);
    assert_eq!(run(p).0, 0);
    wait_line(&rx, "DRIFT ConfigMap/c", Duration::from_secs(15));
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn a_helm4_release_is_checked_by_server_side_dry_run() {
    helm_release_is_checked(harness::helm(), "v4.", "drift-helm4").await;
}

/// Helm 3's release records (still on most clusters) read the same way.
#[tokio::test]
async fn a_helm3_release_is_checked_by_server_side_dry_run() {
    helm_release_is_checked(harness::helm3(), "v3.", "drift-helm3").await;
}

async fn helm_release_is_checked(helm: std::path::PathBuf, version: &str, test: &str) {
    let ns = namespace(test).await;
    let mut v = Command::new(&helm);
    v.args(["version", "--short"]);
    let (_, got, _) = run(v);
    assert!(got.starts_with(version), "{got}");
    let chart = harness::write_tree(&[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: plain\nversion: 0.1.0\n",
        ),
        (
            "templates/all.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: \"1\"}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: plain}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: plain}}\n  template:\n    metadata: {labels: {app: plain}}\n    spec:\n      containers: [{name: app, image: registry.example/plain:1, resources: {limits: {cpu: 500m}}}]\n",
        ),
    ]);
    let home = tempfile::tempdir().unwrap();
    let mut h = Command::new(&helm);
    h.env("KUBECONFIG", cluster().kubeconfig())
        .env("HELM_CACHE_HOME", home.path().join("c"))
        .env("HELM_CONFIG_HOME", home.path().join("f"))
        .env("HELM_DATA_HOME", home.path().join("d"))
        .args(["install", "plain"])
        .arg(chart.path())
        .args(["-n", &ns]);
    let (code, o, e) = run(h);
    assert_eq!(code, 0, "helm install: {o}{e}");
    let (code, out, err) = drift(&ns, &["--helm", "plain"]);
    assert_eq!(
        code, 0,
        "false positive on a fresh Helm release:\n{out}\n{err}"
    );
    kctl(
        &ns,
        &["patch", "configmap/plain", "-p", r#"{"data":{"a":"2"}}"#],
    );
    let (code, r) = json_report(&ns, &["--helm", "plain"]);
    assert_eq!(code, 1);
    assert_eq!(r["method"], "ssa-dry-run");
    assert_eq!(drifted(&r), ["ConfigMap/plain"]);
    let f = field(&r, "ConfigMap/plain", "data.a");
    assert_eq!(
        (
            f["recorded"].as_str(),
            f["live"].as_str(),
            f["manager"].as_str()
        ),
        (Some("1"), Some("2"), Some("kubectl-patch"))
    );
    let (code, _, err) = drift(&ns, &["--helm", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("Helm release nope not found"), "{err}");
}

#[tokio::test]
async fn with_leader_election_one_watcher_acts_and_a_standby_takes_over_when_it_dies() {
    let ns = namespace("drift-leader").await;
    apply(
        &ns,
        "app",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n",
    );
    let start = || {
        let mut c = plugin("drift");
        c.args([
            "-n",
            &ns,
            "watch",
            "app",
            "--interval",
            "10m",
            "--leader-elect",
        ])
        .args(["--leader-elect-duration", "4s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let rx = reader_lines(child.stderr.take().unwrap());
        (child, rx)
    };
    let (mut leader, led) = start();
    wait_line(&led, "leading (Lease", Duration::from_secs(30));
    let (mut standby, waits) = start();
    wait_line(&waits, "waiting for the Lease", Duration::from_secs(30));
    // While the leader lives (and renews), the standby never leads.
    let quiet_until = Instant::now() + Duration::from_secs(8);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        if let Ok(line) = waits.recv_timeout(left) {
            assert!(!line.contains("leading"), "two leaders: {line}");
        }
    }
    // SIGKILL: no release; the standby takes over once the Lease expires.
    leader.kill().unwrap();
    leader.wait().unwrap();
    let killed = Instant::now();
    wait_line(&waits, "leading (Lease", Duration::from_secs(30));
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "took {:?}",
        killed.elapsed()
    );
    standby.kill().unwrap();
    standby.wait().unwrap();
}

/// `watch` without a release follows every release of the namespace (one
/// created later and new revisions too), as `deploy/`'s pack-drift
/// ServiceAccount; two replicas, one Lease: after the leader is killed the
/// standby takes over, and the webhook hears each drift exactly once.
#[tokio::test]
async fn watch_follows_every_release_and_a_takeover_notifies_each_drift_once() {
    let ns = namespace("drift-all").await;
    apply(
        &ns,
        "one",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\ndata: {k: v}\n",
    );
    let hook = hook();
    let pod = harness::InCluster::service_account("pack-drift");
    let lease = format!("drift-{ns}");
    // Their stderr goes to files kept for a failed run's post-mortem.
    let logs = tempfile::tempdir().unwrap().keep();
    eprintln!("watcher logs in {}", logs.display());
    let start = |metrics: u16| {
        let log = logs.join(format!("{metrics}.err"));
        let mut c = pod.command("drift");
        c.args(["-n", &ns, "watch", "--interval", "10m"])
            .arg(format!("--metrics-addr=127.0.0.1:{metrics}"))
            .args(harness::leader_flags(&lease))
            .arg("--notify-webhook")
            .arg(format!("http://127.0.0.1:{}/hook", hook.port))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = harness::Reaped(c.spawn().unwrap());
        let out = lines(&mut child);
        (child, out, log)
    };
    let (mut leader, led_out, led_err) = start(harness::free_port());
    harness::wait_for_log(&led_err, "leading (Lease").await;
    harness::wait_for_log(&led_err, "watching release one").await;
    let standby_port = harness::free_port();
    let (mut standby, standby_out, standby_err) = start(standby_port);
    harness::wait_for_log(&standby_err, "waiting for the Lease").await;
    // A standby answers its probes.
    assert!(get(standby_port, "/readyz").starts_with("HTTP/1.1 200"));

    // A release created after the start, and its next revision, join.
    apply(
        &ns,
        "two",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c2}\ndata: {k: v}\n",
    );
    harness::wait_for_log(&led_err, "watching release two (revision 1)").await;
    apply(
        &ns,
        "two",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c2}\ndata: {k: w}\n",
    );
    harness::wait_for_log(&led_err, "watching release two (revision 2)").await;

    kctl(
        &ns,
        &["patch", "configmap/c1", "-p", r#"{"data":{"k":"edited"}}"#],
    );
    wait_line(
        &led_out,
        &format!("[{ns}/one] ConfigMap/c1"),
        Duration::from_secs(30),
    );
    kctl(
        &ns,
        &["patch", "configmap/c2", "-p", r#"{"data":{"k":"edited"}}"#],
    );
    wait_line(
        &led_out,
        &format!("[{ns}/two] ConfigMap/c2"),
        Duration::from_secs(30),
    );

    // Both notified (the DRIFT line comes just before the notification).
    let got = hook.got.clone();
    harness::wait_until("both drifts notified", Duration::from_secs(30), || {
        let n = got.lock().unwrap().len();
        async move { n >= 2 }
    })
    .await;
    // SIGKILL the leader: the standby leads, sees both drifts again, and
    // does not notify them a second time.
    leader.kill().unwrap();
    leader.wait().unwrap();
    harness::wait_for_log(&standby_err, "leading (Lease").await;
    // The releases are checked concurrently: their lines come in any order.
    let mut want = vec![
        format!("[{ns}/one] ConfigMap/c1"),
        format!("[{ns}/two] ConfigMap/c2"),
    ];
    while !want.is_empty() {
        let line = wait_line(&standby_out, "DRIFT", Duration::from_secs(30));
        want.retain(|w| !line.contains(w.as_str()));
    }
    // A new drift after the takeover is notified by the new leader.
    kctl(&ns, &["delete", "configmap/c2"]);
    let deleted = |got: &[(String, Value)]| {
        got.iter()
            .filter(|(_, v)| v["release"] == "two" && v["objects"][0]["state"] == "deleted")
            .count()
    };
    harness::wait_until(
        "the new drift's notification",
        Duration::from_secs(30),
        || {
            let n = deleted(&got.lock().unwrap());
            async move { n >= 1 }
        },
    )
    .await;
    standby.kill().unwrap();
    standby.wait().unwrap();
    let got = hook.got.lock().unwrap();
    let detected = |release: &str, path: &str| {
        got.iter()
            .filter(|(_, v)| v["release"] == release && v["event"] == "detected")
            .filter(|(_, v)| {
                v["objects"][0]["changes"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["path"] == path))
            })
            .count()
    };
    assert_eq!(detected("one", "data.k"), 1, "{got:?}");
    assert_eq!(detected("two", "data.k"), 1, "{got:?}");
    assert_eq!(deleted(&got), 1, "{got:?}");
}
