//! The test cluster is a real Kubernetes API server with a controller
//! manager, not a fake.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn version_reports_a_real_kube_apiserver() {
    let client = harness::cluster().client().await;
    let info = client.apiserver_version().await.expect("GET /version");
    let want = harness::cluster().kube_version();
    assert_eq!(info.git_version, format!("v{want}"));
    assert_eq!(info.major, "1");
    assert_eq!(Some(info.minor.as_str()), want.split('.').nth(1));
    assert!(info.go_version.starts_with("go1."), "{}", info.go_version);
    assert_eq!(info.platform, "linux/amd64");
    assert_eq!(
        info.git_tree_state, "clean",
        "built from the published Go modules"
    );
    let minor: u32 = info.minor.parse().expect("numeric minor");
    assert!(
        minor >= 30,
        "older than the oldest supported minor: {minor}"
    );
}

#[tokio::test]
async fn controller_manager_collects_garbage() {
    let ns = harness::namespace("garbage-collection").await;
    let client = harness::cluster().client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let owner = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap(),
        )
        .await
        .expect("create owner");
    let uid = owner.metadata.uid.expect("uid");
    let dependent = json!({"metadata": {"name": "dependent", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}});
    api.create(
        &PostParams::default(),
        &serde_json::from_value(dependent).unwrap(),
    )
    .await
    .expect("create dependent");
    api.delete("owner", &DeleteParams::default())
        .await
        .expect("delete owner");
    for _ in 0..120 {
        if api.get_opt("dependent").await.expect("get").is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the dependent ConfigMap was not garbage-collected within 30 s");
}

/// True while `pid` is a live process (a zombie has stopped).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

#[test]
fn cluster_down_stops_every_process_it_started() {
    let private = harness::PrivateCluster::start("down-check");
    let dir = private.dir.clone();
    let pids: Vec<u32> = ["etcd", "kube-apiserver", "kube-controller-manager"]
        .iter()
        .map(|name| {
            std::fs::read_to_string(dir.join(format!("{name}.pid")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(pids.iter().all(|p| running(*p)), "{pids:?} run");
    drop(private); // cluster.sh down
    let still: Vec<&u32> = pids.iter().filter(|p| running(**p)).collect();
    assert!(still.is_empty(), "left running after down: {still:?}");
    let mention = dir.to_string_lossy().to_string();
    let others: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| running(*p))
        .filter_map(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&mention).then_some(format!("{p}: {cmd}"))
        })
        .collect();
    assert!(
        others.is_empty(),
        "processes still using {mention}: {others:?}"
    );
    assert!(!dir.exists(), "down removes its directory");
}
