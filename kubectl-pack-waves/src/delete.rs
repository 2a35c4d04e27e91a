//! Deleting release objects (prune, rollback, uninstall): reverse wave
//! order, custom resources before CRDs, CRDs only when asked, `keep`
//! objects left alone.

use kube::api::{Api, DeleteParams, DynamicObject, PropagationPolicy};
use shared::release::ObjectRecord;

use crate::progress::Progress;

/// Deletes `records` in reverse wave order; returns (deleted, kept, errors).
pub async fn delete_all(
    client: &kube::Client,
    records: &[ObjectRecord],
    delete_crds: bool,
    progress: &Progress,
) -> (usize, usize, Vec<String>) {
    let mut order: Vec<&ObjectRecord> = records.iter().collect();
    // Higher waves first; within a wave CRDs last; then reverse kind order.
    order.sort_by_key(|r| {
        (
            std::cmp::Reverse(r.wave),
            r.kind == "CustomResourceDefinition",
            std::cmp::Reverse(crate::plan::kind_rank(&r.kind)),
        )
    });
    let (mut deleted, mut kept, mut errors) = (0, 0, Vec::new());
    for r in order {
        let key = format!("{}/{}", r.kind, r.name);
        if r.keep || (r.kind == "CustomResourceDefinition" && !delete_crds) {
            progress.note(&format!(
                "kept {key} ({})",
                if r.keep {
                    "resource-policy: keep"
                } else {
                    "CRDs are deleted only with --prune-crds"
                }
            ));
            kept += 1;
            continue;
        }
        let res = r.api_resource();
        let api: Api<DynamicObject> = match &r.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &res),
            None => Api::all_with(client.clone(), &res),
        };
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        match api.delete(&r.name, &dp).await {
            Ok(_) => {
                progress.note(&format!("deleted {key}"));
                deleted += 1;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => errors.push(format!("{key}: {e}")),
        }
    }
    (deleted, kept, errors)
}
