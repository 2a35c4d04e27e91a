//! `kubectl pack-secrets pull` against AWS (moto) and the Vault/GCP/Azure
//! stand-in, and `sync` (spec file, Pod annotations, `--watch`) against the
//! real API server. Secret values used here start with `SENTINEL-` so the
//! test script can grep all output for leaks.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::providers::{self, Server};
use harness::{cluster, namespace, plugin, run};
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::Api;
use serde_json::json;

use super::secrets::{home_with_key, secrets};

fn fake() -> Server {
    providers::fake(&json!({
        "vault_token": "vt-123",
        "gcp_token": "gcp-tok",
        "azure_client": {"id": "cid", "secret": "csecret", "token": "az-tok"},
        "vault": {"secret/app": [{"username": "svc", "password": "SENTINEL-vault-pw"}]},
        "gcp": {"projects/p1/secrets/db": ["SENTINEL-gcp-v1", "SENTINEL-gcp-v2"]},
        "azure": {"db-pass": ["SENTINEL-azure-v1"]},
    }))
}

fn provider_env(cmd: &mut Command, s: &Server) {
    cmd.env("VAULT_ADDR", &s.url)
        .env("VAULT_TOKEN", "vt-123")
        .env("VAULT_NAMESPACE", "team-a")
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "gcp-tok")
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER",
            format!("{}/", s.url),
        )
        .env("AZURE_TENANT_ID", "tenant1")
        .env("AZURE_CLIENT_ID", "cid")
        .env("AZURE_CLIENT_SECRET", "csecret")
        .env("AZURE_AUTHORITY_HOST", &s.url)
        .env("AZURE_KEYVAULT_ENDPOINT", &s.url);
}

fn assert_no_sentinel(text: &str) {
    assert!(
        !text.contains("SENTINEL"),
        "a secret value was printed: {text}"
    );
}

#[test]
fn pull_from_vault_gcp_and_azure_writes_encrypted_values_only() {
    let s = fake();
    let (home, recipient) = home_with_key();
    for (source, key, expected) in [
        (
            "vault://secret/app#password",
            "password",
            "SENTINEL-vault-pw",
        ),
        (
            "gcp-sm://projects/p1/secrets/db/versions/1",
            "db",
            "SENTINEL-gcp-v1",
        ),
        ("gcp-sm://projects/p1/secrets/db", "db", "SENTINEL-gcp-v2"),
        ("azure-kv://myvault/db-pass", "db-pass", "SENTINEL-azure-v1"),
    ] {
        let file = home.path().join("pulled.yaml");
        let _ = std::fs::remove_file(&file);
        let mut cmd = secrets(home.path());
        provider_env(&mut cmd, &s);
        cmd.args(["pull", source, "--age", &recipient, "-o"])
            .arg(&file);
        let (code, out, err) = run(cmd);
        assert_eq!(code, 0, "{source}: {err}");
        assert_no_sentinel(&out);
        assert_no_sentinel(&err);
        let on_disk = std::fs::read_to_string(&file).unwrap();
        assert_no_sentinel(&on_disk);
        let mut cmd = secrets(home.path());
        cmd.args(["decrypt", "--extract", &format!(r#"["{key}"]"#)])
            .arg(&file);
        assert_eq!(run(cmd).1, expected, "{source}");
    }
    // Merging a second pull into the same encrypted file, under a path.
    let file = home.path().join("merged.yaml");
    for (source, into) in [
        ("vault://secret/app", "db"),
        ("azure-kv://myvault/db-pass", "azure"),
    ] {
        let mut cmd = secrets(home.path());
        provider_env(&mut cmd, &s);
        cmd.args(["pull", source, "--age", &recipient, "--into", into, "-o"])
            .arg(&file);
        let (code, _, err) = run(cmd);
        assert_eq!(code, 0, "{err}");
    }
    let mut cmd = secrets(home.path());
    cmd.arg("decrypt").arg(&file);
    let v: serde_json::Value = shared::yaml::from_str(&run(cmd).1).unwrap();
    assert_eq!(v["db"]["username"], "svc");
    assert_eq!(v["azure"]["db-pass"], "SENTINEL-azure-v1");

    // The wire format: Vault token and namespace headers, Bearer tokens.
    let log = providers::requests(&s);
    let vault = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/v1/secret/data/app")
        .unwrap();
    assert_eq!(
        (
            vault["vaultToken"].as_bool(),
            vault["vaultNamespace"].as_str()
        ),
        (Some(true), Some("team-a"))
    );
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/tenant1/oauth2/v2.0/token")
    );
}

#[test]
fn pull_errors_are_classified_and_throttling_is_retried() {
    let s = fake();
    let (home, recipient) = home_with_key();
    let pull = |source: &str, extra: &[(&str, &str)]| {
        let mut cmd = secrets(home.path());
        provider_env(&mut cmd, &s);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.args(["pull", source, "--age", &recipient, "--retries", "2"]);
        run(cmd)
    };
    let (code, _, err) = pull("vault://secret/missing", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("vault://secret/missing: not found"), "{err}");
    let (code, _, err) = pull("vault://secret/app", &[("VAULT_TOKEN", "wrong")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("permission denied") && err.contains("HTTP 403"),
        "{err}"
    );
    let (code, _, err) = pull("gcp-sm://projects/p1/secrets/nope", &[]);
    assert!(code == 1 && err.contains("NOT_FOUND"), "{err}");
    let (code, _, err) = pull("azure-kv://v/db-pass", &[("AZURE_CLIENT_SECRET", "bad")]);
    assert!(
        code == 1 && err.contains("permission denied") && err.contains("Invalid client secret"),
        "{err}"
    );
    let (code, _, err) = pull("azure-kv://v/nope", &[]);
    assert!(code == 1 && err.contains("SecretNotFound"), "{err}");
    let (code, _, err) = pull("vault://secret/app#nokey", &[]);
    assert!(
        code == 1 && err.contains("no key 'nokey'") && err.contains("password"),
        "{err}"
    );
    assert_no_sentinel(&err);

    // 429 then success: retried after Retry-After; 503 twice then success.
    providers::admin(
        &s,
        "/_admin/fail",
        &json!({"prefix": "/v1/projects/p1/secrets/db", "status": 429, "times": 1, "body": {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}}),
    );
    let (code, out, err) = pull("gcp-sm://projects/p1/secrets/db", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("throttled") && err.contains("retrying"),
        "{err}"
    );
    assert!(out.contains("ENC[AES256_GCM"));
    providers::admin(
        &s,
        "/_admin/fail",
        &json!({"prefix": "/v1/secret/data/app", "status": 503, "times": 2, "body": {"errors": ["Vault is sealed"]}}),
    );
    let (code, _, err) = pull("vault://secret/app", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("Vault is sealed").count(), 2, "{err}");
    // Retries are bounded: 3 failures with --retries 2 give up.
    providers::admin(
        &s,
        "/_admin/fail",
        &json!({"prefix": "/v1/secret/data/app", "status": 500, "times": 3}),
    );
    let (code, _, err) = pull("vault://secret/app", &[]);
    assert!(code == 1 && err.contains("provider unavailable"), "{err}");
}

#[test]
fn pull_from_aws_secrets_manager_and_ssm_on_moto() {
    let moto = providers::moto();
    providers::boto3(
        &moto,
        "import boto3\n\
         sm = boto3.client('secretsmanager')\n\
         sm.create_secret(Name='prod/db', SecretString='{\"user\": \"app\", \"password\": \"SENTINEL-aws-pw\"}')\n\
         sm.create_secret(Name='plain', SecretString='SENTINEL-aws-plain')\n\
         ssm = boto3.client('ssm')\n\
         ssm.put_parameter(Name='/app/db/host', Value='db.internal', Type='String')\n\
         ssm.put_parameter(Name='/app/db/token', Value='SENTINEL-ssm-token', Type='SecureString')\n",
    );
    let (home, recipient) = home_with_key();
    let pull = |source: &str| {
        let mut cmd = secrets(home.path());
        cmd.envs(providers::aws_env(&moto))
            .args(["pull", source, "--age", &recipient, "-o", "out.yaml"]);
        let _ = std::fs::remove_file(home.path().join("out.yaml"));
        let (code, out, err) = run(cmd);
        assert_no_sentinel(&out);
        assert_no_sentinel(&err);
        let mut d = secrets(home.path());
        d.args(["decrypt", "out.yaml"]);
        (
            code,
            err,
            shared::yaml::from_str::<serde_json::Value>(&run(d).1).unwrap_or_default(),
        )
    };
    let (code, err, v) = pull("aws-sm://prod/db");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (v["user"].as_str(), v["password"].as_str()),
        (Some("app"), Some("SENTINEL-aws-pw"))
    );
    let (_, _, v) = pull("aws-sm://prod/db#password");
    assert_eq!(v, json!({"password": "SENTINEL-aws-pw"}));
    let (_, _, v) = pull("aws-sm://plain");
    assert_eq!(v, json!({"plain": "SENTINEL-aws-plain"}));
    let (code, err, v) = pull("aws-ssm:///app/db/");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        v,
        json!({"host": "db.internal", "token": "SENTINEL-ssm-token"})
    );
    let (_, _, v) = pull("aws-ssm:///app/db/token");
    assert_eq!(v, json!({"token": "SENTINEL-ssm-token"}));
    let (code, err, _) = pull("aws-sm://missing");
    assert!(
        code == 1 && err.contains("not found") && err.contains("ResourceNotFoundException"),
        "{err}"
    );
}

async fn secret(ns: &str, name: &str) -> Option<Secret> {
    let api: Api<Secret> = Api::namespaced(cluster().client().await, ns);
    api.get_opt(name).await.unwrap()
}

fn data(s: &Secret, key: &str) -> String {
    String::from_utf8(s.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

#[tokio::test]
async fn pull_to_secret_and_sync_spec_create_update_and_skip_unchanged() {
    let ns = namespace("sync-spec").await;
    let s = fake();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = plugin("secrets");
    provider_env(&mut cmd, &s);
    cmd.args([
        "-n",
        &ns,
        "pull",
        "vault://secret/app",
        "--to-secret",
        "pulled",
    ]);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        data(&secret(&ns, "pulled").await.unwrap(), "password"),
        "SENTINEL-vault-pw"
    );

    let spec = format!(
        "apiVersion: secrets.sherpack.io/v1alpha1\nkind: SecretSync\nmetadata:\n  name: app\n  namespace: {ns}\nspec:\n  provider: vault\n  target:\n    name: app-secret\n  data:\n    - secretKey: DB_PASSWORD\n      remoteRef: {{key: secret/app, property: password}}\n    - secretKey: GCP_DB\n      remoteRef: {{key: \"gcp-sm://projects/p1/secrets/db\", version: \"1\"}}\n  dataFrom:\n    - extract: {{key: secret/app}}\n"
    );
    std::fs::write(home.path().join("sync.yaml"), spec).unwrap();
    let sync = || {
        let mut cmd = plugin("secrets");
        provider_env(&mut cmd, &s);
        cmd.current_dir(home.path())
            .args(["sync", "-f", "sync.yaml"]);
        run(cmd)
    };
    let (code, _, err) = sync();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("app-secret: created"), "{err}");
    assert_no_sentinel(&err);
    let sec = secret(&ns, "app-secret").await.unwrap();
    assert_eq!(data(&sec, "DB_PASSWORD"), "SENTINEL-vault-pw");
    assert_eq!(data(&sec, "GCP_DB"), "SENTINEL-gcp-v1");
    assert_eq!(data(&sec, "username"), "svc");
    assert_eq!(
        sec.metadata.labels.unwrap()["app.kubernetes.io/managed-by"],
        "kubectl-pack"
    );
    let hash =
        sec.metadata.annotations.as_ref().unwrap()["secrets.sherpack.io/content-hash"].clone();
    let rv = sec.metadata.resource_version.clone();

    let (_, _, err) = sync();
    assert!(err.contains("app-secret: unchanged"), "{err}");
    assert_eq!(
        secret(&ns, "app-secret")
            .await
            .unwrap()
            .metadata
            .resource_version,
        rv,
        "not rewritten"
    );

    providers::admin(
        &s,
        "/_admin/state",
        &json!({"vault": {"secret/app": [{"username": "svc", "password": "SENTINEL-vault-pw2"}]}}),
    );
    let (_, _, err) = sync();
    assert!(err.contains("app-secret: updated"), "{err}");
    let sec = secret(&ns, "app-secret").await.unwrap();
    assert_eq!(data(&sec, "DB_PASSWORD"), "SENTINEL-vault-pw2");
    assert_ne!(
        sec.metadata.annotations.unwrap()["secrets.sherpack.io/content-hash"],
        hash
    );
}

fn pod_yaml(name: &str, annotation: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations:\n    secrets.sherpack.io/sync: '{annotation}'\nspec:\n  containers:\n    - name: app\n      image: registry.example/app:1\n"
    )
}

async fn events_for(ns: &str, pod: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(cluster().client().await, ns);
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(pod)
                && e.reason.as_deref() == Some("SecretSyncFailed")
        })
        .collect()
}

#[tokio::test]
async fn sync_from_pod_annotations_reports_permanent_errors_as_events_without_retrying() {
    let ns = namespace("sync-pods").await;
    let s = fake();
    let yaml = [
        pod_yaml(
            "good",
            r#"{"provider":"vault","path":"secret/app","secretName":"app-creds"}"#,
        ),
        pod_yaml("bad-json", "{nope"),
        pod_yaml(
            "missing",
            r#"{"provider":"vault","path":"secret/missing","secretName":"missing-creds"}"#,
        ),
        pod_yaml(
            "unknown",
            r#"{"provider":"s3","path":"x","secretName":"y"}"#,
        ),
    ]
    .join("---\n");
    harness::apply_yaml(&ns, &yaml).await;
    let mut cmd = plugin("secrets");
    provider_env(&mut cmd, &s);
    cmd.args(["-n", &ns, "sync"]);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 1, "{err}");
    assert_no_sentinel(&err);
    assert!(err.contains(&format!("{ns}/app-creds: created")), "{err}");
    assert!(
        err.contains(&format!(
            "pod {ns}/bad-json: annotation secrets.sherpack.io/sync is not valid JSON"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "pod {ns}/missing: secret missing-creds: vault://secret/missing: not found"
        )),
        "{err}"
    );
    assert!(err.contains("unknown provider 's3'"), "{err}");
    let sec = secret(&ns, "app-creds").await.unwrap();
    assert_eq!(data(&sec, "password"), "SENTINEL-vault-pw");
    for pod in ["bad-json", "missing", "unknown"] {
        let ev = events_for(&ns, pod).await;
        assert_eq!(ev.len(), 1, "{pod}: {ev:?}");
        assert_eq!(ev[0].type_.as_deref(), Some("Warning"));
        assert_no_sentinel(ev[0].message.as_deref().unwrap_or_default());
    }
    assert!(events_for(&ns, "good").await.is_empty());
    // Not found is permanent: asked once, not retried.
    let log = providers::requests(&s);
    let asked = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/v1/secret/data/missing")
        .count();
    assert_eq!(asked, 1);
}

#[tokio::test]
async fn sync_watch_creates_secrets_for_new_pods_and_propagates_provider_updates() {
    let ns = namespace("sync-watch").await;
    let s = fake();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = plugin("secrets");
    provider_env(&mut cmd, &s);
    cmd.args(["-n", &ns, "sync", "--watch", "--refresh", "1s"])
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap());
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(cmd.spawn().unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let start = Instant::now();
    harness::apply_yaml(
        &ns,
        &pod_yaml(
            "web",
            r#"{"provider":"vault","path":"secret/app","secretName":"web-creds"}"#,
        ),
    )
    .await;
    let deadline = Duration::from_secs(20);
    let mut sec = None;
    while start.elapsed() < deadline {
        if let Some(x) = secret(&ns, "web-creds").await {
            sec = Some(x);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let latency = start.elapsed();
    let sec = sec.unwrap_or_else(|| {
        panic!(
            "no secret after {deadline:?}: {}",
            std::fs::read_to_string(log.path()).unwrap()
        )
    });
    eprintln!(
        "sync latency after pod creation: {} ms",
        latency.as_millis()
    );
    assert_eq!(data(&sec, "password"), "SENTINEL-vault-pw");

    providers::admin(
        &s,
        "/_admin/state",
        &json!({"vault": {"secret/app": [{"username": "svc", "password": "SENTINEL-rotated"}]}}),
    );
    let start = Instant::now();
    loop {
        let cur = secret(&ns, "web-creds").await.unwrap();
        if data(&cur, "password") == "SENTINEL-rotated" {
            break;
        }
        assert!(
            start.elapsed() < deadline,
            "update not propagated: {}",
            std::fs::read_to_string(log.path()).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The line about the update is written just after the Secret is.
    harness::wait_until("the update's line in the log", deadline, || async {
        std::fs::read_to_string(log.path())
            .unwrap()
            .contains("web-creds: updated")
    })
    .await;
    let output = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        output.contains("web-creds: created") && output.contains("web-creds: updated"),
        "{output}"
    );
    assert_no_sentinel(&output);
}

/// `sync -A --watch` as `deploy/` runs it (in-cluster, the pack-secrets
/// ServiceAccount's token and RBAC), two replicas on one Lease: a provider
/// that is unavailable for a while is asked again with backoff (not left
/// until the hourly refresh); after the leader is killed the standby
/// serves new Pods; metrics count it all.
#[tokio::test]
async fn sync_as_a_controller_retries_transient_failures_and_a_standby_takes_over() {
    let ns = namespace("sync-ha").await;
    let s = fake();
    let pod = harness::InCluster::service_account("pack-secrets");
    let port = harness::free_port();
    let lease = format!("secrets-{ns}");
    let start = |metrics: Option<u16>| {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = pod.command("secrets");
        provider_env(&mut cmd, &s);
        cmd.args(["-n", &ns, "sync", "--watch"])
            .args(harness::leader_flags(&lease))
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap());
        if let Some(p) = metrics {
            cmd.arg(format!("--metrics-addr=127.0.0.1:{p}"));
        }
        (harness::Reaped(cmd.spawn().unwrap()), log)
    };
    let read = |log: &tempfile::NamedTempFile| std::fs::read_to_string(log.path()).unwrap();
    let (mut leader, leader_log) = start(Some(port));
    harness::wait_for_log(leader_log.path(), "leading (Lease").await;
    let (mut standby, standby_log) = start(None);
    harness::wait_for_log(standby_log.path(), "waiting for the Lease").await;

    // Vault unavailable for 8 requests: more than one sync's own retries.
    providers::admin(
        &s,
        "/_admin/fail",
        &json!({"prefix": "/v1/secret/data/app", "status": 503, "times": 8, "body": {"errors": ["Vault is sealed"]}}),
    );
    harness::apply_yaml(
        &ns,
        &pod_yaml(
            "web",
            r#"{"provider":"vault","path":"secret/app","secretName":"web-creds"}"#,
        ),
    )
    .await;
    let nsc = ns.clone();
    harness::wait_until(
        "the Secret after the provider came back",
        Duration::from_secs(60),
        || {
            let ns = nsc.clone();
            async move { secret(&ns, "web-creds").await.is_some() }
        },
    )
    .await;
    let log = read(&leader_log);
    assert!(log.contains("trying again in"), "{log}");
    // The counter follows the write by a moment.
    harness::wait_until(
        "the created Secret counted",
        Duration::from_secs(10),
        || {
            let counted = harness::http_get(port, "/metrics")
                .contains("secrets_sync_total{outcome=\"created\"} 1");
            async move { counted }
        },
    )
    .await;
    let metrics = harness::http_get(port, "/metrics");
    assert!(
        !metrics.contains("secrets_sync_failures_total{class=\"transient\"} 0"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("secrets_sync_retries_total 0"),
        "{metrics}"
    );
    assert!(harness::http_get(port, "/readyz").starts_with("HTTP/1.1 200"));

    // The leader dies; the standby takes over and serves a new Pod.
    leader.kill().unwrap();
    leader.wait().unwrap();
    harness::wait_for_log(standby_log.path(), "leading (Lease").await;
    harness::apply_yaml(
        &ns,
        &pod_yaml(
            "api",
            r#"{"provider":"vault","path":"secret/app","secretName":"api-creds"}"#,
        ),
    )
    .await;
    harness::wait_until(
        "the new Pod's Secret from the new leader",
        Duration::from_secs(30),
        || {
            let ns = nsc.clone();
            async move { secret(&ns, "api-creds").await.is_some() }
        },
    )
    .await;
    standby.kill().unwrap();
    standby.wait().unwrap();
    let all = format!("{}{}", read(&leader_log), read(&standby_log));
    assert!(all.contains("api-creds: created"), "{all}");
    assert_no_sentinel(&all);
}

/// In a Pod, no static keys: AWS web identity (STS
/// AssumeRoleWithWebIdentity on moto), the GCP metadata server, an Azure
/// federated token and Vault's Kubernetes auth — the last two checked by
/// the stand-in with a TokenReview of the ServiceAccount token on the real
/// API server, as Entra ID and Vault do.
#[test]
fn in_a_pod_workload_identity_replaces_static_keys_for_every_provider() {
    let subject = format!(
        "system:serviceaccount:{}:pack-secrets",
        harness::SYSTEM_NAMESPACE
    );
    let c = cluster();
    let s = providers::fake(&json!({
        "vault_token": "vt-123",
        "gcp_token": "gcp-tok",
        "azure_client": {"id": "cid", "token": "az-tok", "subject": subject},
        "vault_k8s": {"role": "app", "subject": subject},
        "kube": {"server": c.server, "token": c.admin_token},
        "vault": {"secret/app": [{"password": "SENTINEL-vault-pw"}]},
        "gcp": {"projects/p1/secrets/db": ["SENTINEL-gcp-v1"]},
        "azure": {"db-pass": ["SENTINEL-azure-v1"]},
    }));
    let moto = providers::moto();
    providers::boto3(
        &moto,
        "import boto3\nboto3.client('secretsmanager').create_secret(Name='prod/db', SecretString='SENTINEL-aws-pw')\n",
    );
    let pod = harness::InCluster::service_account("pack-secrets");
    let (home, recipient) = home_with_key();
    let host = s.url.trim_start_matches("http://").to_string();
    let pull = |source: &str, role: &str| {
        let file = home.path().join("pulled.yaml");
        let _ = std::fs::remove_file(&file);
        let mut cmd = pod.command("secrets");
        cmd.env("HOME", home.path())
            .env("VAULT_ADDR", &s.url)
            .env("VAULT_K8S_ROLE", role)
            .env("GCE_METADATA_HOST", &host)
            .env(
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER",
                format!("{}/", s.url),
            )
            .env("AZURE_TENANT_ID", "tenant1")
            .env("AZURE_CLIENT_ID", "cid")
            .env("AZURE_FEDERATED_TOKEN_FILE", pod.token_file())
            .env("AZURE_AUTHORITY_HOST", &s.url)
            .env("AZURE_KEYVAULT_ENDPOINT", &s.url)
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", pod.token_file())
            .env(
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/pack-secrets",
            )
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &moto.url)
            .args(["pull", source, "--age", &recipient, "-o"])
            .arg(&file);
        for k in [
            "VAULT_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "GOOGLE_OAUTH_ACCESS_TOKEN",
            "AZURE_CLIENT_SECRET",
            "AZURE_ACCESS_TOKEN",
        ] {
            cmd.env_remove(k);
        }
        let (code, out, err) = run(cmd);
        assert_no_sentinel(&out);
        assert_no_sentinel(&err);
        (code, err, file)
    };
    for (source, key, expected) in [
        (
            "vault://secret/app#password",
            "password",
            "SENTINEL-vault-pw",
        ),
        ("gcp-sm://projects/p1/secrets/db", "db", "SENTINEL-gcp-v1"),
        ("azure-kv://myvault/db-pass", "db-pass", "SENTINEL-azure-v1"),
        ("aws-sm://prod/db", "db", "SENTINEL-aws-pw"),
    ] {
        let (code, err, file) = pull(source, "app");
        assert_eq!(code, 0, "{source}: {err}");
        let mut cmd = super::secrets::secrets(home.path());
        cmd.args(["decrypt", "--extract", &format!(r#"["{key}"]"#)])
            .arg(&file);
        assert_eq!(run(cmd).1, expected, "{source}");
    }
    // The GCP token came from the metadata server, with its header.
    let log = providers::requests(&s);
    assert!(
        log.to_string()
            .contains("/computeMetadata/v1/instance/service-accounts/default/token"),
        "{log}"
    );
    // A role Vault does not know: refused in one line naming the role.
    let (code, err, _) = pull("vault://secret/app#password", "other");
    assert!(
        code == 1 && err.contains("Kubernetes auth login as role other"),
        "{err}"
    );
}
