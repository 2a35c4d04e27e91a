//! `kubectl pack-crd` on the real API server: diff of a real-world sized
//! multi-version CRD pair (files and `cluster:`), validation of stored
//! objects, backup → namespace deleted → restore, storage version migration
//! checked in etcd itself, `apply` in the render | crd | waves pipe, and bad
//! input.

use std::time::Duration;

use harness::{cluster, kubectl, namespace, plugin, run, run_with_stdin, texts, write_tree};
use serde_json::Value;

fn crd(args: &[&str]) -> (i32, String, String) {
    let mut c = plugin("crd");
    c.args(args);
    run(c)
}

fn crd_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut c = plugin("crd");
    c.args(args);
    let out = run_with_stdin(c, stdin);
    let (o, e) = texts(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

fn kctl(args: &[&str]) -> (i32, String, String) {
    let mut c = kubectl();
    c.args(args);
    run(c)
}

fn kctl_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut c = kubectl();
    c.args(args);
    let out = run_with_stdin(c, stdin);
    let (o, e) = texts(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

/// A multi-version CRD with nested objects, lists, enums and int-or-string;
/// `group` keeps tests apart. `spec` is the v1 `spec` schema.
fn gadget_crd(group: &str, v1_spec: &str, storage: &str) -> String {
    let v1beta1 = storage == "v1beta1";
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: gadgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList, shortNames: [gd]}}
  versions:
  - name: v1beta1
    served: true
    storage: {v1beta1}
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
          status: {{type: object, properties: {{phase: {{type: string}}}}}}
  - name: v1
    served: true
    storage: {v1}
    subresources: {{status: {{}}}}
    additionalPrinterColumns:
    - {{name: Size, type: integer, jsonPath: .spec.size}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
{v1_spec}
          status: {{type: object, properties: {{phase: {{type: string}}}}}}
"#,
        v1 = !v1beta1,
        v1_spec = indent(v1_spec, 12)
    )
}

fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}", " ".repeat(n)))
        .collect::<Vec<_>>()
        .join("\n")
}

const SPEC_OLD: &str = r#"type: object
properties:
  size: {type: integer, minimum: 1}
  mode: {type: string, enum: [fast, slow]}
  port: {x-kubernetes-int-or-string: true}
  owner: {type: string}
  selector:
    type: object
    properties:
      matchLabels: {type: object, additionalProperties: {type: string}}
  rules:
    type: array
    items:
      type: object
      required: [name]
      properties:
        name: {type: string}
        weight: {type: integer, maximum: 100}
        tags: {type: array, items: {type: string}}"#;

const SPEC_NEW: &str = r#"type: object
required: [size]
properties:
  size: {type: integer, minimum: 1, maximum: 10}
  mode: {type: string, enum: [fast, slow, eco]}
  port: {type: integer}
  selector:
    type: object
    properties:
      matchLabels: {type: object, additionalProperties: {type: string}}
  rules:
    type: array
    items:
      type: object
      required: [name]
      properties:
        name: {type: string, pattern: '^[a-z]+$'}
        weight: {type: integer, maximum: 100, default: 50}
        tags: {type: array, items: {type: string}}
        note: {type: string, description: optional note}"#;

#[tokio::test]
async fn diff_classifies_a_real_world_pair_from_files_and_the_cluster() {
    let g = "diff.crd.example.com";
    let dir = write_tree(&[
        ("old.yaml", &gadget_crd(g, SPEC_OLD, "v1")),
        ("new.yaml", &gadget_crd(g, SPEC_NEW, "v1")),
        ("same.yaml", &gadget_crd(g, SPEC_OLD, "v1")),
    ]);
    let p = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    let (code, out, err) = crd(&["diff", &p("old.yaml"), &p("new.yaml")]);
    assert_eq!(code, 1, "{out}{err}");
    let crd_name = format!("crd/gadgets.{g} version/v1");
    for want in [
        format!("BREAKING NoNewRequiredField {crd_name} field/^.spec.size"),
        format!("BREAKING NoMaximumDecrease {crd_name} field/^.spec.size"),
        format!("RISKY EnumValueAdded {crd_name} field/^.spec.mode"),
        format!("BREAKING NoTypeChange {crd_name} field/^.spec.port"),
        format!("BREAKING NoFieldRemoval {crd_name} field/^.spec.owner"),
        format!("BREAKING NoPatternChange {crd_name} field/^.spec.rules[*].name"),
        format!("RISKY DefaultChanged {crd_name} field/^.spec.rules[*].weight"),
        format!("SAFE NewOptionalField {crd_name} field/^.spec.rules[*].note"),
    ] {
        assert!(out.contains(&want), "missing '{want}' in:\n{out}");
    }
    // v1beta1 keeps unknown fields, v1 prunes them, no conversion: risky.
    assert!(
        out.contains(&format!(
            "RISKY ServedVersionsIncompatible crd/gadgets.{g} version/v1beta1<->v1"
        )),
        "{out}"
    );
    assert!(
        out.contains("5 breaking, 3 risky, 1 safe change(s)"),
        "{out}"
    );
    assert_eq!(crd(&["diff", &p("old.yaml"), &p("same.yaml")]).0, 0);

    // Against the live CRD, JSON report.
    let (code, _, e) = kctl(&["apply", "-f", &p("old.yaml")]);
    assert_eq!(code, 0, "{e}");
    let (code, out, err) = crd(&[
        "diff",
        &format!("cluster:gadgets.{g}"),
        &p("new.yaml"),
        "-o",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["breaking"], 5);
    // Only a risky change: exit 0, but 1 with --strict.
    let risky = SPEC_OLD.replace("enum: [fast, slow]", "enum: [fast, slow, eco]");
    let dir2 = write_tree(&[("risky.yaml", &gadget_crd(g, &risky, "v1"))]);
    let r = dir2
        .path()
        .join("risky.yaml")
        .to_string_lossy()
        .into_owned();
    assert_eq!(crd(&["diff", &format!("cluster:gadgets.{g}"), &r]).0, 0);
    assert_eq!(
        crd(&["diff", &format!("cluster:gadgets.{g}"), &r, "--strict"]).0,
        1
    );
}

async fn wait_established(name: &str) {
    for _ in 0..100 {
        let (_, out, _) = kctl(&[
            "get",
            "crd",
            name,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ]);
        if out == "True" {
            // Discovery may lag a moment behind Established.
            tokio::time::sleep(Duration::from_millis(500)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("CRD {name} not established");
}

fn gadget(group: &str, version: &str, ns: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: {group}/{version}\nkind: Gadget\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n"
    )
}

/// The stored gadgets of the validate test: name, spec, and an update that
/// changes the node each of its violations is anchored at.
const VALIDATE_OBJECTS: &[(&str, &str, &str)] = &[
    ("ok", "{size: 3, mode: fast, name: abc}", ""),
    (
        "big",
        "{size: 30, mode: fast, name: abc}",
        r#"{"spec":{"size":31}}"#,
    ),
    (
        "badmode",
        "{size: 3, mode: turbo, name: abc}",
        r#"{"spec":{"mode":"turbo2"}}"#,
    ),
    (
        "noname",
        "{size: 3, mode: fast}",
        r#"{"spec":{"mode":"slow"}}"#,
    ),
    (
        "upper",
        "{size: 3, mode: fast, name: ABC}",
        r#"{"spec":{"name":"ABCD"}}"#,
    ),
    (
        "strsize",
        "{size: \"3\", mode: fast, name: abc, legacy: 1}",
        r#"{"spec":{"size":"4"}}"#,
    ),
    (
        "manyrules",
        "{size: 3, mode: fast, name: abc, rules: [a, b, c, d, e, f]}",
        r#"{"spec":{"rules":["a","b","c","d","e","f","g"]}}"#,
    ),
    (
        "celbig",
        "{size: 3, mode: fast, name: abc, weight: 8}",
        r#"{"spec":{"weight":9}}"#,
    ),
    ("tiered", "{size: 3, mode: fast, name: abc, tier: gold}", ""),
    (
        "frozen",
        "{size: 3, mode: fast, name: abc, state: frozen}",
        "",
    ),
];

/// The new schema: OpenAPI keywords and CEL rules (ratcheted, transition,
/// and one that errors on objects without `owner`).
const VALIDATE_STRICT: &str = r#"type: object
required: [name]
x-kubernetes-validations:
- {rule: "!has(self.weight) || self.weight <= 5 || self.mode == 'slow'", message: heavy gadgets must be slow}
- {rule: "!has(self.tier) || self.owner != ''", message: tiered gadgets need an owner}
properties:
  size: {type: integer, maximum: 10}
  mode: {type: string, enum: [fast, slow]}
  name: {type: string, pattern: '^[a-z]+$'}
  weight: {type: integer}
  tier: {type: string}
  owner: {type: string}
  state: {type: string, x-kubernetes-validations: [{rule: "oldSelf != 'frozen'", message: frozen gadgets cannot change}]}
  rules: {type: array, items: {type: string}, x-kubernetes-validations: [{rule: 'size(self) < 5'}]}"#;

#[tokio::test]
async fn validate_reports_each_stored_object_with_path_and_ratcheting_class() {
    let g = "validate.crd.example.com";
    let ns = namespace("crd-validate").await;
    let loose = "type: object\nx-kubernetes-preserve-unknown-fields: true";
    let (code, _, e) = kctl_stdin(&["apply", "-f", "-"], &gadget_crd(g, loose, "v1"));
    assert_eq!(code, 0, "{e}");
    wait_established(&format!("gadgets.{g}")).await;
    for (name, spec, _) in VALIDATE_OBJECTS {
        let (code, _, e) = kctl_stdin(&["apply", "-f", "-"], &gadget(g, "v1", &ns, name, spec));
        assert_eq!(code, 0, "{name}: {e}");
    }
    let strict = gadget_crd(g, VALIDATE_STRICT, "v1");
    let (code, out, err) = crd_stdin(&["validate", "-o", "json"], &strict);
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let r = &v[0];
    assert_eq!(r["checked"], VALIDATE_OBJECTS.len());
    assert_eq!(r["cel_not_checked"], 0, "{r}");
    let find = |obj: &str| {
        r["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["object"] == format!("{ns}/{obj}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(find("ok"), Value::Null, "a valid object was reported");
    let check = |obj: &str, path: &str, rule: &str, blocks: &str, field: Option<&str>| {
        let o = find(obj);
        assert!(
            o["violations"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["path"] == path
                    && x["rule"] == rule
                    && x["blocks"] == blocks
                    && x["field"].as_str() == field)),
            "{obj}: no {rule} at {path} ({blocks} {field:?}) in {o}"
        );
    };
    let cel = "x-kubernetes-validations";
    check(
        "big",
        ".spec.size",
        "maximum",
        "field-update",
        Some(".spec.size"),
    );
    check(
        "badmode",
        ".spec.mode",
        "enum",
        "field-update",
        Some(".spec.mode"),
    );
    check(
        "noname",
        ".spec.name",
        "required",
        "field-update",
        Some(".spec"),
    );
    check(
        "upper",
        ".spec.name",
        "pattern",
        "field-update",
        Some(".spec.name"),
    );
    check(
        "strsize",
        ".spec.size",
        "type",
        "field-update",
        Some(".spec.size"),
    );
    check(
        "manyrules",
        ".spec.rules",
        cel,
        "field-update",
        Some(".spec.rules"),
    );
    check("celbig", ".spec", cel, "field-update", Some(".spec"));
    check("tiered", ".spec", cel, "every-update", None);
    check("frozen", ".spec.state", cel, "every-update", None);
    assert_eq!(
        find("strsize")["pruned"],
        serde_json::json!([".spec.legacy"])
    );
    // Text: the same in words, CEL rules counted as evaluated.
    let (_, text, _) = crd_stdin(&["validate"], &strict);
    for want in [
        format!(
            "{ns}/big: .spec.size: 30 is above the maximum 10 [maximum; blocks only updates touching this field]"
        ),
        format!(
            "{ns}/noname: .spec.name: required field is missing [required; blocks only updates touching .spec]"
        ),
        format!(
            "{ns}/celbig: .spec: heavy gadgets must be slow [x-kubernetes-validations; blocks only updates touching this field]"
        ),
        format!(
            "{ns}/frozen: .spec.state: frozen gadgets cannot change [x-kubernetes-validations; blocks every update of this object]"
        ),
        format!(
            "{ns}/tiered: .spec: no such key: owner evaluating rule: !has(self.tier) || self.owner != '' [x-kubernetes-validations; blocks every update of this object]"
        ),
        "9 object(s) would fail validation".to_string(),
    ] {
        assert!(text.contains(&want), "missing '{want}' in:\n{text}");
    }
    assert!(
        !text.contains("predates validation ratcheting") && !text.contains("not checked"),
        "{text}"
    );

    // What the server itself does once the new schema is in place: an update
    // that leaves every anchor alone (a label) fails exactly for the objects
    // with an every-update violation; an update that changes the anchor fails.
    let (code, _, e) = kctl_stdin(&["apply", "-f", "-"], &strict);
    assert_eq!(code, 0, "{e}");
    let gadget_ref = format!("gadgets.{g}");
    harness::wait_until(
        "the new schema to be enforced",
        Duration::from_secs(30),
        || async {
            let (code, _, _) = kctl(&[
                "patch",
                &gadget_ref,
                "ok",
                "-n",
                &ns,
                "--type=merge",
                "-p",
                r#"{"spec":{"size":99}}"#,
                "--dry-run=server",
            ]);
            code != 0
        },
    )
    .await;
    let mut mismatches = Vec::new();
    for (name, _, touch) in VALIDATE_OBJECTS {
        let o = find(name);
        let every = o["violations"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["blocks"] == "every-update"));
        let (code, _, err) = kctl(&[
            "label",
            &gadget_ref,
            name,
            "-n",
            &ns,
            "probe=1",
            "--dry-run=server",
        ]);
        if (code != 0) != every {
            mismatches.push(format!(
                "{name}: label update exit {code} but every-update={every}: {err}"
            ));
        }
        if !touch.is_empty() {
            let (code, _, _) = kctl(&[
                "patch",
                &gadget_ref,
                name,
                "-n",
                &ns,
                "--type=merge",
                "-p",
                touch,
                "--dry-run=server",
            ]);
            if code == 0 {
                mismatches.push(format!(
                    "{name}: the server accepted {touch}, which touches the reported field"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "verdicts disagree with the server:\n{}",
        mismatches.join("\n")
    );

    // Removing a field under preserve-unknown-fields: kept, not pruned.
    let keeps = "type: object\nx-kubernetes-preserve-unknown-fields: true\nproperties:\n  size: {x-kubernetes-int-or-string: true}";
    let (code, out, _) = crd_stdin(&["validate"], &gadget_crd(g, keeps, "v1"));
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("would be pruned"), "{out}");
}

#[tokio::test]
async fn backup_then_deleting_the_namespace_then_restore_gives_back_specs_and_statuses() {
    let g = "backup.crd.example.com";
    let ns = namespace("crd-backup").await;
    let (code, _, e) = kctl_stdin(&["apply", "-f", "-"], &gadget_crd(g, SPEC_OLD, "v1"));
    assert_eq!(code, 0, "{e}");
    wait_established(&format!("gadgets.{g}")).await;
    for i in 0..3 {
        let spec = format!(
            "{{size: {}, mode: slow, port: http, rules: [{{name: r{i}, weight: 5, tags: [a, b]}}]}}",
            i + 1
        );
        let (code, _, e) = kctl_stdin(
            &["apply", "-f", "-"],
            &gadget(g, "v1", &ns, &format!("g{i}"), &spec),
        );
        assert_eq!(code, 0, "{e}");
        let (code, _, e) = kctl(&[
            "-n",
            &ns,
            "patch",
            &format!("gadgets.{g}/g{i}"),
            "--subresource=status",
            "--type=merge",
            "-p",
            &format!("{{\"status\":{{\"phase\":\"Phase{i}\"}}}}"),
        ]);
        assert_eq!(code, 0, "{e}");
    }
    let snapshot = || {
        let (_, out, _) = kctl(&["-n", &ns, "get", &format!("gadgets.{g}"), "-o", "json"]);
        let v: Value = serde_json::from_str(&out).unwrap();
        let mut items: Vec<(Value, Value)> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["spec"].clone(), i["status"].clone()))
            .collect();
        items.sort_by_key(|a| a.0.to_string());
        items
    };
    let before = snapshot();
    assert_eq!(before.len(), 3);
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_string_lossy().into_owned();
    let (code, _, err) = crd(&["backup", &format!("gadgets.{g}"), "-o", &path]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("resourceVersion")
            && !text.contains("managedFields")
            && !text.contains("uid:"),
        "server fields kept"
    );
    // Kept in the release store of another namespace (this one is about to go).
    let store_ns = namespace("crd-store").await;
    let (code, id, err) = crd(&[
        "backup",
        &format!("gadgets.{g}"),
        "--store",
        "-n",
        &store_ns,
    ]);
    assert_eq!(code, 0, "{err}");
    // A backup record is not a release.
    let mut list = plugin("waves");
    list.args(["-n", &store_ns, "list"]);
    let (_, releases, _) = run(list);
    assert!(!releases.contains("crd-backup"), "{releases}");

    let (code, _, e) = kctl(&["delete", "namespace", &ns, "--wait=true", "--timeout=60s"]);
    assert_eq!(code, 0, "{e}");
    let (code, out, err) = crd(&["restore", &path]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 object(s) restored, 0 conflict(s)"), "{out}");
    assert_eq!(snapshot(), before, "specs or statuses differ after restore");

    // From the store, into another namespace.
    let other = namespace("crd-restored").await;
    let (code, out, err) = crd(&[
        "restore",
        "--from-store",
        id.trim(),
        "-n",
        &store_ns,
        "--namespace-map",
        &format!("{ns}={other}"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, names, _) = kctl(&[
        "-n",
        &other,
        "get",
        &format!("gadgets.{g}"),
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    assert_eq!(names, "g0 g1 g2");
}

fn etcd_endpoint() -> String {
    let env = cluster().kubeconfig().parent().unwrap().join("env");
    std::fs::read_to_string(env)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("ETCD=").map(str::to_string))
        .expect("ETCD in the cluster env file")
}

fn stored_api_version(key: &str) -> String {
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &etcd_endpoint(),
            "get",
            key,
            "--print-value-only",
        ])
        .output()
        .expect("etcdctl (Debian etcd-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|_| panic!("{key} not JSON in etcd: {text}"));
    v["apiVersion"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn migrate_moves_every_stored_object_to_the_new_version_in_etcd() {
    let g = "migrate.crd.example.com";
    let ns = namespace("crd-migrate").await;
    let same = "type: object\nx-kubernetes-preserve-unknown-fields: true";
    let old = gadget_crd(g, same, "v1beta1");
    let (code, _, e) = kctl_stdin(&["apply", "-f", "-"], &old);
    assert_eq!(code, 0, "{e}");
    wait_established(&format!("gadgets.{g}")).await;
    for i in 0..4 {
        let (code, _, e) = kctl_stdin(
            &["apply", "-f", "-"],
            &gadget(g, "v1beta1", &ns, &format!("m{i}"), "{size: 1}"),
        );
        assert_eq!(code, 0, "{e}");
    }
    let key = |i: usize| format!("/registry/{g}/gadgets/{ns}/m{i}");
    assert_eq!(stored_api_version(&key(0)), format!("{g}/v1beta1"));
    let backup = tempfile::NamedTempFile::new().unwrap();
    let bpath = backup.path().to_string_lossy().into_owned();
    let (code, out, err) = crd(&[
        "migrate",
        &format!("gadgets.{g}"),
        "--to",
        "v1",
        "--backup",
        &bpath,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rewrote 4 of 4 object(s) as v1"), "{out}");
    assert!(
        std::fs::read_to_string(&bpath)
            .unwrap()
            .contains("name: m3")
    );
    for i in 0..4 {
        assert_eq!(
            stored_api_version(&key(i)),
            format!("{g}/v1"),
            "m{i} still stored in the old version"
        );
    }
    let (_, stored, _) = kctl(&[
        "get",
        "crd",
        &format!("gadgets.{g}"),
        "-o",
        "jsonpath={.status.storedVersions}",
    ]);
    assert_eq!(stored, "[\"v1\"]");
    // Running it again is harmless; --drop-old stops serving v1beta1.
    let (code, _, err) = crd(&[
        "migrate",
        &format!("gadgets.{g}"),
        "--to",
        "v1",
        "--drop-old",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, served, _) = kctl(&[
        "get",
        "crd",
        &format!("gadgets.{g}"),
        "-o",
        "jsonpath={.spec.versions[*].served}",
    ]);
    assert_eq!(served, "false true");
}

#[tokio::test]
async fn apply_in_the_pipe_refuses_breaking_changes_forces_them_and_passes_other_documents_through()
{
    let g = "apply.crd.example.com";
    let ns = namespace("crd-apply").await;
    let cm = format!(
        "# Source: app/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: {ns}\ndata:\n  b: '2'   # odd spacing kept\n  a: \"1\"\n"
    );
    let cr = gadget(g, "v1", &ns, "one", "{size: 3, mode: fast}");
    let stream = |crd_text: &str| format!("---\n{crd_text}---\n{cm}---\n{cr}");
    // First install: created, Established; other documents verbatim on stdout.
    let (code, out, err) = crd_stdin(&["apply"], &stream(&gadget_crd(g, SPEC_OLD, "v1")));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("CRD gadgets.{g} created, Established")),
        "{err}"
    );
    assert!(
        out.contains(&cm) && out.contains(&cr),
        "documents changed:\n{out}"
    );
    assert!(!out.contains("CustomResourceDefinition"), "{out}");
    // The rest of the pipe: waves applies the custom resource right away.
    let mut w = plugin("waves");
    w.args(["-n", &ns, "apply", "gadgets", "--wait=false"]);
    let o = run_with_stdin(w, &out);
    assert!(o.status.success(), "{:?}", texts(&o));

    // A breaking change is refused; nothing changes.
    let (code, out, err) = crd_stdin(&["apply"], &stream(&gadget_crd(g, SPEC_NEW, "v1")));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("BREAKING NoFieldRemoval") && err.contains("nothing was applied"),
        "{err}"
    );
    // interactive needs a terminal; there is none here.
    let (code, out, err) = crd_stdin(
        &["apply", "--strategy", "interactive"],
        &stream(&gadget_crd(g, SPEC_NEW, "v1")),
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("asks on a terminal"), "{err}");
    let (_, props, _) = kctl(&[
        "get",
        "crd",
        &format!("gadgets.{g}"),
        "-o",
        "jsonpath={.spec.versions[?(@.name==\"v1\")].schema.openAPIV3Schema.properties.spec.properties.owner.type}",
    ]);
    assert_eq!(props, "string", "the CRD changed although refused");

    // The pack's crdPolicy (stream header) forces it, with a backup first.
    let backups = tempfile::tempdir().unwrap();
    let header = "# kubectl-pack.io/pack: {\"name\":\"app\",\"version\":\"1.0.0\",\"settings\":{\"crdPolicy\":{\"mode\":\"managed\",\"upgradeStrategy\":\"force\"}}}\n";
    // As render writes it: the header first, the end line last.
    let input = shared::seal::seal(format!(
        "{header}{}",
        stream(&gadget_crd(g, SPEC_NEW, "v1"))
    ));
    let (code, out, err) = crd_stdin(
        &["apply", "--backup-dir", backups.path().to_str().unwrap()],
        &input,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(header),
        "the pack header must stay first:\n{out}"
    );
    let files: Vec<_> = std::fs::read_dir(backups.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "no backup written");
    let (_, props, _) = kctl(&[
        "get",
        "crd",
        &format!("gadgets.{g}"),
        "-o",
        "jsonpath={.spec.versions[?(@.name==\"v1\")].schema.openAPIV3Schema.properties.spec.required}",
    ]);
    assert_eq!(props, "[\"size\"]");

    // ignore: the CRD leaves the stream; external: it must exist.
    let (code, out, _) = crd_stdin(
        &["apply", "--mode", "ignore"],
        &stream(&gadget_crd("nowhere.example.com", SPEC_OLD, "v1")),
    );
    assert_eq!(code, 0);
    assert!(!out.contains("CustomResourceDefinition") && out.contains(&cm));
    let (code, _, err) = crd_stdin(
        &["apply", "--mode", "external"],
        &stream(&gadget_crd("nowhere.example.com", SPEC_OLD, "v1")),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("gadgets.nowhere.example.com is external") && err.lines().count() == 1,
        "{err}"
    );
    let bad_cr = gadget(g, "v1", &ns, "two", "{size: 99}");
    let (code, _, err) = crd_stdin(
        &["apply", "--mode", "external"],
        &format!("---\n{}---\n{bad_cr}", gadget_crd(g, SPEC_NEW, "v1")),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("Gadget/two: .spec.size: 99 is above the maximum 10"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_input_is_one_clear_line_and_the_exit_code_of_its_command() {
    let good = gadget_crd("bad.crd.example.com", SPEC_OLD, "v1");
    let two_storage = good.replace("storage: false", "storage: true");
    let non_structural = gadget_crd(
        "bad.crd.example.com",
        "type: object\nproperties:\n  size: {minimum: 1}",
        "v1",
    );
    let policy = good.replace("metadata: {name: gadgets.bad.crd.example.com}", "metadata: {name: gadgets.bad.crd.example.com, annotations: {sherpack.io/crd-policy: sometimes}}");
    let dir = write_tree(&[
        ("good.yaml", &good),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        ),
        ("two.yaml", &two_storage),
        ("ns.yaml", &non_structural),
    ]);
    let p = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    let cases: Vec<(Vec<String>, Option<String>, &str)> = vec![
        (
            vec!["diff".into(), p("cm.yaml"), p("good.yaml")],
            None,
            "is not a CustomResourceDefinition",
        ),
        (
            vec!["diff".into(), p("good.yaml"), p("two.yaml")],
            None,
            "exactly one version must have storage: true",
        ),
        (
            vec!["diff".into(), p("good.yaml"), p("ns.yaml")],
            None,
            "not structural: ^.spec.size has no type",
        ),
        (
            vec!["apply".into()],
            Some(policy),
            "'sometimes' is not managed",
        ),
        (
            vec!["apply".into()],
            Some(shared::seal::seal(format!(
                "# kubectl-pack.io/pack: {{\"name\":\"a\",\"settings\":{{\"crdPolicy\":{{\"mode\":\"often\"}}}}}}\n---\n{good}"
            ))),
            "the pack's crdPolicy",
        ),
        (
            vec![
                "diff".into(),
                "cluster:nothere.example.com".into(),
                p("good.yaml"),
            ],
            None,
            "CRD nothere.example.com does not exist in the cluster",
        ),
        (
            vec![
                "migrate".into(),
                "nothere.example.com".into(),
                "--to".into(),
                "v1".into(),
            ],
            None,
            "does not exist in the cluster",
        ),
    ];
    for (args, stdin, want) in cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = match &stdin {
            Some(s) => crd_stdin(&argv, s),
            None => crd(&argv),
        };
        // The exit-code table: diff and validate are checks (errors exit
        // 2), apply, backup, restore and migrate ordinary (failures exit 1).
        let want_code = if matches!(argv[0], "diff" | "validate") {
            2
        } else {
            1
        };
        assert_eq!(code, want_code, "{args:?}: {out}{err}");
        assert!(
            err.contains(want) && err.trim().lines().count() == 1,
            "{args:?}: expected one line with '{want}', got:\n{err}"
        );
        assert!(out.is_empty(), "{args:?} wrote to stdout: {out}");
    }
    let (code, _, err) = crd(&["apply", "--mode", "bogus"]);
    assert_eq!(code, 2, "{err}");
}

fn named_crd(group: &str, plural: &str, kind: &str, short: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: {plural}.{group}}}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: {plural}, singular: {s}, kind: {kind}, shortNames: [{short}]}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n",
        s = kind.to_lowercase()
    )
}

#[tokio::test]
async fn a_crd_that_does_not_become_ready_gets_its_previous_spec_back() {
    let g = "revert.crd.example.com";
    let both = format!(
        "---\n{}---\n{}",
        named_crd(g, "alphas", "Alpha", "al"),
        named_crd(g, "betas", "Beta", "be")
    );
    let (code, _, err) = crd_stdin(&["apply"], &both);
    assert_eq!(code, 0, "{err}");
    // Alpha's short name: the server never accepts Beta's names.
    let clash = format!("---\n{}", named_crd(g, "betas", "Beta", "al"));
    let (code, out, err) = crd_stdin(&["apply", "--timeout", "5s"], &clash);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!(
            "CRD betas.{g} will not become ready: NamesAccepted=False"
        )) && err.contains(&format!("put the previous spec of betas.{g} back")),
        "{err}"
    );
    let (_, short, _) = kctl(&[
        "get",
        "crd",
        &format!("betas.{g}"),
        "-o",
        "jsonpath={.spec.names.shortNames}",
    ]);
    assert_eq!(short, "[\"be\"]");
}
