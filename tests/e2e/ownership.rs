//! Never harm what the release does not own: each finding of the
//! ownership issue as a regression test on the real API server (empty
//! streams from a failed render, bad release names, ...).

use harness::{cluster, namespace, plugin, run, run_with_stdin, texts};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

fn waves(ns: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut c = plugin("waves");
    c.args(["-n", ns]).args(args);
    let out = run_with_stdin(c, stdin);
    let (o, e) = texts(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

async fn cm(ns: &str, name: &str) -> Option<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(cluster().client().await, ns);
    api.get_opt(name).await.expect("read ConfigMap")
}

fn configmap(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: v}}\n")
}

#[tokio::test]
async fn an_empty_stream_from_a_failed_render_is_refused_and_prunes_nothing() {
    let ns = namespace("own-empty").await;
    let (code, _, err) = waves(&ns, &["apply", "emp"], &configmap("keep-me"));
    assert_eq!(code, 0, "{err}");
    // `true | kubectl pack-waves apply emp`: what a pipe sends when the
    // command before it failed without pipefail.
    let (code, out, err) = waves(&ns, &["apply", "emp"], "");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.lines().count() == 1
            && err.contains("nothing to apply")
            && err.contains("--allow-empty"),
        "{err}"
    );
    assert!(cm(&ns, "keep-me").await.is_some(), "nothing was pruned");
    let (_, history, _) = waves(&ns, &["history", "emp", "-o", "json"], "");
    let revisions: serde_json::Value = serde_json::from_str(&history).expect("history JSON");
    assert_eq!(
        revisions.as_array().map(Vec::len),
        Some(1),
        "no revision 2: {history}"
    );
    // Asked for explicitly, an empty revision is deployed and prunes.
    let (code, _, err) = waves(&ns, &["apply", "emp", "--allow-empty"], "");
    assert_eq!(code, 0, "{err}");
    assert!(cm(&ns, "keep-me").await.is_none());
}

#[test]
fn release_names_are_checked_before_anything_else() {
    for bad in ["relA", "my_app", "x-", &"a".repeat(54)] {
        let mut c = plugin("waves");
        c.args(["apply", bad, "--kubeconfig", "/nonexistent"]);
        let (code, _, err) = run(c);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(
            err.starts_with(&format!("error: invalid value '{bad}' for '<RELEASE>': a release name is 1 to 53 lowercase letters")),
            "{err}"
        );
        assert!(
            !err.contains("Status {") && !err.contains("ApiError"),
            "{err}"
        );
    }
    let mut c = plugin("drift");
    c.args(["relA"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("for example 'rela'"), "{err}");
}
