//! Golden files of the YAML reader and writer (`tests/golden/`), and proof
//! that what we write reads back in kubectl with the same meaning.
//!
//! `UPDATE_GOLDEN=1` rewrites the expected files from the current output.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shared::stream::read_inputs;

fn golden_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(sub)
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files in {}", dir.display());
    files
}

fn check_golden(expected_path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected_path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(expected_path).unwrap_or_else(|_| {
        panic!(
            "{} missing; run with UPDATE_GOLDEN=1",
            expected_path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "output differs from {}",
        expected_path.display()
    );
}

fn render(path: &Path) -> String {
    let objects = read_inputs(&[path.to_string_lossy()], false).expect("golden input reads");
    let mut out = Vec::new();
    shared::yaml::write_stream(&mut out, objects.iter().map(|o| &o.object)).expect("write");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn yaml_streams_match_golden_output() {
    for input in files_with_suffix(&golden_dir("yaml"), ".in.yaml") {
        let expected = PathBuf::from(input.to_string_lossy().replace(".in.yaml", ".out.yaml"));
        let actual = render(&input);
        check_golden(&expected, &actual);
        // Our output is itself valid input that means the same thing.
        let again =
            shared::stream::parse_stream(&actual, shared::stream::Origin::Stdin).expect("reparse");
        let first = read_inputs(&[input.to_string_lossy()], false).expect("read");
        assert_eq!(
            again.iter().map(|o| &o.object).collect::<Vec<_>>(),
            first.iter().map(|o| &o.object).collect::<Vec<_>>()
        );
    }
}

#[test]
fn yaml_errors_name_file_document_and_line() {
    let dir = golden_dir("yaml-errors");
    for input in files_with_suffix(&dir, ".yaml") {
        let rel = input
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .expect("inside")
            .to_path_buf();
        let rel = rel.strip_prefix("/").unwrap_or(&rel).to_path_buf();
        // cargo runs integration tests in the package directory, so the
        // relative path is what a user typing it would see in the message.
        let err = read_inputs(&[rel.to_string_lossy()], false)
            .err()
            .unwrap_or_else(|| panic!("{} should not parse", input.display()));
        let message = format!("{err}\n");
        assert!(
            !message.trim_end().contains('\n'),
            "error must be one line: {message}"
        );
        check_golden(&input.with_extension("err"), &message);
    }
}

#[test]
fn stdin_is_called_stdin_in_errors() {
    let err = shared::stream::parse_stream("kind: ConfigMap\n", shared::stream::Origin::Stdin)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "STDIN document 1 (line 1): not a Kubernetes object: missing apiVersion"
    );
}

/// Regression: serde_yaml writes `on`/`yes`/`0755` unquoted and kubectl then
/// stores booleans and numbers. Our output, applied by kubectl itself, keeps
/// every value a string.
#[tokio::test]
async fn written_yaml_keeps_string_values_in_kubectl() {
    let ns = harness::namespace("written-yaml-kubectl").await;
    let input = golden_dir("yaml").join("quoting.in.yaml");
    let ours = render(&input);
    let out = harness::run_with_stdin(
        {
            let mut c = harness::kubectl();
            c.args(["apply", "--server-side", "-n", &ns, "-f", "-"]);
            c
        },
        &ours,
    );
    let (stdout, stderr) = harness::texts(&out);
    assert!(
        out.status.success(),
        "kubectl apply failed: {stdout}{stderr}"
    );
    let got = harness::kubectl()
        .args(["get", "configmap", "quoting", "-n", &ns, "-o", "json"])
        .output()
        .expect("kubectl get");
    let live: Value = serde_json::from_slice(&got.stdout).expect("json");
    let original = read_inputs(&[input.to_string_lossy()], false).expect("read");
    assert_eq!(live["data"], original[0].object["data"]);
    assert_eq!(live["metadata"]["labels"]["enabled"], "on");
}
