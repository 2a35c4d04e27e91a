//! Deleting release objects (prune, rollback, uninstall): reverse wave
//! order, custom resources before CRDs, CRDs only when asked, `keep`
//! objects left alone — and only objects that still belong to the release
//! when they are about to be deleted (re-read live, deleted with a UID
//! precondition), never a Namespace that existed before the release took it
//! over unless asked.

use kube::api::{Api, DeleteParams, DynamicObject, Preconditions, PropagationPolicy};
use shared::release::ObjectRecord;
use shared::release::owner::{Owner, owner};

use crate::progress::Progress;

/// Whose objects, and what may go.
pub struct Deletion<'a> {
    /// The release.
    pub release: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// `--prune-crds`.
    pub crds: bool,
    /// `--delete-namespaces`: Namespaces taken over may go too.
    pub namespaces: bool,
}

/// What [`delete_all`] did.
#[derive(Debug, Default)]
pub struct Deleted {
    /// Objects deleted.
    pub deleted: usize,
    /// Objects kept (policy, CRDs, taken-over Namespaces, not ours any more).
    pub kept: usize,
    /// Failures, one line each.
    pub errors: Vec<String>,
}

/// Why a record is kept, if it is.
fn kept_because(r: &ObjectRecord, how: &Deletion<'_>) -> Option<&'static str> {
    if r.keep {
        Some("resource-policy: keep")
    } else if r.kind == "CustomResourceDefinition" && !how.crds {
        Some("CRDs are deleted only with --prune-crds")
    } else if r.kind == "Namespace" && r.adopted && !how.namespaces {
        Some("it existed before the release; --delete-namespaces deletes it")
    } else {
        None
    }
}

/// Deletes `records` in reverse wave order.
pub async fn delete_all(
    client: &kube::Client,
    records: &[ObjectRecord],
    how: &Deletion<'_>,
    progress: &Progress,
) -> Deleted {
    let mut done = Deleted::default();
    let resources: Vec<kube::api::ApiResource> =
        records.iter().map(ObjectRecord::api_resource).collect();
    let wanted: Vec<shared::live::Wanted<'_>> = records
        .iter()
        .zip(&resources)
        .map(|(r, res)| (res, r.namespace.as_deref(), r.name.as_str()))
        .collect();
    let live = match shared::live::fetch_metadata(client, &wanted).await {
        Ok(live) => live,
        Err(e) => {
            let e = shared::Error::api("read the objects before deleting them", e);
            done.errors.push(e.to_string());
            return done;
        }
    };
    let mut order: Vec<(&ObjectRecord, &shared::live::Wanted<'_>)> =
        records.iter().zip(&wanted).collect();
    // Higher waves first; within a wave CRDs last; then reverse kind order.
    order.sort_by_key(|(r, _)| {
        (
            std::cmp::Reverse(r.wave),
            r.kind == "CustomResourceDefinition",
            std::cmp::Reverse(crate::plan::kind_rank(&r.kind)),
        )
    });
    for (r, w) in order {
        if shared::interrupt::requested() {
            done.errors.push(shared::interrupt::STOPPED.into());
            break;
        }
        let key = r.id().to_string();
        if let Some(why) = kept_because(r, how) {
            progress.note(&format!("kept {key} ({why})"));
            done.kept += 1;
            continue;
        }
        let Some(meta) = live.get(&shared::live::key(w)) else {
            continue; // already gone
        };
        match owner(meta, how.release, how.namespace) {
            Owner::Us => {}
            other => {
                shared::output::warn(&format!(
                    "left {key} alone: it {other} now, not to release {}",
                    how.release
                ));
                done.kept += 1;
                continue;
            }
        }
        let api: Api<DynamicObject> = match &r.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, w.0),
            None => Api::all_with(client.clone(), w.0),
        };
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            // The object read above, not one created since under its name.
            preconditions: Some(Preconditions {
                uid: meta["metadata"]["uid"].as_str().map(str::to_string),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&r.name, &dp).await {
            Ok(_) => {
                progress.note(&format!("deleted {key}"));
                done.deleted += 1;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => done
                .errors
                .push(shared::Error::api(format!("delete {key}"), e).to_string()),
        }
    }
    done
}
