//! Never harm what the release does not own: each finding of the
//! ownership issue as a regression test on the real API server (empty
//! streams from a failed render, bad release names, ...).

use harness::{cluster, namespace, plugin, run, run_with_stdin, texts};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

fn waves(ns: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    harness::run_plugin("waves", &all, stdin)
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

/// A small pack: three ConfigMaps.
const PACK: &[(&str, &str)] = &[
    (
        "Pack.yaml",
        "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: trio, version: 1.0.0}\n",
    ),
    ("values.yaml", "names: [one, two, three]\n"),
    (
        "templates/cms.yaml",
        "{% for n in values.names %}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ n }}}\ndata: {k: {{ n }}}\n{% endfor %}",
    ),
];

fn rendered(pack: &std::path::Path) -> String {
    let mut c = harness::offline_plugin("render");
    c.arg("trio").arg(pack);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    out
}

#[tokio::test]
async fn a_stream_cut_short_or_changed_after_render_is_refused_before_any_change() {
    let ns = namespace("own-sealed").await;
    let pack = harness::write_tree(PACK);
    let whole = rendered(pack.path());
    assert!(
        whole
            .lines()
            .last()
            .unwrap()
            .starts_with("# kubectl-pack.io/end: {\"documents\":3,"),
        "{whole}"
    );
    let (code, _, err) = waves(&ns, &["apply", "trio"], &whole);
    assert_eq!(code, 0, "{err}");

    // The pipe broke after the first document: header there, end line gone.
    let cut = &whole[..whole.find("---\n# Source: trio/templates/cms.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}").expect("document two")];
    for args in [&["apply", "trio"][..], &["diff", "trio"][..], &["plan"][..]] {
        let (code, out, err) = waves(&ns, args, cut);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(
            err.contains("STDIN: refusing the stream from kubectl pack-render: it ends without kubectl pack-render's end line, so it was cut short"),
            "{args:?}: {err}"
        );
    }
    let mut crd = plugin("crd");
    crd.arg("apply");
    let out = run_with_stdin(crd, cut);
    let (o, e) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(o.is_empty() && e.contains("cut short"), "{e}");
    // A document taken out with the end line kept.
    let dropped = whole.replace("---\n# Source: trio/templates/cms.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: three}\ndata: {k: three}\n", "");
    assert_ne!(dropped, whole);
    let (code, _, err) = waves(&ns, &["apply", "trio"], &dropped);
    assert_eq!(code, 1);
    assert!(
        err.contains("holds 2 document(s) where kubectl pack-render wrote 3"),
        "{err}"
    );
    // Nothing changed: the release still has all three, and one revision.
    for n in ["one", "two", "three"] {
        assert!(cm(&ns, n).await.is_some(), "{n} pruned");
    }
    let (_, history, _) = waves(&ns, &["history", "trio", "-o", "json"], "");
    let revisions: serde_json::Value = serde_json::from_str(&history).expect("history JSON");
    assert_eq!(revisions.as_array().map(Vec::len), Some(1), "{history}");

    // pack-crd apply passes a whole stream on with a new end line.
    let mut crd = plugin("crd");
    crd.arg("apply");
    let out = run_with_stdin(crd, &whole);
    let (o, e) = texts(&out);
    assert!(out.status.success(), "{e}");
    let (code, _, err) = waves(&ns, &["apply", "trio"], &o);
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn a_failing_render_in_a_pipe_without_pipefail_leaves_the_release_untouched() {
    let ns = namespace("own-failed-render").await;
    let pack = harness::write_tree(PACK);
    let (code, _, err) = waves(&ns, &["apply", "trio"], &rendered(pack.path()));
    assert_eq!(code, 0, "{err}");
    // A template error: render fails and writes nothing, the shell carries on.
    std::fs::write(
        pack.path().join("templates/broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ values.nope }}}\n",
    )
    .expect("write");
    let script = r#""$RENDER" trio "$PACK" | "$WAVES" apply trio -n "$NS""#;
    let mut c = std::process::Command::new("bash");
    c.args(["-c", script])
        .env("RENDER", harness::bin("render"))
        .env("WAVES", harness::bin("waves"))
        .env("PACK", pack.path())
        .env("NS", &ns)
        .env("KUBECONFIG", cluster().kubeconfig())
        .env("NO_COLOR", "1");
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("nothing to apply"), "{err}");
    for n in ["one", "two", "three"] {
        assert!(cm(&ns, n).await.is_some(), "{n} pruned");
    }
}

fn kctl(args: &[&str]) -> (i32, String, String) {
    let mut c = harness::kubectl();
    c.args(args);
    run(c)
}

async fn namespace_exists(name: &str) -> bool {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster().client().await);
    api.get_opt(name)
        .await
        .expect("read Namespace")
        .is_some_and(|n| n.metadata.deletion_timestamp.is_none())
}

#[tokio::test]
async fn a_namespace_that_existed_before_the_release_survives_its_uninstall() {
    // The user's namespace, with the user's ConfigMap in it.
    let shop = format!("{}-shop", namespace("own-shop").await);
    assert_eq!(kctl(&["create", "namespace", &shop]).0, 0);
    assert_eq!(
        kctl(&[
            "create",
            "configmap",
            "users",
            "-n",
            &shop,
            "--from-literal=k=v"
        ])
        .0,
        0
    );
    let stream = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {shop}}}\n---\n{}",
        configmap("app-config")
    );
    // Adopted silently before; now refused, naming the namespace.
    let (code, _, err) = waves(&shop, &["apply", "app1"], &stream);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "Namespace/{shop} exists and belongs to no release"
        )),
        "{err}"
    );
    assert!(cm(&shop, "app-config").await.is_none(), "nothing applied");
    // Taken over on purpose: recorded as such, and uninstall keeps it.
    let (code, _, err) = waves(&shop, &["apply", "app1", "--take-ownership"], &stream);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("taking over Namespace/{shop}")),
        "{err}"
    );
    let (code, _, err) = waves(&shop, &["uninstall", "app1"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "kept Namespace/{shop} (it existed before the release"
        )),
        "{err}"
    );
    assert!(
        namespace_exists(&shop).await,
        "the user's namespace was deleted"
    );
    assert!(
        cm(&shop, "users").await.is_some(),
        "the user's ConfigMap was deleted"
    );
    assert!(
        cm(&shop, "app-config").await.is_none(),
        "the release's own object is gone"
    );
}

#[tokio::test]
async fn a_release_cannot_take_an_object_of_another_release_and_never_deletes_it() {
    let ns = namespace("own-two-releases").await;
    let (code, _, err) = waves(&ns, &["apply", "rela"], &configmap("shared-cm"));
    assert_eq!(code, 0, "{err}");
    // Same field manager, no server-side conflict: the label tells.
    let (code, _, err) = waves(
        &ns,
        &["apply", "relb"],
        &format!("{}---\n{}", configmap("shared-cm"), configmap("b-only")),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "ConfigMap/shared-cm -n {ns} belongs to release rela in namespace {ns}"
        )),
        "{err}"
    );
    assert!(cm(&ns, "b-only").await.is_none(), "nothing of relb applied");
    let live = cm(&ns, "shared-cm").await.expect("rela's ConfigMap");
    assert_eq!(live.metadata.labels.unwrap()["sherpack.io/release"], "rela");

    // An object that changed hands since it was recorded is left alone.
    let (code, _, err) = waves(&ns, &["apply", "relb"], &configmap("b-only"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        kctl(&[
            "label",
            "configmap",
            "b-only",
            "-n",
            &ns,
            "--overwrite",
            "sherpack.io/release=someone",
            "applyset.kubernetes.io/part-of-"
        ])
        .0,
        0
    );
    let (code, _, err) = waves(&ns, &["uninstall", "relb"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "left ConfigMap/b-only -n {ns} alone: it belongs to release someone"
        )),
        "{err}"
    );
    assert!(cm(&ns, "b-only").await.is_some());
    assert!(
        cm(&ns, "shared-cm").await.is_some(),
        "rela's ConfigMap survived relb"
    );
}

#[tokio::test]
async fn objects_of_a_helm_release_are_refused_unless_taken_over() {
    let ns = namespace("own-helm").await;
    let chart = harness::write_tree(&[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: legacy\nversion: 0.1.0\n",
        ),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {k: v}\n",
        ),
    ]);
    let home = tempfile::tempdir().expect("tempdir");
    let mut h = std::process::Command::new(harness::helm());
    h.env("KUBECONFIG", cluster().kubeconfig())
        .env("HELM_CACHE_HOME", home.path().join("c"))
        .env("HELM_CONFIG_HOME", home.path().join("f"))
        .env("HELM_DATA_HOME", home.path().join("d"))
        .args(["install", "legacy"])
        .arg(chart.path())
        .args(["-n", &ns]);
    let (code, o, e) = run(h);
    assert_eq!(code, 0, "helm install: {o}{e}");
    let (code, _, err) = waves(&ns, &["apply", "app"], &configmap("settings"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "ConfigMap/settings -n {ns} belongs to Helm release legacy in namespace {ns}"
        )),
        "{err}"
    );
    let (code, _, err) = waves(
        &ns,
        &["apply", "app", "--take-ownership", "--force-conflicts"],
        &configmap("settings"),
    );
    assert_eq!(code, 0, "{err}");
    let (_, history, _) = waves(&ns, &["history", "app", "-o", "json"], "");
    assert!(history.contains("\"deployed\""), "{history}");
    let live = cm(&ns, "settings").await.expect("settings");
    assert_eq!(live.metadata.labels.unwrap()["sherpack.io/release"], "app");
}

#[test]
fn api_errors_are_one_line_without_rust_debug_dumps() {
    // A namespace that does not exist, and a user without permissions.
    for (args, want) in [
        (
            vec!["-n", "no-such-namespace-here", "apply", "app"],
            "no-such-namespace-here",
        ),
        (vec!["--context", "developer", "apply", "app"], "forbidden"),
    ] {
        let mut c = plugin("waves");
        c.args(&args);
        let out = run_with_stdin(c, &configmap("c"));
        let (_, err) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        for dump in [
            "Status {",
            "ErrorResponse",
            "ApiError",
            "Some(",
            "StatusDetails",
        ] {
            assert!(!err.contains(dump), "{args:?}: {err}");
        }
    }
}

fn job(image: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: migrate}}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: m, image: {image}}}]\n"
    )
}

#[tokio::test]
async fn a_job_template_change_is_one_line_and_force_replace_recreates_the_job() {
    let ns = namespace("own-job-replace").await;
    let _kubelet = harness::Kubelet::start(&[&ns]).await;
    let (code, _, err) = waves(&ns, &["apply", "app"], &job("registry.example/migrate:1"));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = waves(&ns, &["apply", "app"], &job("registry.example/migrate:2"));
    assert_eq!(code, 1, "{err}");
    // One line for the object, one saying nothing was applied.
    assert_eq!(err.trim_end().lines().count(), 2, "{err}");
    assert!(
        err.trim_end().ends_with("fix it and run the command again"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "Job.batch/migrate -n {ns}: spec.template: field is immutable"
        )) && err.contains("--force-replace"),
        "{err}"
    );
    assert!(err.len() < 600, "no struct dump: {err}");
    let (code, _, err) = waves(
        &ns,
        &["apply", "app", "--force-replace"],
        &job("registry.example/migrate:2"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "replacing Job.batch/migrate -n {ns}: deleted, creating it again"
        )),
        "{err}"
    );
    let (code, image, _) = kctl(&[
        "get",
        "job",
        "migrate",
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!((code, image.as_str()), (0, "registry.example/migrate:2"));
}

fn statefulset(size: &str, annotation: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  annotations: {{{annotation}}}\nspec:\n  serviceName: db\n  replicas: 1\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    metadata: {{labels: {{app: db}}}}\n    spec:\n      containers: [{{name: db, image: registry.example/db:1}}]\n  volumeClaimTemplates:\n  - metadata: {{name: data}}\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources: {{requests: {{storage: {size}}}}}\n"
    )
}

fn uid(kind: &str, ns: &str, name: &str) -> String {
    let (code, out, err) = kctl(&[
        "get",
        kind,
        name,
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    assert_eq!(code, 0, "{kind}/{name}: {err}");
    out
}

#[tokio::test]
async fn a_statefulset_replaced_for_its_volume_claim_templates_keeps_its_pvc_and_pod() {
    let ns = namespace("own-sts-replace").await;
    let _kubelet = harness::Kubelet::start(&[&ns]).await;
    let (code, _, err) = waves(&ns, &["apply", "db"], &statefulset("1Gi", ""));
    assert_eq!(code, 0, "{err}");
    let (pvc, pod) = (uid("pvc", &ns, "data-db-0"), uid("pod", &ns, "db-0"));
    let (code, _, err) = waves(&ns, &["apply", "db"], &statefulset("2Gi", ""));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("spec.volumeClaimTemplates cannot be changed on a live StatefulSet"),
        "{err}"
    );
    // Asked for on the object itself.
    let (code, _, err) = waves(
        &ns,
        &["apply", "db"],
        &statefulset("2Gi", "sherpack.io/replace: \"true\""),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("(its Pods and PVCs kept)"), "{err}");
    let (_, size, _) = kctl(&[
        "get",
        "statefulset",
        "db",
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.volumeClaimTemplates[0].spec.resources.requests.storage}",
    ]);
    assert_eq!(size, "2Gi");
    assert_eq!(uid("pvc", &ns, "data-db-0"), pvc, "the PVC survived");
    assert_eq!(
        uid("pod", &ns, "db-0"),
        pod,
        "the Pod survived and was adopted"
    );
}

fn web(replicas: u32, with_hpa: bool) -> String {
    let hpa = if with_hpa {
        "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 10\n"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, annotations: {{sherpack.io/wait-ready: \"false\"}}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: web, image: registry.example/web:1}}]\n{hpa}"
    )
}

fn replicas(ns: &str) -> String {
    kctl(&[
        "get",
        "deployment",
        "web",
        "-n",
        ns,
        "-o",
        "jsonpath={.spec.replicas}",
    ])
    .1
}

#[tokio::test]
async fn hand_edits_are_taken_back_per_field_but_hpa_replicas_are_left_to_the_hpa() {
    let ns = namespace("own-take-back").await;
    let (code, _, err) = waves(&ns, &["apply", "app"], &web(2, false));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        kctl(&["scale", "deployment/web", "-n", &ns, "--replicas=5"]).0,
        0
    );
    assert_eq!(
        kctl(&[
            "label",
            "deployment/web",
            "-n",
            &ns,
            "--overwrite",
            "app.kubernetes.io/part-of=x"
        ])
        .0,
        0
    );
    // The next apply takes the scaled replicas back and says so.
    let (code, _, err) = waves(&ns, &["apply", "app"], &web(2, false));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("took .spec.replicas of Deployment/web back from kubectl"),
        "{err}"
    );
    assert_eq!(replicas(&ns), "2");
    // A manager that is not a person with kubectl: a conflict, one line.
    let mut c = harness::kubectl();
    c.args([
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager",
        "my-operator",
        "-n",
        &ns,
        "-f",
        "-",
    ]);
    let out = run_with_stdin(
        c,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: registry.example/web:1}]\n",
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    let (code, _, err) = waves(&ns, &["apply", "app"], &web(2, false));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("conflict with \"my-operator\" over .spec.replicas"),
        "{err}"
    );

    // With an HPA: its replicas (here written with kubectl scale, as the
    // HPA controller would through the scale subresource) are left alone.
    let ns = namespace("own-hpa").await;
    let (code, _, err) = waves(&ns, &["apply", "app"], &web(2, true));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        kctl(&["scale", "deployment/web", "-n", &ns, "--replicas=4"]).0,
        0
    );
    let (code, _, err) = waves(&ns, &["apply", "app"], &web(2, true));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("left .spec.replicas of Deployment/web to its HorizontalPodAutoscaler"),
        "{err}"
    );
    assert!(!err.contains("took .spec.replicas"), "{err}");
    assert_eq!(replicas(&ns), "4", "no fight with the HPA");
}

#[tokio::test]
async fn same_release_name_in_two_namespaces_cannot_share_a_cluster_role() {
    let first = namespace("own-cluster-a").await;
    let role = format!("{first}-reader");
    let stream = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {role}}}\nrules: [{{apiGroups: [\"\"], resources: [pods], verbs: [get]}}]\n"
    );
    let (code, _, err) = waves(&first, &["apply", "app"], &stream);
    assert_eq!(code, 0, "{err}");
    // Release "app" again, in a namespace this apply would create.
    let second = format!("{first}-b");
    let (code, _, err) = waves(&second, &["apply", "app", "--create-namespace"], &stream);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("ClusterRole.rbac.authorization.k8s.io/{role} belongs to release app in namespace {first}")),
        "{err}"
    );
    assert!(
        !namespace_exists(&second).await,
        "refused: the namespace it created is gone again"
    );
}

#[tokio::test]
async fn drift_sync_does_not_overwrite_an_object_someone_else_created_in_its_place() {
    let ns = namespace("own-sync").await;
    let (code, _, err) = waves(&ns, &["apply", "app"], &configmap("settings"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(kctl(&["delete", "configmap", "settings", "-n", &ns]).0, 0);
    assert_eq!(
        kctl(&[
            "create",
            "configmap",
            "settings",
            "-n",
            &ns,
            "--from-literal=mine=yes"
        ])
        .0,
        0
    );
    let mut c = plugin("drift");
    c.args(["sync", "app", "-n", &ns]);
    let (code, out, err) = run(c);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains(&format!("restore ConfigMap/settings -n {ns}: it exists and belongs to no release now; not overwritten")),
        "{out}{err}"
    );
    let live = cm(&ns, "settings").await.expect("the user's ConfigMap");
    assert_eq!(live.data.expect("data")["mine"], "yes");
}
