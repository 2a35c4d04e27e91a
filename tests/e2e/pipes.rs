//! Closed pipes: every command of the five plugins that prints to stdout,
//! run with a stdout whose reading end is already closed (what `| head`
//! leaves behind), exits 0 without an "internal error" — a `println!`
//! would panic with "failed printing to stdout: Broken pipe".

use std::process::{Command, Stdio};

use harness::{bin, cluster, namespace, plugin, run_with_stdin, texts, workspace_root};

/// Runs `cmd` with stdout closed at the reading end before it writes.
fn with_closed_stdout(mut cmd: Command, stdin: &str) -> (Option<i32>, String) {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let mut input = child.stdin.take().unwrap();
    // The command may stop reading early; a failed write here is fine.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), texts(&out).1)
}

#[tokio::test]
async fn every_printing_command_exits_0_quietly_when_its_reader_is_gone() {
    let ns = namespace("pipes").await;
    let root = workspace_root();
    let webapp = root.join("examples/webapp");
    let webapp = webapp.to_str().unwrap();
    let pack = |name: &str, deps: &str| {
        format!(
            "apiVersion: sherpack/v1\nkind: application\nmetadata: {{name: {name}, version: 1.0.0}}\n{deps}"
        )
    };
    let tree = harness::write_tree(&[
        (
            "repo/index.yaml",
            "entries:\n  - {name: cache, version: 1.4.0, path: cache-1.4.0}\n",
        ),
        ("repo/cache-1.4.0/Pack.yaml", &pack("cache", "")),
        (
            "app/Pack.yaml",
            &pack(
                "app",
                "dependencies:\n  - {name: cache, version: ^1.0.0, repository: 'file://../repo'}\n",
            ),
        ),
    ]);
    let app = tree.path().join("app");
    let app = app.to_str().unwrap();
    let crd_v1 = root.join("examples/crds/widgets-v1.yaml");
    let crd_v1 = crd_v1.to_str().unwrap();
    let crd_v2 = root.join("examples/crds/widgets-v2.yaml");
    let crd_v2 = crd_v2.to_str().unwrap();
    let stream = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: piped\ndata:\n  a: b\n";
    let mut c = plugin("waves");
    c.args(["-n", &ns, "apply", "piped"]);
    let out = run_with_stdin(c, stream);
    assert!(out.status.success(), "{}", texts(&out).1);
    let (home, recipient) = crate::secrets::home_with_key();
    let plain = home.path().join("plain.yaml");
    std::fs::write(&plain, "password: x\n").unwrap();
    let plain = plain.to_str().unwrap().to_string();

    let rows: Vec<(&str, Vec<&str>, &str)> = vec![
        ("render", vec!["app", webapp, "-e", "production"], ""),
        ("render", vec!["app", webapp, "--explain", "image.tag"], ""),
        ("render", vec!["test", webapp], ""),
        (
            "render",
            vec!["diff-env", "staging", "production", webapp],
            "",
        ),
        ("render", vec!["deps", "resolve", app], ""),
        ("render", vec!["deps", "graph", app], ""),
        ("render", vec!["deps", "why", "cache", app], ""),
        ("waves", vec!["plan"], stream),
        ("waves", vec!["plan", "-o", "json"], stream),
        ("waves", vec!["status", "piped"], ""),
        ("waves", vec!["history", "piped"], ""),
        ("waves", vec!["list"], ""),
        ("waves", vec!["diff", "piped"], stream),
        ("waves", vec!["rollback", "piped", "1", "--dry-run"], ""),
        ("drift", vec!["piped"], ""),
        ("drift", vec!["piped", "-o", "json"], ""),
        ("drift", vec!["history", "piped"], ""),
        ("crd", vec!["diff", crd_v1, crd_v2], ""),
        ("crd", vec!["apply", "--mode", "ignore"], stream),
        ("secrets", vec!["encrypt", "--age", &recipient, &plain], ""),
        ("secrets", vec!["status", &plain], ""),
    ];
    let mut failures = Vec::new();
    for (name, args, stdin) in &rows {
        let mut c = Command::new(bin(name));
        c.env("KUBECONFIG", cluster().kubeconfig())
            .env("NO_COLOR", "1")
            .env("HOME", home.path());
        if !matches!(*name, "render" | "secrets") || args[0] == "plan" {
            c.args(["-n", &ns]);
        }
        c.args(args);
        let (code, err) = with_closed_stdout(c, stdin);
        let ok = code == Some(0) && !err.contains("internal error") && !err.contains("Broken pipe");
        if !ok {
            failures.push(format!("{name} {args:?}: exit {code:?}: {}", err.trim()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
