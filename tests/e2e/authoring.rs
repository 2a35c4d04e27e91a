//! Template authors' tools end to end through the binary: `promote`
//! between environments of the webapp example, the step debugger's
//! scripted mode, the language server over stdio, and `deps audit`.

use std::path::Path;

use harness::{offline_plugin, run, run_with_stdin, texts};

fn render_cmd(args: &[&str]) -> std::process::Command {
    let mut c = offline_plugin("render");
    c.args(args);
    c
}

/// A copy of examples/webapp in a temporary directory (promote edits it).
fn webapp_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &harness::workspace_root().join("examples/webapp"),
        dir.path(),
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn image_of(stream: &str) -> String {
    shared::stream::parse_stream(stream, shared::stream::Origin::Stdin)
        .unwrap()
        .into_iter()
        .find(|o| o.object["kind"] == "Deployment")
        .and_then(|o| {
            o.object["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap()
}

#[test]
fn promote_copies_a_staging_tag_into_production_keeping_its_comments() {
    let pack = webapp_copy();
    let p = pack.path().to_str().unwrap();
    let env = |name: &str| {
        pack.path()
            .join("environments")
            .join(format!("{name}.yaml"))
    };
    // Staging runs a release candidate; production pins its own tag, with comments.
    let staging = std::fs::read_to_string(env("staging")).unwrap();
    std::fs::write(
        env("staging"),
        format!("{staging}image:\n  tag: \"2.5.0\"\n"),
    )
    .unwrap();
    let production = std::fs::read_to_string(env("production")).unwrap().replace(
        "replicas: 4\n",
        "replicas: 4 # sized for Black Friday\n# Pinned until the change board approves.\nimage:\n  tag: \"2.4.1\" # current release\n",
    );
    std::fs::write(env("production"), &production).unwrap();

    // Without --yes and without a yes on stdin: the diff, then nothing written.
    let out = run_with_stdin(
        render_cmd(&["promote", "staging", "production", p, "--only", "image.tag"]),
        "n\n",
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("-  tag: \"2.4.1\" # current release")
            && stdout.contains("+  tag: 2.5.0 # current release"),
        "{stdout}"
    );
    assert!(stderr.contains("not confirmed"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(env("production")).unwrap(),
        production,
        "a no keeps the file"
    );

    // A yes on stdin writes it: only the tag changed, comments and order kept.
    let out = run_with_stdin(
        render_cmd(&["promote", "staging", "production", p, "--only", "image.tag"]),
        "y\n",
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    let written = std::fs::read_to_string(env("production")).unwrap();
    assert_eq!(
        written,
        production.replace(
            "tag: \"2.4.1\" # current release",
            "tag: 2.5.0 # current release"
        )
    );
    let (code, stream, err) = run(render_cmd(&["app", p, "-e", "production"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(image_of(&stream), "ghcr.io/example/webapp:2.5.0");

    // A value production inherits from staging unchanged: refused as a no-op.
    let (code, _, err) = run(render_cmd(&[
        "promote",
        "staging",
        "production",
        p,
        "--only",
        "config.featureFlags.newCheckout",
        "--yes",
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("production inherits from staging"), "{err}");
    assert_eq!(std::fs::read_to_string(env("production")).unwrap(), written);

    // Everything that differs, with --yes: production's own replicas comes over.
    let (code, out, err) = run(render_cmd(&[
        "promote",
        "staging",
        "production",
        p,
        "--yes",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("replicas: 4 -> 2 (from staging)"), "{out}");
    let after = std::fs::read_to_string(env("production")).unwrap();
    assert!(
        after.contains(
            "replicas: 2 # sized for Black Friday\n# Pinned until the change board approves.\n"
        ),
        "{after}"
    );
    assert!(
        after.starts_with("_inherit: staging\n_templates:\n"),
        "key order kept: {after}"
    );

    // Unknown environments and paths are one line each.
    let (code, _, err) = run(render_cmd(&["promote", "staging", "nowhere", p, "--yes"]));
    assert_ne!(code, 0);
    assert!(err.contains("nowhere") && err.lines().count() == 1, "{err}");
    let (code, _, err) = run(render_cmd(&[
        "promote",
        "development",
        "production",
        p,
        "--only",
        "no.such.key",
        "--yes",
    ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("--only no.such.key: development does not set it"),
        "{err}"
    );
}

/// A Language Server Protocol client over the server's stdio: framed
/// JSON-RPC, requests matched by id, notifications kept for waiting on.
struct LspClient {
    child: harness::Reaped,
    stdin: std::process::ChildStdin,
    messages: std::sync::mpsc::Receiver<serde_json::Value>,
    pending: Vec<serde_json::Value>,
    next_id: i64,
}

impl LspClient {
    fn start(args: &[&str]) -> LspClient {
        use std::io::{BufRead, Read};
        let mut cmd = offline_plugin("render");
        cmd.arg("lsp").args(args);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(stdout);
            loop {
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        LspClient {
            child: harness::Reaped(child),
            stdin,
            messages: rx,
            pending: Vec::new(),
            next_id: 1,
        }
    }

    fn send(&mut self, msg: serde_json::Value) {
        use std::io::Write;
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: serde_json::Value) {
        self.send(serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        let m = self.next_where(|m| m["id"] == id);
        assert!(m.get("error").is_none(), "{method}: {m}");
        m["result"].clone()
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<serde_json::Value> {
        let m = self.next_where(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        });
        m["params"]["diagnostics"].as_array().unwrap().clone()
    }

    /// The first message (kept earlier or arriving within 20 s) that `wanted`
    /// picks; the others are kept for later.
    fn next_where(&mut self, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        if let Some(i) = self.pending.iter().position(&wanted) {
            return self.pending.remove(i);
        }
        loop {
            let m = self
                .messages
                .recv_timeout(std::time::Duration::from_secs(20))
                .expect("no such message from the server within 20 s");
            if wanted(&m) {
                return m;
            }
            self.pending.push(m);
        }
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn at(uri: &str, line: usize, character: usize) -> serde_json::Value {
    serde_json::json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

#[test]
fn language_server_diagnoses_completes_hovers_and_previews_from_the_buffers() {
    use serde_json::json;
    let pack = webapp_copy();
    let root = pack.path().canonicalize().unwrap();
    let mut lsp = LspClient::start(&[]);
    let init = lsp.request(
        "initialize",
        json!({"processId": null, "rootUri": uri(&root), "capabilities": {}, "initializationOptions": {"environment": "production"}}),
    );
    assert_eq!(init["capabilities"]["hoverProvider"], true, "{init}");
    lsp.notify("initialized", json!({}));

    let deployment = root.join("templates/deployment.yaml");
    let d_uri = uri(&deployment);
    let original = std::fs::read_to_string(&deployment).unwrap();
    lsp.notify("textDocument/didOpen", json!({"textDocument": {"uri": d_uri, "languageId": "jinja", "version": 1, "text": original}}));
    assert_eq!(
        lsp.diagnostics(&d_uri),
        Vec::<serde_json::Value>::new(),
        "the example is clean"
    );

    // A misspelt value, typed in the buffer only (the disk is not read for it).
    let replicas_line = original
        .lines()
        .position(|l| l.contains("replicas: {{ values.replicas }}"))
        .unwrap();
    let edited = original.replace(
        "replicas: {{ values.replicas }}",
        "replicas: {{ values.replicaz }}",
    );
    let mut latencies = Vec::new();
    for version in 2..22 {
        let text = if version % 2 == 0 { &edited } else { &original };
        let start = std::time::Instant::now();
        lsp.notify("textDocument/didChange", json!({"textDocument": {"uri": d_uri, "version": version}, "contentChanges": [{"text": text}]}));
        let diags = lsp.diagnostics(&d_uri);
        latencies.push(start.elapsed());
        if version % 2 == 0 {
            assert_eq!(diags.len(), 1, "{diags:?}");
            let d = &diags[0];
            assert!(
                d["message"]
                    .as_str()
                    .unwrap()
                    .contains("undefined value values.replicaz (did you mean values.replicas?)"),
                "{d}"
            );
            assert_eq!(d["range"]["start"]["line"], replicas_line);
            let col = original
                .lines()
                .nth(replicas_line)
                .unwrap()
                .find("values.replicas")
                .unwrap();
            assert_eq!(
                d["range"],
                json!({"start": {"line": replicas_line, "character": col}, "end": {"line": replicas_line, "character": col + "values.replicaz".len()}})
            );
        } else {
            assert!(diags.is_empty(), "{diags:?}");
        }
    }
    latencies.sort();
    eprintln!(
        "lsp diagnostics after a change: median {:?}, max {:?} over {} changes",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        latencies.len()
    );

    // A syntax error and a document that is not a Kubernetes object.
    let broken = format!("{original}---\n{{% if %}}\n");
    lsp.notify("textDocument/didChange", json!({"textDocument": {"uri": d_uri, "version": 30}, "contentChanges": [{"text": broken}]}));
    let diags = lsp.diagnostics(&d_uri);
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{diags:?}"
    );
    assert_eq!(
        diags[0]["range"]["start"]["line"],
        original.lines().count() + 1
    );
    let not_object = format!("{original}---\nfoo: bar\n");
    lsp.notify("textDocument/didChange", json!({"textDocument": {"uri": d_uri, "version": 31}, "contentChanges": [{"text": not_object}]}));
    let diags = lsp.diagnostics(&d_uri);
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .contains("document 2 of the output: not a Kubernetes object: missing apiVersion"),
        "{diags:?}"
    );
    assert_eq!(diags[0]["range"]["start"]["line"], original.lines().count());
    lsp.notify("textDocument/didChange", json!({"textDocument": {"uri": d_uri, "version": 32}, "contentChanges": [{"text": original}]}));
    assert!(lsp.diagnostics(&d_uri).is_empty());

    // A schema violation in values.yaml, at its line; it clears when fixed.
    let values_path = root.join("values.yaml");
    let v_uri = uri(&values_path);
    let values_text = std::fs::read_to_string(&values_path).unwrap();
    let bad = values_text.replace("  tag: \"2.4.1\"", "  tag: 241");
    lsp.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": v_uri, "languageId": "yaml", "version": 1, "text": bad}}),
    );
    let diags = lsp.diagnostics(&v_uri);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("image.tag: 241 is not of type \"string\""),
        "{diags:?}"
    );
    assert_eq!(
        diags[0]["range"]["start"]["line"],
        bad.lines().position(|l| l.contains("tag: 241")).unwrap()
    );
    lsp.notify("textDocument/didChange", json!({"textDocument": {"uri": v_uri, "version": 2}, "contentChanges": [{"text": values_text}]}));
    assert!(lsp.diagnostics(&v_uri).is_empty());

    // Completion of values paths (values + schema) and of filters.
    let line = original
        .lines()
        .position(|l| l.contains("image: \"{{ values.image.repository"))
        .unwrap();
    let col = original
        .lines()
        .nth(line)
        .unwrap()
        .find("values.image.")
        .unwrap()
        + "values.image.".len();
    let items = lsp.request("textDocument/completion", at(&d_uri, line, col));
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for want in ["repository", "tag", "pullPolicy"] {
        assert!(labels.contains(&want), "{labels:?}");
    }
    let tag = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "tag")
        .unwrap();
    assert_eq!(tag["detail"], "string");
    assert!(
        tag["documentation"]
            .as_str()
            .unwrap()
            .contains("Image tag to run"),
        "{tag}"
    );
    let line = original
        .lines()
        .position(|l| l.contains("| nindent(4)"))
        .unwrap();
    let col = original.lines().nth(line).unwrap().find("nindent").unwrap();
    let items = lsp.request("textDocument/completion", at(&d_uri, line, col + 2));
    let nindent = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "nindent")
        .expect("nindent offered");
    assert_eq!(nindent["detail"], "text | nindent(width)");

    // Hover: the effective value (production's) and where it comes from.
    let line = original
        .lines()
        .position(|l| l.contains("replicas: {{ values.replicas }}"))
        .unwrap();
    let col = original
        .lines()
        .nth(line)
        .unwrap()
        .find("values.replicas")
        .unwrap()
        + 8;
    let hover = lsp.request("textDocument/hover", at(&d_uri, line, col));
    let md = hover["contents"]["value"].as_str().unwrap();
    assert!(
        md.contains("Pods of the Deployment.")
            && md.contains("replicas = 4")
            && md.contains("environments/production.yaml:4"),
        "{md}"
    );

    // Definition: the value → production.yaml's line; the import → _helpers.j2; a macro → its line.
    let def = lsp.request(
        "textDocument/definition",
        at(
            &d_uri,
            line,
            original
                .lines()
                .nth(line)
                .unwrap()
                .find("values.replicas")
                .unwrap()
                + 3,
        ),
    );
    assert_eq!(
        def["uri"],
        uri(&root.join("environments/production.yaml")),
        "{def}"
    );
    assert_eq!(def["range"]["start"]["line"], 3);
    let def = lsp.request("textDocument/definition", at(&d_uri, 0, 10));
    assert_eq!(
        def["uri"],
        uri(&root.join("templates/_helpers.j2")),
        "{def}"
    );
    let name_line = original
        .lines()
        .position(|l| l.contains("name: {{ fullname(release, pack) }}"))
        .unwrap();
    let col = original
        .lines()
        .nth(name_line)
        .unwrap()
        .find("fullname")
        .unwrap()
        + 2;
    let def = lsp.request("textDocument/definition", at(&d_uri, name_line, col));
    assert_eq!(
        def["uri"],
        uri(&root.join("templates/_helpers.j2")),
        "{def}"
    );
    let helpers = std::fs::read_to_string(root.join("templates/_helpers.j2")).unwrap();
    let macro_line = helpers
        .lines()
        .position(|l| l.contains("macro fullname("))
        .unwrap();
    assert_eq!(def["range"]["start"]["line"], macro_line);

    // Live preview: the template rendered with the unsaved buffers.
    let preview_values = values_text.replace("  tag: \"2.4.1\"", "  tag: \"9.9.9\"");
    lsp.notify("textDocument/didChange", json!({"textDocument": {"uri": v_uri, "version": 3}, "contentChanges": [{"text": preview_values}]}));
    let out = lsp.request("pack/preview", json!({"textDocument": {"uri": d_uri}}));
    let output = out["output"].as_str().unwrap();
    assert!(
        output.contains("image: \"ghcr.io/example/webapp:9.9.9\"")
            && output.contains("replicas: 4"),
        "{output}"
    );
    let out = lsp.request(
        "workspace/executeCommand",
        json!({"command": "pack.preview", "arguments": [d_uri]}),
    );
    assert_eq!(out["output"].as_str().unwrap(), output);
    assert_eq!(
        std::fs::read_to_string(&values_path).unwrap(),
        values_text,
        "the disk is never written"
    );

    let shutdown = lsp.request("shutdown", json!(null));
    assert!(shutdown.is_null());
    lsp.notify("exit", json!(null));
    let status = lsp.child.0.wait().unwrap();
    assert!(status.success(), "{status}");
}

const DEBUG_PACK: &[(&str, &str)] = &[
    (
        "Pack.yaml",
        "apiVersion: sherpack/v1\nkind: application\nmetadata:\n  name: dbg\n  version: 1.0.0\n",
    ),
    ("values.yaml", "name: demo\nkeys: [a, b]\n"),
    (
        "templates/_helpers.j2",
        "{% macro label(name) -%}\napp: {{ name }}\n{%- endmacro %}\n",
    ),
    (
        "templates/cm.yaml",
        "{% from \"_helpers.j2\" import label %}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ values.name }}\n  labels:\n    {{ label(values.name) }}\ndata:\n{%- for k in values[\"keys\"] %}\n  {{ k }}: \"{{ loop.index }}\"\n{%- endfor %}\n",
    ),
];

#[test]
fn debugger_script_stops_at_breakpoints_and_evaluates_in_the_loop_scope() {
    let pack = harness::write_tree(DEBUG_PACK);
    let p = pack.path().to_str().unwrap();
    let script = "break cm.yaml:10\nbreak cm.yaml:99\nbreak nope.yaml:1\nwatch k\nrun\nprint k ~ '-' ~ loop.index\nlocals\ncontinue\neval loop.index * 100\nprint values.missing.deeper\ndelete cm.yaml:10\ncontinue\n";
    let out = run_with_stdin(
        render_cmd(&["debug", "rel", p, "--set", "name=from-set"]),
        script,
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let expected_in_order = [
        "breakpoint at templates/cm.yaml:10",
        "break cm.yaml:99: templates/cm.yaml has 11 lines",
        "break nope.yaml:1: no template nope.yaml; the pack has _helpers.j2, cm.yaml",
        "watching k",
        "stopped at templates/cm.yaml:10: {{ k }}: \"{{ loop.index }}\"",
        "  watch k = \"a\"",
        "k ~ '-' ~ loop.index = \"a-1\"",
        "k = \"a\"",
        "stopped at templates/cm.yaml:10:",
        "  watch k = \"b\"",
        "loop.index * 100 = 200",
        "values.missing.deeper = error: ",
        "deleted templates/cm.yaml:10",
        "render finished: 1 template(s), 1 document(s)",
    ];
    let mut rest = stdout.as_str();
    for want in expected_in_order {
        let at = rest
            .find(want)
            .unwrap_or_else(|| panic!("{want:?} missing (in order) from:\n{stdout}"));
        rest = &rest[at + want.len()..];
    }
    assert!(
        stdout.contains("release = {") && stdout.contains("\"name\":\"rel\""),
        "locals: {stdout}"
    );
    assert!(stdout.contains("label = (macro)"), "{stdout}");
}

#[test]
fn debugger_steps_into_macros_shows_the_stack_and_reloads_keeping_breakpoints() {
    use std::io::{BufRead, Write};
    let pack = harness::write_tree(DEBUG_PACK);
    let p = pack.path().to_str().unwrap();
    let mut cmd = render_cmd(&["debug", p]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = harness::Reaped(cmd.spawn().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut expect = |want: &str| -> String {
        loop {
            let line = rx
                .recv_timeout(std::time::Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no {want:?} in {seen:#?}"));
            seen.push(line.clone());
            if line.contains(want) {
                return line;
            }
        }
    };
    let mut say = |cmd: &str| {
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .unwrap()
    };

    say("break templates/cm.yaml:7");
    expect("breakpoint at templates/cm.yaml:7");
    say("run");
    expect("stopped at templates/cm.yaml:7: {{ label(values.name) }}");
    say("step");
    expect("stopped at templates/_helpers.j2:2: app: {{ name }}");
    say("trace");
    expect("#0 macro label at templates/_helpers.j2:2");
    expect("#1 template dbg/templates/cm.yaml at templates/cm.yaml:7");
    say("print name | upper");
    expect("name | upper = \"DEMO\"");
    say("next");
    expect("stopped at templates/_helpers.j2:3: {%- endmacro %}");
    say("next");
    expect("stopped at templates/cm.yaml:8: data:");

    // Hot reload: the edited template renders again, the breakpoint kept.
    let cm = pack.path().join("templates/cm.yaml");
    let edited = std::fs::read_to_string(&cm).unwrap().replace(
        "    {{ label(values.name) }}",
        "    {{ label(values.name ~ '-v2') }}",
    );
    std::fs::write(&cm, edited).unwrap();
    say("reload");
    expect("reloaded the pack; 1 breakpoint(s) kept; rendering again");
    expect("stopped at templates/cm.yaml:7: {{ label(values.name ~ '-v2') }}");
    say("step");
    expect("stopped at templates/_helpers.j2:2");
    say("print name");
    expect("name = \"demo-v2\"");
    say("continue");
    expect("render finished: 1 template(s), 1 document(s)");
    drop(stdin);
    assert!(child.0.wait().unwrap().success());
}

/// The real SOPS fixture (helm-secrets' test file, age key beside it) as an
/// environment of the webapp example.
fn webapp_with_encrypted_environment() -> (tempfile::TempDir, std::path::PathBuf) {
    let pack = webapp_copy();
    let sops = harness::fixtures().join("sops");
    std::fs::copy(
        sops.join("secrets.age.yaml"),
        pack.path().join("environments/vault.yaml"),
    )
    .unwrap();
    (pack, sops.join("age-key.txt"))
}

#[test]
fn promote_and_the_debugger_never_reveal_values_from_encrypted_files() {
    let (pack, key) = webapp_with_encrypted_environment();
    let p = pack.path().to_str().unwrap();
    let production =
        std::fs::read_to_string(pack.path().join("environments/production.yaml")).unwrap();
    let with_key = |args: &[&str]| {
        let mut c = render_cmd(args);
        c.env("SOPS_AGE_KEY_FILE", &key);
        c
    };
    // A value from the encrypted file is never copied into a plain one.
    let (code, out, err) = run(with_key(&[
        "promote",
        "vault",
        "production",
        p,
        "--only",
        "global_secret",
        "--yes",
    ]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(
            "global_secret: vault's value comes from the encrypted environments/vault.yaml"
        ),
        "{err}"
    );
    assert!(
        !out.contains("global_age") && !err.contains("global_age"),
        "{out}{err}"
    );
    // Nor is an encrypted file edited.
    let (code, _, err) = run(with_key(&["promote", "production", "vault", p, "--yes"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("environments/vault.yaml is SOPS-encrypted"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(pack.path().join("environments/production.yaml")).unwrap(),
        production
    );

    // The debugger prints the value redacted.
    let out = run_with_stdin(
        with_key(&["debug", "app", p, "-e", "vault"]),
        "break deployment.yaml:13\nrun\nprint values.global_secret\nprint values.global_secret | b64encode\ncontinue\n",
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("values.global_secret = \"(hidden: from an encrypted file)\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("global_age") && !stdout.contains("Z2xvYmFsX2FnZQ"),
        "{stdout}"
    );
}

#[test]
fn deps_audit_lists_local_dependencies_and_leaves_disabled_ones_unjudged() {
    let pack = harness::workspace_root().join("tests/fixtures/sherpack-packs/pack-with-subcharts");
    let (code, out, err) = run(render_cmd(&["deps", "audit", pack.to_str().unwrap()]));
    assert_eq!(code, 0, "{out}{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .to_string()
    };
    assert!(
        line("redis ").contains("7.0.0")
            && line("redis ").contains("local")
            && line("redis ").ends_with("(none declared)"),
        "{out}"
    );
    assert!(line("postgresql ").contains("disabled"), "{out}");
    assert!(
        !out.contains("postgresql:"),
        "a disabled dependency has no problems: {out}"
    );
}
