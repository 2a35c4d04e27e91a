//! Kubernetes Events on Pods whose sync request failed, so `kubectl
//! describe pod` shows why its Secret is missing. Messages name provider
//! and path, never a value.

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::Api;
use kube::api::PostParams;

/// The Pod an event is about.
pub struct PodRef<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// UID.
    pub uid: Option<&'a str>,
}

/// Records a Warning event `SecretSyncFailed` on the Pod (best effort).
pub async fn warn(client: &kube::Client, pod: &PodRef<'_>, message: &str) {
    let now = jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", pod.name)),
            namespace: Some(pod.namespace.to_string()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(pod.name.to_string()),
            namespace: Some(pod.namespace.to_string()),
            uid: pod.uid.map(str::to_string),
            ..Default::default()
        },
        reason: Some("SecretSyncFailed".into()),
        message: Some(message.chars().take(1024).collect()),
        type_: Some("Warning".into()),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        reporting_component: Some("kubectl-pack-secrets".into()),
        reporting_instance: Some(hostname()),
        action: Some("Sync".into()),
        source: Some(k8s_openapi::api::core::v1::EventSource {
            component: Some("kubectl-pack-secrets".into()),
            host: None,
        }),
        ..Default::default()
    };
    let api: Api<Event> = Api::namespaced(client.clone(), pod.namespace);
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        shared::output::warn(&format!(
            "cannot record an event on pod {}/{}: {e}",
            pod.namespace, pod.name
        ));
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
