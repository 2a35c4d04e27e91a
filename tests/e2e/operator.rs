//! `kubectl pack-waves operator`: PackReleases kept deployed from a real
//! OCI registry (Debian's docker-registry) on the real API server — new
//! versions within the constraint, values from ConfigMaps, suspend and
//! resume, rollback of a broken version, drift corrected with autoSync,
//! backoff then `Stalled` when the registry is gone, Events and metrics.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use harness::registry::Registry;
use harness::{plugin, run_with_stdin, texts, wait_until};
use serde_json::Value;

/// A pack `name` at `version`: a ConfigMap `NAME-cm` with the version and a greeting
/// value, plus `extra` templates.
fn pack(root: &Path, name: &str, version: &str, extra: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(format!("{name}-{version}-src"));
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Pack.yaml"),
        format!("apiVersion: sherpack/v1\nkind: application\nmetadata: {{name: {name}, version: {version}}}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), "greeting: hello\n").unwrap();
    std::fs::write(
        dir.join("templates/cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-cm\ndata:\n  version: \"{version}\"\n  greeting: \"{{{{ values.greeting }}}}\"\n"),
    )
    .unwrap();
    for (name, text) in extra {
        std::fs::write(dir.join("templates").join(name), text).unwrap();
    }
    dir
}

/// Packages and pushes pack `version` to `repo`.
fn publish(cache: &Path, root: &Path, repo: &str, version: &str, extra: &[(&str, &str)]) {
    publish_with(cache, root, repo, version, extra, &["--plain-http"], "");
}

/// Packages pack `version` and pushes it with these registry flags and
/// stdin (a password).
fn publish_with(
    cache: &Path,
    root: &Path,
    repo: &str,
    version: &str,
    extra: &[(&str, &str)],
    flags: &[&str],
    stdin: &str,
) {
    // The pack is named after the repository (packs/web -> web, web-cm).
    let name = repo.rsplit('/').next().unwrap_or("web");
    let src = pack(root, name, version, extra);
    let mut c = plugin("render");
    c.args([
        "package",
        src.to_str().unwrap(),
        "-d",
        root.to_str().unwrap(),
    ])
    .env("KUBECTL_PACK_CACHE", cache);
    let out = run_with_stdin(c, "");
    assert!(out.status.success(), "{:?}", texts(&out));
    let archive = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut c = plugin("render");
    c.args(["push", &archive, repo])
        .args(flags)
        .env("KUBECTL_PACK_CACHE", cache);
    let out = run_with_stdin(c, stdin);
    assert!(out.status.success(), "{:?}", texts(&out));
}

/// `kubectl get packrelease NAME -o json`.
fn get(ns: &str, name: &str) -> Value {
    let out = harness::kubectl()
        .args(["get", "packrelease", name, "-n", ns, "-o", "json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn condition(pr: &Value, type_: &str) -> (String, String) {
    let c = pr["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or(Value::Null);
    (
        c["status"].as_str().unwrap_or("").to_string(),
        c["reason"].as_str().unwrap_or("").to_string(),
    )
}

fn live_cm(ns: &str) -> Value {
    let out = harness::kubectl()
        .args(["get", "configmap", "web-cm", "-n", ns, "-o", "json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

async fn wait_for(what: &str, secs: u64, ns: &str, f: impl Fn(&Value) -> bool) {
    let ns = ns.to_string();
    wait_until(what, Duration::from_secs(secs), || {
        let pr = get(&ns, "web");
        let ok = f(&pr);
        async move { ok }
    })
    .await;
}

fn version(pr: &Value) -> &str {
    pr["status"]["lastAppliedVersion"].as_str().unwrap_or("")
}

/// Installs the CRD the way the README says.
pub fn install_crd() {
    let crd = plugin("waves").args(["operator", "crd"]).output().unwrap();
    assert!(crd.status.success());
    let out = run_with_stdin(
        {
            let mut c = plugin("crd");
            c.arg("apply");
            c
        },
        &String::from_utf8_lossy(&crd.stdout),
    );
    assert!(out.status.success(), "{:?}", texts(&out));
}

/// The operator as its Deployment runs it: in-cluster, with the token of
/// `deploy/`'s ServiceAccount and nothing but its RBAC.
fn start_operator(
    pod: &harness::InCluster,
    ns: &str,
    cache: &Path,
    metrics: u16,
    extra: &[&str],
    stderr: Stdio,
) -> harness::Reaped {
    let child = pod
        .command("waves")
        .args(["operator", "run", "-n", ns])
        .args([
            "--retry-initial",
            "1s",
            "--retry-max",
            "2s",
            "--stall-after",
            "3",
        ])
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{metrics}"))
        .args(extra)
        .env("KUBECTL_PACK_CACHE", cache)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    harness::Reaped(child)
}

#[tokio::test]
async fn a_pack_release_follows_its_registry_within_its_constraint() {
    install_crd();
    let ns = harness::namespace("operator").await;
    let registry = Registry::plain();
    let repo = registry.oci("packs/web");
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    publish(&cache, work.path(), &repo, "1.2.0", &[]);
    let pr = format!(
        "apiVersion: pack.sherpack.io/v1alpha1\nkind: PackRelease\nmetadata: {{name: web}}\nspec:\n  source: {{oci: \"{repo}\", constraint: \">=1.2, <2\", insecure: true}}\n  valuesFrom: [{{kind: ConfigMap, name: web-values, optional: true}}]\n  interval: 2s\n  rollbackOnFailure: true\n"
    );
    harness::apply_yaml(&ns, &pr).await;
    let metrics = harness::free_port();
    let pod = harness::InCluster::service_account("pack-operator");
    let operator = start_operator(
        &pod,
        &ns,
        &cache,
        metrics,
        &["--timeout", "4s"],
        Stdio::inherit(),
    );

    // A PackRelease aiming at another namespace is refused: a tenant who
    // may create PackReleases gets no more than its own namespace.
    let escape = format!(
        "apiVersion: pack.sherpack.io/v1alpha1\nkind: PackRelease\nmetadata: {{name: escape}}\nspec:\n  source: {{oci: \"{repo}\", insecure: true}}\n  targetNamespace: kube-system\n"
    );
    harness::apply_yaml(&ns, &escape).await;
    let nsc = ns.clone();
    wait_until(
        "the cross-namespace PackRelease refused",
        Duration::from_secs(30),
        || {
            let refused = condition(&get(&nsc, "escape"), "Stalled")
                == ("True".into(), "CrossNamespaceRefused".into());
            async move { refused }
        },
    )
    .await;

    // Created: the newest version the constraint admits is deployed.
    wait_for("1.2.0 deployed and Ready", 60, &ns, |p| {
        version(p) == "1.2.0" && condition(p, "Ready").0 == "True"
    })
    .await;
    assert_eq!(live_cm(&ns)["data"]["version"], "1.2.0");
    let pr0 = get(&ns, "web");
    assert!(
        pr0["status"]["lastAppliedDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(pr0["status"]["revision"], 1);

    // A new version inside the constraint is deployed; one outside is not.
    publish(&cache, work.path(), &repo, "1.2.1", &[]);
    wait_for("1.2.1 deployed", 60, &ns, |p| version(p) == "1.2.1").await;
    let etag = get(&ns, "web")["status"]["registryETag"].clone();
    publish(&cache, work.path(), &repo, "2.0.0", &[]);
    for _ in 0..2 {
        let polled = get(&ns, "web")["status"]["nextPollTime"].clone();
        wait_for("a poll after 2.0.0", 30, &ns, |p| {
            p["status"]["nextPollTime"] != polled
        })
        .await;
    }
    // What the constraint admits did not change, nor its ETag.
    assert_eq!(get(&ns, "web")["status"]["registryETag"], etag);
    assert_eq!(version(&get(&ns, "web")), "1.2.1");
    assert_eq!(live_cm(&ns)["data"]["version"], "1.2.1");

    // Values from a ConfigMap: a change is a new revision.
    harness::apply_yaml(
        &ns,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-values}\ndata:\n  values.yaml: |\n    greeting: hi there\n",
    )
    .await;
    let nsc = ns.clone();
    wait_until(
        "the greeting from the ConfigMap",
        Duration::from_secs(30),
        || {
            let ok = live_cm(&nsc)["data"]["greeting"] == "hi there";
            async move { ok }
        },
    )
    .await;
    wait_for("revision 3 recorded", 20, &ns, |p| {
        p["status"]["revision"] == 3
    })
    .await;

    // Suspended: a new version waits; resumed: it is deployed.
    let (code, _, err) =
        harness::run_plugin("waves", &["operator", "suspend", "web", "-n", &ns], "");
    assert_eq!(code, 0, "{err}");
    wait_for("Suspended", 20, &ns, |p| {
        condition(p, "Reconciling").1 == "Suspended"
    })
    .await;
    publish(&cache, work.path(), &repo, "1.2.2", &[]);
    tokio::time::sleep(Duration::from_secs(5)).await; // two intervals: nothing may happen
    assert_eq!(version(&get(&ns, "web")), "1.2.1");
    let (code, _, err) =
        harness::run_plugin("waves", &["operator", "resume", "web", "-n", &ns], "");
    assert_eq!(code, 0, "{err}");
    wait_for("1.2.2 deployed after resume", 60, &ns, |p| {
        version(p) == "1.2.2"
    })
    .await;

    // A broken version (a Deployment that never becomes ready: no kubelet)
    // is rolled back with rollbackOnFailure, and not retried every poll.
    let never_ready = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n";
    publish(
        &cache,
        work.path(),
        &repo,
        "1.2.3",
        &[("deploy.yaml", never_ready)],
    );
    wait_for("1.2.3 rolled back", 90, &ns, |p| {
        condition(p, "Ready").1 == "RolledBack"
    })
    .await;
    let p = get(&ns, "web");
    assert_eq!(version(&p), "1.2.2");
    assert_eq!(live_cm(&ns)["data"]["version"], "1.2.2");
    let revision = p["status"]["revision"].clone();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let history = harness::run_plugin("waves", &["history", "web", "-n", &ns, "-o", "json"], "").1;
    let rows: Value = serde_json::from_str(&history).unwrap();
    let failed = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failed")
        .count();
    assert_eq!(failed, 1, "the broken version was tried once: {history}");
    assert_eq!(get(&ns, "web")["status"]["revision"], revision);

    // Drift: found, then corrected once autoSync is on.
    let out = harness::kubectl()
        .args([
            "patch",
            "configmap",
            "web-cm",
            "-n",
            &ns,
            "-p",
            r#"{"data":{"version":"edited"}}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    wait_for("DriftDetected", 30, &ns, |p| {
        condition(p, "DriftDetected").0 == "True"
    })
    .await;
    assert!(harness::http_get(metrics, "/metrics").contains(&format!(
        "packrelease_drift{{namespace=\"{ns}\",name=\"web\"}} 1"
    )));
    let out = harness::kubectl()
        .args([
            "patch",
            "packrelease",
            "web",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"autoSync":true}}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    wait_for("drift corrected", 30, &ns, |p| {
        condition(p, "DriftDetected").1 == "DriftCorrected"
    })
    .await;
    assert_eq!(live_cm(&ns)["data"]["version"], "1.2.2");

    // The registry goes away: backoff in the status, then Stalled.
    drop(registry);
    wait_for("Stalled after 3 failed polls", 60, &ns, |p| {
        condition(p, "Stalled") == ("True".into(), "RegistryUnavailable".into())
    })
    .await;
    let p = get(&ns, "web");
    assert!(p["status"]["consecutiveFailures"].as_u64().unwrap() >= 3);
    assert_eq!(condition(&p, "Ready").0, "False");

    // sync-now: the stalled PackRelease is tried again at once.
    let (code, _, err) =
        harness::run_plugin("waves", &["operator", "sync-now", "web", "-n", &ns], "");
    assert_eq!(code, 0, "{err}");
    let asked = get(&ns, "web")["metadata"]["annotations"]["pack.sherpack.io/sync-now"].clone();
    assert!(asked.is_string());
    wait_for("the sync-now handled", 30, &ns, |p| {
        p["status"]["lastHandledSyncNow"] == asked
    })
    .await;
    let (code, _, err) =
        harness::run_plugin("waves", &["operator", "sync-now", "nope", "-n", &ns], "");
    assert!(
        code == 1 && err.contains("PackRelease") && err.contains("nope not found"),
        "{err}"
    );

    // Events, health and metrics.
    let events = harness::kubectl()
        .args([
            "get",
            "events",
            "-n",
            &ns,
            "--field-selector",
            "involvedObject.kind=PackRelease",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let events: Value = serde_json::from_slice(&events.stdout).unwrap();
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for want in ["Deployed", "RolledBack", "DriftCorrected", "Stalled"] {
        assert!(reasons.contains(&want), "{want} in {reasons:?}");
    }
    assert!(harness::http_get(metrics, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(harness::http_get(metrics, "/readyz").starts_with("HTTP/1.1 200"));
    let m = harness::http_get(metrics, "/metrics");
    assert!(
        m.contains("packrelease_registry_polls_total{result=\"error\"}"),
        "{m}"
    );
    assert!(
        !m.contains("packrelease_reconciles_total{result=\"deployed\"} 0"),
        "{m}"
    );
    drop(operator);
}

/// Two replicas on one Lease: one deploys; after it is SIGKILLed the other
/// takes over from the status it left, deploys the next version, and
/// redeploys nothing (the release history has one revision per version).
#[tokio::test]
async fn two_operator_replicas_take_over_without_deploying_twice() {
    install_crd();
    let ns = harness::namespace("operator-ha").await;
    let registry = Registry::plain();
    let repo = registry.oci("packs/web");
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    publish(&cache, work.path(), &repo, "1.0.0", &[]);
    let pr = format!(
        "apiVersion: pack.sherpack.io/v1alpha1\nkind: PackRelease\nmetadata: {{name: web}}\nspec:\n  source: {{oci: \"{repo}\", insecure: true}}\n  interval: 2s\n"
    );
    harness::apply_yaml(&ns, &pr).await;
    let pod = harness::InCluster::service_account("pack-operator");
    let ha = harness::leader_flags(&format!("operator-{ns}"));
    let ha: Vec<&str> = ha.iter().map(String::as_str).collect();
    let logs = [
        tempfile::NamedTempFile::new().unwrap(),
        tempfile::NamedTempFile::new().unwrap(),
    ];
    let first = start_operator(
        &pod,
        &ns,
        &cache,
        harness::free_port(),
        &ha,
        logs[0].reopen().unwrap().into(),
    );
    harness::wait_for_log(logs[0].path(), "leading (Lease").await;
    let standby_port = harness::free_port();
    let second = start_operator(
        &pod,
        &ns,
        &cache,
        standby_port,
        &ha,
        logs[1].reopen().unwrap().into(),
    );
    harness::wait_for_log(logs[1].path(), "waiting for the Lease").await;
    // A standby answers its probes (ready: it must not block the PDB).
    assert!(harness::http_get(standby_port, "/readyz").starts_with("HTTP/1.1 200"));
    wait_for("1.0.0 deployed", 60, &ns, |p| version(p) == "1.0.0").await;

    drop(first); // SIGKILL
    harness::wait_for_log(logs[1].path(), "leading (Lease").await;
    publish(&cache, work.path(), &repo, "1.0.1", &[]);
    wait_for("1.0.1 deployed by the new leader", 60, &ns, |p| {
        version(p) == "1.0.1"
    })
    .await;
    for _ in 0..2 {
        let polled = get(&ns, "web")["status"]["nextPollTime"].clone();
        wait_for("another poll", 30, &ns, |p| {
            p["status"]["nextPollTime"] != polled
        })
        .await;
    }
    let history = harness::run_plugin("waves", &["history", "web", "-n", &ns, "-o", "json"], "").1;
    let rows: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(
        rows.as_array().unwrap().len(),
        2,
        "one revision per version: {history}"
    );
    assert_eq!(get(&ns, "web")["status"]["revision"], 2);
    drop(second);
}

/// A private registry (TLS with its own CA, basic auth): credentials and
/// CA come from Secrets named in the spec, never inline; a missing Secret
/// is a one-line reason in the status, and the password is never printed.
#[tokio::test]
async fn a_private_registry_is_reached_with_credentials_and_ca_from_secrets() {
    use base64::Engine as _;
    install_crd();
    let ns = harness::namespace("operator-private").await;
    let registry = Registry::tls_with_auth();
    let (user, password) = registry.credentials.clone().unwrap();
    let repo = registry.oci("team/web");
    let ca = registry.ca_file();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let flags = [
        "--ca-file",
        ca.to_str().unwrap(),
        "--username",
        &user,
        "--password-stdin",
    ];
    publish_with(
        &cache,
        work.path(),
        &repo,
        "1.0.0",
        &[],
        &flags,
        &format!("{password}\n"),
    );
    let pr = format!(
        "apiVersion: pack.sherpack.io/v1alpha1\nkind: PackRelease\nmetadata: {{name: web}}\nspec:\n  source: {{oci: \"{repo}\", secretRef: {{name: regcred}}, certSecretRef: {{name: registry-ca}}}}\n  interval: 2s\n"
    );
    harness::apply_yaml(&ns, &pr).await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let pod = harness::InCluster::service_account("pack-operator");
    let _operator = start_operator(
        &pod,
        &ns,
        &cache,
        harness::free_port(),
        &[],
        log.reopen().unwrap().into(),
    );
    // The Secrets do not exist yet: one line naming the Secret.
    wait_for("the missing Secret reported", 30, &ns, |p| {
        let (status, reason) = condition(p, "Ready");
        status == "False" && reason == "RegistryAccessInvalid"
    })
    .await;
    let msg = get(&ns, "web")["status"]["conditions"].to_string();
    assert!(
        msg.contains("Secret") && msg.contains("registry-ca"),
        "{msg}"
    );

    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    let host = repo
        .trim_start_matches("oci://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let auth = b64(&format!("{user}:{password}"));
    let docker = serde_json::json!({"auths": {host: {"auth": auth}}}).to_string();
    let secrets = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: regcred}}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: registry-ca}}\ndata:\n  ca.crt: {}\n",
        b64(&docker),
        b64(&std::fs::read_to_string(&ca).unwrap())
    );
    harness::apply_yaml(&ns, &secrets).await;
    wait_for("1.0.0 deployed from the private registry", 60, &ns, |p| {
        version(p) == "1.0.0"
    })
    .await;
    assert_eq!(condition(&get(&ns, "web"), "Ready").0, "True");
    assert_eq!(live_cm(&ns)["data"]["version"], "1.0.0");
    let printed = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        !printed.contains(&password) && !printed.contains(&auth),
        "a credential was printed"
    );
}

/// Reconciles run side by side: a deploy waiting for a workload that never
/// becomes ready does not hold up another PackRelease.
#[tokio::test]
async fn a_slow_deploy_does_not_hold_up_other_pack_releases() {
    install_crd();
    let ns = harness::namespace("operator-concurrent").await;
    let registry = Registry::plain();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let never_ready = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: slow}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: slow}}\n  template:\n    metadata: {labels: {app: slow}}\n    spec: {containers: [{name: slow, image: nginx}]}\n";
    let slow = registry.oci("packs/slow");
    publish(
        &cache,
        work.path(),
        &slow,
        "1.0.0",
        &[("deploy.yaml", never_ready)],
    );
    let fast = registry.oci("packs/fast");
    publish(&cache, work.path(), &fast, "1.0.0", &[]);
    let pr = |name: &str, repo: &str| {
        format!(
            "apiVersion: pack.sherpack.io/v1alpha1\nkind: PackRelease\nmetadata: {{name: {name}}}\nspec:\n  source: {{oci: \"{repo}\", insecure: true}}\n  targetNamespace: {ns}\n  interval: 1m\n"
        )
    };
    harness::apply_yaml(&ns, &pr("slow", &slow)).await;
    let pod = harness::InCluster::service_account("pack-operator");
    let _operator = start_operator(
        &pod,
        &ns,
        &cache,
        harness::free_port(),
        &["--timeout", "90s", "--concurrency", "2"],
        Stdio::inherit(),
    );
    let nsc = ns.clone();
    wait_until("the slow deploy under way", Duration::from_secs(30), || {
        let deploying =
            condition(&get(&nsc, "slow"), "Reconciling") == ("True".into(), "Deploying".into());
        async move { deploying }
    })
    .await;
    harness::apply_yaml(&ns, &pr("fast", &fast)).await;
    wait_until(
        "the other PackRelease deployed meanwhile",
        Duration::from_secs(30),
        || {
            let p = get(&nsc, "fast");
            let ok = condition(&p, "Ready").0 == "True";
            async move { ok }
        },
    )
    .await;
    assert_eq!(
        condition(&get(&ns, "slow"), "Reconciling").1,
        "Deploying",
        "the slow deploy is still waiting"
    );
}
