//! A kubelet stand-in for tests of real workloads.
//!
//! The test cluster has no kubelet, so Pods never run. This task does what
//! a kubelet would report for every Pod that appears in the namespaces it
//! watches: a Job's Pod ends `Succeeded` (exit code 0), every other Pod
//! becomes `Running` and `Ready`. The real controllers
//! (kube-controller-manager) take it from there: ReplicaSets and
//! Deployments count ready replicas, StatefulSets create their next Pod, and
//! Jobs become `Complete` — nothing else is faked.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

/// The running stand-in; stops when dropped. It runs on a thread of its
/// own, so a test may block its runtime on a plugin command meanwhile.
pub struct Kubelet {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Kubelet {
    /// Starts reporting Pods of `namespaces` as running (or, for Jobs, done).
    pub async fn start(namespaces: &[&str]) -> Kubelet {
        let namespaces: Vec<String> = namespaces.iter().map(|s| s.to_string()).collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("kubelet runtime");
            rt.block_on(run(namespaces, flag));
        });
        Kubelet {
            stop,
            thread: Some(thread),
        }
    }
}

async fn run(namespaces: Vec<String>, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let client = crate::cluster().client().await;
    let apis: Vec<Api<Pod>> = namespaces
        .iter()
        .map(|ns| Api::namespaced(client.clone(), ns))
        .collect();
    let mut done: HashSet<String> = HashSet::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for api in &apis {
            if let Ok(pods) = api.list(&ListParams::default()).await {
                for pod in pods.items {
                    report(api, &pod, &mut done).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn report(api: &Api<Pod>, pod: &Pod, done: &mut HashSet<String>) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    if done.contains(&uid) || pod.metadata.deletion_timestamp.is_some() {
        return;
    }
    let name = pod.metadata.name.clone().unwrap_or_default();
    let of_job = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job");
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let containers: Vec<Value> = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .map(|c| {
            let state = if of_job {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}})
            } else {
                json!({"running": {"startedAt": now}})
            };
            json!({"name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                   "ready": !of_job, "started": !of_job, "restartCount": 0, "state": state})
        })
        .collect();
    let cond = |t: &str, s: bool| json!({"type": t, "status": if s { "True" } else { "False" }, "lastTransitionTime": now});
    let status = if of_job {
        json!({"phase": "Succeeded", "startTime": now, "containerStatuses": containers,
               "conditions": [cond("Ready", false), cond("ContainersReady", false)]})
    } else {
        json!({"phase": "Running", "startTime": now, "containerStatuses": containers,
               "conditions": [cond("PodScheduled", true), cond("Initialized", true),
                              cond("ContainersReady", true), cond("Ready", true)]})
    };
    let patched = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await;
    if patched.is_ok() {
        done.insert(uid);
    }
}
