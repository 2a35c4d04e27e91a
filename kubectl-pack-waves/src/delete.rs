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
    /// `--dry-run=server`: every delete sent as a server-side dry-run, and
    /// what would happen reported in [`Deleted::report`].
    pub dry_run: bool,
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
    /// The records deleted (or, in a dry run, that would be), for waiting.
    pub gone: Vec<ObjectRecord>,
    /// In a dry run, one line per object: what would happen to it.
    pub report: Vec<String>,
}

/// Records in deletion order: higher waves first; within a wave CRDs last;
/// then reverse kind order.
fn deletion_order<T>(mut items: Vec<(&ObjectRecord, T)>) -> Vec<(&ObjectRecord, T)> {
    items.sort_by_key(|(r, _)| {
        (
            std::cmp::Reverse(r.wave),
            r.kind == "CustomResourceDefinition",
            std::cmp::Reverse(crate::plan::kind_rank(&r.kind)),
        )
    });
    items
}

/// `--dry-run=client`: what [`delete_all`] would do, from the records
/// alone (no request to the server), one line per object.
pub fn planned(records: &[ObjectRecord], how: &Deletion<'_>) -> Vec<String> {
    deletion_order(records.iter().map(|r| (r, ())).collect())
        .into_iter()
        .map(|(r, _)| match kept_because(r, how) {
            Some(why) => format!("would keep {} ({why})", r.id()),
            None => format!("would delete {}", r.id()),
        })
        .collect()
}

/// Waits until every record in `gone` is no longer on the server (its
/// finalizers done), or `deadline`; the ones still there otherwise.
pub async fn wait_gone(
    client: &kube::Client,
    gone: &[ObjectRecord],
    deadline: std::time::Instant,
) -> Result<(), Vec<String>> {
    let resources: Vec<kube::api::ApiResource> =
        gone.iter().map(ObjectRecord::api_resource).collect();
    let wanted: Vec<shared::live::Wanted<'_>> = gone
        .iter()
        .zip(&resources)
        .map(|(r, res)| (res, r.namespace.as_deref(), r.name.as_str()))
        .collect();
    loop {
        let left: Vec<String> = match shared::live::fetch_metadata(client, &wanted).await {
            Ok(live) => gone
                .iter()
                .zip(&wanted)
                .filter(|(_, w)| live.contains_key(&shared::live::key(w)))
                .map(|(r, _)| r.id().to_string())
                .collect(),
            // A server that does not answer for a moment is asked again.
            Err(_) => vec!["(the API server did not answer)".to_string()],
        };
        if left.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline || shared::interrupt::requested() {
            return Err(left);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
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
    let order = deletion_order(records.iter().zip(&wanted).collect());
    // "deleted X" as it happens; "would delete X" in a dry run's report.
    let say = |done: &mut Deleted, (did, would): (&str, &str), what: String| match how.dry_run {
        true => done.report.push(format!("would {would} {what}")),
        false => progress.note(&format!("{did} {what}")),
    };
    for (r, w) in order {
        if shared::interrupt::requested() {
            done.errors.push(shared::interrupt::STOPPED.into());
            break;
        }
        let key = r.id().to_string();
        if let Some(why) = kept_because(r, how) {
            say(&mut done, ("kept", "keep"), format!("{key} ({why})"));
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
            dry_run: how.dry_run,
            ..Default::default()
        };
        match api.delete(&r.name, &dp).await {
            Ok(_) => {
                say(&mut done, ("deleted", "delete"), key);
                done.deleted += 1;
                done.gone.push(r.clone());
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => done
                .errors
                .push(shared::Error::api(format!("delete {key}"), e).to_string()),
        }
    }
    done
}
