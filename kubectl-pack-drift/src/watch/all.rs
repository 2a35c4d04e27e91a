//! `watch` without a release (`-n` namespace) or with `-A`: follows every
//! release in scope. The release store is listed every few seconds (index
//! records only, metadata only); a new release gets a follower, a new
//! deployed revision replaces its follower, an uninstalled release's
//! follower stops. Each follower is the single-release watch, so each
//! release keeps its pack's own drift settings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use shared::kubeconfig::Kube;
use shared::output::exit;
use tokio::task::JoinHandle;

use super::metrics::Registry;
use crate::cli::WatchArgs;

/// How often the release store is listed for new releases and revisions.
const DISCOVER_EVERY: Duration = Duration::from_secs(3);

/// One followed release.
struct Follower {
    /// The latest revision seen in the store (any status).
    latest: u32,
    /// The deployed revision followed.
    revision: u32,
    task: JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Follows every release in scope until Ctrl-C.
pub async fn run(k: &Kube, args: &WatchArgs, registry: Arc<Registry>) -> Result<u8> {
    let scope = if args.all_namespaces {
        "all namespaces".to_string()
    } else {
        format!("namespace {}", k.namespace)
    };
    let store = shared::release::args::store(k, &args.check.storage)?;
    let mut followers: HashMap<(String, String), Follower> = HashMap::new();
    let mut first = true;
    let mut tick = tokio::time::interval(DISCOVER_EVERY);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
            _ = tick.tick() => {}
        }
        let listed = match store.releases(args.all_namespaces).await {
            Ok(l) => l,
            Err(e) if first => return Err(e.into()),
            Err(e) => {
                shared::output::warn(&format!(
                    "cannot list releases ({}); trying again",
                    shared::error::one_line(&e.to_string())
                ));
                continue;
            }
        };
        if first {
            shared::output::info(&format!(
                "following {} release(s) in {scope}; new releases and revisions join on their own",
                listed.len()
            ));
            first = false;
        }
        let mut present = std::collections::HashSet::new();
        for (ns, name, latest, _status) in listed {
            let key = (ns.clone(), name.clone());
            present.insert(key.clone());
            if followers.get(&key).is_some_and(|f| f.latest == latest) {
                continue;
            }
            let kn = Kube {
                client: k.client.clone(),
                namespace: ns.clone(),
            };
            let ns_store = shared::release::args::store(&kn, &args.check.storage)?;
            let rel = match crate::check::load_release(&ns_store, &name, &ns).await {
                Ok(r) => r,
                // Not deployed yet (pending or failed first revision): later.
                Err(_) => continue,
            };
            if let Some(f) = followers.get_mut(&key)
                && f.revision == rel.revision
            {
                f.latest = latest;
                continue;
            }
            let metrics = registry.add(&name, &ns);
            let revision = rel.revision;
            let (kn, a) = (kn.clone(), args.clone());
            let task = tokio::spawn(async move {
                if let Err(e) = super::follow(&kn, &rel, &a, metrics, true).await {
                    shared::output::warn(&format!(
                        "release {}/{}: {}",
                        rel.namespace,
                        rel.name,
                        shared::error::one_line(&format!("{e:#}"))
                    ));
                }
            });
            // Replacing the follower aborts the old revision's task.
            followers.insert(
                key,
                Follower {
                    latest,
                    revision,
                    task,
                },
            );
        }
        followers.retain(|(ns, name), _| {
            let keep = present.contains(&(ns.clone(), name.clone()));
            if !keep {
                shared::output::info(&format!("release {ns}/{name} is gone; no longer followed"));
                registry.remove(name, ns);
            }
            keep
        });
    }
}
