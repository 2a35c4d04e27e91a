//! The standard kubectl flags, against the real server: contexts, the
//! default namespace, several KUBECONFIG files, impersonation under RBAC,
//! `--server`/`--token` without a kubeconfig, and the errors users see.

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use shared::kubeconfig::{Kube, KubeArgs, KubeconfigSources};

fn args() -> KubeArgs {
    harness::cluster().args()
}

fn no_sources() -> KubeconfigSources {
    KubeconfigSources::default()
}

async fn connect(args: &KubeArgs, sources: &KubeconfigSources) -> Result<Kube, String> {
    shared::cli::install_crypto_provider();
    args.connect_with(sources).await.map_err(|e| e.to_string())
}

/// Lists ConfigMaps in the client's default namespace.
async fn list(kube: &Kube) -> Result<usize, String> {
    let api: Api<ConfigMap> = Api::namespaced(kube.client.clone(), &kube.namespace);
    api.list(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .map_err(|e| shared::Error::api("list configmaps", e).to_string())
}

#[tokio::test]
async fn current_context_is_used_and_namespace_comes_from_it() {
    let kube = connect(&args(), &no_sources()).await.unwrap();
    assert_eq!(kube.namespace, "default");
    list(&kube).await.expect("admin can list");
}

#[tokio::test]
async fn namespace_flag_overrides_the_context_namespace() {
    let mut a = args();
    a.namespace = Some("elsewhere".into());
    assert_eq!(
        connect(&a, &no_sources()).await.unwrap().namespace,
        "elsewhere"
    );
}

#[tokio::test]
async fn context_namespace_is_the_default_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(harness::cluster().kubeconfig()).unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        text.replacen("namespace: default", "namespace: from-context", 1),
    )
    .unwrap();
    let a = KubeArgs {
        kubeconfig: Some(path),
        ..Default::default()
    };
    assert_eq!(
        connect(&a, &no_sources()).await.unwrap().namespace,
        "from-context"
    );
}

#[tokio::test]
async fn context_switch_to_the_unprivileged_user_is_refused_by_rbac() {
    let mut a = args();
    a.context = Some("developer".into());
    let kube = connect(&a, &no_sources()).await.unwrap();
    let err = list(&kube).await.unwrap_err();
    assert!(err.contains("\"developer\" cannot list"), "{err}");

    // Grant the developer read access in one namespace: now it works, so the
    // refusal above really was RBAC for that user.
    let ns = harness::namespace("developer-rbac").await;
    harness::apply_yaml(
        &ns,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: read}\nrules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [list]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: read}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: User, name: developer}\n",
    )
    .await;
    a.namespace = Some(ns);
    let kube = connect(&a, &no_sources()).await.unwrap();
    list(&kube)
        .await
        .expect("the developer may list after the RoleBinding");
}

#[tokio::test]
async fn impersonation_is_refused_for_the_unprivileged_user() {
    let mut a = args();
    a.context = Some("developer".into());
    a.as_user = Some("admin".into());
    let kube = connect(&a, &no_sources()).await.unwrap();
    let err = list(&kube).await.unwrap_err();
    assert!(err.contains("cannot impersonate"), "{err}");
}

#[tokio::test]
async fn impersonation_by_admin_takes_the_impersonated_identity() {
    let mut a = args();
    a.as_user = Some("developer".into());
    let err = list(&connect(&a, &no_sources()).await.unwrap())
        .await
        .unwrap_err();
    assert!(err.contains("\"developer\" cannot list"), "{err}");

    a.as_user = Some("someone".into());
    a.as_group = vec!["system:masters".into()];
    list(&connect(&a, &no_sources()).await.unwrap())
        .await
        .expect("--as-group system:masters may list");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test]
async fn several_kubeconfig_files_merge_and_the_first_value_wins() {
    let c = harness::cluster();
    let dir = tempfile::tempdir().unwrap();
    // First file: the cluster and a good admin user, current context admin.
    let first = write(
        dir.path(),
        "first",
        &format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: admin\nclusters:\n- name: local\n  cluster: {{server: '{}', insecure-skip-tls-verify: true}}\nusers:\n- name: admin\n  user: {{token: {}}}\ncontexts:\n- name: admin\n  context: {{cluster: local, user: admin, namespace: first-ns}}\n",
            c.server, c.admin_token
        ),
    );
    // Second file: a bad admin token and a different current context; the
    // first file's values must win.
    let second = write(
        dir.path(),
        "second",
        &format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: developer\nusers:\n- name: admin\n  user: {{token: not-the-token}}\n- name: developer\n  user: {{token: {}}}\ncontexts:\n- name: admin\n  context: {{cluster: local, user: admin, namespace: second-ns}}\n- name: developer\n  context: {{cluster: local, user: developer}}\n",
            c.developer_token
        ),
    );
    let missing = dir.path().join("missing").display().to_string();
    let env = |list: &[&str]| KubeconfigSources {
        env: Some(list.join(":").into()),
        home: None,
        in_cluster: None,
    };
    let a = KubeArgs::default();

    let kube = connect(&a, &env(&[&missing, &first, &second]))
        .await
        .unwrap();
    assert_eq!(kube.namespace, "first-ns");
    let mut admin = kube.clone();
    admin.namespace = "default".into();
    list(&admin)
        .await
        .expect("first file's admin token is used");

    // Contexts only in the second file are still reachable.
    let dev = KubeArgs {
        context: Some("developer".into()),
        ..Default::default()
    };
    let kube = connect(&dev, &env(&[&first, &second])).await.unwrap();
    assert!(
        list(&kube)
            .await
            .unwrap_err()
            .contains("\"developer\" cannot list")
    );

    // Reversed order: the second file's current context and bad token win.
    let kube = connect(&a, &env(&[&second, &first])).await.unwrap();
    assert!(list(&kube).await.unwrap_err().contains("\"developer\""));
    let admin_ctx = KubeArgs {
        context: Some("admin".into()),
        ..Default::default()
    };
    let kube = connect(&admin_ctx, &env(&[&second, &first])).await.unwrap();
    assert_eq!(kube.namespace, "second-ns");
    assert!(list(&kube).await.unwrap_err().contains("Unauthorized"));
}

#[tokio::test]
async fn server_and_token_flags_work_without_any_kubeconfig() {
    let c = harness::cluster();
    let a = KubeArgs {
        server: Some(c.server.clone()),
        token: Some(c.admin_token.clone()),
        insecure_skip_tls_verify: true,
        namespace: Some("default".into()),
        ..Default::default()
    };
    list(&connect(&a, &no_sources()).await.unwrap())
        .await
        .expect("--server --token");

    // The server's self-signed certificate, given with --certificate-authority
    // and the name it was issued for, verifies without skipping TLS checks.
    let ca = c.dir.join("certs/apiserver.crt");
    let a = KubeArgs {
        server: Some(c.server.clone()),
        token: Some(c.admin_token.clone()),
        certificate_authority: Some(ca),
        tls_server_name: Some("kubernetes.default.svc".into()),
        ..Default::default()
    };
    list(&connect(&a, &no_sources()).await.unwrap())
        .await
        .expect("--certificate-authority");
}

#[tokio::test]
async fn token_flag_overrides_the_kubeconfig_user() {
    let mut a = args();
    a.token = Some("wrong".into());
    let err = list(&connect(&a, &no_sources()).await.unwrap())
        .await
        .unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");
    assert!(
        !err.contains("wrong"),
        "the token must not be echoed: {err}"
    );
}

#[tokio::test]
async fn configuration_mistakes_are_one_clear_line() {
    let mut a = args();
    a.context = Some("nope".into());
    let err = connect(&a, &no_sources()).await.err().unwrap();
    assert!(
        err.contains("context \"nope\" not found (available: admin, developer)"),
        "{err}"
    );

    let mut a = args();
    a.request_timeout = Some("5x".into());
    let err = connect(&a, &no_sources()).await.err().unwrap();
    assert!(
        err.starts_with("invalid value '5x' for --request-timeout"),
        "{err}"
    );

    let err = connect(&KubeArgs::default(), &no_sources())
        .await
        .err()
        .unwrap();
    assert!(err.starts_with("no kubeconfig found"), "{err}");
    assert!(err.contains("--kubeconfig"), "{err}");

    let a = KubeArgs {
        kubeconfig: Some("/nonexistent/config".into()),
        ..Default::default()
    };
    let err = connect(&a, &no_sources()).await.err().unwrap();
    assert!(
        err.contains("/nonexistent/config") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

/// Inside a Pod: no kubeconfig, `KUBERNETES_SERVICE_HOST`, and the
/// ServiceAccount's token (from the TokenRequest API), CA and namespace
/// files; its RBAC is all the plugin can do.
#[tokio::test]
async fn in_a_pod_the_plugins_use_the_service_account_and_its_rbac() {
    let ns = harness::namespace("in-cluster").await;
    let rbac = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: packer}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: read-releases}}\nrules:\n- {{apiGroups: [\"\"], resources: [secrets], verbs: [get, list]}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: packer-reads}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-releases}}\nsubjects:\n- {{kind: ServiceAccount, name: packer, namespace: {ns}}}\n"
    );
    harness::apply_yaml(&ns, &rbac).await;
    let (code, _, err) = harness::run_plugin(
        "waves",
        &["apply", "app", "-n", &ns],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {k: v}\n",
    );
    assert_eq!(code, 0, "{err}");
    let token = harness::kubectl()
        .args(["create", "token", "packer", "-n", &ns, "--duration", "10m"])
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );

    let sa = tempfile::tempdir().unwrap();
    std::fs::write(sa.path().join("token"), &token.stdout).unwrap();
    std::fs::write(sa.path().join("namespace"), &ns).unwrap();
    // The API server's own serving certificate and the CA that signed it.
    std::fs::copy(
        harness::cluster().dir.join("certs/apiserver.crt"),
        sa.path().join("ca.crt"),
    )
    .unwrap();
    let port = harness::cluster()
        .server
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let home = tempfile::tempdir().unwrap();
    let in_pod = |args: &[&str]| {
        let out = std::process::Command::new(harness::bin("waves"))
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", home.path())
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", &port)
            .env(shared::kubeconfig::SERVICE_ACCOUNT_DIR_ENV, sa.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let (o, e) = harness::texts(&out);
        (out.status.code().unwrap_or(-1), o, e)
    };
    // The namespace comes from the ServiceAccount's namespace file.
    let (code, out, err) = in_pod(&["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("app") && out.contains(&ns), "{out}");
    // What its RBAC does not allow is refused, naming RBAC.
    let (code, _, err) = in_pod(&["list", "-A"]);
    assert!(code == 1 && err.contains("RBAC"), "{err}");
    // A missing token is one line saying so.
    std::fs::remove_file(sa.path().join("token")).unwrap();
    let (code, _, err) = in_pod(&["list"]);
    assert!(
        code == 1 && err.contains("is a ServiceAccount token mounted"),
        "{err}"
    );
}
