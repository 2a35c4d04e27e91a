//! Hooks: objects annotated `sherpack.io/hook` (or Helm's `helm.sh/hook`)
//! with `pre-install`, `post-install`, `pre-upgrade`, `post-upgrade`,
//! `pre-rollback`, `post-rollback`, `pre-delete`, `post-delete`. They run
//! (namespaced ones in the release namespace) one at a time in
//! `hook-weight`, then kind, then name order, are waited for (Jobs must
//! complete), follow `hook-delete-policy` (`before-hook-creation`, the
//! default, `hook-succeeded`, `hook-failed`), and are never pruned as
//! release objects.
//!
//! As in Helm, `hook-succeeded` hooks are deleted once every hook of the
//! phase has succeeded, in reverse order: a Job hook can use the
//! ServiceAccount and RBAC hooks of its phase (kube-prometheus-stack's
//! admission Jobs do).

use kube::api::{Api, DeleteParams, DynamicObject, PropagationPolicy};
use shared::release::owner::{Owner, owner};
use shared::stream::SourcedObject;

use crate::engine::Engine;
use crate::plan::{Item, Plan};

fn annotation<'a>(o: &'a SourcedObject, name: &str) -> Option<&'a str> {
    let a = &o.object["metadata"]["annotations"];
    a[format!("sherpack.io/{name}")]
        .as_str()
        .or_else(|| a[format!("helm.sh/{name}")].as_str())
}

/// Splits hooks from release objects.
pub fn partition(objects: Vec<SourcedObject>) -> (Vec<SourcedObject>, Vec<SourcedObject>) {
    objects
        .into_iter()
        .partition(|o| annotation(o, "hook").is_none())
}

/// The hooks of one phase (`pre-install`...), in weight order.
pub fn for_phase(hooks: &[SourcedObject], phase: &str) -> Result<Vec<SourcedObject>, String> {
    let mut out: Vec<(i64, SourcedObject)> = Vec::new();
    for h in hooks {
        let marks = crate::marks::read(&h.object)
            .map_err(|e| format!("{}/{}: {}", h.kind(), h.name(), e.join("; ")))?;
        if marks.hook.iter().flatten().any(|p| p == phase) {
            out.push((marks.hook_weight, h.clone()));
        }
    }
    out.sort_by(|a, b| {
        (a.0, crate::plan::kind_rank(a.1.kind()), a.1.name()).cmp(&(
            b.0,
            crate::plan::kind_rank(b.1.kind()),
            b.1.name(),
        ))
    });
    Ok(out.into_iter().map(|(_, h)| h).collect())
}

/// The hook's delete policies (its marks were checked with the whole
/// stream by `validate::offline`; a failure here is reported, not guessed).
fn policies(o: &SourcedObject) -> Result<Vec<String>, String> {
    crate::marks::read(&o.object)
        .map(|m| m.hook_delete)
        .map_err(|errors| format!("hook {}: {}", o.key(), errors.join("; ")))
}

/// One hook of a phase, ready to run: its object (namespace set), its API
/// and its delete policies.
struct Prepared {
    obj: SourcedObject,
    key: String,
    api: Api<DynamicObject>,
    policies: Vec<String>,
}

impl Prepared {
    async fn new(engine: &Engine<'_>, hook: &SourcedObject) -> Result<Prepared, String> {
        let key = format!("{}/{}", hook.kind(), hook.name());
        let mut obj = hook.clone();
        let kind = engine
            .resolver
            .resolve_object(&obj)
            .await
            .map_err(|e| format!("hook {key}: {e}"))?;
        let api = if kind.namespaced() {
            // Namespaced hooks always run in the release namespace.
            obj.object["metadata"]["namespace"] =
                serde_json::Value::String(engine.namespace.clone());
            Api::namespaced_with(engine.client.clone(), &engine.namespace, &kind.resource)
        } else {
            Api::all_with(engine.client.clone(), &kind.resource)
        };
        Ok(Prepared {
            policies: policies(hook)?,
            obj,
            key,
            api,
        })
    }

    fn has(&self, policy: &str) -> bool {
        self.policies.iter().any(|p| p == policy)
    }

    /// Deletes the previous run of this hook and waits until it is gone
    /// (a Job of the same name cannot be created while the old one is
    /// terminating) — only when it is this release's: an object of that
    /// name that belongs to anyone else is refused, not replaced.
    async fn clear_previous(&self, engine: &Engine<'_>) -> Result<(), String> {
        let name = self.obj.name();
        let live = match self.api.get_opt(name).await {
            Ok(Some(live)) => serde_json::to_value(live).unwrap_or_default(),
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "hook {}: {}",
                    self.key,
                    shared::Error::api("read", e)
                ));
            }
        };
        let who = owner(&live, &engine.release, &engine.namespace);
        if who != Owner::Us {
            return Err(format!(
                "hook {}: an object of that name {who}; it is not replaced (rename the hook)",
                self.key
            ));
        }
        if self.api.delete(name, &background()).await.is_err() {
            return Ok(());
        }
        for _ in 0..120 {
            match self.api.get_opt(name).await {
                Ok(None) | Err(_) => return Ok(()),
                Ok(Some(_)) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
            }
        }
        Ok(())
    }

    /// Deletes the hook for `why`, reporting (not failing on) an error.
    async fn delete(&self, engine: &Engine<'_>, why: &str) {
        match self.api.delete(self.obj.name(), &background()).await {
            Ok(_) => engine
                .progress
                .note(&format!("hook {} deleted ({why})", self.key)),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => engine.progress.note(&format!(
                "warning: hook {} was not deleted ({why}): {}",
                self.key,
                shared::Error::api("delete", e)
            )),
        }
    }
}

/// Runs the hooks of a phase one by one; returns the records, or the failure.
pub async fn run(
    engine: &Engine<'_>,
    hooks: &[SourcedObject],
    phase: &str,
) -> Result<Vec<shared::release::ObjectRecord>, String> {
    let mut records = Vec::new();
    let mut succeeded = Vec::new();
    for hook in for_phase(hooks, phase)? {
        let hook = Prepared::new(engine, &hook).await?;
        if hook.has("before-hook-creation") {
            hook.clear_previous(engine).await?;
        }
        engine.progress.note(&format!("hook {phase}: {}", hook.key));
        let result = engine.run(&single(&hook), None).await;
        records.extend(result.objects);
        if let Some(f) = result.failure {
            if hook.has("hook-failed") {
                hook.delete(engine, "hook-failed").await;
            }
            return Err(format!("{phase} hook {} failed: {f}", hook.key));
        }
        succeeded.push(hook);
    }
    for hook in succeeded.iter().rev().filter(|h| h.has("hook-succeeded")) {
        hook.delete(engine, "hook-succeeded").await;
    }
    Ok(records)
}

/// A plan of one object, waited for.
fn single(hook: &Prepared) -> Plan {
    Plan {
        items: vec![Item {
            obj: hook.obj.clone(),
            wave: 0,
            step: 0,
            key: hook.key.clone(),
            deps: Vec::new(),
            wait: true,
            timeout: None,
            keep: false,
        }],
        warnings: Vec::new(),
    }
}

fn background() -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    }
}
