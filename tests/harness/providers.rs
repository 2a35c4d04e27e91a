//! Local secret-provider servers for the tests: the Vault/GCP/Azure
//! stand-in (`tests/providers/fake_providers.py`) and the AWS emulator
//! moto (`moto_server`), both from the venv `tests/providers/install.sh`
//! builds. Each server is killed when its handle drops.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The venv with moto, cryptography and PyYAML.
pub fn venv() -> PathBuf {
    let cache = std::env::var_os("PACK_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/kubectl-pack")
        });
    let venv = cache.join("venv");
    assert!(
        venv.join("bin/moto_server").exists(),
        "{} has no moto_server; run tests/providers/install.sh (scripts/test.sh does)",
        venv.display()
    );
    venv
}

/// The venv's python.
pub fn python() -> PathBuf {
    venv().join("bin/python")
}

/// A running server on loopback.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _state: Option<tempfile::NamedTempFile>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn providers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("providers")
}

/// Starts the Vault/GCP/Azure stand-in with this initial state.
pub fn fake(state: &serde_json::Value) -> Server {
    let mut file = tempfile::NamedTempFile::new().expect("state file");
    std::io::Write::write_all(&mut file, state.to_string().as_bytes()).expect("write state");
    let mut child = Command::new(python())
        .arg(providers_dir().join("fake_providers.py"))
        .arg(file.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start fake_providers.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read port");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .expect("PORT line")
        .to_string();
    Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _state: Some(file),
    }
}

/// Starts moto's server on a free port and waits until it answers.
pub fn moto() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(venv().join("bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _state: None,
    }
}

/// POSTs JSON to a fake-server admin endpoint.
pub fn admin(server: &Server, path: &str, body: &serde_json::Value) {
    let status = Command::new(python())
        .args([
            "-c",
            "import sys,urllib.request as u;u.urlopen(u.Request(sys.argv[1],data=sys.argv[2].encode(),method='POST'))",
            &format!("{}{path}", server.url),
            &body.to_string(),
        ])
        .status()
        .expect("admin request");
    assert!(status.success(), "admin request {path} failed");
}

/// The fake server's request log.
pub fn requests(server: &Server) -> serde_json::Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys,urllib.request as u;print(u.urlopen(sys.argv[1]).read().decode())",
            &format!("{}/_admin/requests", server.url),
        ])
        .output()
        .expect("requests");
    serde_json::from_slice(&out.stdout).expect("request log JSON")
}

/// Runs a Python snippet with boto3 against moto (AWS env preset).
pub fn boto3(server: &Server, code: &str) {
    let status = Command::new(python())
        .args(["-c", code])
        .envs(aws_env(server))
        .status()
        .expect("python boto3");
    assert!(status.success(), "boto3 snippet failed");
}

/// AWS environment pointing at moto.
pub fn aws_env(server: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", server.url.clone()),
    ]
}
