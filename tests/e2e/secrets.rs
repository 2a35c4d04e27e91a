//! `kubectl pack-secrets` file commands and the render integration, through
//! the binaries: the file real sops wrote, interop with Debian's `age` CLI
//! and Python's AES-GCM, edit/set/unset/rotate/updatekeys/status, distinct
//! errors, and `kubectl pack-render` with encrypted values.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::providers::python;
use harness::{bin, fixtures, run};

const FIXTURE_RECIPIENT: &str = "age1rh2xsjg8avja92j3jhtttuczgmqkz89lezxt4e3mmp5ukl5j4f9smvteju";

/// A pack-secrets command with a private HOME and no inherited SOPS keys.
pub(crate) fn secrets(home: &Path) -> Command {
    let mut cmd = Command::new(bin("secrets"));
    cmd.env("HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY_CMD")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .current_dir(home);
    cmd
}

fn sops_fixture(name: &str) -> PathBuf {
    fixtures().join("sops").join(name)
}

/// A temp HOME with a fresh identity in ~/.config/sops/age/keys.txt; returns (dir, recipient).
pub(crate) fn home_with_key() -> (tempfile::TempDir, String) {
    let home = tempfile::tempdir().unwrap();
    let keys = home.path().join(".config/sops/age/keys.txt");
    let (code, out, err) = run({
        let mut c = secrets(home.path());
        c.args(["init", "--output"]).arg(&keys);
        c
    });
    assert_eq!(code, 0, "{err}");
    (home, out.trim().to_string())
}

fn yaml(text: &str) -> serde_json::Value {
    shared::yaml::from_str(text).unwrap()
}

#[test]
fn decrypts_the_file_real_sops_wrote() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = secrets(home.path());
    cmd.env("SOPS_AGE_KEY_FILE", sops_fixture("age-key.txt"))
        .arg("decrypt")
        .arg(sops_fixture("secrets.age.yaml"));
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let expected = std::fs::read_to_string(sops_fixture("secrets.age.dec.yaml")).unwrap();
    assert_eq!(yaml(&out), yaml(&expected));

    let mut cmd = secrets(home.path());
    cmd.env(
        "SOPS_AGE_KEY",
        std::fs::read_to_string(sops_fixture("age-key.txt")).unwrap(),
    )
    .args(["decrypt", "--extract", r#"["service"]["port"]"#])
    .arg(sops_fixture("secrets.age.yaml"));
    assert_eq!(run(cmd).1, "92");

    let mut cmd = secrets(home.path());
    cmd.env("SOPS_AGE_KEY_FILE", sops_fixture("age-key.txt"))
        .arg("status")
        .arg(sops_fixture("secrets.age.yaml"));
    let (code, out, _) = run(cmd);
    assert_eq!(code, 0);
    assert!(
        out.contains("mac:          valid") && out.contains(FIXTURE_RECIPIENT),
        "{out}"
    );
}

const PLAIN: &str = "# database settings\ndb:\n    host: db.internal\n    password: hunter2-s3cret\n    port: 5432\n    ratio: 0.75\n    tls: true\nhosts:\n    - a.example\n    - b.example\nempty: \"\"\nnothing: null\nuser_unencrypted: admin\n";

#[test]
fn encrypted_files_open_with_age_cli_and_another_aes_gcm() {
    let (home, recipient) = home_with_key();
    std::fs::write(home.path().join("values.yaml"), PLAIN).unwrap();
    let mut cmd = secrets(home.path());
    cmd.args(["encrypt", "-i", "--age", &recipient, "values.yaml"]);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let enc = std::fs::read_to_string(home.path().join("values.yaml")).unwrap();
    assert!(
        !enc.contains("hunter2")
            && !enc.contains("db.internal")
            && !enc.contains("database settings"),
        "{enc}"
    );
    assert!(
        enc.contains("user_unencrypted: admin")
            && enc.contains("empty: \"\"")
            && enc.contains("type:comment]"),
        "{enc}"
    );

    // Debian's age (Go) unwraps the data key; Python's cryptography decrypts every value and the MAC.
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("providers/sops_check.py"))
        .arg(home.path().join("values.yaml"))
        .arg(home.path().join(".config/sops/age/keys.txt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["mac_ok"], true);
    assert_eq!(report["docs"][0], yaml(PLAIN));

    // And our decrypt gives back the file, comments and order included.
    let mut cmd = secrets(home.path());
    cmd.args(["decrypt", "values.yaml"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, PLAIN);
}

#[test]
fn every_selection_rule_and_json_round_trip_through_the_binary() {
    let (home, recipient) = home_with_key();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: app\nstringData:\n    token: t0ken-value\n";
    std::fs::write(home.path().join("secret.yaml"), secret).unwrap();
    for (flag, value, plain_part) in [
        ("--encrypted-regex", "^(data|stringData)$", "name: app"),
        (
            "--unencrypted-regex",
            "^(apiVersion|kind|metadata|name)$",
            "kind: Secret",
        ),
        ("--encrypted-suffix", "Data", "kind: Secret"),
        ("--unencrypted-suffix", "_plain", ""),
    ] {
        let mut cmd = secrets(home.path());
        cmd.args(["encrypt", "--age", &recipient, flag, value, "secret.yaml"]);
        let (code, enc, err) = run(cmd);
        assert_eq!(code, 0, "{flag}: {err}");
        assert!(
            !enc.contains("t0ken-value") && enc.contains(plain_part),
            "{flag}: {enc}"
        );
        let stored = format!("{}: ", flag.trim_start_matches("--").replace('-', "_"));
        assert!(enc.contains(&stored), "{flag}: rule stored\n{enc}");
        std::fs::write(home.path().join("secret.enc.yaml"), &enc).unwrap();
        let mut cmd = secrets(home.path());
        cmd.args(["decrypt", "secret.enc.yaml"]);
        assert_eq!(run(cmd).1, secret, "{flag}");
    }
    let json = "{\n\t\"a\": {\n\t\t\"b\": \"x\",\n\t\t\"n\": 3\n\t}\n}\n";
    std::fs::write(home.path().join("v.json"), json).unwrap();
    let mut cmd = secrets(home.path());
    cmd.args(["encrypt", "-i", "--age", &recipient, "v.json"]);
    assert_eq!(run(cmd).0, 0);
    let mut cmd = secrets(home.path());
    cmd.args(["decrypt", "v.json"]);
    assert_eq!(run(cmd).1, json);
}

#[test]
fn wrong_key_missing_key_tampering_and_mac_errors_are_distinct() {
    let (home, recipient) = home_with_key();
    std::fs::write(home.path().join("v.yaml"), PLAIN).unwrap();
    let mut cmd = secrets(home.path());
    cmd.args(["encrypt", "-i", "--age", &recipient, "v.yaml"]);
    assert_eq!(run(cmd).0, 0);
    let enc = std::fs::read_to_string(home.path().join("v.yaml")).unwrap();

    let other = tempfile::tempdir().unwrap();
    std::fs::copy(home.path().join("v.yaml"), other.path().join("v.yaml")).unwrap();
    let (code, _, err) = run({
        let mut c = secrets(other.path());
        c.args(["decrypt", "v.yaml"]);
        c
    });
    assert_eq!(code, 1);
    assert!(
        err.contains("no age identity found") && err.contains(&recipient),
        "{err}"
    );

    let (code, _, err) = run({
        let mut c = secrets(other.path());
        c.arg("--identity")
            .arg(sops_fixture("age-key.txt"))
            .args(["decrypt", "v.yaml"]);
        c
    });
    assert_eq!(code, 1);
    assert!(
        err.contains("none of your 1 age identities") && err.contains(&recipient),
        "{err}"
    );

    // Move one value's ciphertext onto another key: authentication fails at that path.
    let port_line = enc
        .lines()
        .find(|l| l.trim_start().starts_with("port:"))
        .unwrap();
    let host_line = enc
        .lines()
        .find(|l| l.trim_start().starts_with("host:"))
        .unwrap();
    let swapped = enc.replace(port_line, &host_line.replace("host:", "port:"));
    std::fs::write(home.path().join("t.yaml"), swapped).unwrap();
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["decrypt", "t.yaml"]);
        c
    });
    assert_eq!(code, 1);
    assert!(
        err.contains("value at db:port: failed authentication"),
        "{err}"
    );
    assert!(
        !err.contains("db.internal") && !err.contains("5432"),
        "no plaintext in errors: {err}"
    );

    // Remove a value: everything authenticates, the MAC does not.
    let removed: String = enc
        .lines()
        .filter(|l| !l.trim_start().starts_with("ratio:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(home.path().join("m.yaml"), removed).unwrap();
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["decrypt", "m.yaml"]);
        c
    });
    assert_eq!(code, 1);
    assert!(err.contains("MAC mismatch"), "{err}");
    let (code, out, _) = run({
        let mut c = secrets(home.path());
        c.args(["status", "m.yaml"]);
        c
    });
    assert_eq!(code, 1);
    assert!(out.contains("mac:          invalid"), "{out}");
}

#[test]
fn edit_set_unset_keep_unchanged_values_byte_identical() {
    let (home, recipient) = home_with_key();
    std::fs::write(home.path().join("v.yaml"), PLAIN).unwrap();
    run({
        let mut c = secrets(home.path());
        c.args(["encrypt", "-i", "--age", &recipient, "v.yaml"]);
        c
    });
    let before = std::fs::read_to_string(home.path().join("v.yaml")).unwrap();
    let line = |t: &str, k: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with(k))
            .unwrap()
            .to_string()
    };

    // An editor that records where it was run and the file's mode, and changes nothing.
    let record = home.path().join("editor-record");
    let editor = format!(
        "sh -c 'stat -c %a \"$0\" > {r}; echo \"$0\" >> {r}'",
        r = record.display()
    );
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.env("EDITOR", &editor).args(["edit", "v.yaml"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no changes"), "{err}");
    assert_eq!(
        std::fs::read_to_string(home.path().join("v.yaml")).unwrap(),
        before,
        "untouched"
    );
    let rec = std::fs::read_to_string(&record).unwrap();
    let mut rec_lines = rec.lines();
    assert_eq!(rec_lines.next(), Some("600"));
    let tmp = rec_lines.next().unwrap();
    assert!(!Path::new(tmp).exists(), "temp file removed: {tmp}");

    // An editor that changes one value: only that line changes.
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.env("EDITOR", "sed -i s/hunter2-s3cret/rotated-pw/")
            .args(["edit", "v.yaml"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(home.path().join("v.yaml")).unwrap();
    assert_eq!(line(&before, "host:"), line(&after, "host:"));
    assert_ne!(line(&before, "password:"), line(&after, "password:"));

    // A failing editor leaves the file alone and still removes the temp file.
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.env("EDITOR", "false").args(["edit", "v.yaml"]);
        c
    });
    assert_eq!(code, 1);
    assert!(err.contains("left unchanged"), "{err}");
    assert_eq!(
        std::fs::read_to_string(home.path().join("v.yaml")).unwrap(),
        after
    );

    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["set", "v.yaml", r#"["db"]["user"]"#, r#""app""#]);
        c
    });
    assert_eq!(code, 0, "{err}");
    run({
        let mut c = secrets(home.path());
        c.args(["unset", "v.yaml", r#"["hosts"]"#]);
        c
    });
    let (_, out, _) = run({
        let mut c = secrets(home.path());
        c.args(["decrypt", "v.yaml"]);
        c
    });
    let v = yaml(&out);
    assert_eq!(v["db"]["user"], "app");
    assert_eq!(v["db"]["password"], "rotated-pw");
    assert!(v.get("hosts").is_none());
    let last = std::fs::read_to_string(home.path().join("v.yaml")).unwrap();
    assert_eq!(line(&after, "host:"), line(&last, "host:"));
}

#[test]
fn rotate_and_updatekeys_follow_sops_yaml() {
    let (home, first) = home_with_key();
    let second_home = tempfile::tempdir().unwrap();
    let second_key = second_home.path().join("k2.txt");
    let (_, second, _) = run({
        let mut c = secrets(home.path());
        c.args(["init", "--output"]).arg(&second_key);
        c
    });
    let second = second.trim().to_string();
    // init refuses to overwrite.
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["init", "--output"]).arg(&second_key);
        c
    });
    assert_eq!(code, 1);
    assert!(err.contains("refusing to overwrite"), "{err}");

    std::fs::write(
        home.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {first}\n"),
    )
    .unwrap();
    std::fs::create_dir(home.path().join("secrets")).unwrap();
    std::fs::write(home.path().join("secrets/app.yaml"), "token: abc\n").unwrap();
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["encrypt", "-i", "secrets/app.yaml"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    let decrypt_with = |key: &Path| {
        run({
            let mut c = secrets(home.path());
            c.env("HOME", "/nonexistent")
                .arg("--identity")
                .arg(key)
                .args(["decrypt", "secrets/app.yaml"]);
            c
        })
    };
    assert_eq!(decrypt_with(&second_key).0, 1);

    // A file outside every rule has no recipients.
    std::fs::write(home.path().join("other.yaml"), "a: b\n").unwrap();
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["encrypt", "other.yaml"]);
        c
    });
    assert_eq!(code, 1);
    assert!(err.contains("no recipients"), "{err}");

    std::fs::write(
        home.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: [{first}, {second}]\n"
        ),
    )
    .unwrap();
    let data_key_line = |t: &str| {
        t.lines()
            .find(|l| l.contains("-----BEGIN AGE"))
            .map(str::to_string)
    };
    let before = std::fs::read_to_string(home.path().join("secrets/app.yaml")).unwrap();
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["updatekeys", "secrets/app.yaml"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("+ {second}")), "{err}");
    let after = std::fs::read_to_string(home.path().join("secrets/app.yaml")).unwrap();
    assert_eq!(decrypt_with(&second_key).1, "token: abc\n");
    // Same data key: the value's ciphertext is unchanged.
    let token = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("token:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(token(&before), token(&after));
    assert!(data_key_line(&after).is_some());

    // Removing a recipient warns to rotate; rotate gives a new data key.
    std::fs::write(
        home.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {first}\n"),
    )
    .unwrap();
    let (_, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["updatekeys", "secrets/app.yaml"]);
        c
    });
    assert!(err.contains("rotate"), "{err}");
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["rotate", "secrets/app.yaml"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    let rotated = std::fs::read_to_string(home.path().join("secrets/app.yaml")).unwrap();
    assert_ne!(token(&after), token(&rotated));
    assert_eq!(decrypt_with(&second_key).0, 1);
    assert_eq!(
        decrypt_with(&home.path().join(".config/sops/age/keys.txt")).1,
        "token: abc\n"
    );
}

#[test]
fn unsupported_recipients_are_refused() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("v.yaml"), "a: b\n").unwrap();
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["encrypt", "--age", "age1pq1qqqqqqqqqqqqqqqq", "v.yaml"]);
        c
    });
    assert_eq!(code, 1);
    assert!(err.contains("post-quantum"), "{err}");
    let (code, _, err) = run({
        let mut c = secrets(home.path());
        c.args(["encrypt", "--age", "age1yubikey1qqqqqqqqqqqqqqq", "v.yaml"]);
        c
    });
    assert_eq!(code, 1);
    assert!(err.contains("age-plugin-yubikey is not on PATH"), "{err}");
}

#[test]
fn render_decrypts_encrypted_values_in_memory_and_names_recipients_without_a_key() {
    let (home, recipient) = home_with_key();
    std::fs::write(
        home.path().join("prod-secrets.yaml"),
        "secret:\n  apiKey: prod-k3y-9f8e\n",
    )
    .unwrap();
    run({
        let mut c = secrets(home.path());
        c.args(["encrypt", "-i", "--age", &recipient, "prod-secrets.yaml"]);
        c
    });
    let webapp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/webapp");
    let render = |home: &Path, file: &str| {
        let mut c = Command::new(bin("render"));
        c.env("HOME", home)
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .env_remove("XDG_CONFIG_HOME")
            .env("NO_COLOR", "1")
            .current_dir(home)
            .arg(&webapp)
            .args(["-f", file]);
        run(c)
    };
    for spelling in ["prod-secrets.yaml", "secrets://prod-secrets.yaml"] {
        let (code, out, err) = render(home.path(), spelling);
        assert_eq!(code, 0, "{err}");
        let encoded = shared_b64("prod-k3y-9f8e");
        assert!(out.contains(&format!("API_KEY: {encoded}")), "{out}");
        assert!(!err.contains("prod-k3y"), "{err}");
    }
    // No plaintext file was written next to the source (helm-secrets' .dec files).
    let names: Vec<String> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".dec")), "{names:?}");

    let nokey = tempfile::tempdir().unwrap();
    std::fs::copy(
        home.path().join("prod-secrets.yaml"),
        nokey.path().join("prod-secrets.yaml"),
    )
    .unwrap();
    let (code, out, err) = render(nokey.path(), "prod-secrets.yaml");
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("prod-secrets.yaml")
            && err.contains(&recipient)
            && err.contains("no age identity"),
        "{err}"
    );
}

fn shared_b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn render_decrypts_an_encrypted_values_yaml_held_in_a_cluster_secret() {
    let (home, recipient) = home_with_key();
    std::fs::write(
        home.path().join("v.yaml"),
        "secret:\n  apiKey: from-cluster-k3y\n",
    )
    .unwrap();
    let (code, enc, err) = run({
        let mut c = secrets(home.path());
        c.args(["encrypt", "--age", &recipient, "v.yaml"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    let ns = harness::namespace("render-values-from-sops").await;
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(harness::cluster().client().await, &ns);
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "webapp-values"},
        "stringData": {"values.yaml": enc},
    }))
    .unwrap();
    api.create(&Default::default(), &secret).await.unwrap();
    let webapp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/webapp");
    let render = |home: &Path| {
        let mut c = harness::plugin("render");
        c.env("HOME", home)
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("XDG_CONFIG_HOME")
            .arg(&webapp)
            .args(["-n", &ns, "--values-from", "secret/webapp-values"]);
        run(c)
    };
    let (code, out, err) = render(home.path());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("API_KEY: {}", shared_b64("from-cluster-k3y"))),
        "{out}"
    );
    let nokey = tempfile::tempdir().unwrap();
    let (code, _, err) = render(nokey.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("secret/webapp-values key values.yaml") && err.contains(&recipient),
        "{err}"
    );
}
