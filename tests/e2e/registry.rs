//! Packs travel like charts: `package` (reproducible archives), `push` and
//! `pull` through a real OCI registry (Debian's docker-registry), `render`
//! from an archive or straight from `oci://` into `pack-waves apply` on the
//! real API server, credentials and TLS, and refused hostile input.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::registry::Registry;
use harness::{namespace, plugin, run_with_stdin, texts};

fn webapp() -> PathBuf {
    harness::workspace_root().join("examples/webapp")
}

/// The render plugin with its own OCI cache and Docker config folder.
fn render(cache: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut c = plugin("render");
    c.args(args)
        .env("KUBECTL_PACK_CACHE", cache)
        .env("DOCKER_CONFIG", cache.join("docker"));
    let out = run_with_stdin(c, stdin);
    let (o, e) = texts(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

/// Runs a shell script in `dir` (building hostile archives by hand).
fn sh(dir: &Path, script: &str) {
    let status = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "{script}");
}

fn package(cache: &Path, dest: &Path) -> PathBuf {
    let (code, out, err) = render(
        cache,
        &[
            "package",
            webapp().to_str().unwrap(),
            "-d",
            dest.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    PathBuf::from(out.trim())
}

#[tokio::test]
async fn a_pack_goes_through_a_registry_into_the_cluster() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    // Reproducible: two packagings, one digest.
    let first = package(&cache, &work.path().join("a"));
    let second = package(&cache, &work.path().join("b"));
    assert_eq!(first.file_name().unwrap(), "webapp-1.2.0.tgz");
    let bytes = std::fs::read(&first).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(&second).unwrap(),
        "same pack, same bytes"
    );

    // A local archive renders like its folder.
    let (code, from_dir, err) = render(&cache, &["app", webapp().to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    let (code, from_archive, err) = render(&cache, &["app", first.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(from_dir, from_archive);

    let registry = Registry::plain();
    let repo = registry.oci("packs/webapp");
    let (code, pushed, err) = render(
        &cache,
        &["push", first.to_str().unwrap(), &repo, "--plain-http"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let pushed = pushed.trim().to_string();
    assert!(
        pushed.starts_with(&format!("{repo}:1.2.0@sha256:")),
        "{pushed}"
    );
    let digest = pushed.rsplit('@').next().unwrap().to_string();

    // On a clean cache: render oci:// --version | pack-waves apply.
    let ns = namespace("registry-pipe").await;
    let (code, stream, err) = render(
        &cache,
        &[
            "myapp",
            &repo,
            "--version",
            "1.2.0",
            "--plain-http",
            "-e",
            "production",
            "-n",
            &ns,
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let mut waves = plugin("waves");
    waves.args(["apply", "myapp", "-n", &ns, "--wait=false"]);
    let out = run_with_stdin(waves, &stream);
    assert!(out.status.success(), "{:?}", texts(&out));
    let out = harness::kubectl()
        .args(["get", "configmaps,deployments", "-n", &ns, "-o", "name"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());

    // pull by digest writes the same archive.
    let pulled = work.path().join("pulled");
    let (code, out, err) = render(
        &cache,
        &[
            "pull",
            &format!("{repo}@{digest}"),
            "-d",
            pulled.to_str().unwrap(),
            "--plain-http",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(out.trim()).unwrap(), bytes);

    // By digest, the cache answers with the registry gone.
    drop(registry);
    let by_digest = format!("{repo}@{digest}");
    let (code, offline, err) = render(&cache, &["app", &by_digest, "--plain-http"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(offline, from_archive);
    // A tampered cached archive is refused; nothing rendered.
    let layer = std::fs::read_dir(cache.join("oci/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read(p).unwrap() == bytes)
        .expect("the archive in the cache");
    std::fs::write(&layer, b"tampered").unwrap();
    let (code, out, err) = render(&cache, &["app", &by_digest, "--plain-http"], "");
    assert!(
        code == 1 && out.is_empty() && err.contains("does not match its digest"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test]
async fn a_tls_registry_with_basic_auth_takes_flags_or_docker_credentials() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let archive = package(&cache, work.path());
    let registry = Registry::tls_with_auth();
    let (user, password) = registry.credentials.clone().unwrap();
    let repo = registry.oci("team/webapp");
    let ca = registry.ca_file();
    let ca = ca.to_str().unwrap();
    let a = archive.to_str().unwrap();

    let (code, _, err) = render(&cache, &["push", a, &repo, "--ca-file", ca], "");
    assert!(
        code == 1 && err.contains("refused access") && err.contains("--password-stdin"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = render(
        &cache,
        &[
            "push",
            a,
            &repo,
            "--ca-file",
            ca,
            "--username",
            &user,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains(&password), "the password is never printed");

    // Without the CA: an untrusted certificate, one line.
    let (code, _, err) = render(
        &cache,
        &[
            "pull",
            &format!("{repo}:1.2.0"),
            "-d",
            work.path().to_str().unwrap(),
            "--username",
            &user,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert!(
        code == 1 && err.contains("cannot reach the registry"),
        "{err}"
    );

    // Regression: --password-stdin is read once, though a render asks the
    // registry twice (manifest, then archive).
    let (code, out, err) = render(
        &cache,
        &[
            "app",
            &repo,
            "--version",
            "1.2.0",
            "--ca-file",
            ca,
            "--username",
            &user,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert!(code == 0 && out.contains("kind: Deployment"), "{err}");
    std::fs::remove_dir_all(cache.join("oci")).unwrap();

    // Docker's config.json credentials.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::create_dir_all(cache.join("docker")).unwrap();
    std::fs::write(
        cache.join("docker/config.json"),
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
            registry.host
        ),
    )
    .unwrap();
    let (code, out, err) = render(
        &cache,
        &["app", &repo, "--version", "1.2.0", "--ca-file", ca],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kind: Deployment"), "{out}");
}

#[test]
fn registry_and_archive_errors_are_one_line() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let registry = Registry::plain();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "app".into(),
                registry.oci("packs/none"),
                "--version".into(),
                "9.9.9".into(),
                "--plain-http".into(),
            ],
            "not found in the registry",
        ),
        (
            vec![
                "app".into(),
                "oci://no-such-host.invalid/packs/x:1.0.0".into(),
            ],
            "cannot reach the registry no-such-host.invalid",
        ),
        (
            vec![
                "app".into(),
                webapp().display().to_string(),
                "--version".into(),
                "1.0.0".into(),
            ],
            "is not an oci:// reference",
        ),
        (
            vec!["pull".into(), "https://example.com/x".into()],
            "starts with oci://",
        ),
        (
            vec![
                "app".into(),
                registry.oci("packs/webapp"),
                "--plain-http".into(),
            ],
            "which version? Give --version",
        ),
    ];
    for (args, says) in cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = render(&cache, &argv, "");
        assert!(
            code == 1 && out.is_empty() && err.contains(says),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    // A hostile local archive: a symlink entry.
    let evil = work.path().join("evil.tgz");
    sh(
        work.path(),
        &format!(
            "mkdir -p p && ln -s /etc/passwd p/Pack.yaml && tar -czf {} p",
            evil.display()
        ),
    );
    let (code, _, err) = render(&cache, &["app", evil.to_str().unwrap()], "");
    assert!(code == 1 && err.contains("is a symlink"), "{err}");
}

/// Helm 4 with its homes in `dir`.
fn helm(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(harness::helm())
        .args(args)
        .current_dir(dir)
        .env("HELM_CONFIG_HOME", dir.join("helm-config"))
        .env("HELM_CACHE_HOME", dir.join("helm-cache"))
        .env("HELM_DATA_HOME", dir.join("helm-data"))
        .output()
        .unwrap();
    let (o, e) = texts(&out);
    assert!(out.status.success(), "helm {args:?}: {e}");
    o + &e
}

#[test]
fn versions_lists_the_semver_tags_of_packs_and_of_a_chart_helm_pushed() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let cache = w.join("cache");
    let registry = Registry::plain();
    // Helm speaks to the same registry: its chart's tags are ours to list.
    helm(w, &["create", "demo"]);
    for version in ["0.3.0", "0.4.0-rc.1"] {
        helm(w, &["package", "demo", "--version", version]);
        helm(
            w,
            &[
                "push",
                &format!("demo-{version}.tgz"),
                &registry.oci("charts"),
                "--plain-http",
            ],
        );
    }
    let charts = registry.oci("charts/demo");
    let (code, out, err) = render(&cache, &["versions", &charts, "--plain-http"], "");
    assert_eq!((code, out.as_str()), (0, "0.3.0\n"), "{err}");
    let (_, out, _) = render(
        &cache,
        &["versions", &charts, "--plain-http", "--devel"],
        "",
    );
    assert_eq!(out, "0.4.0-rc.1\n0.3.0\n");

    let archive = package(&cache, w);
    let packs = registry.oci("packs/webapp");
    for tag in ["1.2.0", "1.3.0", "2.0.0", "latest"] {
        let (code, _, err) = render(
            &cache,
            &[
                "push",
                archive.to_str().unwrap(),
                &format!("{packs}:{tag}"),
                "--plain-http",
            ],
            "",
        );
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = render(
        &cache,
        &[
            "versions",
            &packs,
            "--constraint",
            ">=1.2, <2",
            "--plain-http",
        ],
        "",
    );
    assert_eq!((code, out.as_str()), (0, "1.3.0\n1.2.0\n"), "{err}");
    assert!(
        err.contains("1 not semver") && err.contains("newest: 1.3.0"),
        "{err}"
    );
    let (code, _, err) = render(
        &cache,
        &["versions", &packs, "--constraint", ">=5", "--plain-http"],
        "",
    );
    assert!(code == 1 && err.contains("newest: none"), "{err}");
    let (code, _, err) = render(
        &cache,
        &["versions", &packs, "--constraint", "soon", "--plain-http"],
        "",
    );
    assert!(code == 2 && err.contains("--constraint"), "{err}");
}

/// A Helm-style HTTP repository: serves a folder with an `ETag` on every
/// file, answers `304` to a matching `If-None-Match`, and logs each GET
/// (`path if-none-match`) — a few lines of Python's standard library.
struct IndexServer {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

const INDEX_SERVER: &str = r#"
import hashlib, http.server, os, sys
root, log = sys.argv[1], open(sys.argv[2], "a")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = os.path.join(root, self.path.lstrip("/"))
        inm = self.headers.get("If-None-Match")
        log.write("%s %s\n" % (self.path, inm or "-")); log.flush()
        if not os.path.isfile(path):
            self.send_response(404); self.end_headers(); return
        data = open(path, "rb").read()
        tag = '"%s"' % hashlib.sha256(data).hexdigest()
        if inm == tag:
            self.send_response(304); self.send_header("ETag", tag); self.end_headers(); return
        self.send_response(200); self.send_header("ETag", tag)
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

impl IndexServer {
    fn start(root: &Path) -> IndexServer {
        use std::io::BufRead;
        let log = root.join("requests.log");
        let mut child = Command::new("python3")
            .args(["-c", INDEX_SERVER])
            .arg(root)
            .arg(&log)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        IndexServer {
            child,
            port: line.trim().parse().unwrap(),
            log,
        }
    }

    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for IndexServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small pack `name` `version` whose one template is a ConfigMap.
fn small_pack(root: &Path, name: &str, version: &str, extra: &str) -> PathBuf {
    let dir = root.join(format!("{name}-{version}-src"));
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Pack.yaml"),
        format!("apiVersion: sherpack/v1\nkind: application\nmetadata: {{name: {name}, version: {version}}}\n{extra}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-cm\ndata:\n  version: \"{version}\"\n"),
    )
    .unwrap();
    dir
}

#[test]
fn dependencies_come_from_oci_and_http_repositories_pinned_by_digest() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let cache = w.join("cache");
    let registry = Registry::plain();
    // OCI: common 1.0.0, 1.1.0, 2.0.0 and a 1.2.0-rc.1.
    for version in ["1.0.0", "1.1.0", "2.0.0", "1.2.0-rc.1"] {
        let src = small_pack(w, "common", version, "");
        let (archive, _) = package_into(&cache, &src, &w.join("built"));
        let (code, _, err) = render(
            &cache,
            &[
                "push",
                &archive,
                &registry.oci("deps/common"),
                "--plain-http",
            ],
            "",
        );
        assert_eq!(code, 0, "{err}");
    }
    // HTTP: a Helm-style index with extras 0.1.0 and 0.2.0.
    let repo = w.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let mut entries = String::new();
    for version in ["0.1.0", "0.2.0"] {
        let (_, digest) = package_into(&cache, &small_pack(w, "extras", version, ""), &repo);
        entries.push_str(&format!(
            "  - version: {version}\n    digest: {digest}\n    urls: [extras-{version}.tgz]\n"
        ));
    }
    std::fs::write(
        repo.join("index.yaml"),
        format!("apiVersion: v1\nentries:\n  extras:\n{entries}"),
    )
    .unwrap();
    let server = IndexServer::start(&repo);

    let app = small_pack(
        w,
        "app",
        "0.1.0",
        &format!(
            "dependencies:\n  - {{name: common, version: \"^1.0\", repository: \"{}\"}}\n  - {{name: extras, version: \">=0.1\", repository: \"http://127.0.0.1:{}\"}}\nresolution: {{strategy: newest-compatible}}\n",
            registry.oci("deps"),
            server.port
        ),
    );
    let a = app.to_str().unwrap();
    let (code, out, err) = render(&cache, &["deps", "update", a, "--plain-http"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "common 1.1.0 (added)\nextras 0.2.0 (added)\n",
        "newest in range, no pre-release"
    );
    let lock = std::fs::read_to_string(app.join("Pack.lock.yaml")).unwrap();
    assert!(
        lock.contains("digest: sha256:") && lock.contains("version: \"1.1.0\""),
        "{lock}"
    );
    assert!(
        app.join("charts/common-1.1.0.tgz").is_file()
            && app.join("charts/extras-0.2.0.tgz").is_file()
    );

    // The render takes both from charts/.
    let (code, out, err) = render(&cache, &["app", a], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("name: common-cm")
            && out.contains("version: \"1.1.0\"")
            && out.contains("name: extras-cm"),
        "{out}"
    );

    // Again: unchanged, and the index came back as 304 to If-None-Match.
    let (code, out, err) = render(&cache, &["deps", "update", a, "--plain-http"], "");
    assert_eq!(
        (code, out.as_str()),
        (0, "common 1.1.0 (unchanged)\nextras 0.2.0 (unchanged)\n"),
        "{err}"
    );
    let log = server.requests();
    assert!(
        log.lines()
            .filter(|l| l.starts_with("/index.yaml \""))
            .count()
            == 1,
        "one conditional GET: {log}"
    );

    // deps resolve keeps the remote pins and reports no change.
    let (code, _, err) = render(&cache, &["deps", "resolve", a], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(app.join("Pack.lock.yaml")).unwrap(),
        lock,
        "{err}"
    );
    assert!(!err.contains("->") && !err.contains("(removed)"), "{err}");

    // A tampered vendored archive is refused: nothing rendered.
    std::fs::copy(
        app.join("charts/extras-0.2.0.tgz"),
        app.join("charts/common-1.1.0.tgz"),
    )
    .unwrap();
    let (code, out, err) = render(&cache, &["app", a], "");
    assert!(
        code == 1 && out.is_empty() && err.contains("does not match the digest in Pack.lock.yaml"),
        "{err}"
    );

    // A misspelt Pack.yaml field is a warning naming it.
    let pack_yaml = app.join("Pack.yaml");
    let text = std::fs::read_to_string(&pack_yaml).unwrap();
    std::fs::write(
        &pack_yaml,
        text.replace(
            "strategy: newest-compatible",
            "strategy: newest-compatible, stratgy: x",
        ),
    )
    .unwrap();
    let (_, _, err) = render(&cache, &["deps", "update", a, "--plain-http"], "");
    let (_, _, err2) = render(&cache, &["app", a], "");
    assert!(
        err2.contains("unknown field resolution.stratgy"),
        "{err}{err2}"
    );
}

/// Packages `src` into `dir`; the archive's path and its index digest.
fn package_into(cache: &Path, src: &Path, dir: &Path) -> (String, String) {
    let (code, out, err) = render(
        cache,
        &[
            "package",
            src.to_str().unwrap(),
            "-d",
            dir.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    use sha2::Digest;
    let digest = format!(
        "{:x}",
        sha2::Sha256::digest(std::fs::read(out.trim()).unwrap())
    );
    (out.trim().to_string(), digest)
}

#[test]
fn deps_audit_reports_newer_deprecated_yanked_unpinned_and_licences() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let cache = w.join("cache");
    let registry = Registry::plain();
    let push = |version: &str| {
        let src = small_pack(w, "common", version, "");
        let pack_yaml = src.join("Pack.yaml");
        let text = std::fs::read_to_string(&pack_yaml).unwrap();
        std::fs::write(
            &pack_yaml,
            text.replace("version: ", "license: Apache-2.0, version: "),
        )
        .unwrap();
        let (archive, _) = package_into(&cache, &src, &w.join("built"));
        let (code, _, err) = render(
            &cache,
            &[
                "push",
                &archive,
                &registry.oci("audit/common"),
                "--plain-http",
            ],
            "",
        );
        assert_eq!(code, 0, "{err}");
    };
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        push(v);
    }
    let repo = w.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let mut digests = Vec::new();
    for version in ["0.1.0", "0.2.0", "0.3.0"] {
        let (_, digest) = package_into(&cache, &small_pack(w, "extras", version, ""), &repo);
        digests.push((version, digest));
    }
    let index = |marks: &dyn Fn(&str) -> &'static str, upto: usize| {
        let mut entries = String::new();
        for (version, digest) in &digests[..upto] {
            entries.push_str(&format!("  - version: {version}\n    digest: {digest}\n    urls: [extras-{version}.tgz]\n{}", marks(version)));
        }
        std::fs::write(
            repo.join("index.yaml"),
            format!("apiVersion: v1\nentries:\n  extras:\n{entries}"),
        )
        .unwrap();
    };
    index(&|_| "", 2);
    let server = IndexServer::start(&repo);
    let app = small_pack(
        w,
        "app",
        "0.1.0",
        &format!(
            "dependencies:\n  - {{name: common, version: \"~1.1\", repository: \"{}\"}}\n  - {{name: extras, version: \">=0.1\", repository: \"http://127.0.0.1:{}\"}}\n",
            registry.oci("audit"),
            server.port
        ),
    );
    let a = app.to_str().unwrap();
    let (code, out, err) = render(&cache, &["deps", "update", a, "--plain-http"], "");
    assert_eq!(
        (code, out.as_str()),
        (0, "common 1.1.0 (added)\nextras 0.2.0 (added)\n"),
        "{err}"
    );

    // Clean: nothing newer, both pinned, licences as declared.
    let (code, out, err) = render(&cache, &["deps", "audit", a, "--plain-http"], "");
    assert_eq!(code, 0, "{out}{err}");
    let common = out.lines().find(|l| l.starts_with("common ")).unwrap();
    assert!(
        common.contains("1.1.0")
            && common.contains("~1.1")
            && common.contains("2.0.0")
            && common.ends_with("Apache-2.0"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("extras ") && l.ends_with("(none declared)")),
        "{out}"
    );

    // The repositories move on: 1.1.5 (allowed) and 1.2.0 (excluded) are
    // pushed; the index deprecates the extras in use and yanks 0.3.0.
    push("1.1.5");
    push("1.2.0");
    index(
        &|v| match v {
            "0.2.0" => "    deprecated: true\n",
            "0.3.0" => "    yanked: true\n",
            _ => "",
        },
        3,
    );
    let (code, out, err) = render(
        &cache,
        &["deps", "audit", a, "--plain-http", "-o", "json"],
        "",
    );
    assert_eq!(
        code, 1,
        "a deprecated version in use fails the audit: {out}{err}"
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let deps = report["dependencies"].as_array().unwrap();
    assert_eq!(deps[0]["name"], "common");
    assert_eq!(deps[0]["newerAllowed"], serde_json::json!(["1.1.5"]));
    assert_eq!(
        deps[0]["newerExcluded"],
        serde_json::json!(["2.0.0", "1.2.0"])
    );
    assert!(deps[0]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(deps[1]["yanked"], serde_json::json!(["0.3.0"]));
    assert_eq!(
        deps[1]["newerAllowed"],
        serde_json::json!([]),
        "a yanked version is never offered"
    );
    assert_eq!(
        deps[1]["problems"],
        serde_json::json!(["0.2.0 is deprecated by its repository"])
    );

    // Without the lock, both remote packs are unpinned.
    std::fs::remove_file(app.join("Pack.lock.yaml")).unwrap();
    let (code, out, _) = render(&cache, &["deps", "audit", a, "--plain-http"], "");
    assert_eq!(code, 1);
    assert!(
        out.contains(
            "common: not pinned by digest in Pack.lock.yaml: run kubectl pack-render deps update"
        ),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("common ") && l.contains(" none ")),
        "{out}"
    );
}

/// A proxy in front of a registry that answers `500` to the first `fail`
/// GETs of a manifest, then passes everything through.
const FLAKY_PROXY: &str = r#"
import http.client, http.server, sys
upstream, fail = sys.argv[1], int(sys.argv[2])
state = {"failed": 0}
class H(http.server.BaseHTTPRequestHandler):
    def relay(self, method):
        if "/manifests/" in self.path and state["failed"] < fail:
            state["failed"] += 1
            self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers(); return
        c = http.client.HTTPConnection(upstream)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        c.request(method, self.path, headers=headers)
        r = c.getresponse(); body = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body))); self.end_headers()
        if method != "HEAD": self.wfile.write(body)
    def do_GET(self): self.relay("GET")
    def do_HEAD(self): self.relay("HEAD")
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

#[test]
fn a_registry_failing_with_500_is_asked_again_and_oversized_archives_are_refused() {
    use std::io::BufRead;
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let registry = Registry::plain();
    let archive = package(&cache, work.path());
    let (code, _, err) = render(
        &cache,
        &[
            "push",
            archive.to_str().unwrap(),
            &registry.oci("packs/webapp"),
            "--plain-http",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let mut proxy = Command::new("python3")
        .args(["-c", FLAKY_PROXY, &registry.host, "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufReader::new(proxy.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let via = format!("oci://127.0.0.1:{}/packs/webapp:1.2.0", port.trim());
    let (code, out, err) = render(&cache, &["app", &via, "--plain-http"], "");
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kind: Deployment"), "{out}");
    assert_eq!(err.matches("asking again").count(), 2, "{err}");

    // 65 MiB of zeros gzip to a few dozen KiB: refused by the unpacked limit.
    let bomb = work.path().join("bomb.tgz");
    sh(
        work.path(),
        &format!(
            "mkdir -p big && printf 'apiVersion: sherpack/v1\\nkind: application\\nmetadata: {{name: big, version: 1.0.0}}\\n' > big/Pack.yaml && head -c 68157440 /dev/zero > big/zeros && tar -czf {} big",
            bomb.display()
        ),
    );
    let (code, out, err) = render(&cache, &["app", bomb.to_str().unwrap()], "");
    assert!(
        code == 1 && out.is_empty() && err.contains("over 64 MiB unpacked"),
        "{err}"
    );
}

#[test]
fn an_archive_tampered_on_the_registry_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let archive = package(&cache, work.path());
    let bytes = std::fs::read(&archive).unwrap();
    let registry = Registry::plain();
    let repo = registry.oci("packs/webapp");
    let (code, _, err) = render(
        &cache,
        &["push", archive.to_str().unwrap(), &repo, "--plain-http"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    // Change the stored blob behind the registry's back (its storage is a
    // folder of ours): it now serves other bytes under the same digest.
    use sha2::Digest;
    let hex = format!("{:x}", sha2::Sha256::digest(&bytes));
    let blob = registry
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    let mut evil = bytes.clone();
    let last = evil.len() - 1;
    evil[last] ^= 0xff;
    std::fs::write(&blob, &evil).unwrap();
    let (code, out, err) = render(
        &cache,
        &["app", &repo, "--version", "1.2.0", "--plain-http"],
        "",
    );
    assert!(code == 1 && out.is_empty(), "{err}");
    assert!(
        err.contains("does not match its digest") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(
        std::fs::read_dir(cache.join("oci/sha256"))
            .unwrap()
            .all(|e| std::fs::read(e.unwrap().path()).unwrap() != evil),
        "nothing tampered is cached"
    );
}
