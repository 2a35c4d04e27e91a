//! The small harness of the end-to-end tests.
//!
//! One real cluster (etcd + kube-apiserver + kube-controller-manager, started
//! by `tests/cluster/cluster.sh`) per test-binary run, started on first use
//! and stopped by the script's watchdog when the test process exits — also
//! when a test fails or the run is killed. Each test takes a fresh namespace.
//! Helpers apply YAML, patch status subresources (there is no kubelet, so
//! tests make objects "ready" the way envtest users do) and run the built
//! plugin binaries with the test kubeconfig.
//!
//! Set `KUBECTL_PACK_TEST_CLUSTER=DIR` to reuse a cluster started by hand
//! with `tests/cluster/cluster.sh up --dir DIR` (faster when iterating).

pub mod kubelet;
pub mod providers;
pub mod registry;

pub use kubelet::Kubelet;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use shared::discovery::Resolver;
use shared::kubeconfig::{KubeArgs, KubeconfigSources};

/// The running test cluster.
pub struct Cluster {
    /// Directory holding kubeconfig, env and logs.
    pub dir: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// Bearer token of the `admin` user (system:masters).
    pub admin_token: String,
    /// Bearer token of the `developer` user (no RBAC bindings).
    pub developer_token: String,
    /// The Kubernetes version it runs (`1.37.2`).
    pub kube_version: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The workspace root (parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The shared cluster, started on first call.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let dir = match std::env::var_os("KUBECTL_PACK_TEST_CLUSTER") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let dir =
                    std::env::temp_dir().join(format!("kubectl-pack-e2e-{}", std::process::id()));
                let script = workspace_root().join("tests/cluster/cluster.sh");
                let out = Command::new("bash")
                    .arg(&script)
                    .args(["up", "--dir"])
                    .arg(&dir)
                    .args(["--watch-pid", &std::process::id().to_string()])
                    .stderr(Stdio::inherit())
                    .output()
                    .expect("run tests/cluster/cluster.sh");
                assert!(out.status.success(), "tests/cluster/cluster.sh up failed");
                dir
            }
        };
        let env = std::fs::read_to_string(dir.join("env")).expect("cluster env file");
        let get = |key: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{key} missing in cluster env"))
                .to_string()
        };
        Cluster {
            server: get("SERVER"),
            admin_token: get("ADMIN_TOKEN"),
            developer_token: get("DEVELOPER_TOKEN"),
            kube_version: get("KUBE_VERSION"),
            dir,
        }
    })
}

impl Cluster {
    /// The Kubernetes version it runs (`1.37.2`).
    pub fn kube_version(&self) -> &str {
        &self.kube_version
    }

    /// The Kubernetes minor version it runs (37 for 1.37.2).
    pub fn minor(&self) -> u32 {
        self.kube_version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .expect("KUBE_VERSION is 1.MINOR.PATCH")
    }

    /// The kubeconfig with contexts `admin` (current) and `developer`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// Connection flags pointing at this cluster's kubeconfig.
    pub fn args(&self) -> KubeArgs {
        KubeArgs {
            kubeconfig: Some(self.kubeconfig()),
            ..Default::default()
        }
    }

    /// An admin client.
    pub async fn client(&self) -> Client {
        shared::cli::install_crypto_provider();
        self.args()
            .connect_with(&KubeconfigSources::default())
            .await
            .expect("admin client")
            .client
    }
}

/// Polls `cond` every 100 ms until it holds; panics naming `what` once
/// `timeout` has passed. Tests wait with this, never with a bare sleep.
pub async fn wait_until<F, Fut>(what: &str, timeout: std::time::Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A fresh namespace for one test, named after it.
pub async fn namespace(test: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let slug: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let name = format!(
        "t{n}-{}-{}",
        slug.trim_matches('-'),
        std::process::id() % 10000
    );
    let client = cluster().client().await;
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    let ns = serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create test namespace");
    name
}

/// Applies a YAML stream with server-side apply into `namespace`, returning
/// what the server stored.
pub async fn apply_yaml(namespace: &str, yaml: &str) -> Vec<Value> {
    let client = cluster().client().await;
    let resolver = Resolver::new(client.clone());
    let applier = shared::apply::Applier::new(client, &resolver, namespace);
    let objects = shared::stream::parse_stream(yaml, shared::stream::Origin::Stdin)
        .expect("test YAML parses");
    let mut out = Vec::new();
    for obj in &objects {
        let applied = applier
            .apply(obj, shared::apply::ApplyOptions::default())
            .await
            .unwrap_or_else(|e| panic!("apply failed: {e}"));
        out.push(applied.object);
    }
    out
}

/// Replaces part of an object's `status` through the status subresource
/// (merge patch), e.g. to mark a Deployment available.
pub async fn patch_status(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    status: Value,
) {
    let client = cluster().client().await;
    let resolver = Resolver::new(client.clone());
    let rk = resolver
        .resolve(api_version, kind)
        .await
        .expect("discovery")
        .unwrap_or_else(|| panic!("unknown kind {api_version} {kind}"));
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client, ns, &rk.resource),
        None => Api::all_with(client, &rk.resource),
    };
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .unwrap_or_else(|e| panic!("patch status of {kind}/{name}: {e}"));
}

/// How [`finish_job`] ends a Job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// `Complete`, after `SuccessCriteriaMet`, with one pod succeeded.
    Complete,
    /// `Failed` (reason `BackoffLimitExceeded`), after `FailureTarget`.
    Failed,
}

/// Ends a Job the way the Job controller does on a current server (there is
/// no kubelet to run its Pod): the server only accepts a finished Job with
/// its interim condition first (`SuccessCriteriaMet` / `FailureTarget`),
/// `startTime`, no active pods, and for Complete a `completionTime`.
pub async fn finish_job(namespace: &str, name: &str, end: JobEnd) {
    let client = cluster().client().await;
    let api: Api<DynamicObject> = Api::namespaced_with(
        client,
        namespace,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::batch::v1::Job>(&()),
    );
    let live = api
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get Job/{name}: {e}"));
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let start = live.data["status"]["startTime"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| now.clone());
    let cond = |t: &str, reason: &str| {
        json!({"type": t, "status": "True", "reason": reason, "message": reason,
               "lastProbeTime": now, "lastTransitionTime": now})
    };
    let status = match end {
        JobEnd::Complete => json!({
            "active": 0, "ready": 0, "succeeded": 1, "startTime": start, "completionTime": now,
            "conditions": [cond("SuccessCriteriaMet", "CompletionsReached"), cond("Complete", "CompletionsReached")]}),
        JobEnd::Failed => json!({
            "active": 0, "ready": 0, "failed": 1, "startTime": start,
            "conditions": [cond("FailureTarget", "BackoffLimitExceeded"), cond("Failed", "BackoffLimitExceeded")]}),
    };
    patch_status("batch/v1", "Job", Some(namespace), name, status).await;
}

/// Path of a built plugin binary (`render` -> `target/debug/kubectl-pack_render`).
pub fn bin(plugin: &str) -> PathBuf {
    let path = bin_dir().join(format!("kubectl-pack_{plugin}"));
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` before the end-to-end tests",
        path.display()
    );
    path
}

/// The directory holding the built binaries (next to this test binary).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/e2e-HASH -> target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// A command for a plugin binary with the test kubeconfig and no colour.
pub fn plugin(name: &str) -> Command {
    let mut cmd = Command::new(bin(name));
    cmd.env("KUBECONFIG", cluster().kubeconfig())
        .env("NO_COLOR", "1");
    cmd
}

/// Runs a command with `stdin` as its input and returns its output.
pub fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(data.as_bytes());
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

/// stdout and stderr of an output as strings, for assertions.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A kubectl command against the test cluster.
pub fn kubectl() -> Command {
    let mut cmd = Command::new(kubectl_bin());
    cmd.env("KUBECONFIG", cluster().kubeconfig());
    cmd
}

/// A plugin command that must not touch any cluster: KUBECONFIG points
/// nowhere, so any API call would fail.
pub fn offline_plugin(name: &str) -> Command {
    let mut cmd = Command::new(bin(name));
    cmd.env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("NO_COLOR", "1")
        .env_remove("HOME");
    cmd
}

/// Runs a plugin against the test cluster with `stdin`; returns
/// (exit code, stdout, stderr).
pub fn run_plugin(name: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut cmd = plugin(name);
    cmd.args(args);
    let out = run_with_stdin(cmd, stdin);
    let (o, e) = texts(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

/// Runs a command (no stdin) and returns (exit code, stdout, stderr).
pub fn run(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run command");
    let (o, e) = texts(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

/// The fixtures directory of the tests (`tests/fixtures`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Writes `files` (relative path, contents) under a new temporary directory.
pub fn write_tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

/// A cluster of its own for one test (for tests that stop the API server).
pub struct PrivateCluster {
    /// Its directory (kubeconfig, env, pids).
    pub dir: PathBuf,
    /// One private cluster at a time: each is a whole etcd and API server
    /// on a 2-core machine, and their tests time restarts.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static PRIVATE: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl PrivateCluster {
    /// Starts one (about five seconds).
    pub fn start(name: &str) -> PrivateCluster {
        let guard = PRIVATE.lock().unwrap_or_else(|e| e.into_inner());
        let dir =
            std::env::temp_dir().join(format!("kubectl-pack-e2e-{name}-{}", std::process::id()));
        let status = Command::new("bash")
            .arg(workspace_root().join("tests/cluster/cluster.sh"))
            .args(["up", "--dir"])
            .arg(&dir)
            .args(["--watch-pid", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()
            .expect("run tests/cluster/cluster.sh");
        assert!(status.success(), "private cluster did not start");
        PrivateCluster {
            dir,
            _one_at_a_time: guard,
        }
    }

    /// Its kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    fn ctl(&self, what: &str) {
        let status = Command::new("bash")
            .arg(workspace_root().join("tests/cluster/cluster.sh"))
            .args([what, "--dir"])
            .arg(&self.dir)
            .status()
            .expect("cluster.sh");
        assert!(status.success(), "cluster.sh {what} failed");
    }

    /// Stops kube-apiserver only.
    pub fn stop_apiserver(&self) {
        self.ctl("stop-apiserver");
    }

    /// Starts kube-apiserver again and waits until it is ready.
    pub fn start_apiserver(&self) {
        self.ctl("start-apiserver");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.ctl("down");
    }
}

/// A peer binary (`helm` = Helm 4, `helm3`, `kubectl` = kubectl 1.35),
/// fetched once into the cache by `scripts/peers.py` and then remembered.
pub fn peer(name: &str) -> PathBuf {
    static PEERS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut peers = PEERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = peers.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let out = Command::new("python3")
        .arg(workspace_root().join("scripts/peers.py"))
        .arg(name)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/peers.py");
    assert!(out.status.success(), "scripts/peers.py {name} failed");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    peers.push((name.to_string(), path.clone()));
    path
}

/// Helm 4 (the peer).
pub fn helm() -> PathBuf {
    peer("helm")
}

/// Helm 3 (its release records must keep working).
pub fn helm3() -> PathBuf {
    peer("helm3")
}

/// kubectl 1.35 (the peer), for plugin discovery and interop checks.
pub fn kubectl_bin() -> PathBuf {
    peer("kubectl")
}

/// The namespace `deploy/controllers` is applied to.
pub const SYSTEM_NAMESPACE: &str = "kubectl-pack-system";

/// Applies `deploy/controllers` with the suite itself, once per run
/// (`pack-waves apply --wait=false`: no kubelet runs the Deployments).
pub fn deploy_controllers() {
    static DONE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let dir = workspace_root().join("deploy/controllers");
    let (code, _, err) = run_plugin(
        "waves",
        &[
            "apply",
            "kubectl-pack",
            "-n",
            SYSTEM_NAMESPACE,
            "--create-namespace",
            "--wait=false",
            "-f",
            dir.to_str().expect("utf-8 path"),
        ],
        "",
    );
    assert_eq!(code, 0, "deploy/controllers: {err}");
    *done = true;
}

/// A process "inside a Pod" of ServiceAccount `account` of
/// `deploy/controllers`: no kubeconfig, `KUBERNETES_SERVICE_HOST`, and a
/// token from the TokenRequest API, so its RBAC is all it can do.
pub struct InCluster {
    sa: tempfile::TempDir,
    home: tempfile::TempDir,
    port: String,
}

impl InCluster {
    /// Deploys `deploy/controllers` (once) and mounts a token of `account`.
    pub fn service_account(account: &str) -> InCluster {
        deploy_controllers();
        let token = kubectl()
            .args([
                "create",
                "token",
                account,
                "-n",
                SYSTEM_NAMESPACE,
                "--duration",
                "1h",
            ])
            .output()
            .expect("kubectl create token");
        assert!(
            token.status.success(),
            "{}",
            String::from_utf8_lossy(&token.stderr)
        );
        let sa = tempfile::tempdir().expect("tempdir");
        std::fs::write(sa.path().join("token"), &token.stdout).expect("token");
        std::fs::write(sa.path().join("namespace"), SYSTEM_NAMESPACE).expect("namespace");
        std::fs::copy(
            cluster().dir.join("certs/apiserver.crt"),
            sa.path().join("ca.crt"),
        )
        .expect("ca.crt");
        let port = cluster()
            .server
            .rsplit(':')
            .next()
            .expect("port")
            .to_string();
        InCluster {
            sa,
            home: tempfile::tempdir().expect("tempdir"),
            port,
        }
    }

    /// The mounted ServiceAccount token (a projected token's file).
    pub fn token_file(&self) -> PathBuf {
        self.sa.path().join("token")
    }

    /// A command for `plugin` as that Pod would run it.
    pub fn command(&self, plugin: &str) -> Command {
        let mut c = Command::new(bin(plugin));
        c.env_remove("KUBECONFIG")
            .env("HOME", self.home.path())
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", &self.port)
            .env(shared::kubeconfig::SERVICE_ACCOUNT_DIR_ENV, self.sa.path())
            .env("NO_COLOR", "1");
        c
    }
}

/// A child process killed (and reaped) when dropped, so a failing test
/// leaves no watcher or controller running.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// `GET path` on a loopback port (probes, metrics): the whole response,
/// empty when nothing listens.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    if write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
        return String::new();
    }
    let mut out = String::new();
    s.read_to_string(&mut out).ok();
    out
}

/// A free loopback port (for a server a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The flags of one replica of a leader-elected controller under test:
/// Lease `lease` in [`SYSTEM_NAMESPACE`] (where `deploy/` lets every
/// controller hold Leases), lasting 4 s so takeovers are quick.
pub fn leader_flags(lease: &str) -> Vec<String> {
    [
        "--leader-elect",
        "--leader-elect-namespace",
        SYSTEM_NAMESPACE,
        "--leader-elect-lease",
        lease,
        "--leader-elect-duration",
        "4s",
    ]
    .map(String::from)
    .to_vec()
}

/// Waits (30 s at most) until the log file `log` of a process holds `want`;
/// the panic shows the log.
pub async fn wait_for_log(log: &Path, want: &str) {
    let read = || std::fs::read_to_string(log).unwrap_or_default();
    let start = std::time::Instant::now();
    while !read().contains(want) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no '{want}' in {} within 30s:\n{}",
            log.display(),
            read()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
