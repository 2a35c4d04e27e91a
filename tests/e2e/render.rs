//! `kubectl pack-render` end to end: the Sherpack example packs, output
//! format, values layering and flags, error messages, NOTES, the pack test
//! framework, diff-env, deps, and `--values-from`/`lookup` against the real
//! API server.

use std::collections::BTreeMap;
use std::path::Path;

use harness::{offline_plugin, run, write_tree};
use serde_json::{Value, json};

fn render(args: &[&str]) -> (i32, String, String) {
    let mut c = offline_plugin("render");
    c.args(args);
    run(c)
}

fn objects(stream: &str) -> Vec<Value> {
    shared::stream::parse_stream(stream, shared::stream::Origin::Stdin)
        .expect("output parses")
        .into_iter()
        .map(|o| o.object)
        .collect()
}

fn key(o: &Value) -> String {
    format!(
        "{}/{}",
        o["kind"].as_str().unwrap_or_default(),
        o["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// Sherpack's output has no `---` between files: cut it at `# Source:`.
fn reference_objects(path: &Path) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeMap::new();
    for chunk in text.split("# Source:").skip(1) {
        let body = chunk.split_once('\n').map(|(_, b)| b).unwrap_or("");
        for o in objects(body) {
            out.insert(key(&o), o);
        }
    }
    out
}

/// Values that differ by design: time/uuid, and embedded YAML that our
/// writer quotes more carefully (`"0.0.0.0"`) — compared parsed.
fn normalize(v: &mut Value) {
    if let Some(data) = v.get_mut("data").and_then(Value::as_object_mut) {
        data.remove("generated-at");
        data.remove("instance-id");
        for (_, val) in data.iter_mut() {
            if let Some(s) = val.as_str()
                && s.contains(":\n")
                && let Ok(parsed) = shared::yaml::from_str::<Value>(s)
            {
                *val = json!({"parsed-yaml": parsed});
            }
        }
    }
}

#[test]
fn sherpack_example_packs_render_the_same_objects_as_sherpack() {
    let dir = harness::fixtures().join("sherpack-packs");
    for pack in ["simple-pack", "demo-pack", "pack-with-subcharts"] {
        let (code, out, err) = render(&["myrel", dir.join(pack).to_str().unwrap()]);
        assert_eq!(code, 0, "{pack}: {err}");
        let mut ours: BTreeMap<String, Value> =
            objects(&out).into_iter().map(|o| (key(&o), o)).collect();
        let mut theirs = reference_objects(&dir.join(format!("{pack}.sherpack-0.4.0.out")));
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{pack}: object set"
        );
        for (k, o) in ours.iter_mut() {
            let t = theirs.get_mut(k).unwrap();
            normalize(o);
            normalize(t);
            assert_eq!(o, t, "{pack}: {k}");
        }
    }
}

const MINI_PACK: &[(&str, &str)] = &[
    (
        "Pack.yaml",
        "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: mini, version: 1.0.0, appVersion: '3.1'}\n",
    ),
    (
        "values.yaml",
        "app:\n  name: mini\n  replicas: 1\nflag: true\nnothing: null\n",
    ),
    (
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ release.name }}-cm\n  namespace: {{ release.namespace }}\ndata:\n  flag: {{ values.flag | quote }}\n  replicas: {{ values.app.replicas | quote }}\n  kube: {{ capabilities.kubeVersion.version | quote }}\n  hasMonitoring: {{ ('monitoring.coreos.com/v1' in capabilities.apiVersions) | quote }}\n---\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\ndata:\n  raw: {{ values.flag }}\n  none: {{ none }}\n",
    ),
    (
        "templates/denotes.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: denotes\n",
    ),
    (
        "templates/macros.tpl",
        "{% macro hello() %}hi{% endmacro %}\nnot: rendered\n",
    ),
    (
        "templates/greet.yaml",
        "{% from 'macros.tpl' import hello %}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greet\ndata:\n  msg: {{ hello() }}\n",
    ),
    ("templates/NOTES.txt", "Installed {{ release.name }}.\n"),
];

#[test]
fn output_is_a_clean_stream_with_source_comments_and_yaml_scalars() {
    let pack = write_tree(MINI_PACK);
    let (code, out, err) = render(&["rel", pack.path().to_str().unwrap(), "-n", "shop"]);
    assert_eq!(code, 0, "{err}");
    // The pack header first (a comment for kubectl, the pack's metadata and
    // settings for waves and drift), then the documents.
    let (header, rest) = out.split_once('\n').unwrap();
    let info: Value =
        serde_json::from_str(header.strip_prefix("# kubectl-pack.io/pack: ").unwrap()).unwrap();
    assert_eq!(info["name"], "mini");
    assert!(
        rest.starts_with("---\n# Source: mini/templates/cm.yaml\n"),
        "{out}"
    );
    assert_eq!(
        out.matches("# Source: mini/templates/cm.yaml").count(),
        2,
        "one comment per document"
    );
    assert!(
        out.contains("# Source: mini/templates/denotes.yaml"),
        "denotes.yaml is a template, not notes"
    );
    assert!(!out.contains("True") && !out.contains("None"), "{out}");
    assert!(
        !out.contains("not: rendered"),
        "a .tpl file is a helper: {out}"
    );
    let objs = objects(&out);
    assert_eq!(
        objs.len(),
        4,
        "the whitespace-only document is dropped; .tpl helpers are not rendered: {out}"
    );
    assert!(
        objs.iter().any(|o| o["data"]["msg"] == "hi"),
        "a .tpl helper is importable"
    );
    assert_eq!(objs[0]["metadata"]["namespace"], "shop");
    assert_eq!(objs[0]["data"]["flag"], "true");
    assert_eq!(objs[0]["data"]["kube"], "v1.33.0");
    assert_eq!(objs[0]["data"]["hasMonitoring"], "false");
    assert_eq!(objs[1]["data"]["raw"], true);
    assert_eq!(objs[1]["data"]["none"], Value::Null);
    assert_eq!(err.trim(), "Installed rel.", "NOTES go to stderr only");

    let (_, out, err) = render(&[
        pack.path().to_str().unwrap(),
        "--notes",
        "--kube-version",
        "1.29.4",
        "--api-versions",
        "monitoring.coreos.com/v1",
    ]);
    let (stream, end) = out
        .trim_end()
        .rsplit_once('\n')
        .expect("a stream and its end line");
    assert!(stream.ends_with("# NOTES:\n# Installed mini."), "{out}");
    assert!(
        end.starts_with("# kubectl-pack.io/end: {\"documents\":"),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");
    let objs = objects(&out);
    assert_eq!(
        objs[0]["metadata"]["name"], "mini-cm",
        "release defaults to the pack name"
    );
    assert_eq!(objs[0]["data"]["kube"], "v1.29.4");
    assert_eq!(objs[0]["data"]["hasMonitoring"], "true");
}

#[test]
fn json_output_show_only_and_output_dir() {
    let pack = write_tree(MINI_PACK);
    let p = pack.path().to_str().unwrap();
    let (code, out, _) = render(&[p, "-o", "json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 4);

    let (_, out, _) = render(&[p, "--show-only", "templates/denotes.yaml"]);
    assert_eq!(objects(&out).len(), 1);
    let (code, _, err) = render(&[p, "--show-only", "templates/nope.yaml"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--show-only templates/nope.yaml: no rendered template matches"),
        "{err}"
    );

    let outdir = tempfile::tempdir().unwrap();
    let (code, out, _) = render(&[p, "--output-dir", outdir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.is_empty());
    let written = std::fs::read_to_string(outdir.path().join("mini/templates/cm.yaml")).unwrap();
    assert_eq!(objects(&written).len(), 2);
}

const LAYERED: &[(&str, &str)] = &[
    (
        "Pack.yaml",
        "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: layered, version: 0.1.0}\n",
    ),
    (
        "values.schema.yaml",
        "schemaVersion: sherpack/v1\nproperties:\n  a: {type: string, default: from-schema}\n  b: {type: string, default: from-schema}\n  replicas: {type: integer, max: 10}\n",
    ),
    (
        "values.yaml",
        "b: from-values\nc: from-values\nd: from-values\ne: from-values\nf: from-values\nlist: [1, 2, 3]\nkeep: {x: 1, y: 2}\n",
    ),
    ("environments/_base.yaml", "c: from-base\n"),
    ("environments/root.yaml", "d: from-root\n"),
    (
        "environments/prod.yaml",
        "_inherit: root\ne: from-prod\nlist: [9]\nkeep: {y: null}\n",
    ),
    ("environments/loop-a.yaml", "_inherit: loop-b\n"),
    ("environments/loop-b.yaml", "_inherit: loop-a\n"),
    (
        "templates/v.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v}\ndata:\n  all: {{ values | tojson | quote }}\n",
    ),
];

fn rendered_values(out: &str) -> Value {
    let o = &objects(out)[0];
    serde_json::from_str(o["data"]["all"].as_str().unwrap()).unwrap()
}

#[test]
fn values_layer_in_the_documented_order() {
    let pack = write_tree(LAYERED);
    let p = pack.path().to_str().unwrap();
    let extra = pack.path().join("extra.yaml");
    std::fs::write(&extra, "f: from-file\ng: from-file\n").unwrap();
    let content = pack.path().join("content.txt");
    std::fs::write(&content, "file, contents").unwrap();
    let (code, out, err) = render(&[
        p,
        "-e",
        "prod",
        "-f",
        extra.to_str().unwrap(),
        "--set",
        "g=from-set,n=5",
        "--set-string",
        "s=007",
        "--set-file",
        &format!("file={}", content.display()),
        "--set-json",
        "j={\"k\":[1,2]}",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = rendered_values(&out);
    assert_eq!(v["a"], "from-schema");
    assert_eq!(v["b"], "from-values");
    assert_eq!(v["c"], "from-base");
    assert_eq!(v["d"], "from-root");
    assert_eq!(v["e"], "from-prod");
    assert_eq!(v["f"], "from-file");
    assert_eq!(v["g"], "from-set");
    assert_eq!(v["n"], 5);
    assert_eq!(v["s"], "007");
    assert_eq!(v["file"], "file, contents");
    assert_eq!(v["j"], json!({"k": [1, 2]}));
    assert_eq!(v["list"], json!([9]), "lists replace");
    assert_eq!(v["keep"], json!({"x": 1}), "null deletes a key");

    // --no-schema: no defaults, no validation.
    let (code, out, _) = render(&[p, "--no-schema", "--set", "replicas=99"]);
    assert_eq!(code, 0);
    assert!(
        rendered_values(&out).get("a").is_none(),
        "no schema defaults"
    );
    let (code, _, err) = render(&[p, "--set", "replicas=99"]);
    assert_eq!(code, 1, "{err}");

    // -f - reads values from stdin.
    let mut c = offline_plugin("render");
    c.args([p, "-f", "-"]);
    let out = harness::run_with_stdin(c, "a: from-stdin\n");
    assert_eq!(
        rendered_values(&String::from_utf8_lossy(&out.stdout))["a"],
        "from-stdin"
    );

    // --explain names every layer that set the value, in order, with lines.
    let (code, out, _) = render(&[p, "-e", "prod", "--set", "e=cli", "--explain", "e"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("e = \"cli\"\n"), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].contains("values.yaml:4"), "{out}");
    assert!(lines[2].contains("environments/prod.yaml:2"), "{out}");
    assert!(lines[3].contains("--set e=cli"), "{out}");
}

/// A pack whose values use `${DB_HOST}`; `engine` is appended to Pack.yaml.
fn subst_pack(engine: &str) -> tempfile::TempDir {
    let pack_yaml = format!(
        "apiVersion: sherpack/v1\nkind: application\nmetadata: {{name: subst, version: 0.1.0}}\n{engine}"
    );
    write_tree(&[
        ("Pack.yaml", &pack_yaml),
        (
            "values.yaml",
            "url: \"postgres://${DB_HOST}:${DB_PORT:-5432}/app\"\n",
        ),
        (
            "templates/v.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v}\ndata: {url: {{ values.url | quote }}}\n",
        ),
    ])
}

#[test]
fn env_subst_fills_variables_and_names_missing_ones() {
    let pack = subst_pack("engine: {envSubst: true}\n");
    let mut c = offline_plugin("render");
    c.arg(pack.path()).env("DB_HOST", "db.local");
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert_eq!(
        objects(&out)[0]["data"]["url"],
        "postgres://db.local:5432/app"
    );
    let mut c = offline_plugin("render");
    c.arg(pack.path()).env_remove("DB_HOST");
    let (code, _, err) = run(c);
    assert_eq!(code, 1);
    assert!(
        err.contains("values.yaml: environment variable DB_HOST is not set"),
        "{err}"
    );
}

fn assert_one_line_error(args: &[&str], code_want: i32, contains: &[&str]) {
    let (code, out, err) = render(args);
    assert_eq!(code, code_want, "{args:?}: {err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for c in contains {
        assert!(err.contains(c), "{args:?}: expected {c:?} in {err}");
    }
}

#[test]
fn errors_are_one_line_naming_the_place() {
    let pack = write_tree(&[
        (
            "Pack.yaml",
            "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: broken, version: 0.1.0}\n",
        ),
        ("values.yaml", "app:\n  name: web\n  replicas: 2\n"),
        (
            "values.schema.json",
            "{\"type\": \"object\", \"properties\": {\"app\": {\"type\": \"object\", \"properties\": {\"replicas\": {\"type\": \"integer\", \"maximum\": 5}}}}}",
        ),
        (
            "templates/ok.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\ndata:\n  r: {{ values.app.replicas | quote }}\n",
        ),
        ("environments/a.yaml", "_inherit: b\n"),
        ("environments/b.yaml", "_inherit: a\n"),
    ]);
    let p = pack.path().to_str().unwrap();
    let write = |rel: &str, text: &str| std::fs::write(pack.path().join(rel), text).unwrap();

    assert_one_line_error(
        &[p, "-e", "a"],
        1,
        &["environment inheritance cycle: a -> b -> a"],
    );
    assert_one_line_error(
        &[p, "-e", "prod"],
        1,
        &["unknown environment \"prod\" (available: a, b)"],
    );
    assert_one_line_error(
        &[p, "-f", "/nonexistent/values.yaml"],
        1,
        &["values file /nonexistent/values.yaml"],
    );
    assert_one_line_error(&[p, "--set", "a.=b"], 1, &["--set \"a.=b\""]);
    assert_one_line_error(
        &[p, "--set", "app.replicas=9"],
        1,
        &[
            "values.schema.json",
            "app.replicas: 9 is greater than the maximum of 5",
            "--set app.replicas=9",
        ],
    );

    write(
        "templates/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ values.app.nmae }}\n",
    );
    assert_one_line_error(
        &[p],
        1,
        &[
            "broken/templates/bad.yaml:4:12: undefined value values.app.nmae (did you mean values.app.name?)",
        ],
    );
    write(
        "templates/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  {% if %}\n",
    );
    assert_one_line_error(&[p], 1, &["broken/templates/bad.yaml:6:", "syntax error"]);
    write(
        "templates/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: ConfigMap\nmetadata:\n  name: b\n",
    );
    assert_one_line_error(
        &[p],
        1,
        &[
            "broken/templates/bad.yaml: document 2 (line 6): not a Kubernetes object: missing apiVersion",
        ],
    );

    // strict: false renders an undefined value as empty instead.
    std::fs::remove_file(pack.path().join("templates/bad.yaml")).unwrap();
    write(
        "templates/lenient.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lenient\ndata:\n  x: \"{{ values.nope }}\"\n",
    );
    assert_one_line_error(&[p], 1, &["undefined value values.nope"]);
    write(
        "Pack.yaml",
        "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: broken, version: 0.1.0}\nengine: {strict: false}\n",
    );
    let (code, out, _) = render(&[p]);
    assert_eq!(code, 0);
    assert!(
        objects(&out)
            .iter()
            .any(|o| o["metadata"]["name"] == "lenient" && o["data"]["x"] == "")
    );

    assert_one_line_error(
        &["/nonexistent-pack"],
        1,
        &["/nonexistent-pack: not a pack (no Pack.yaml)"],
    );
}

/// A large pack's template files are read while the first ones render:
/// every template still comes out in order, and a file that cannot be
/// read (here one that is not UTF-8, and a dangling link) fails the render
/// with its name before anything is written.
#[test]
fn a_large_pack_renders_in_order_while_its_files_are_read_and_an_unreadable_one_fails_it() {
    let mut files = vec![
        (
            "Pack.yaml".to_string(),
            "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: big, version: 0.1.0}\n"
                .to_string(),
        ),
        ("values.yaml".to_string(), "prefix: cm\n".to_string()),
        (
            "templates/_helpers.j2".to_string(),
            "{% macro name(i) %}{{ values.prefix }}-{{ i }}{% endmacro %}".to_string(),
        ),
    ];
    for i in 0..300 {
        files.push((
            format!("templates/t{i:03}.yaml"),
            format!("{{% from \"_helpers.j2\" import name %}}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ name({i}) }}}}\n"),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let pack = write_tree(&refs);
    let dir = pack.path().to_str().expect("utf-8 path");
    let (code, out, err) = render(&["big", dir]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<String> = objects(&out)
        .iter()
        .map(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let want: Vec<String> = (0..300).map(|i| format!("cm-{i}")).collect();
    assert_eq!(names, want);

    std::fs::write(pack.path().join("templates/t150.yaml"), b"kind: \xff\n").expect("write");
    assert_one_line_error(&["big", dir], 1, &["templates/t150.yaml", "UTF-8"]);
    std::fs::write(pack.path().join("templates/t150.yaml"), "# fixed\n").expect("write");
    std::os::unix::fs::symlink("/nonexistent/file", pack.path().join("templates/zzz.yaml"))
        .expect("symlink");
    assert_one_line_error(&["big", dir], 1, &["templates/zzz.yaml", "No such file"]);
}

#[test]
fn profile_and_trace_report_templates_and_macros() {
    let pack = write_tree(&[
        (
            "Pack.yaml",
            "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: prof, version: 0.1.0}\n",
        ),
        (
            "templates/_h.j2",
            "{% macro name(x) -%}\n{{ x }}-name\n{%- endmacro %}\n",
        ),
        (
            "templates/a.yaml",
            "{% from '_h.j2' import name %}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name('a') }}\ndata:\n  who: {{ values.owner.name | quote }}\n",
        ),
        ("values.yaml", "owner: {name: me, team: x}\n"),
    ]);
    let (code, out, err) = render(&[pack.path().to_str().unwrap(), "--profile", "--trace"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        objects(&out)[0]["metadata"]["name"],
        "a-name",
        "instrumentation does not change output"
    );
    assert!(err.contains("prof/templates/a.yaml"), "{err}");
    assert!(err.contains("macro name (_h.j2)"), "{err}");
    assert!(err.contains("└ macro name (_h.j2)"), "trace tree: {err}");
    assert!(
        err.contains("values read: values.owner, values.owner.name"),
        "trace values: {err}"
    );
}

#[test]
fn pack_tests_of_the_examples_pass_and_failures_are_reported() {
    let root = harness::workspace_root().join("examples");
    for ex in ["webapp", "platform-app"] {
        let (code, out, err) = render(&["test", root.join(ex).to_str().unwrap()]);
        assert_eq!(code, 0, "{ex}: {out}{err}");
        assert!(
            out.contains("✓") && out.contains(" passed, 0 failed"),
            "{out}"
        );
    }
    let pack = write_tree(&[
        (
            "Pack.yaml",
            "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: t, version: 0.1.0}\n",
        ),
        ("values.yaml", "replicas: 2\n"),
        (
            "templates/d.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: {{ values.replicas }}\n",
        ),
        (
            "tests/d_test.yaml",
            "suite: d\ntests:\n  - name: wrong expectation\n    asserts:\n      - equal: {path: spec.replicas, value: 3}\n  - name: right\n    asserts:\n      - equal: {path: spec.replicas, value: 2}\n  - name: snapshot\n    asserts:\n      - matchSnapshot: {}\n",
        ),
    ]);
    let p = pack.path().to_str().unwrap();
    let (code, out, _) = render(&["test", p]);
    assert_eq!(code, 1);
    assert!(out.contains("✗ wrong expectation"), "{out}");
    assert!(
        out.contains("equal spec.replicas: expected 3, got 2 (t/templates/d.yaml document 1)"),
        "{out}"
    );
    assert!(out.contains("✓ right"), "{out}");
    assert!(
        pack.path()
            .join("tests/__snapshots__/d_test.snap.yaml")
            .exists()
    );

    // A changed render breaks the snapshot until --update-snapshots.
    std::fs::write(pack.path().join("values.yaml"), "replicas: 4\n").unwrap();
    let (_, out, _) = render(&["test", p, "--filter", "snapshot"]);
    assert!(
        out.contains("✗ snapshot") && out.contains("--update-snapshots"),
        "{out}"
    );
    let (code, _, _) = render(&["test", p, "--filter", "snapshot", "--update-snapshots"]);
    assert_eq!(code, 0);
    let (code, _, _) = render(&["test", p, "--filter", "snapshot"]);
    assert_eq!(code, 0);

    std::fs::write(pack.path().join("values.yaml"), "replicas: 2\n").unwrap();
    let (_, out, _) = render(&["test", p, "-o", "junit", "--update-snapshots"]);
    assert!(
        out.contains("<testsuite name=\"d\" tests=\"3\" failures=\"1\">"),
        "{out}"
    );
    let (_, out, _) = render(&["test", p, "-o", "json", "--fail-fast"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["failed"], 1);
    assert_eq!(
        report["tests"].as_array().unwrap().len(),
        1,
        "--fail-fast stops at the first failure"
    );
}

#[test]
fn diff_env_shows_object_differences_and_exits_1() {
    let webapp = harness::workspace_root().join("examples/webapp");
    let (code, out, err) = render(&[
        "diff-env",
        "staging",
        "production",
        webapp.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("~ Deployment.apps/webapp -n default"), "{out}");
    assert!(
        out.contains("-  replicas: 2") && out.contains("+  replicas: 4"),
        "{out}"
    );
    assert!(
        out.contains("- ConfigMap/webapp-debug -n default (only in staging)"),
        "{out}"
    );
    let (code, _, _) = render(&[
        "diff-env",
        "production",
        "production",
        webapp.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let (code, _, err) = render(&["diff-env", "production", "nope", webapp.to_str().unwrap()]);
    assert_eq!(code, 2, "errors exit 2 for diff-like commands: {err}");
}

fn pack_yaml(name: &str, version: &str, deps: &str) -> String {
    format!(
        "apiVersion: sherpack/v1\nkind: application\nmetadata: {{name: {name}, version: {version}}}\n{deps}"
    )
}

#[test]
fn deps_resolve_graph_why_and_explain_conflicts() {
    let repo_files = [
        ("repo/index.yaml", "entries:\n  - {name: cache, version: 1.0.0, path: cache-1.0.0}\n  - {name: cache, version: 1.4.0, path: cache-1.4.0}\n  - {name: cache, version: 2.0.0, path: cache-2.0.0}\n  - {name: db, version: 3.1.0, path: db-3.1.0}\n".to_string()),
        ("repo/cache-1.0.0/Pack.yaml", pack_yaml("cache", "1.0.0", "")),
        ("repo/cache-1.4.0/Pack.yaml", pack_yaml("cache", "1.4.0", "")),
        ("repo/cache-2.0.0/Pack.yaml", pack_yaml("cache", "2.0.0", "")),
        ("repo/db-3.1.0/Pack.yaml", pack_yaml("db", "3.1.0", "dependencies:\n  - {name: cache, version: ^1.2.0, repository: 'file://..'}\n")),
        ("app/Pack.yaml", pack_yaml("app", "1.0.0", "dependencies:\n  - {name: cache, version: ^1.0.0, repository: 'file://../repo'}\n  - {name: db, version: ^3.0.0, repository: 'file://../repo'}\n")),
    ];
    let files: Vec<(&str, &str)> = repo_files.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let tree = write_tree(&files);
    let app = tree.path().join("app");
    let a = app.to_str().unwrap();
    let (code, out, err) = render(&["deps", "resolve", a]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("cache") && out.contains("1.4.0"),
        "newest compatible with ^1.0 and ^1.2: {out}"
    );
    let lock = std::fs::read_to_string(app.join("Pack.lock.yaml")).unwrap();
    assert!(
        lock.contains("name: cache") && lock.contains("1.4.0"),
        "{lock}"
    );
    let (_, out, _) = render(&["deps", "graph", a]);
    assert!(
        out.contains("├── cache 1.4.0 (^1.0.0)")
            && out.contains("db 3.1.0 (^3.0.0)")
            && out.contains("cache 1.4.0 (^1.2.0)"),
        "{out}"
    );
    let (_, out, _) = render(&["deps", "why", "cache", a]);
    assert!(
        out.starts_with("cache 1.4.0 is included because: app requires cache ^1.0.0"),
        "{out}"
    );

    // Minimal strategy picks the oldest version that fits everyone.
    std::fs::write(app.join("Pack.yaml"), pack_yaml("app", "1.0.0", "resolution: {strategy: minimal}\ndependencies:\n  - {name: cache, version: ^1.0.0, repository: 'file://../repo'}\n  - {name: db, version: ^3.0.0, repository: 'file://../repo'}\n")).unwrap();
    let (_, out, _) = render(&["deps", "resolve", a]);
    assert!(out.contains("1.4.0"), "db needs ^1.2.0: {out}");

    // A diamond conflict explains the chain.
    std::fs::write(app.join("Pack.yaml"), pack_yaml("app", "1.0.0", "dependencies:\n  - {name: cache, version: ^2.0.0, repository: 'file://../repo'}\n  - {name: db, version: ^3.0.0, repository: 'file://../repo'}\n")).unwrap();
    let (code, _, err) = render(&["deps", "resolve", a]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot be satisfied") && err.contains("db") && err.contains("cache"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1);

    // Declared conflicts are refused with both chains.
    std::fs::write(app.join("Pack.yaml"), pack_yaml("app", "1.0.0", "conflicts:\n  - {name: cache, version: '<1.5.0'}\ndependencies:\n  - {name: db, version: ^3.0.0, repository: 'file://../repo'}\n")).unwrap();
    let (code, _, err) = render(&["deps", "resolve", a]);
    assert_eq!(code, 1);
    assert!(err.contains("app (app) declares a conflict with cache <1.5.0 but cache 1.4.0 is included (app -> db -> cache)"), "{err}");
}

#[tokio::test]
async fn values_from_and_lookup_read_the_real_cluster() {
    let ns = harness::namespace("render-values-from").await;
    harness::apply_yaml(
        &ns,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-values}\ndata:\n  values.yaml: |\n    app: {replicas: 3, name: from-cm}\n  db.host: cm-db\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: app-secret}\nstringData:\n  db.password: s3cr3t-value\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: existing}\ndata: {color: teal}\n",
    )
    .await;
    let pack = write_tree(&[
        (
            "Pack.yaml",
            "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: vf, version: 0.1.0}\n",
        ),
        (
            "values.yaml",
            "app: {replicas: 1, name: from-values}\ndb: {host: values-db, password: none}\n",
        ),
        (
            "templates/v.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v}\ndata:\n  replicas: {{ values.app.replicas | quote }}\n  name: {{ values.app.name | quote }}\n  host: {{ values.db.host | quote }}\n  pwlen: {{ values.db.password | length | quote }}\n  color: {{ (lookup('v1', 'ConfigMap', release.namespace, 'existing').data | default({})).color | default('offline') | quote }}\n",
        ),
    ]);
    let p = pack.path().to_str().unwrap();
    let mut c = harness::plugin("render");
    c.args([
        p,
        "-n",
        &ns,
        "--values-from",
        "configmap/app-values",
        "--values-from",
        "secret/app-secret",
        "--values-from",
        "configmap/missing?",
        "--set",
        "app.name=from-set",
        "--cluster-lookup",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let o = &objects(&out)[0];
    assert_eq!(o["data"]["replicas"], "3");
    assert_eq!(
        o["data"]["name"], "from-set",
        "--set wins over --values-from"
    );
    assert_eq!(o["data"]["host"], "cm-db");
    assert_eq!(o["data"]["pwlen"], "12");
    assert_eq!(
        o["data"]["color"], "teal",
        "lookup() read the live ConfigMap"
    );

    // Without --cluster-lookup, lookup() is empty (offline).
    let mut c = harness::plugin("render");
    c.args([p, "-n", &ns]);
    let (_, out, _) = run(c);
    assert_eq!(objects(&out)[0]["data"]["color"], "offline");

    // --explain never prints a value that came from a Secret.
    let mut c = harness::plugin("render");
    c.args([
        p,
        "-n",
        &ns,
        "--values-from",
        "secret/app-secret",
        "--explain",
        "db.password",
    ]);
    let (_, out, _) = run(c);
    assert!(
        !out.contains("s3cr3t-value") && out.contains("value hidden"),
        "{out}"
    );

    let mut c = harness::plugin("render");
    c.args([p, "-n", &ns, "--values-from", "configmap/missing"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1);
    assert!(
        err.contains("--values-from configmap/missing: not found in namespace"),
        "{err}"
    );
}

#[test]
fn env_subst_flag_turns_substitution_on() {
    let pack = subst_pack("");
    let mut c = offline_plugin("render");
    c.arg(pack.path()).env("DB_HOST", "h");
    let (_, out, _) = run(c);
    assert_eq!(
        objects(&out)[0]["data"]["url"],
        "postgres://${DB_HOST}:${DB_PORT:-5432}/app",
        "off by default"
    );
    let mut c = offline_plugin("render");
    c.arg(pack.path()).arg("--env-subst").env("DB_HOST", "h");
    let (_, out, _) = run(c);
    assert_eq!(objects(&out)[0]["data"]["url"], "postgres://h:5432/app");
}

#[test]
fn pack_test_coverage_reports_templates_branches_and_values() {
    let pack = harness::workspace_root().join("examples/platform-app");
    let (code, out, _) = render(&["test", pack.to_str().unwrap(), "--coverage"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("templates rendered: 7/7 (100%)"), "{out}");
    assert!(
        out.contains("if-branches taken: 9/10")
            && out.contains("never taken: serviceaccount.yaml:15 else"),
        "{out}"
    );
    assert!(out.contains("values read: "), "{out}");
}

#[test]
fn template_filters_take_the_templates_prefix_and_warn_when_they_match_nothing() {
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    let tree = write_tree(&[
        (
            "p/Pack.yaml",
            "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: p, version: 1.0.0}\n",
        ),
        ("p/templates/app.yaml", &cm("app")),
        ("p/templates/debug/shell.yaml", &cm("shell")),
        // The roadmap's spelling: paths that start with templates/.
        (
            "p/environments/prod.yaml",
            "_templates:\n  exclude: [templates/debug/*, templates/nothing/*]\n",
        ),
        (
            "p/environments/dev.yaml",
            "_templates:\n  include: [\"*.yaml\", debug/*]\n",
        ),
    ]);
    let p = tree.path().join("p");
    let p = p.to_str().unwrap();
    let (code, out, err) = render(&["app", p, "-e", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("name: app") && !out.contains("name: shell"),
        "{out}"
    );
    assert!(
        err.contains(
            "environments/prod.yaml: _templates glob \"templates/nothing/*\" matches no template"
        ),
        "{err}"
    );
    assert!(!err.contains("templates/debug/*\" matches"), "{err}");
    let (code, out, err) = render(&["app", p, "-e", "dev"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("name: app") && out.contains("name: shell"),
        "{out}"
    );
    assert!(!err.contains("matches no template"), "{err}");
}
