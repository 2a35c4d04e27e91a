//! The corpus of bad input: one table of commands across the five plugins
//! that a tired user or an attacker would type, each with the exit code and
//! the words of the one-line error a user must see, and — checked against
//! the real API server after every row — nothing applied: the objects of
//! the corpus namespace, the Namespaces and the CRDs are exactly as before.
//! Every row also proves there is no Rust Debug dump or panic in the output.
//!
//! Rows run in order in one namespace (set up first with a deployed
//! release, a release whose only revision failed, an object made by hand
//! and a ConfigMap marked immutable); failures are collected and reported
//! together.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use harness::{bin, cluster, namespace, plugin, run_with_stdin, texts};
use kube::Api;
use kube::api::{DynamicObject, ListParams};

/// One bad input and what the user must see.
struct Case {
    /// What it guards (the row's name in a failure report).
    name: &'static str,
    plugin: &'static str,
    args: Vec<String>,
    stdin: String,
    code: i32,
    /// A fragment of stderr.
    says: &'static str,
}

fn case(
    name: &'static str,
    plugin: &'static str,
    args: &[&str],
    stdin: &str,
    code: i32,
    says: &'static str,
) -> Case {
    Case {
        name,
        plugin,
        args: args.iter().map(|a| a.to_string()).collect(),
        stdin: stdin.to_string(),
        code,
        says,
    }
}

const FIRST_OK: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first-ok\ndata:\n  a: b\n";

/// A stream whose first document is fine and whose second is `bad`: the
/// first must not be applied either.
fn good_then(bad: &str) -> String {
    format!("{FIRST_OK}---\n{bad}")
}

fn cm(name: &str, annotations: &[(&str, &str)]) -> String {
    let mut s = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"{name}\"\n");
    if !annotations.is_empty() {
        s.push_str("  annotations:\n");
        for (k, v) in annotations {
            s.push_str(&format!("    {k}: \"{v}\"\n"));
        }
    }
    s.push_str("data:\n  k: v\n");
    s
}

/// A YAML "billion laughs": nine levels of nine aliases.
fn alias_bomb(indent: &str) -> String {
    let mut s = format!(
        "{indent}a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
    );
    let mut prev = 'a';
    for c in "bcdefghi".chars() {
        let refs = vec![format!("*{prev}"); 9].join(",");
        s.push_str(&format!("{indent}{c}: &{c} [{refs}]\n"));
        prev = c;
    }
    s
}

fn deep_nesting(levels: usize) -> String {
    format!("k: {}1{}\n", "[".repeat(levels), "]".repeat(levels))
}

/// The rows of pack-waves: streams checked before the first write, flags,
/// release names, releases that do not exist.
fn waves_cases() -> Vec<Case> {
    let apply = ["apply", "corpus"];
    let mut v = Vec::new();
    let mut stream =
        |name, bad: String, says| v.push(case(name, "waves", &apply, &good_then(&bad), 1, says));
    stream(
        "unknown kind",
        "apiVersion: v1\nkind: Nope\nmetadata:\n  name: x\n".into(),
        "the server has no kind Nope in v1",
    );
    stream(
        "unknown API group",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: x\n".into(),
        "the server has no kind Widget in example.com/v1",
    );
    stream(
        "unknown version of a known group",
        "apiVersion: apps/v9\nkind: Deployment\nmetadata:\n  name: x\n".into(),
        "the server has no kind Deployment in apps/v9",
    );
    stream(
        "invalid object name",
        cm("Bad_Name!", &[]),
        "is not valid for a ConfigMap",
    );
    stream(
        "missing object name",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n".into(),
        "ConfigMap",
    );
    stream(
        "Service name starting with a digit",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\nspec:\n  ports: [{port: 80}]\n"
            .into(),
        "DNS-1035 label",
    );
    stream(
        "Namespace name with a dot",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a.b\n".into(),
        "DNS-1123 label",
    );
    stream(
        "name longer than 253",
        cm(&"a".repeat(254), &[]),
        "at most 253",
    );
    stream(
        "object over the etcd limit",
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  k: {}\n",
            "x".repeat(2 << 20)
        ),
        "MiB etcd stores in one object",
    );
    stream(
        "misspelt hook phase",
        cm("hk", &[("sherpack.io/hook", "pre-lunch")]),
        "\"pre-lunch\" is not a list of hook phases",
    );
    stream(
        "empty Helm hook phase",
        cm("hk", &[("helm.sh/hook", "")]),
        "is not a list of hook phases",
    );
    stream(
        "hook weight not a number",
        cm(
            "hk",
            &[
                ("sherpack.io/hook", "pre-install"),
                ("sherpack.io/hook-weight", "heavy"),
            ],
        ),
        "hook-weight: \"heavy\" is not an integer",
    );
    stream(
        "unknown hook delete policy",
        cm(
            "hk",
            &[
                ("helm.sh/hook", "pre-install"),
                ("helm.sh/hook-delete-policy", "whenever"),
            ],
        ),
        "not a list of hook delete policies",
    );
    stream(
        "depends-on with only commas",
        cm("b", &[("sherpack.io/depends-on", ",,,")]),
        "has an empty entry",
    );
    stream(
        "depends-on of a malformed form",
        cm("b", &[("sherpack.io/depends-on", "a/b/c/d")]),
        "is not NAME, KIND/NAME",
    );
    stream(
        "depends-on an object not in the stream",
        cm("b", &[("sherpack.io/depends-on", "ConfigMap/nowhere")]),
        "which is not in the stream",
    );
    stream(
        "wait-ready maybe",
        cm("b", &[("sherpack.io/wait-ready", "maybe")]),
        "is not \"true\" or \"false\"",
    );
    stream(
        "resource-policy sometimes",
        cm("b", &[("sherpack.io/resource-policy", "sometimes")]),
        "is not a resource policy",
    );
    stream(
        "Helm resource-policy sometimes",
        cm("b", &[("helm.sh/resource-policy", "sometimes")]),
        "is not a resource policy",
    );
    stream(
        "timeout soon",
        cm("b", &[("sherpack.io/timeout", "soon")]),
        "sherpack.io/timeout",
    );
    stream(
        "timeout zero",
        cm("b", &[("sherpack.io/timeout", "0s")]),
        "is zero",
    );
    stream(
        "wave not a number",
        cm("b", &[("sherpack.io/wave", "first")]),
        "is not an integer wave",
    );
    stream(
        "Argo CD sync-wave not a number",
        cm("b", &[("argocd.argoproj.io/sync-wave", "x")]),
        "is not an integer wave",
    );
    stream(
        "replace yes",
        cm("b", &[("sherpack.io/replace", "yes")]),
        "sherpack.io/replace: \"yes\"",
    );
    stream(
        "the same object twice",
        FIRST_OK.to_string(),
        "appears twice",
    );
    stream(
        "duplicate keys",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  a: \"1\"\n  a: \"2\"\n"
            .into(),
        "duplicate mapping key",
    );
    stream(
        "unclosed flow sequence",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n".into(),
        "invalid YAML",
    );
    stream(
        "alias bomb in a stream",
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n{}",
            alias_bomb("  ")
        ),
        "over the reading limits",
    );
    stream(
        "nesting 200 deep",
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\n{}",
            deep_nesting(200)
        ),
        "over the reading limits",
    );
    stream(
        "scalar document",
        "just a string\n".into(),
        "not a Kubernetes object",
    );
    stream(
        "sequence document",
        "- a\n- b\n".into(),
        "not a Kubernetes object",
    );
    stream(
        "missing apiVersion",
        "kind: ConfigMap\nmetadata:\n  name: x\n".into(),
        "apiVersion",
    );
    stream(
        "missing kind",
        "apiVersion: v1\nmetadata:\n  name: x\n".into(),
        "kind",
    );
    stream("negative replicas (server validation)", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: -3\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: nginx}]}\n".into(), "spec.replicas: Invalid value: -3");
    stream("selector not matching the template (server validation)", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: other}}\n    spec: {containers: [{name: c, image: nginx}]}\n".into(), "does not match template");
    stream(
        "port out of range (server validation)",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 70000}]\n"
            .into(),
        "spec.ports[0].port",
    );
    stream(
        "bad ConfigMap key (server validation)",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: badkey\ndata:\n  \"bad key!\": v\n"
            .into(),
        "data[bad key!]",
    );
    stream("namespace that does not exist", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nowhere-at-all\ndata: {a: b}\n".into(), "namespaces \"nowhere-at-all\" not found");
    stream("invalid label value (server validation)", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lbl\n  labels: {app: \"not valid!\"}\n".into(), "metadata.labels");
    stream(
        "Pod without an image (server validation)",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: [{name: c}]\n"
            .into(),
        "image",
    );
    stream(
        "Secret data not base64",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: \"%%%not base64\"\n"
            .into(),
        "Secret/s",
    );
    stream(
        "number where a string belongs",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: num\ndata:\n  k: {a: 1}\n".into(),
        "ConfigMap/num",
    );
    stream(
        "custom resource of a version the stream's CRD does not serve",
        format!(
            "{}---\napiVersion: corpus.example.com/v2\nkind: Gadget\nmetadata:\n  name: g\n",
            crd("gadgets", "Gadget")
        ),
        "no kind Gadget in corpus.example.com/v2",
    );
    v.push(case(
        "empty stream (a failed render upstream)",
        "waves",
        &apply,
        "",
        1,
        "nothing to apply",
    ));
    v.push(case(
        "stream of comments only",
        "waves",
        &apply,
        "# nothing\n---\n# still nothing\n",
        1,
        "nothing to apply",
    ));
    let sealed = "# kubectl-pack.io/pack: {\"name\":\"p\",\"version\":\"1.0.0\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sealed\n";
    v.push(case(
        "rendered stream cut short",
        "waves",
        &apply,
        sealed,
        1,
        "cut short",
    ));
    v.push(case(
        "rendered stream changed after render",
        "waves",
        &apply,
        &format!(
            "{sealed}# kubectl-pack.io/end: {{\"documents\":1,\"sha256\":\"{}\"}}\n",
            "0".repeat(64)
        ),
        1,
        "refusing the stream",
    ));
    v.push(case(
        "object made by hand",
        "waves",
        &apply,
        &good_then(&cm("handmade", &[])),
        1,
        "belongs to no release",
    ));
    v.push(case("immutable ConfigMap changed", "waves", &["apply", "base"], &format!("{}---\n{}", cm("base-cm", &[]), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\nimmutable: true\ndata:\n  k: changed\n"), 1, "--force-replace"));
    // Flags.
    let one = cm("flag-cm", &[]);
    for (name, flag, value, says) in [
        (
            "--rollback-on Sneezing",
            "--rollback-on",
            "Sneezing",
            "possible values",
        ),
        ("--concurrency 0", "--concurrency", "0", "--concurrency"),
        (
            "--concurrency 5000",
            "--concurrency",
            "5000",
            "--concurrency",
        ),
        ("--timeout soon", "--timeout", "soon", "--timeout"),
        ("--timeout 0", "--timeout", "0", "must be more than 0"),
        (
            "--on-failure sideways",
            "--on-failure",
            "sideways",
            "possible values",
        ),
        ("--wave x", "--wave", "x", "--wave"),
        (
            "--max-history -1",
            "--max-history",
            "-1",
            "unexpected argument '-1'",
        ),
        ("--storage bogus", "--storage", "bogus", "--storage"),
    ] {
        v.push(case(
            name,
            "waves",
            &["apply", "corpus", flag, value],
            &one,
            2,
            says,
        ));
    }
    for (name, release) in [
        ("release name with capitals", "relA"),
        ("release name with dots", "rel.a"),
        ("release name with underscore", "my_app"),
        (
            "release name of 54 characters",
            "a23456789012345678901234567890123456789012345678901234",
        ),
    ] {
        v.push(case(
            name,
            "waves",
            &["apply", release],
            &one,
            2,
            "a release name is 1 to 53",
        ));
    }
    v.push(case(
        "release name starting with a dash",
        "waves",
        &["apply", "-app"],
        &one,
        2,
        "unexpected argument '-a'",
    ));
    v.push(case(
        "--pause-between-waves with the stream on stdin",
        "waves",
        &["apply", "corpus", "--pause-between-waves"],
        &one,
        2,
        "asks on a terminal",
    ));
    v.push(case(
        "-f of a missing file",
        "waves",
        &["apply", "corpus", "-f", "/nonexistent/stream.yaml"],
        "",
        1,
        "cannot read /nonexistent/stream.yaml",
    ));
    v.push(case(
        "rollback of an unknown release",
        "waves",
        &["rollback", "nosuch"],
        "",
        1,
        "nosuch",
    ));
    v.push(case(
        "rollback to a revision that does not exist",
        "waves",
        &["rollback", "base", "99"],
        "",
        1,
        "99",
    ));
    v.push(case(
        "uninstall of an unknown release",
        "waves",
        &["uninstall", "nosuch"],
        "",
        1,
        "release nosuch not found",
    ));
    v.push(case(
        "status of an unknown release",
        "waves",
        &["status", "nosuch"],
        "",
        2,
        "nosuch",
    ));
    v.push(case(
        "history -o xml",
        "waves",
        &["history", "base", "-o", "xml"],
        "",
        2,
        "possible values",
    ));
    v.push(case(
        "diff of an invalid stream",
        "waves",
        &["diff", "corpus"],
        &good_then(&cm("Bad_Name!", &[])),
        2,
        "Bad_Name!",
    ));
    v.push(case(
        "plan of a misspelt hook (offline)",
        "waves",
        &["plan"],
        &cm("hk", &[("sherpack.io/hook", "post-lunch")]),
        1,
        "post-lunch",
    ));
    v.push(case(
        "unknown subcommand",
        "waves",
        &["deploy", "corpus"],
        "",
        2,
        "unrecognized subcommand",
    ));
    for (name, args, code, says) in [
        (
            "rollback --only without a kind",
            &["rollback", "base", "--only", "web"][..],
            2,
            "expected KIND/NAME",
        ),
        (
            "rollback --except of an object in neither revision",
            &["rollback", "base", "1", "--except", "ConfigMap/nowhere"],
            1,
            "no object of revision",
        ),
        (
            "migrate --compression lz4",
            &["migrate", "base", "--compression", "lz4"],
            2,
            "possible values",
        ),
        (
            "migrate --from-storage bogus",
            &["migrate", "base", "--from-storage", "bogus"],
            2,
            "unknown storage 'bogus'",
        ),
        (
            "migrate of an unknown release",
            &["migrate", "nosuch"],
            1,
            "has no revisions",
        ),
    ] {
        v.push(case(name, "waves", args, "", code, says));
    }
    v
}

fn crd(plural: &str, kind: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {plural}.corpus.example.com\nspec:\n  group: corpus.example.com\n  scope: Namespaced\n  names: {{plural: {plural}, singular: {s}, kind: {kind}, listKind: {kind}List}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec: {{type: object, properties: {{size: {{type: integer}}}}}}\n",
        s = plural.trim_end_matches('s')
    )
}

/// The rows of pack-render (packs written by `render_packs`).
fn render_cases() -> Vec<Case> {
    let r = |name, args: &[&str], code, says| case(name, "render", args, "", code, says);
    vec![
        r(
            "release name My_App",
            &["My_App", "{dir}/good"],
            2,
            "a release name is 1 to 53",
        ),
        r(
            "release name with dots",
            &["my.app", "{dir}/good"],
            2,
            "a release name is 1 to 53",
        ),
        r(
            "Pack.yaml version not semver",
            &["app", "{dir}/badversion"],
            1,
            "is not a semantic version",
        ),
        r(
            "Pack.yaml without a name",
            &["app", "{dir}/noname"],
            1,
            "metadata.name is required",
        ),
        r(
            "Pack.yaml of another apiVersion",
            &["app", "{dir}/badapi"],
            1,
            "apiVersion must be sherpack/v1",
        ),
        r(
            "Pack.yaml that is not YAML",
            &["app", "{dir}/notyaml"],
            1,
            "Pack.yaml",
        ),
        r(
            "--explain of an unknown value",
            &["app", "{dir}/good", "--explain", "nope.nope"],
            1,
            "no layer of values sets it",
        ),
        r(
            "--set of a bad syntax",
            &["app", "{dir}/good", "--set", "a[=1"],
            1,
            "--set",
        ),
        r(
            "values file that does not exist",
            &["app", "{dir}/good", "-f", "{dir}/missing.yaml"],
            1,
            "missing.yaml",
        ),
        r(
            "values file with an alias bomb",
            &["app", "{dir}/good", "-f", "{dir}/bomb.yaml"],
            1,
            "over the reading limits",
        ),
        r(
            "values file with duplicate keys",
            &["app", "{dir}/good", "-f", "{dir}/dupkeys.yaml"],
            1,
            "duplicate mapping key",
        ),
        r(
            "template syntax error",
            &["app", "{dir}/badtemplate"],
            1,
            "cm.yaml",
        ),
        r(
            "unknown filter in a template",
            &["app", "{dir}/badfilter"],
            1,
            "nosuchfilter",
        ),
        r(
            "environment that does not exist",
            &["app", "{dir}/good", "-e", "nope"],
            1,
            "nope",
        ),
        r(
            "value against the schema",
            &["app", "{dir}/good", "--set", "replicas=many"],
            1,
            "replicas",
        ),
        r(
            "pack directory that does not exist",
            &["app", "{dir}/nowhere"],
            1,
            "nowhere",
        ),
        r(
            "-o bogus",
            &["app", "{dir}/good", "-o", "bogus"],
            2,
            "possible values",
        ),
        r(
            "template rendering an invalid document",
            &["app", "{dir}/badoutput"],
            1,
            "cm.yaml",
        ),
    ]
}

/// The rows of pack-drift.
fn drift_cases() -> Vec<Case> {
    let d = |name, args: &[&str], code, says| case(name, "drift", args, "", code, says);
    vec![
        d(
            "drift of an unknown release",
            &["nosuch"],
            2,
            "release nosuch not found",
        ),
        d(
            "history of an unknown release",
            &["history", "nosuch"],
            2,
            "release nosuch not found",
        ),
        d(
            "--ignore with an empty field",
            &["base", "--ignore", "a..b"],
            2,
            "empty field name",
        ),
        d(
            "--ignore with an unclosed bracket",
            &["base", "--ignore", "spec[name=x"],
            2,
            "missing ']'",
        ),
        d(
            "release whose only revision failed",
            &["broken"],
            2,
            "has no deployed revision",
        ),
        d(
            "--fail-on extreme",
            &["base", "--fail-on", "extreme"],
            2,
            "possible values",
        ),
        d(
            "release name relA",
            &["relA"],
            2,
            "a release name is 1 to 53",
        ),
        d(
            "sync of an unknown release",
            &["sync", "nosuch"],
            2,
            "release nosuch not found",
        ),
        d(
            "watch --interval soon",
            &["watch", "base", "--interval", "soon"],
            2,
            "--interval",
        ),
        d(
            "watch --interval 0",
            &["watch", "base", "--interval", "0"],
            2,
            "must be more than 0",
        ),
        d(
            "history --limit -1",
            &["history", "base", "--limit", "-1"],
            2,
            "unexpected argument '-1'",
        ),
        d("-o xml", &["base", "-o", "xml"], 2, "possible values"),
        d(
            "sync --only without a name",
            &["sync", "base", "--only", "Deployment/"],
            2,
            "expected KIND/NAME",
        ),
        d(
            "sync --only of a kind the server does not know",
            &["sync", "base", "--only", "deploymnt/web"],
            2,
            "the server has no kind, plural or short name 'deploymnt'",
        ),
        d(
            "sync --only of an object the release lacks",
            &["sync", "base", "--only", "ConfigMap/nowhere"],
            2,
            "has no such object",
        ),
    ]
}

/// The rows of pack-crd (files written by `crd_files`).
fn crd_cases() -> Vec<Case> {
    let c =
        |name, args: &[&str], stdin: &str, code, says| case(name, "crd", args, stdin, code, says);
    vec![
        c(
            "restore of a plain ConfigMap file",
            &["restore", "{dir}/configmap.yaml"],
            "",
            1,
            "is not a backup written by kubectl pack-crd backup",
        ),
        c(
            "restore of a backup holding other objects",
            &["restore", "{dir}/tampered-backup.yaml"],
            "",
            1,
            "are not custom resources of the backup's CRDs",
        ),
        c(
            "restore of a missing file",
            &["restore", "{dir}/missing.yaml"],
            "",
            1,
            "missing.yaml",
        ),
        c(
            "apply of a stream with duplicate keys",
            &["apply"],
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  a: \"1\"\n  a: \"2\"\n",
            1,
            "duplicate mapping key",
        ),
        c(
            "apply of an alias bomb",
            &["apply"],
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n{}",
                alias_bomb("  ")
            ),
            1,
            "over the reading limits",
        ),
        c(
            "apply of a non-structural CRD",
            &["apply"],
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.corpus.example.com\nspec:\n  group: corpus.example.com\n  scope: Namespaced\n  names: {plural: things, kind: Thing}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, properties: {spec: {}}}\n",
            1,
            "structural",
        ),
        c(
            "apply of a CRD with two storage versions",
            &["apply"],
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: twos.corpus.example.com\nspec:\n  group: corpus.example.com\n  scope: Namespaced\n  names: {plural: twos, kind: Two}\n  versions:\n  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}\n  - {name: v2, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}\n",
            1,
            "storage",
        ),
        c(
            "apply with an unknown policy annotation",
            &["apply"],
            &crd("policies", "Policy").replace(
                "metadata:\n",
                "metadata:\n  annotations: {sherpack.io/crd-policy: sometimes}\n",
            ),
            1,
            "sometimes",
        ),
        c(
            "apply of a cut rendered stream",
            &["apply"],
            "# kubectl-pack.io/pack: {\"name\":\"p\",\"version\":\"1.0.0\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sealed\n",
            1,
            "cut short",
        ),
        c(
            "apply --timeout soon",
            &["apply", "--timeout", "soon"],
            "",
            2,
            "--timeout",
        ),
        c(
            "diff of a file that is not a CRD",
            &["diff", "{dir}/configmap.yaml", "{dir}/configmap.yaml"],
            "",
            2,
            "CustomResourceDefinition",
        ),
        c(
            "diff against a CRD that does not exist",
            &[
                "diff",
                "cluster:nopes.corpus.example.com",
                "{dir}/configmap.yaml",
            ],
            "",
            2,
            "nopes.corpus.example.com",
        ),
        c(
            "validate of an alias bomb",
            &["validate", "-f", "{dir}/bomb.yaml"],
            "",
            2,
            "over the reading limits",
        ),
        c(
            "migrate of a missing CRD",
            &["migrate", "nopes.corpus.example.com", "--to", "v2"],
            "",
            1,
            "nopes.corpus.example.com",
        ),
        c(
            "backup of a missing CRD",
            &["backup", "nopes.corpus.example.com"],
            "",
            1,
            "does not exist",
        ),
        c(
            "restore --namespace-map without '='",
            &["restore", "{dir}/configmap.yaml", "--namespace-map", "a"],
            "",
            2,
            "expected FROM=TO",
        ),
    ]
}

/// The rows of pack-secrets (files written by `secrets_files`).
fn secrets_cases() -> Vec<Case> {
    let s = |name, args: &[&str], code, says| case(name, "secrets", args, "", code, says);
    vec![
        s(
            "decrypt of an alias bomb",
            &["decrypt", "{dir}/bomb.yaml"],
            1,
            "over the reading limits",
        ),
        s(
            "encrypt of an alias bomb",
            &["encrypt", "--age", "{recipient}", "{dir}/bomb.yaml"],
            1,
            "over the reading limits",
        ),
        s(
            "encrypt of a file nested too deep",
            &["encrypt", "--age", "{recipient}", "{dir}/deep.yaml"],
            1,
            "over the reading limits",
        ),
        s(
            "decrypt of a file that is not encrypted",
            &["decrypt", "{dir}/plain.yaml"],
            1,
            "sops",
        ),
        s(
            "decrypt with a tampered value",
            &["decrypt", "{dir}/tampered.yaml"],
            1,
            "password",
        ),
        s(
            "decrypt of a missing file",
            &["decrypt", "{dir}/missing.yaml"],
            1,
            "missing.yaml",
        ),
        s(
            "encrypt with a malformed recipient",
            &["encrypt", "--age", "age1notakey", "{dir}/plain.yaml"],
            1,
            "age1notakey",
        ),
        s(
            "set with a malformed path",
            &["set", "{dir}/enc.yaml", "[\"a\"", "\"x\""],
            1,
            "path",
        ),
        s(
            "sync --refresh soon",
            &["sync", "--refresh", "soon"],
            2,
            "--refresh",
        ),
        s(
            "unknown subcommand",
            &["unlock", "{dir}/enc.yaml"],
            2,
            "unrecognized subcommand",
        ),
    ]
}

/// Small packs, each broken in one way.
fn render_packs(dir: &Path) {
    let pack = |version: &str, name: &str| {
        format!(
            "apiVersion: sherpack/v1\nkind: application\nmetadata:\n  name: {name}\n  version: {version}\n"
        )
    };
    let cm_tpl = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ release.name }}-cm\ndata:\n  replicas: \"{{ values.replicas }}\"\n";
    let files: Vec<(String, String)> = vec![
        ("good/Pack.yaml".into(), pack("1.0.0", "good")),
        ("good/values.yaml".into(), "replicas: 1\n".into()),
        (
            "good/values.schema.yaml".into(),
            "schemaVersion: sherpack/v1\nproperties:\n  replicas: {type: integer}\n".into(),
        ),
        ("good/templates/cm.yaml".into(), cm_tpl.into()),
        ("badversion/Pack.yaml".into(), pack("latest", "badversion")),
        ("badversion/templates/cm.yaml".into(), cm_tpl.into()),
        (
            "noname/Pack.yaml".into(),
            "apiVersion: sherpack/v1\nkind: application\nmetadata:\n  version: 1.0.0\n".into(),
        ),
        (
            "badapi/Pack.yaml".into(),
            "apiVersion: helm/v3\nkind: application\nmetadata:\n  name: x\n  version: 1.0.0\n"
                .into(),
        ),
        ("notyaml/Pack.yaml".into(), "apiVersion: [sherpack\n".into()),
        ("badtemplate/Pack.yaml".into(), pack("1.0.0", "badtemplate")),
        ("badtemplate/templates/cm.yaml".into(), "{% if %}\n".into()),
        ("badfilter/Pack.yaml".into(), pack("1.0.0", "badfilter")),
        (
            "badfilter/templates/cm.yaml".into(),
            "x: {{ 1 | nosuchfilter }}\n".into(),
        ),
        ("badoutput/Pack.yaml".into(), pack("1.0.0", "badoutput")),
        (
            "badoutput/templates/cm.yaml".into(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n".into(),
        ),
        ("bomb.yaml".into(), alias_bomb("")),
        ("dupkeys.yaml".into(), "replicas: 1\nreplicas: 2\n".into()),
    ];
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// The nothing-applied check: every object of the corpus namespace (name
/// and resourceVersion of the kinds no controller writes to), and the
/// Namespaces and CRDs a row could create.
async fn snapshot(ns: &str) -> BTreeMap<String, String> {
    let client = cluster().client().await;
    let mut out = BTreeMap::new();
    let kinds: [(&str, &str, &str, bool, bool); 8] = [
        ("", "v1", "configmaps", true, true),
        ("", "v1", "secrets", true, true),
        ("", "v1", "services", true, true),
        ("", "v1", "persistentvolumeclaims", true, false),
        ("apps", "v1", "deployments", true, false),
        ("coordination.k8s.io", "v1", "leases", true, true),
        ("", "v1", "namespaces", false, false),
        (
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            false,
            true,
        ),
    ];
    for (group, version, plural, namespaced, versioned) in kinds {
        let gvk = kube::api::GroupVersionKind::gvk(group, version, "");
        let res = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), ns, &res)
        } else {
            Api::all_with(client.clone(), &res)
        };
        for o in api.list(&ListParams::default()).await.unwrap().items {
            let name = o.metadata.name.clone().unwrap_or_default();
            if !namespaced && !from_the_corpus(plural, &name) {
                continue;
            }
            let rv = if versioned {
                o.metadata.resource_version.clone().unwrap_or_default()
            } else {
                String::new()
            };
            out.insert(format!("{plural}/{name}"), rv);
        }
    }
    out
}

/// Cluster-scoped objects the corpus could create: not the namespaces of
/// other tests running at the same time (`t<N>-...`), and CRDs of the
/// corpus' own group.
fn from_the_corpus(plural: &str, name: &str) -> bool {
    match plural {
        "namespaces" => !name
            .strip_prefix('t')
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        _ => name.ends_with(".corpus.example.com"),
    }
}

fn command(c: &Case, ns: &str, dir: &Path, home: &Path, recipient: &str) -> Command {
    let mut cmd = plugin(c.plugin);
    cmd.env("HOME", home).current_dir(dir);
    if c.plugin != "render" && c.plugin != "secrets" {
        cmd.args(["-n", ns]);
    }
    let d = dir.to_string_lossy();
    for a in &c.args {
        cmd.arg(a.replace("{dir}", &d).replace("{recipient}", recipient));
    }
    cmd
}

/// Runs every row; returns the failures (each: the row and what was wrong).
async fn run_rows(
    rows: &[Case],
    ns: &str,
    dir: &Path,
    home: &Path,
    recipient: &str,
) -> Vec<String> {
    let mut failures = Vec::new();
    for c in rows {
        let before = snapshot(ns).await;
        let out = run_with_stdin(command(c, ns, dir, home, recipient), &c.stdin);
        let (stdout, stderr) = texts(&out);
        let code = out.status.code().unwrap_or(-1);
        let mut wrong = Vec::new();
        if code != c.code {
            wrong.push(format!("exit {code}, expected {}", c.code));
        }
        if !stderr.contains(c.says) {
            wrong.push(format!("stderr lacks {:?}", c.says));
        }
        for dump in [
            "Status {",
            "ErrorResponse {",
            "Error {",
            "Nodes {",
            "panicked",
            "RUST_BACKTRACE",
            "internal error",
        ] {
            if stderr.contains(dump) || stdout.contains(dump) {
                wrong.push(format!("output holds {dump:?}"));
            }
        }
        let after = snapshot(ns).await;
        if before != after {
            let changed: Vec<&String> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|(k, _)| k)
                .chain(before.keys().filter(|k| !after.contains_key(*k)))
                .collect();
            wrong.push(format!("the cluster changed: {changed:?}"));
        }
        if std::env::var_os("CORPUS_SHOW").is_some() {
            eprintln!("[{}] {} -> {code}: {}", c.plugin, c.name, stderr.trim());
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "[{}] {} {:?}: {}\n    stderr: {}",
                c.plugin,
                c.name,
                c.args,
                wrong.join("; "),
                stderr.trim().replace('\n', "\n            ")
            ));
        }
    }
    failures
}

/// What the rows need in the cluster: release `base` deployed (with an
/// immutable ConfigMap), release `broken` whose only revision failed, a
/// ConfigMap made by hand.
async fn set_up_cluster(ns: &str) {
    let base = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\nimmutable: true\ndata:\n  k: v\n",
        cm("base-cm", &[])
    );
    let mut c = plugin("waves");
    c.args(["-n", ns, "apply", "base"]);
    let out = run_with_stdin(c, &base);
    assert!(out.status.success(), "{}", texts(&out).1);
    // A PVC is never bound here (no provisioner): the revision fails.
    let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: never-bound\n  annotations: {sherpack.io/timeout: 1s}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n";
    let mut c = plugin("waves");
    c.args(["-n", ns, "apply", "broken", "--timeout", "20s"]);
    let out = run_with_stdin(c, pvc);
    assert_eq!(out.status.code(), Some(1), "{}", texts(&out).1);
    harness::apply_yaml(ns, &cm("handmade", &[])).await;
}

/// Files the crd and secrets rows read.
fn set_up_files(dir: &Path, home: &Path, recipient: &str) {
    let write = |rel: &str, text: &str| std::fs::write(dir.join(rel), text).unwrap();
    write("configmap.yaml", &cm("restored", &[]));
    write(
        "tampered-backup.yaml",
        &format!(
            "# kubectl pack-crd backup of gadgets.corpus.example.com at 2026-01-01T00:00:00Z: 1 object(s)\n---\n{}---\n{}",
            crd("gadgets", "Gadget"),
            cm("smuggled", &[])
        ),
    );
    write("bomb.yaml", &alias_bomb(""));
    write("deep.yaml", &deep_nesting(200));
    write("plain.yaml", "password: hunter2\nuser: admin\n");
    let mut c = Command::new(bin("secrets"));
    c.env("HOME", home)
        .current_dir(dir)
        .args(["encrypt", "--age", recipient, "plain.yaml"]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", texts(&out).1);
    let enc = texts(&out).0;
    write("enc.yaml", &enc);
    // Another value's ciphertext in place of the password's: the MAC and
    // the per-value authentication must both refuse it.
    let lines: Vec<&str> = enc.lines().collect();
    let value = |key: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(": "))
            .map(|(_, v)| v.to_string())
            .unwrap()
    };
    let tampered = enc.replace(&value("password:"), &value("user:"));
    write("tampered.yaml", &tampered);
}

#[tokio::test]
async fn every_bad_input_of_the_corpus_is_refused_with_one_line_and_nothing_applied() {
    let ns = namespace("corpus").await;
    let dir = tempfile::tempdir().unwrap();
    let (home, recipient) = crate::secrets::home_with_key();
    set_up_cluster(&ns).await;
    set_up_files(dir.path(), home.path(), &recipient);
    render_packs(dir.path());
    let mut rows = waves_cases();
    rows.extend(render_cases());
    rows.extend(drift_cases());
    rows.extend(crd_cases());
    rows.extend(secrets_cases());
    assert!(rows.len() >= 100, "the corpus has {} rows", rows.len());
    let failures = run_rows(&rows, &ns, dir.path(), home.path(), &recipient).await;
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    // Nothing of the corpus reached the cluster at all.
    let leftovers = snapshot(&ns).await;
    assert!(
        !leftovers.keys().any(|k| k.contains("first-ok")),
        "{leftovers:?}"
    );
}

#[tokio::test]
async fn an_admission_policy_refusal_is_found_before_the_first_write() {
    let ns = namespace("corpus-admission").await;
    // A ValidatingAdmissionPolicy (CEL, in the API server) bound to this
    // namespace only: ConfigMaps may not carry a key named "forbidden".
    let policy = format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: {ns}-no-forbidden\nspec:\n  failurePolicy: Fail\n  matchConstraints:\n    resourceRules:\n    - apiGroups: [\"\"]\n      apiVersions: [v1]\n      operations: [CREATE, UPDATE]\n      resources: [configmaps]\n  validations:\n  - expression: \"!has(object.data) || !('forbidden' in object.data)\"\n    message: ConfigMaps may not hold a key named forbidden\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: {ns}-no-forbidden\nspec:\n  policyName: {ns}-no-forbidden\n  validationActions: [Deny]\n  matchResources:\n    namespaceSelector:\n      matchLabels: {{kubernetes.io/metadata.name: {ns}}}\n"
    );
    let mut c = harness::kubectl();
    c.args(["apply", "-f", "-"]);
    let out = run_with_stdin(c, &policy);
    assert!(out.status.success(), "{}", texts(&out).1);
    let stream = good_then(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: refused\ndata:\n  forbidden: x\n",
    );
    // The policy takes a moment to reach the admission plugin.
    harness::wait_until(
        "the policy refuses a dry-run",
        std::time::Duration::from_secs(30),
        || {
            let ns = ns.clone();
            async move {
                let mut c = harness::kubectl();
                c.args([
                    "-n",
                    &ns,
                    "create",
                    "configmap",
                    "probe",
                    "--from-literal=forbidden=x",
                    "--dry-run=server",
                ]);
                harness::run(c).0 != 0
            }
        },
    )
    .await;
    let before = snapshot(&ns).await;
    let mut c = plugin("waves");
    c.args(["-n", &ns, "apply", "adm"]);
    let out = run_with_stdin(c, &stream);
    let err = texts(&out).1;
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ConfigMap/refused")
            && err.contains("ConfigMaps may not hold a key named forbidden"),
        "{err}"
    );
    assert_eq!(before, snapshot(&ns).await, "nothing applied: {err}");
    let mut c = harness::kubectl();
    c.args(["delete", "-f", "-"]);
    let out = run_with_stdin(c, &policy);
    assert!(out.status.success(), "{}", texts(&out).1);
}
