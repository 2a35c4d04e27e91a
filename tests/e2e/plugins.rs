//! The five binaries as kubectl plugins: discovered by `kubectl plugin
//! list`, run through `kubectl pack-<x>`, with the shared help, version and
//! exit-code conventions.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use harness::run_plugin;

pub const PLUGINS: [&str; 5] = ["render", "drift", "crd", "secrets", "waves"];

/// A directory holding only our five plugins (as krew lays them out:
/// `kubectl-pack_<x>`), to put first on PATH.
fn plugin_path() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    for p in PLUGINS {
        std::os::unix::fs::symlink(
            harness::bin(p),
            dir.path().join(format!("kubectl-pack_{p}")),
        )
        .unwrap();
    }
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (dir, path)
}

#[test]
fn kubectl_plugin_list_shows_all_five() {
    let (dir, path) = plugin_path();
    let out = Command::new(harness::kubectl_bin())
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for p in PLUGINS {
        let expected: PathBuf = dir.path().join(format!("kubectl-pack_{p}"));
        assert!(
            stdout.contains(&expected.display().to_string()),
            "kubectl-pack_{p} missing from:\n{stdout}"
        );
    }
}

#[test]
fn kubectl_runs_each_plugin_by_its_dashed_name() {
    let (_dir, path) = plugin_path();
    for p in PLUGINS {
        let out = Command::new(harness::kubectl_bin())
            .args([&format!("pack-{p}"), "--help"])
            .env("PATH", &path)
            .output()
            .unwrap();
        let (stdout, stderr) = harness::texts(&out);
        assert!(out.status.success(), "kubectl pack-{p} --help: {stderr}");
        assert!(
            stdout.contains(&format!("Usage: kubectl pack-{p}")),
            "{stdout}"
        );
        for flag in [
            "--kubeconfig",
            "--context",
            "--namespace",
            "--as-group",
            "--request-timeout",
            "--insecure-skip-tls-verify",
        ] {
            assert!(
                stdout.contains(flag),
                "kubectl pack-{p} --help lacks {flag}"
            );
        }
        let out = Command::new(harness::kubectl_bin())
            .args([&format!("pack-{p}"), "--version"])
            .env("PATH", &path)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("kubectl pack-{p} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    for p in PLUGINS {
        let out = Command::new(harness::bin(p))
            .arg("--no-such-flag")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let (_, stderr) = harness::texts(&out);
        assert!(stderr.contains("--no-such-flag"), "{stderr}");

        // Nothing to do: help on stderr (stdout stays clean), exit 2.
        let out = Command::new(harness::bin(p)).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("kubectl pack-{p}")));

        // A bad global flag value fails at parse time, with clap's words.
        let out = Command::new(harness::bin(p))
            .args(["--request-timeout", "5x", "completion", "bash"])
            .output()
            .unwrap();
        let (_, stderr) = harness::texts(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("invalid value '5x' for '--request-timeout <DURATION>'"),
            "{stderr}"
        );
    }
}

#[test]
fn closed_stdout_is_not_a_crash() {
    for p in PLUGINS {
        // Reader closes the pipe before the long help is written.
        let mut child = Command::new(harness::bin(p))
            .arg("--help")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    }
}

/// What bash completes for `words` (the last one being completed), through
/// the script `PLUGIN completion bash` prints, as an interactive bash would.
fn bash_completes(plugin: &str, words: &[&str]) -> Vec<String> {
    let exe = harness::bin(plugin);
    let name = exe.file_name().unwrap().to_str().unwrap().to_string();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "export PATH='{dir}':$PATH\nsource <({name} completion bash)\nfn=$(complete -p {name} | sed -E 's/.*-F ([^ ]+) .*/\\1/')\nCOMP_WORDS=({name} {words})\nCOMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n\"$fn\" {name} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        dir = exe.parent().unwrap().display(),
        words = quoted.join(" "),
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_subcommands_flags_and_values_of_every_plugin() {
    for (plugin, partial, expected) in [
        ("waves", "ap", "apply"),
        ("drift", "hi", "history"),
        ("crd", "val", "validate"),
        ("secrets", "dec", "decrypt"),
        ("render", "dif", "diff-env"),
    ] {
        let got = bash_completes(plugin, &[partial]);
        assert!(
            got.contains(&expected.to_string()),
            "{plugin} {partial}: {got:?}"
        );
    }
    let got = bash_completes("waves", &["apply", "app", "--take"]);
    assert_eq!(got, ["--take-ownership"], "{got:?}");
    let got = bash_completes("waves", &["apply", "app", "--on-failure", ""]);
    for v in ["stop", "continue", "rollback"] {
        assert!(got.contains(&v.to_string()), "{got:?}");
    }
    let got = bash_completes("waves", &["apply", "app", "--rollback-on", "Crash"]);
    assert_eq!(got, ["CrashLoopBackOff"], "{got:?}");
    let got = bash_completes("drift", &["completion", ""]);
    for v in ["bash", "zsh", "fish"] {
        assert!(got.contains(&v.to_string()), "{got:?}");
    }
    // zsh and fish scripts are generated from the same definitions.
    for shell in ["zsh", "fish"] {
        let out = std::process::Command::new(harness::bin("waves"))
            .args(["completion", shell])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("take-ownership"),
            "{shell}: {text}"
        );
    }
}

/// What `kubectl __complete pack-<plugin> WORDS...` answers — the request
/// kubectl's own bash/zsh/fish scripts send on <Tab> — through the
/// `kubectl_complete-pack_<plugin>` helper found on PATH: the candidates
/// (without descriptions) and the directive.
fn kubectl_completes(plugin: &str, words: &[&str]) -> (Vec<String>, String) {
    let (dir, _) = plugin_path();
    let helpers = harness::workspace_root().join("krew/complete");
    let path = format!(
        "{}:{}:{}",
        helpers.display(),
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(harness::kubectl_bin())
        .arg("__complete")
        .arg(format!("pack-{plugin}"))
        .args(words)
        .env("PATH", &path)
        .env("KUBECONFIG", harness::cluster().kubeconfig())
        .output()
        .unwrap();
    let (stdout, stderr) = harness::texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("kubectl_complete-pack_{plugin}")),
        "kubectl did not call the helper: {stderr}"
    );
    let mut lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    let directive = lines.pop().unwrap_or_default();
    let candidates = lines
        .into_iter()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    (candidates, directive)
}

#[tokio::test]
async fn kubectl_completes_release_names_revisions_crds_and_environments() {
    let ns = harness::namespace("kubectl-complete").await;
    for release in ["alpha", "beta"] {
        for i in 1..=2 {
            let stream = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {release}\ndata:\n  i: \"{i}\"\n"
            );
            let mut cmd = harness::plugin("waves");
            cmd.args(["apply", release, "-n", &ns]);
            let out = harness::run_with_stdin(cmd, &stream);
            assert!(out.status.success(), "{:?}", harness::texts(&out));
        }
    }
    let group = format!("{ns}.example.com");
    harness::apply_yaml(
        &ns,
        &format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: gadgets, singular: gadget, kind: Gadget}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {{openAPIV3Schema: {{type: object}}}}\n"
        ),
    )
    .await;

    // Subcommands, with their descriptions, then the release names.
    let (got, directive) = kubectl_completes("waves", &["rollback", "-n", &ns, ""]);
    assert_eq!(
        (got, directive.as_str()),
        (vec!["alpha".into(), "beta".into()], ":4")
    );
    let (got, _) = kubectl_completes("waves", &["rollback", "-n", &ns, "alpha", ""]);
    assert_eq!(got, ["2", "1"], "revisions, newest first");
    let (got, _) = kubectl_completes("waves", &["status", &format!("--namespace={ns}"), "b"]);
    assert_eq!(got, ["beta"]);
    // pack-drift RELEASE is `status RELEASE`: both complete at the first word.
    let (got, _) = kubectl_completes("drift", &["-n", &ns, ""]);
    for want in ["status", "watch", "sync", "alpha", "beta"] {
        assert!(got.contains(&want.to_string()), "{want}: {got:?}");
    }
    let (got, _) = kubectl_completes("drift", &["history", "-n", &ns, "al"]);
    assert_eq!(got, ["alpha"]);
    // Another namespace has none of them.
    let (got, _) = kubectl_completes("waves", &["history", "-n", "kube-public", ""]);
    assert!(got.is_empty(), "{got:?}");
    let (got, _) = kubectl_completes("waves", &["list", "-n", ""]);
    assert!(got.contains(&ns), "{got:?}");

    let (got, _) = kubectl_completes("crd", &["backup", "gadgets.t"]);
    assert!(got.contains(&format!("gadgets.{group}")), "{got:?}");

    let webapp = harness::workspace_root().join("examples/webapp");
    let webapp = webapp.to_str().unwrap();
    let (got, _) = kubectl_completes("render", &["app", webapp, "-e", ""]);
    assert_eq!(got, ["development", "production", "staging"]);
    let (_, directive) = kubectl_completes("render", &["app", ""]);
    assert_eq!(directive, ":0", "a pack directory completes as a file name");

    // Flags and fixed values from the clap definitions.
    let (got, _) = kubectl_completes("waves", &["apply", "app", "--on-failure=r"]);
    assert_eq!(got, ["--on-failure=rollback"]);
    let (got, _) = kubectl_completes("secrets", &["dec"]);
    assert_eq!(got, ["decrypt"]);
    let (got, _) = kubectl_completes("waves", &["uninstall", "--keep"]);
    assert_eq!(got, ["--keep-history"]);
}

#[tokio::test]
async fn one_output_flag_prints_name_jsonpath_and_wide_in_every_plugin() {
    let ns = harness::namespace("output-flag").await;
    let stream = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata: {k: v}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations: {sherpack.io/wait-ready: \"false\"}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: nginx}]}\n";
    for _ in 0..2 {
        let (code, _, err) = run_plugin("waves", &["apply", "app", "-n", &ns], stream);
        assert_eq!(code, 0, "{err}");
    }
    let waves = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-n", &ns]);
        run_plugin("waves", &all, "")
    };
    let (_, out, _) = waves(&["history", "app", "-o", "name"]);
    assert_eq!(out, "1\n2\n");
    let (_, out, _) = waves(&["history", "app", "-o", "jsonpath={[*].status}"]);
    assert_eq!(out, "superseded deployed");
    let (_, out, _) = waves(&["history", "app", "-o", "wide"]);
    assert!(out.lines().next().unwrap().contains("PACK"), "{out}");
    let (_, out, _) = waves(&["list", "-o", "name"]);
    assert_eq!(out, "app\n");
    let (_, out, _) = waves(&[
        "list",
        "-o",
        r#"jsonpath={range [*]}{.name}={.revision}{"\n"}{end}"#,
    ]);
    assert_eq!(out, "app=2\n");
    let (_, out, _) = waves(&["status", "app", "-o", "name"]);
    assert_eq!(out, "configmap/one\ndeployment.apps/web\n");
    let (_, out, _) = waves(&["status", "app", "-o", "yaml"]);
    assert!(out.contains("revision: 2"), "{out}");
    let (_, out, _) = run_plugin("waves", &["plan", "-o", "name"], stream);
    assert_eq!(out, "configmap/one\ndeployment.apps/web\n");
    // The same flag, the same errors, in every plugin.
    let (code, _, err) = waves(&["history", "app", "-o", "jsonpath={.a"]);
    assert!(code == 2 && err.contains("unclosed"), "{err}");
    let (code, _, err) = waves(&["history", "app", "-o", "xml"]);
    assert!(
        code == 2 && err.contains("[possible values: text, wide, json, yaml, name, jsonpath=]"),
        "{err}"
    );

    let (code, out, err) = run_plugin(
        "drift",
        &["app", "-n", &ns, "-o", "jsonpath={.release}", "--read-only"],
        "",
    );
    assert_eq!((code, out.as_str()), (0, "app"), "{err}");
    let (_, out, _) = run_plugin(
        "drift",
        &["app", "-n", &ns, "-o", "name", "--read-only"],
        "",
    );
    assert_eq!(out, "", "nothing drifted");

    let webapp = harness::workspace_root().join("examples/webapp");
    let (code, out, err) = run_plugin(
        "render",
        &["app", webapp.to_str().unwrap(), "-o", "name"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("deployment.apps/app")
            || out.lines().any(|l| l.starts_with("deployment.apps/")),
        "{out}"
    );
    let (_, out, _) = run_plugin(
        "render",
        &["app", webapp.to_str().unwrap(), "-o", "jsonpath={.kind}"],
        "",
    );
    assert_eq!(out, "List");

    let sops = harness::fixtures().join("sops/secrets.age.yaml");
    let (code, out, err) = run_plugin(
        "secrets",
        &[
            "status",
            sops.to_str().unwrap(),
            "-o",
            "jsonpath={.encrypted}",
        ],
        "",
    );
    assert_eq!((code, out.as_str()), (0, "true"), "{err}");
    for plugin in ["drift", "crd", "render", "secrets"] {
        let args: &[&str] = match plugin {
            "drift" => &["status", "app", "-o", "xml"],
            "crd" => &["validate", "-o", "xml"],
            "render" => &["test", "pack", "-o", "xml"],
            _ => &["status", "f", "-o", "xml"],
        };
        let (code, _, err) = run_plugin(plugin, args, "");
        assert!(
            code == 2 && err.contains("possible values: text, wide, json, yaml, name, jsonpath="),
            "{plugin}: {err}"
        );
    }
}

/// The exit-code table of README ("Exit codes") and `shared::output::exit`:
/// ordinary commands 0 / 1 failure / 2 usage; checks 0 / 1 found / 2 error.
#[tokio::test]
async fn exit_codes_follow_one_table_in_every_plugin() {
    let ns = harness::namespace("exit-codes").await;
    let cm = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata: {{k: {v}}}\n")
    };
    let (code, _, err) = run_plugin("waves", &["apply", "app", "-n", &ns], &cm("a"));
    assert_eq!(code, 0, "{err}");
    let n = ns.as_str();
    type Row<'a> = (&'a str, Vec<&'a str>, String, i32, &'a str);
    let rows: Vec<Row<'_>> = vec![
        (
            "waves",
            vec!["apply"],
            String::new(),
            2,
            "usage: a missing argument",
        ),
        (
            "waves",
            vec!["rollback", "app", "1", "-n", n, "--only", "nokind/x"],
            String::new(),
            2,
            "usage found late: a kind the server does not know",
        ),
        (
            "waves",
            vec!["history", "nosuch", "-n", n],
            String::new(),
            1,
            "failure",
        ),
        (
            "waves",
            vec!["diff", "app", "-n", n],
            cm("b"),
            1,
            "check: differences",
        ),
        (
            "waves",
            vec!["diff", "app", "-n", n],
            cm("a"),
            0,
            "check: none",
        ),
        (
            "waves",
            vec!["diff", "app", "-n", n, "-f", "/nonexistent.yaml"],
            String::new(),
            2,
            "check: error",
        ),
        (
            "waves",
            vec!["status", "nosuch", "-n", n],
            String::new(),
            2,
            "check: error",
        ),
        ("drift", vec!["--bogus"], String::new(), 2, "usage"),
        (
            "drift",
            vec!["app", "-n", n, "--read-only"],
            String::new(),
            0,
            "check: clean",
        ),
        (
            "drift",
            vec!["nosuch", "-n", n],
            String::new(),
            2,
            "check: error",
        ),
        ("crd", vec!["backup"], String::new(), 2, "usage"),
        (
            "crd",
            vec!["backup", "nosuch.example.com"],
            String::new(),
            1,
            "failure (was 2)",
        ),
        (
            "crd",
            vec!["diff", "/nonexistent.yaml", "/nonexistent.yaml"],
            String::new(),
            2,
            "check: error",
        ),
        ("render", vec!["--bogus"], String::new(), 2, "usage"),
        (
            "render",
            vec!["app", "/nonexistent-pack"],
            String::new(),
            1,
            "failure",
        ),
        (
            "render",
            vec!["diff-env", "a", "b", "/nonexistent-pack"],
            String::new(),
            2,
            "check: error",
        ),
        ("secrets", vec!["decrypt"], String::new(), 2, "usage"),
        (
            "secrets",
            vec!["decrypt", "/nonexistent.yaml"],
            String::new(),
            1,
            "failure",
        ),
    ];
    for (plugin, args, stdin, want, what) in rows {
        let (code, _, err) = run_plugin(plugin, &args, &stdin);
        assert_eq!(code, want, "{plugin} {args:?} ({what}): {err}");
    }
    // Drift found: an object of the release deleted by hand.
    let out = harness::kubectl()
        .args(["delete", "configmap", "one", "-n", n])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, _, err) = run_plugin("drift", &["app", "-n", n, "--read-only"], "");
    assert_eq!(code, 1, "check: drift found: {err}");
}
