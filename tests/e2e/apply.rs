//! Server-side apply and discovery against the real server: a CRD and its
//! custom resources, multi-document streams, unknown kinds, conflicts,
//! dry-run, status patches.

use std::time::Duration;

use kube::api::{Api, DynamicObject};
use serde_json::{Value, json};
use shared::apply::{Applier, ApplyOptions};
use shared::discovery::Resolver;
use shared::stream::{Origin, parse_stream};

/// A CRD in a group of its own (`<group>` is replaced per test run).
const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.<group>
spec:
  group: <group>
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
          status:
            type: object
            properties:
              ready: {type: boolean}
"#;

async fn wait_established(name: &str) {
    let client = harness::cluster().client().await;
    let api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client);
    for _ in 0..120 {
        let crd = api.get(name).await.expect("get crd");
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("CRD {name} not Established");
}

#[tokio::test]
async fn crd_then_multi_document_stream_applies_and_reads_back_through_discovery() {
    let ns = harness::namespace("crd-stream").await;
    let client = harness::cluster().client().await;
    let resolver = Resolver::new(client.clone());

    // Asked before the CRD exists: unknown (and remembered as such).
    let group = format!("{ns}.example.com");
    let api_version = format!("{group}/v1");
    assert!(
        resolver
            .resolve(&api_version, "Widget")
            .await
            .unwrap()
            .is_none()
    );

    harness::apply_yaml(&ns, &CRD.replace("<group>", &group)).await;
    wait_established(&format!("widgets.{group}")).await;

    let stream = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: \"on\"\n---\n\
         apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {{app: web}}\n  ports:\n  - port: 80\n    targetPort: 8080\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        ports:\n        - containerPort: 8080\n---\n\
         apiVersion: {api_version}\nkind: Widget\nmetadata:\n  name: blue\nspec:\n  size: 3\n  color: blue\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}-extra\n  namespace: ignored-for-cluster-scoped\n  labels: {{team: e2e}}\n"
    );
    let objects = parse_stream(&stream, Origin::Stdin).unwrap();
    assert_eq!(objects.len(), 5);
    let applier = Applier::new(client.clone(), &resolver, &ns);
    let mut applied = Vec::new();
    for obj in &objects {
        // The Widget kind is found by the one refresh after the miss above.
        applied.push(
            applier
                .apply(obj, ApplyOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    assert_eq!(
        applied[3].id.to_string(),
        format!("Widget.{group}/blue -n {ns}")
    );
    assert_eq!(applied[4].id.to_string(), format!("Namespace/{ns}-extra"));

    // Read every object back through discovery: it exists, with our values,
    // owned by our field manager.
    for (obj, a) in objects.iter().zip(&applied) {
        let kind = resolver.resolve_object(obj).await.unwrap();
        let api: Api<DynamicObject> = match &a.id.namespace {
            Some(n) => Api::namespaced_with(client.clone(), n, &kind.resource),
            None => Api::all_with(client.clone(), &kind.resource),
        };
        let live = serde_json::to_value(api.get(&a.id.name).await.expect("read back")).unwrap();
        let managers: Vec<&str> = live["metadata"]["managedFields"]
            .as_array()
            .unwrap_or_else(|| panic!("{} has no managedFields: {live}", a.id))
            .iter()
            .filter_map(|m| m["manager"].as_str())
            .collect();
        assert!(
            managers.contains(&shared::FIELD_MANAGER),
            "{} managers {managers:?}",
            a.id
        );
    }
    let svc = &applied[1].object;
    assert_eq!(
        svc["spec"]["ports"][0]["protocol"], "TCP",
        "a port without protocol is applied and the server defaults it"
    );
    assert_eq!(applied[3].object["spec"]["size"], 3);

    // Status subresource: make the Widget "ready" as envtest users do.
    harness::patch_status(
        &api_version,
        "Widget",
        Some(&ns),
        "blue",
        json!({"ready": true}),
    )
    .await;
    let widgets = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &ns,
        &resolver
            .resolve(&api_version, "Widget")
            .await
            .unwrap()
            .unwrap()
            .resource,
    );
    let w = widgets.get("blue").await.unwrap();
    assert_eq!(w.data["status"]["ready"], true);
}

#[tokio::test]
async fn unknown_kind_error_names_the_object_and_its_source() {
    let ns = harness::namespace("unknown-kind").await;
    let client = harness::cluster().client().await;
    let resolver = Resolver::new(client.clone());
    let objects = parse_stream(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: nope.example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n",
        Origin::Stdin,
    )
    .unwrap();
    let applier = Applier::new(client, &resolver, &ns);
    let err = applier
        .apply(&objects[1], ApplyOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "Gadget/g (STDIN document 2 (line 5)): the server has no kind Gadget in nope.example.com/v1; check apiVersion/kind, or apply the CRD that defines it first"
    );
}

#[tokio::test]
async fn conflict_names_the_other_manager_and_the_field() {
    let ns = harness::namespace("apply-conflict").await;
    harness::apply_yaml(
        &ns,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {color: blue}\n",
    )
    .await;
    // Someone else takes the field with kubectl.
    let out = harness::run_with_stdin(
        {
            let mut c = harness::kubectl();
            c.args([
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager",
                "kubectl-edit",
                "-n",
                &ns,
                "-f",
                "-",
            ]);
            c
        },
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {color: red}\n",
    );
    assert!(out.status.success(), "{:?}", harness::texts(&out));

    let client = harness::cluster().client().await;
    let resolver = Resolver::new(client.clone());
    let applier = Applier::new(client, &resolver, &ns);
    let objs = parse_stream(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {color: green}\n",
        Origin::Stdin,
    )
    .unwrap();
    let err = applier
        .apply(&objs[0], ApplyOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "ConfigMap/c -n {ns}: conflict with \"kubectl-edit\" over .data.color; re-run with --force-conflicts to take ownership"
        )
    );

    // Dry-run with force shows the result and stores nothing.
    let dry = applier
        .apply(
            &objs[0],
            ApplyOptions {
                dry_run: true,
                force_conflicts: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(dry.object["data"]["color"], "green");
    let live = harness::kubectl()
        .args([
            "get",
            "configmap",
            "c",
            "-n",
            &ns,
            "-o",
            "jsonpath={.data.color}",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&live.stdout), "red");

    let forced = applier
        .apply(
            &objs[0],
            ApplyOptions {
                dry_run: false,
                force_conflicts: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(forced.object["data"]["color"], Value::from("green"));
}

#[tokio::test]
async fn aggregated_and_classic_discovery_resolve_the_same_kinds() {
    use shared::discovery::{Mode, listable_resources_in};
    let ns = harness::namespace("discovery-modes").await;
    let client = harness::cluster().client().await;
    let group = format!("{ns}.example.com");
    harness::apply_yaml(&ns, &CRD.replace("<group>", &group)).await;
    wait_established(&format!("widgets.{group}")).await;

    let aggregated = Resolver::with_mode(client.clone(), None);
    let classic = Resolver::with_mode(client.clone(), Some(Mode::Classic));
    let widget_version = format!("{group}/v1");
    for (api_version, kind) in [
        ("v1", "ConfigMap"),
        ("apps/v1", "Deployment"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        (widget_version.as_str(), "Widget"),
        ("apps/v1", "NoSuchKind"),
        ("nosuch.example.com/v1", "Thing"),
    ] {
        let a = aggregated.resolve(api_version, kind).await.unwrap();
        let c = classic.resolve(api_version, kind).await.unwrap();
        assert_eq!(a, c, "{api_version} {kind}");
    }
    // Every supported server offers aggregated discovery, and it was used.
    assert_eq!(aggregated.mode(), Some(Mode::Aggregated));
    assert_eq!(classic.mode(), Some(Mode::Classic));
    let widget = aggregated
        .resolve(&widget_version, "Widget")
        .await
        .unwrap()
        .expect("Widget resolved");
    assert!(widget.namespaced() && widget.has_status, "{widget:?}");

    // The listing drift scans for unexpected objects: the same in both modes.
    let names = |kinds: Vec<shared::discovery::ResolvedKind>| {
        let mut n: Vec<String> = kinds
            .into_iter()
            .map(|k| format!("{}/{}", k.resource.api_version, k.resource.plural))
            .collect();
        n.sort();
        n
    };
    let a = names(listable_resources_in(&client, None).await.unwrap());
    let c = names(
        listable_resources_in(&client, Some(Mode::Classic))
            .await
            .unwrap(),
    );
    assert_eq!(a, c);
    assert!(a.contains(&format!("{group}/v1/widgets")), "{a:?}");
    assert!(a.contains(&"apps/v1/deployments".to_string()), "{a:?}");
}
