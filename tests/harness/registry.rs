//! A real OCI registry for the tests: Debian's `docker-registry` (CNCF
//! distribution 2.8, installed by `tests/registry/install.sh`), started on
//! a free loopback port with a private config and storage folder, stopped
//! when dropped. [`Registry::plain`] speaks plain HTTP without auth;
//! [`Registry::tls_with_auth`] serves TLS with a self-signed certificate
//! (its CA file in [`Registry::ca_file`]) and htpasswd basic auth.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Its folder: config, storage, certificate, htpasswd.
    pub dir: tempfile::TempDir,
    /// User and password, when it asks for them.
    pub credentials: Option<(String, String)>,
    child: Child,
}

impl Registry {
    /// Plain HTTP, anonymous.
    pub fn plain() -> Registry {
        Registry::start(false)
    }

    /// TLS (self-signed, see [`Registry::ca_file`]) with basic auth.
    pub fn tls_with_auth() -> Registry {
        Registry::start(true)
    }

    /// The CA certificate (PEM) that signed a TLS registry's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `oci://HOST/<repository>`.
    pub fn oci(&self, repository: &str) -> String {
        format!("oci://{}/{repository}", self.host)
    }

    fn start(secure: bool) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::free_port();
        let host = format!("127.0.0.1:{port}");
        let d = dir.path().display().to_string();
        let mut config = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {d}/data}}\n  delete: {{enabled: true}}\nhttp:\n  addr: {host}\n  secret: kubectl-pack-tests\n"
        );
        let mut credentials = None;
        if secure {
            // A CA, and a server certificate it signs (webpki refuses a
            // CA certificate used as the server's own).
            let sh = format!(
                "set -e; cd {d}; \
                 openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca-key.pem -out ca.pem; \
                 openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out server.csr; \
                 printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf; \
                 openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile ext.cnf -out cert.pem"
            );
            let status = Command::new("bash")
                .args(["-c", &sh])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl");
            assert!(status.success(), "openssl could not make the certificates");
            let status = Command::new("htpasswd")
                .args(["-Bbc"])
                .arg(dir.path().join("htpasswd"))
                .args(["packer", "s3cret-pass"])
                .stderr(Stdio::null())
                .status()
                .expect("htpasswd (apache2-utils; tests/registry/install.sh)");
            assert!(status.success(), "htpasswd failed");
            config.push_str(&format!(
                "  tls: {{certificate: {d}/cert.pem, key: {d}/key.pem}}\nauth:\n  htpasswd: {{realm: kubectl-pack-tests, path: {d}/htpasswd}}\n"
            ));
            credentials = Some(("packer".to_string(), "s3cret-pass".to_string()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write the registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry (tests/registry/install.sh installs it)");
        let registry = Registry {
            host,
            dir,
            credentials,
            child,
        };
        registry.wait_listening();
        registry
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.host).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        panic!(
            "docker-registry did not listen on {} within 20s:\n{log}",
            self.host
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
