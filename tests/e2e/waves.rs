//! `kubectl pack-waves` on the real API server: wave gates (a later wave
//! does not exist before an earlier one is ready), timeouts naming the
//! object, CRD + custom resource in one stream, dependency cycles refused
//! before any change, conflicts, pruning with keep, rollback, the lease,
//! and chunked release records.

use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::{cluster, namespace, patch_status, plugin, run, run_with_stdin, texts};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::json;

fn waves(ns: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    harness::run_plugin("waves", &all, stdin)
}

async fn cm(ns: &str, name: &str) -> Option<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(cluster().client().await, ns);
    api.get_opt(name).await.unwrap()
}

fn deployment(name: &str, wave: i64) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations: {{sherpack.io/wave: \"{wave}\"}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: app, image: registry.example/app:1}}]\n"
    )
}

fn configmap(name: &str, wave: i64, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations: {{sherpack.io/wave: \"{wave}\"{extra}}}\ndata: {{k: v}}\n"
    )
}

async fn make_deployment_ready(ns: &str, name: &str) {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(cluster().client().await, ns);
    let generation = api
        .get(name)
        .await
        .unwrap()
        .metadata
        .generation
        .unwrap_or(1);
    patch_status(
        "apps/v1",
        "Deployment",
        Some(ns),
        name,
        json!({"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
               "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}),
    )
    .await;
}

#[tokio::test]
async fn a_later_wave_waits_until_the_earlier_one_is_ready() {
    let ns = namespace("waves-gate").await;
    let stream = format!(
        "{}---\n{}",
        deployment("db", 0),
        configmap("after-db", 1, "")
    );
    let mut c = plugin("waves");
    c.args(["-n", &ns, "apply", "app", "--timeout", "60s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stream.as_bytes()).unwrap();
    // The Deployment exists, is not ready: wave 1 must not have been applied.
    let start = Instant::now();
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(cluster().client().await, &ns);
    while api.get_opt("db").await.unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "deployment never applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        cm(&ns, "after-db").await.is_none(),
        "wave 1 applied before wave 0 was ready"
    );
    // The deployment controller rewrites the status (no pods ever run): keep
    // reporting it ready until the apply has seen it.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, ns2) = (done.clone(), ns.clone());
    let patcher = tokio::spawn(async move {
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            make_deployment_ready(&ns2, "db").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    patcher.await.unwrap();
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(cm(&ns, "after-db").await.is_some());
    let order: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("applied ") || l.contains("ready Deployment"))
        .collect();
    let pos = |s: &str| order.iter().position(|l| l.contains(s)).unwrap();
    assert!(
        pos("applied Deployment/db") < pos("ready Deployment/db")
            && pos("ready Deployment/db") < pos("applied ConfigMap/after-db"),
        "{err}"
    );
    let cm_obj = cm(&ns, "after-db").await.unwrap();
    let labels = cm_obj.metadata.labels.unwrap();
    assert_eq!(labels["sherpack.io/release"], "app");
    assert!(labels["applyset.kubernetes.io/part-of"].starts_with("applyset-"));
}

#[tokio::test]
async fn a_gate_that_never_becomes_ready_times_out_naming_object_and_reason() {
    let ns = namespace("waves-timeout").await;
    let stream = format!(
        "{}---\n{}",
        deployment("stuck", 0),
        configmap("never", 1, "")
    );
    let (code, _, err) = waves(&ns, &["apply", "app", "--timeout", "3s"], &stream);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Deployment/stuck")
            && err.contains("timed out waiting for readiness")
            && err.contains("replicas"),
        "{err}"
    );
    assert!(cm(&ns, "never").await.is_none());
    let (_, out, _) = waves(&ns, &["history", "app"], "");
    assert!(
        out.contains("failed") && out.contains("Deployment/stuck"),
        "{out}"
    );
}

#[tokio::test]
async fn crd_and_its_custom_resources_in_one_stream() {
    let ns = namespace("waves-crd").await;
    let group = format!("{ns}.example.com");
    let stream = format!(
        "apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{size: 3}}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: widgets.{group}}}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget}}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          properties:\n            spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
    );
    let (code, _, err) = waves(&ns, &["apply", "widgets"], &stream);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = {
        let mut c = harness::kubectl();
        c.args([
            "get",
            &format!("widgets.{group}"),
            "w1",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.size}",
        ]);
        run(c)
    };
    assert_eq!((code, out.as_str()), (0, "3"));
}

#[tokio::test]
async fn dependency_cycles_and_bad_waves_are_refused_before_any_change() {
    let ns = namespace("waves-cycle").await;
    let stream = format!(
        "{}---\n{}",
        configmap("a", 0, ", sherpack.io/depends-on: ConfigMap/b"),
        configmap("b", 0, ", sherpack.io/depends-on: a")
    );
    let (code, _, err) = waves(&ns, &["apply", "app"], &stream);
    assert_eq!(code, 1);
    assert!(
        err.contains("dependency cycle")
            && err.contains("ConfigMap/a")
            && err.contains("ConfigMap/b"),
        "{err}"
    );
    let (code, _, err) = waves(
        &ns,
        &["apply", "app"],
        &configmap("x", 0, ", sherpack.io/depends-on: Secret/missing"),
    );
    assert!(
        code == 1 && err.contains("depends on Secret/missing, which is not in the stream"),
        "{err}"
    );
    let (code, _, err) = waves(
        &ns,
        &["apply", "app"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: soon-cm, annotations: {sherpack.io/wave: soon}}\n",
    );
    assert!(
        code == 1 && err.contains("\"soon\" is not an integer wave"),
        "{err}"
    );
    assert!(
        cm(&ns, "a").await.is_none()
            && cm(&ns, "x").await.is_none()
            && cm(&ns, "soon-cm").await.is_none()
    );
    let api: Api<Secret> = Api::namespaced(cluster().client().await, &ns);
    assert!(
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .all(|s| !s
                .metadata
                .name
                .as_deref()
                .unwrap_or_default()
                .starts_with("sh.sherpack"))
    );

    // plan shows steps and dependencies without a cluster.
    let mut c = harness::offline_plugin("waves");
    c.arg("plan");
    let out = run_with_stdin(
        c,
        &format!(
            "{}---\n{}",
            configmap("first", 0, ""),
            configmap("second", 0, ", sherpack.io/depends-on: first")
        ),
    );
    let (o, e) = texts(&out);
    assert!(out.status.success(), "{e}");
    assert!(
        o.contains("[1] ConfigMap/second") && o.contains("(after ConfigMap/first)"),
        "{o}"
    );
}

#[tokio::test]
async fn conflicts_name_the_other_manager_unless_forced() {
    let ns = namespace("waves-conflict").await;
    let mut c = harness::kubectl();
    c.args([
        "apply",
        "--server-side",
        "--field-manager",
        "someone-else",
        "-n",
        &ns,
        "-f",
        "-",
    ]);
    let out = run_with_stdin(
        c,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {color: red}\n",
    );
    assert!(out.status.success());
    let stream = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {color: blue}\n";
    // Not the release's: refused before any write.
    let (code, _, err) = waves(&ns, &["apply", "app"], stream);
    assert_eq!(code, 1);
    assert!(
        err.contains("exists and belongs to no release") && err.contains("--take-ownership"),
        "{err}"
    );
    // Taken over, its fields still belong to their manager.
    let (code, _, err) = waves(&ns, &["apply", "app", "--take-ownership"], stream);
    assert_eq!(code, 1);
    assert!(
        err.contains("someone-else") && err.contains("--force-conflicts"),
        "{err}"
    );
    let (code, _, err) = waves(
        &ns,
        &["apply", "app", "--take-ownership", "--force-conflicts"],
        stream,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        cm(&ns, "shared").await.unwrap().data.unwrap()["color"],
        "blue"
    );
}

#[tokio::test]
async fn prune_keep_rollback_and_uninstall() {
    let ns = namespace("waves-prune").await;
    let v1 = format!(
        "{}---\n{}---\n{}",
        configmap("stays", 0, ""),
        configmap("goes", 1, ""),
        configmap("kept", 1, ", sherpack.io/resource-policy: keep")
    );
    let (code, _, err) = waves(&ns, &["apply", "app"], &v1);
    assert_eq!(code, 0, "{err}");
    let v2 = configmap("stays", 0, "");
    let (code, _, err) = waves(&ns, &["apply", "app"], &v2);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("deleted ConfigMap/goes") && err.contains("kept ConfigMap/kept"),
        "{err}"
    );
    assert!(cm(&ns, "goes").await.is_none() && cm(&ns, "kept").await.is_some());

    let (_, out, _) = waves(&ns, &["history", "app"], "");
    assert!(
        out.contains("superseded") && out.contains("deployed"),
        "{out}"
    );

    let (code, out, _) = waves(&ns, &["rollback", "app", "--dry-run"], "");
    assert!(
        code == 0 && out.contains("would re-apply revision 1"),
        "{out}"
    );
    let (code, _, err) = waves(&ns, &["rollback", "app"], "");
    assert_eq!(code, 0, "{err}");
    assert!(cm(&ns, "goes").await.is_some(), "rollback re-created it");
    let (_, out, _) = waves(&ns, &["history", "app", "-o", "json"], "");
    let h: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 3);
    assert_eq!(h[2]["description"], "rollback to 1");

    let (code, _, err) = waves(&ns, &["uninstall", "app"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        cm(&ns, "stays").await.is_none()
            && cm(&ns, "goes").await.is_none()
            && cm(&ns, "kept").await.is_some()
    );
    let (code, _, err) = waves(&ns, &["history", "app"], "");
    assert!(code == 1 && err.contains("not found"), "{err}");
}

#[tokio::test]
async fn a_second_apply_is_refused_while_the_lease_is_held() {
    let ns = namespace("waves-lock").await;
    let now = jiff::Timestamp::now();
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "sh.sherpack.lock.app", "namespace": ns},
        "spec": {"holderIdentity": "alice@laptop pid 42", "leaseDurationSeconds": 30, "acquireTime": now.to_string(), "renewTime": now.to_string()}
    });
    let api: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(cluster().client().await, &ns);
    api.create(&Default::default(), &serde_json::from_value(lease).unwrap())
        .await
        .unwrap();
    let (code, _, err) = waves(&ns, &["apply", "app"], &configmap("c", 0, ""));
    assert_eq!(code, 1);
    assert!(err.contains("locked by alice@laptop pid 42 since"), "{err}");
    assert!(cm(&ns, "c").await.is_none());
    // With --wait-for-lock it proceeds once the holder lets go.
    let api2 = api.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        api2.delete("sh.sherpack.lock.app", &Default::default())
            .await
            .unwrap();
    });
    let ns2 = ns.clone();
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        waves(
            &ns2,
            &["apply", "app", "--wait-for-lock", "--timeout", "30s"],
            &configmap("c", 0, ""),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        api.get_opt("sh.sherpack.lock.app").await.unwrap().is_none(),
        "lock released"
    );
}

#[tokio::test]
async fn a_20_mb_release_is_stored_in_chunks_and_a_half_written_one_is_ignored() {
    let ns = namespace("waves-chunks").await;
    // 25 ConfigMaps of 800 kB of incompressible-ish text: a 20 MB manifest.
    let mut stream = String::new();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..25 {
        let mut data = String::with_capacity(800_000);
        while data.len() < 800_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            data.push_str(&format!("{seed:016x}"));
        }
        stream.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big-{i}}}\ndata:\n  blob: {data}\n"));
    }
    assert!(stream.len() > 20_000_000);
    // A leftover chunk of a revision whose write died before its index.
    let secrets: Api<Secret> = Api::namespaced(cluster().client().await, &ns);
    let orphan = json!({"metadata": {"name": "sh.sherpack.release.v1.big.v7.c0", "labels": {
        "sherpack.io/release-name": "big", "sherpack.io/release-version": "7", "sherpack.io/record": "chunk", "app.kubernetes.io/managed-by": "kubectl-pack"}},
        "type": "sherpack.io/release.chunk.v1", "data": {"chunk": "AAAA"}});
    secrets
        .create(
            &Default::default(),
            &serde_json::from_value(orphan).unwrap(),
        )
        .await
        .unwrap();
    let (_, out, _) = waves(&ns, &["list"], "");
    assert!(
        !out.contains("big"),
        "a revision without index is invisible: {out}"
    );

    let (code, _, err) = waves(&ns, &["apply", "big", "--concurrency", "8"], &stream);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("removed 1 half-written revision"), "{err}");
    assert!(
        secrets
            .get_opt("sh.sherpack.release.v1.big.v7.c0")
            .await
            .unwrap()
            .is_none()
    );
    let list = secrets
        .list(
            &kube::api::ListParams::default()
                .labels("sherpack.io/release-name=big,sherpack.io/record=chunk"),
        )
        .await
        .unwrap();
    assert!(list.items.len() > 1, "stored in chunks");
    for s in &list.items {
        let size: usize = s.data.as_ref().unwrap().values().map(|v| v.0.len()).sum();
        assert!(size <= 700_000, "chunk of {size} bytes");
        for (k, v) in s.metadata.labels.as_ref().unwrap() {
            assert!(v.len() <= 63 && k.len() <= 63, "label {k}={v}");
        }
    }
    let (code, out, err) = waves(&ns, &["history", "big", "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    let h: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (h[0]["objects"].as_u64(), h[0]["status"].as_str()),
        (Some(25), Some("deployed"))
    );
    // A tampered chunk is detected by the index checksum.
    let mut first = list.items[0].clone();
    first
        .data
        .as_mut()
        .unwrap()
        .insert("chunk".into(), k8s_openapi::ByteString(b"AAAA".to_vec()));
    first.metadata.managed_fields = None;
    secrets
        .replace(
            first.metadata.name.as_deref().unwrap(),
            &Default::default(),
            &first,
        )
        .await
        .unwrap();
    let (code, _, err) = waves(&ns, &["history", "big"], "");
    assert!(
        code == 1 && err.contains("corrupt") && err.contains("checksum"),
        "{err}"
    );
}

#[test]
fn plan_needs_no_cluster_and_reports_readiness_rules() {
    let mut c = harness::offline_plugin("waves");
    c.args(["plan", "-o", "json"]);
    let stream = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, annotations: {argocd.argoproj.io/sync-wave: \"-1\"}}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: x}]}}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: late, annotations: {sherpack.io/wave: \"5\"}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: late}\n";
    let out = run_with_stdin(c, stream);
    let (o, e) = texts(&out);
    assert!(out.status.success(), "{e}");
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v["waves"][0]["wave"], -1);
    assert!(
        v["waves"][0]["objects"][0]["readiness"]
            .as_str()
            .unwrap()
            .contains("Complete")
    );
    // The Namespace moved down to the wave of the object inside it.
    assert_eq!(v["waves"][1]["wave"], 0);
    assert_eq!(v["waves"][1]["objects"][0]["object"], "Namespace/late");
}

#[tokio::test]
async fn diff_shows_server_side_changes_masks_secrets_and_lists_prunes() {
    let ns = namespace("waves-diff").await;
    let v1 = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{password: hunter2-old}}\n---\n{}",
        configmap("c", 0, ""),
        configmap("old", 0, "")
    );
    let (code, _, err) = waves(&ns, &["apply", "app"], &v1);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = waves(&ns, &["diff", "app"], &v1);
    assert_eq!(code, 0, "no changes: {out}{err}");
    let v2 = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{password: hunter2-new}}\n",
        configmap("c", 0, "").replace("k: v", "k: changed")
    );
    let (code, out, err) = waves(&ns, &["diff", "app"], &v2);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("update ConfigMap/c")
            && out.contains("-  k: v")
            && out.contains("+  k: changed"),
        "{out}"
    );
    assert!(
        out.contains("update Secret/s") && out.contains("secret value password"),
        "{out}"
    );
    assert!(
        !out.contains("hunter2") && !out.contains("aHVudGVyMi"),
        "{out}"
    );
    assert!(out.contains("delete ConfigMap/old"), "{out}");
    // Nothing changed in the cluster.
    assert_eq!(cm(&ns, "c").await.unwrap().data.unwrap()["k"], "v");
    let (code, _, err) = waves(
        &ns,
        &["diff", "app"],
        "apiVersion: v1\nkind: Nope\nmetadata: {name: x}\n",
    );
    assert_eq!(code, 2, "errors exit 2 like kubectl diff: {err}");
}

#[tokio::test]
async fn fields_from_client_side_apply_are_taken_over_and_pruned() {
    let ns = namespace("waves-csa").await;
    let mut c = harness::kubectl();
    c.args(["apply", "-n", &ns, "-f", "-"]);
    let out = run_with_stdin(
        c,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: legacy}\ndata: {a: \"1\", b: \"2\"}\n",
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    let (code, _, err) = waves(
        &ns,
        &["apply", "app", "--take-ownership"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: legacy}\ndata: {a: \"1\"}\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("taking over ConfigMap/legacy")
            && err.contains("took over client-side-apply fields of ConfigMap/legacy"),
        "{err}"
    );
    let live = cm(&ns, "legacy").await.unwrap();
    assert_eq!(
        live.data.unwrap().keys().cloned().collect::<Vec<_>>(),
        vec!["a".to_string()],
        "b was pruned"
    );
    assert!(
        live.metadata
            .managed_fields
            .unwrap()
            .iter()
            .all(|m| m.manager.as_deref() != Some("kubectl-client-side-apply"))
    );
}

#[tokio::test]
async fn hooks_run_before_and_after_in_weight_order_and_a_failing_hook_stops_the_upgrade() {
    let ns = namespace("waves-hooks").await;
    let hook = |name: &str, phase: &str, weight: i64, policy: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations: {{helm.sh/hook: {phase}, sherpack.io/hook-weight: \"{weight}\", sherpack.io/hook-delete-policy: {policy}}}\ndata: {{k: v}}\n"
        )
    };
    let stream = [
        configmap("main", 0, ""),
        hook("pre-b", "pre-install", 5, "before-hook-creation"),
        hook("pre-a", "pre-install", -1, "hook-succeeded"),
        hook("post", "post-install", 0, "before-hook-creation"),
    ]
    .join("---\n");
    let (code, _, err) = waves(&ns, &["apply", "app"], &stream);
    assert_eq!(code, 0, "{err}");
    let pos = |s: &str| err.find(s).unwrap_or_else(|| panic!("{s} missing: {err}"));
    assert!(
        pos("hook pre-install: ConfigMap/pre-a") < pos("hook pre-install: ConfigMap/pre-b"),
        "{err}"
    );
    assert!(
        pos("hook pre-install: ConfigMap/pre-b") < pos("applied ConfigMap/main"),
        "{err}"
    );
    assert!(
        pos("applied ConfigMap/main") < pos("hook post-install: ConfigMap/post"),
        "{err}"
    );
    assert!(
        cm(&ns, "pre-a").await.is_none(),
        "hook-succeeded deletes it"
    );
    assert!(cm(&ns, "pre-b").await.is_some() && cm(&ns, "post").await.is_some());

    // A pre-upgrade Job that fails stops the upgrade before any release object changes.
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations: {sherpack.io/hook: pre-upgrade}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: registry.example/migrate:1}]\n";
    let upgrade = format!(
        "{}---\n{job}",
        configmap("main", 0, "").replace("k: v", "k: v2")
    );
    let ns2 = ns.clone();
    let failer = tokio::spawn(async move {
        let api: Api<k8s_openapi::api::batch::v1::Job> =
            Api::namespaced(cluster().client().await, &ns2);
        for _ in 0..200 {
            if api.get_opt("migrate").await.unwrap().is_some() {
                harness::finish_job(&ns2, "migrate", harness::JobEnd::Failed).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let ns3 = ns.clone();
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        waves(&ns3, &["apply", "app", "--timeout", "60s"], &upgrade)
    })
    .await
    .unwrap();
    failer.await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("pre-upgrade hook Job/migrate failed") && err.contains("BackoffLimitExceeded"),
        "{err}"
    );
    assert_eq!(
        cm(&ns, "main").await.unwrap().data.unwrap()["k"],
        "v",
        "release objects untouched"
    );
}

#[tokio::test]
async fn rollback_on_crashloop_fails_at_once_and_restores_the_previous_revision() {
    let ns = namespace("waves-rollback-on").await;
    let (code, _, err) = waves(
        &ns,
        &["apply", "app", "--wait=false"],
        &format!("{}---\n{}", deployment("web", 0), configmap("conf", 0, "")),
    );
    assert_eq!(code, 0, "{err}");
    // Revision 2 changes the image; a Pod of the Deployment crash-loops.
    let v2 = format!(
        "{}---\n{}",
        deployment("web", 0).replace("app:1", "app:2"),
        configmap("conf", 0, "").replace("k: v", "k: v2")
    );
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: web-crash, labels: {app: web}}\nspec:\n  containers: [{name: app, image: registry.example/app:2}]\n";
    harness::apply_yaml(&ns, pod).await;
    patch_status("v1", "Pod", Some(&ns), "web-crash", json!({"phase": "Running", "containerStatuses": [{"name": "app", "image": "registry.example/app:2", "imageID": "", "ready": false, "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})).await;
    // Once the rollback has put image app:1 back, report the Deployment ready (no kubelet here).
    let ns2 = ns.clone();
    let patcher = tokio::spawn(async move {
        let api: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(cluster().client().await, &ns2);
        for _ in 0..600 {
            let d = api.get("web").await.unwrap();
            let image = d
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .map(|s| s.containers[0].image.clone().unwrap_or_default());
            let revision_2_seen = d.metadata.generation.unwrap_or(0) >= 2;
            if revision_2_seen && image.as_deref() == Some("registry.example/app:1") {
                make_deployment_ready(&ns2, "web").await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let start = Instant::now();
    let ns3 = ns.clone();
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        waves(
            &ns3,
            &[
                "apply",
                "app",
                "--rollback-on",
                "CrashLoopBackOff,ImagePullBackOff",
                "--timeout",
                "120s",
            ],
            &v2,
        )
    })
    .await
    .unwrap();
    patcher.abort();
    assert_eq!(code, 1, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "failed at once, not at the timeout"
    );
    assert!(
        err.contains("CrashLoopBackOff (--rollback-on)")
            && err.contains("rolling back to revision 1"),
        "{err}"
    );
    let (_, out, _) = waves(&ns, &["history", "app", "-o", "json"], "");
    let h: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(h[1]["status"], "failed");
    assert_eq!(h[2]["description"], "rollback to 1");
    assert_eq!(
        cm(&ns, "conf").await.unwrap().data.unwrap()["k"],
        "v",
        "previous revision restored"
    );
}

#[tokio::test]
async fn partial_rollback_restores_only_the_named_objects_and_other_storages_work() {
    let ns = namespace("waves-partial").await;
    let v1 = format!(
        "{}---\n{}",
        configmap("one", 0, ""),
        configmap("two", 0, "")
    );
    let v2 = v1.replace("k: v", "k: new");
    for (stream, storage) in [(&v1, "configmap"), (&v2, "configmap")] {
        let (code, _, err) = waves(&ns, &["apply", "app", "--storage", storage], stream);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = waves(
        &ns,
        &[
            "rollback",
            "app",
            "1",
            "--storage",
            "configmap",
            "--only",
            "configmaps/o*",
            "--dry-run",
            "--diff",
        ],
        "",
    );
    assert_eq!(code, 0, "a dry run that shows changes succeeds: {err}");
    assert!(
        out.contains("update ConfigMap/one") && !out.contains("ConfigMap/two"),
        "{out}"
    );
    let (code, _, err) = waves(
        &ns,
        &[
            "rollback",
            "app",
            "1",
            "--storage",
            "configmap",
            "--except",
            "cm/tw?",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(cm(&ns, "one").await.unwrap().data.unwrap()["k"], "v");
    assert_eq!(cm(&ns, "two").await.unwrap().data.unwrap()["k"], "new");
    let (code, _, err) = waves(
        &ns,
        &[
            "rollback",
            "app",
            "1",
            "--storage",
            "configmap",
            "--only",
            "ConfigMap/nope",
        ],
        "",
    );
    assert!(
        code == 1 && err.contains("--only ConfigMap/nope: no object of revision"),
        "{err}"
    );
    let (code, _, err) = waves(
        &ns,
        &[
            "rollback",
            "app",
            "1",
            "--storage",
            "configmap",
            "--only",
            "confgmap/one",
        ],
        "",
    );
    assert!(
        code != 0 && err.contains("no kind, plural or short name 'confgmap'"),
        "{err}"
    );
    // The records are ConfigMaps; file storage keeps them on disk.
    let api: Api<ConfigMap> = Api::namespaced(cluster().client().await, &ns);
    assert!(
        api.get_opt("sh.sherpack.release.v1.app.v3")
            .await
            .unwrap()
            .is_some()
    );
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("file:{}", dir.path().display());
    let (code, _, err) = waves(
        &ns,
        &["apply", "offline", "--storage", &storage],
        &configmap("three", 0, ""),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = waves(&ns, &["history", "offline", "--storage", &storage], "");
    assert!(code == 0 && out.contains("deployed"), "{out}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn migrate_moves_history_between_storages_and_compressions() {
    let ns = namespace("waves-migrate").await;
    for v in ["v", "w"] {
        let (code, _, err) = waves(
            &ns,
            &["apply", "app"],
            &configmap("m", 0, "").replace("k: v", &format!("k: {v}")),
        );
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = waves(
        &ns,
        &[
            "migrate",
            "app",
            "--storage",
            "configmap",
            "--compression",
            "gzip",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let secrets: Api<Secret> = Api::namespaced(cluster().client().await, &ns);
    assert!(
        secrets
            .get_opt("sh.sherpack.release.v1.app.v1")
            .await
            .unwrap()
            .is_none(),
        "old records deleted"
    );
    let (code, out, err) = waves(
        &ns,
        &["history", "app", "--storage", "configmap", "-o", "json"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let h: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (h[0]["status"].as_str(), h[1]["status"].as_str()),
        (Some("superseded"), Some("deployed"))
    );
    let cms: Api<ConfigMap> = Api::namespaced(cluster().client().await, &ns);
    let rec = cms.get("sh.sherpack.release.v1.app.v2").await.unwrap();
    let raw = rec.binary_data.unwrap()["release"].0.clone();
    use base64::Engine;
    let packed = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .unwrap();
    assert_eq!(&packed[..2], &[0x1f, 0x8b], "gzip");
}

#[tokio::test]
async fn an_apply_interrupted_by_the_api_server_going_away_converges_on_rerun() {
    let private = harness::PrivateCluster::start("waves-kill");
    let kc = private.kubeconfig();
    let stream = format!("{}---\n{}", deployment("db", 0), configmap("after", 1, ""));
    let run_apply = |extra: &[&str]| {
        let mut c = std::process::Command::new(harness::bin("waves"));
        c.env("KUBECONFIG", &kc)
            .env("NO_COLOR", "1")
            .args(["apply", "app", "-n", "default"])
            .args(extra);
        c
    };
    // First run: waits on the Deployment gate while the API server goes away for good.
    let mut c = run_apply(&["--timeout", "20s"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stream.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    private.stop_apiserver();
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "the first apply cannot finish");
    private.start_apiserver();

    // Second run (waits for the first run's lease to expire), with the Deployment reported ready.
    let client = {
        shared::cli::install_crypto_provider();
        let args = shared::kubeconfig::KubeArgs {
            kubeconfig: Some(kc.clone()),
            ..Default::default()
        };
        args.connect_with(&shared::kubeconfig::KubeconfigSources::default())
            .await
            .unwrap()
            .client
    };
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), "default");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let patcher = tokio::spawn(async move {
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(d) = deployments.get("db").await {
                let g = d.metadata.generation.unwrap_or(1);
                let status = json!({"status": {"observedGeneration": g, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1, "conditions": [{"type": "Available", "status": "True", "reason": "Test"}]}});
                let _ = deployments
                    .patch_status(
                        "db",
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(status),
                    )
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut c = run_apply(&["--wait-for-lock", "--timeout", "90s"]);
    let out = tokio::task::spawn_blocking(move || {
        run_with_stdin(
            {
                c.stdin(Stdio::piped());
                c
            },
            &stream,
        )
    })
    .await
    .unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    patcher.await.unwrap();
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    assert!(cms.get_opt("after").await.unwrap().is_some());
    let mut c = std::process::Command::new(harness::bin("waves"));
    c.env("KUBECONFIG", &kc)
        .args(["history", "app", "-n", "default", "-o", "json"]);
    let (_, out, _) = run(c);
    let h: serde_json::Value = serde_json::from_str(&out).unwrap();
    let statuses: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["failed", "deployed"], "{out}");
}

#[tokio::test]
async fn helm_spellings_history_max_rollback_on_failure_atomic_and_wait_for_jobs() {
    let ns = namespace("waves-helm-flags").await;
    let ok = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  v: \"1\"\n";
    for _ in 0..3 {
        let (code, _, err) = waves(
            &ns,
            &["apply", "app", "--history-max", "2", "--wait-for-jobs"],
            ok,
        );
        assert_eq!(code, 0, "{err}");
    }
    let (_, history, _) = waves(&ns, &["history", "app"], "");
    assert_eq!(
        history.lines().count(),
        1 + 2,
        "--history-max 2 keeps two: {history}"
    );
    // A PVC is never bound here: the revision fails and is rolled back.
    let bad = format!(
        "{ok}---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: never-bound\n  annotations: {{sherpack.io/timeout: 1s}}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n"
    );
    for flag in ["--rollback-on-failure", "--atomic"] {
        let (code, _, err) = waves(&ns, &["apply", "app", flag], &bad);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("rolling back to revision"), "{flag}: {err}");
    }
    let (code, _, err) = waves(
        &ns,
        &["apply", "app", "--atomic", "--on-failure", "stop"],
        ok,
    );
    assert_eq!(code, 2, "one or the other: {err}");
}

/// Adds (or with `None` removes) a finalizer that nothing will clear.
async fn hold(ns: &str, name: &str, finalizer: Option<&str>) {
    let api: Api<ConfigMap> = Api::namespaced(cluster().client().await, ns);
    let patch = json!({"metadata": {"finalizers": finalizer.map(|f| vec![f])}});
    api.patch(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn dry_runs_change_nothing_and_uninstall_waits_until_objects_are_gone() {
    let ns = namespace("waves-dry-run").await;
    let v1 = format!(
        "{}---\n{}",
        configmap("one", 0, ""),
        configmap("two", 0, "")
    );
    let (code, _, err) = waves(&ns, &["apply", "app"], &v1);
    assert_eq!(code, 0, "{err}");
    let v2 = format!(
        "{}---\n{}",
        configmap("one", 0, "").replace("k: v", "k: changed"),
        configmap("three", 1, "")
    );

    // client: from the record, nothing sent; server: the server's checks and diff.
    for mode in ["--dry-run", "--dry-run=client", "--dry-run=server"] {
        let (code, out, err) = waves(&ns, &["apply", "app", mode], &v2);
        assert_eq!(code, 0, "{mode}: {err}");
        assert!(
            out.contains("update ConfigMap/one") && out.contains("+  k: changed"),
            "{mode}: {out}"
        );
        assert!(
            out.contains("ConfigMap/three") && out.contains("ConfigMap/two"),
            "{mode}: {out}"
        );
        assert!(err.contains("nothing was"), "{mode}: {err}");
    }
    assert!(cm(&ns, "three").await.is_none());
    assert_eq!(cm(&ns, "one").await.unwrap().data.unwrap()["k"], "v");
    let (_, out, _) = waves(&ns, &["history", "app", "-o", "json"], "");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Only the server knows this Service is invalid: refused, one line.
    let bad = format!(
        "{v2}---\napiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec: {{ports: [{{port: 70000}}]}}\n"
    );
    let (code, _, err) = waves(&ns, &["apply", "app", "--dry-run=server"], &bad);
    assert!(
        code == 1 && err.contains("Service/web") && err.contains("70000"),
        "{err}"
    );
    let (code, _, err) = waves(&ns, &["apply", "app", "--dry-run=sometimes"], &v2);
    assert!(code == 2 && err.contains("possible values"), "{err}");

    // uninstall --dry-run lists, deletes nothing.
    for mode in ["--dry-run", "--dry-run=server"] {
        let (code, out, err) = waves(&ns, &["uninstall", "app", mode], "");
        assert_eq!(code, 0, "{mode}: {err}");
        assert!(
            out.contains("would delete ConfigMap/one")
                && out.contains("would delete the 1 revision"),
            "{out}"
        );
    }
    assert!(cm(&ns, "one").await.is_some());

    // --wait (the default) waits for deleted objects to be gone: a finalizer
    // nobody clears fails it at --timeout, naming the object.
    hold(&ns, "one", Some("example.com/hold")).await;
    let (code, _, err) = waves(&ns, &["uninstall", "app", "--timeout", "3s"], "");
    assert!(
        code == 1
            && err.contains("still there after --timeout 3s")
            && err.contains("ConfigMap/one"),
        "{err}"
    );
    let (_, out, _) = waves(&ns, &["status", "app"], "");
    assert!(
        out.contains("failed"),
        "the revision records the failed uninstall: {out}"
    );
    hold(&ns, "one", None).await;
    let (code, _, err) = waves(&ns, &["uninstall", "app"], "");
    assert_eq!(code, 0, "{err}");
    // --wait=false returns once the deletes are accepted.
    let (code, _, err) = waves(&ns, &["apply", "other"], &configmap("four", 0, ""));
    assert_eq!(code, 0, "{err}");
    hold(&ns, "four", Some("example.com/hold")).await;
    let started = Instant::now();
    let (code, _, err) = waves(
        &ns,
        &["uninstall", "other", "--wait=false", "--timeout", "30s"],
        "",
    );
    assert!(
        code == 0 && started.elapsed() < Duration::from_secs(20),
        "{err}"
    );
    assert!(
        cm(&ns, "four")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    hold(&ns, "four", None).await;
}
