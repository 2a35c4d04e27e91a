//! Hooks: objects annotated `sherpack.io/hook` (or Helm's `helm.sh/hook`)
//! with `pre-install`, `post-install`, `pre-upgrade`, `post-upgrade`,
//! `pre-rollback`, `post-rollback`, `pre-delete`, `post-delete`. They run
//! in the release namespace in `hook-weight` order, are waited for (Jobs
//! must complete), follow `hook-delete-policy` (`before-hook-creation`, the
//! default, `hook-succeeded`, `hook-failed`), and are never pruned as
//! release objects.

use kube::api::{Api, DeleteParams, DynamicObject, PropagationPolicy};
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
        let phases = annotation(h, "hook").unwrap_or_default();
        if phases.split(',').map(str::trim).any(|p| p == phase) {
            let weight = match annotation(h, "hook-weight") {
                Some(w) => w.trim().parse::<i64>().map_err(|_| {
                    format!(
                        "{}/{}: hook-weight \"{w}\" is not an integer",
                        h.kind(),
                        h.name()
                    )
                })?,
                None => 0,
            };
            out.push((weight, h.clone()));
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

fn policies(o: &SourcedObject) -> Vec<String> {
    match annotation(o, "hook-delete-policy") {
        Some(p) => p.split(',').map(|s| s.trim().to_string()).collect(),
        None => vec!["before-hook-creation".into()],
    }
}

/// Runs the hooks of a phase one by one; returns the records, or the failure.
pub async fn run(
    engine: &Engine<'_>,
    hooks: &[SourcedObject],
    phase: &str,
) -> Result<Vec<shared::release::ObjectRecord>, String> {
    let list = for_phase(hooks, phase)?;
    let mut records = Vec::new();
    for hook in list {
        let key = format!("{}/{}", hook.kind(), hook.name());
        let mut obj = hook.clone();
        // Hooks always run in the release namespace.
        obj.object["metadata"]["namespace"] = serde_json::Value::String(engine.namespace.clone());
        let kind = engine
            .resolver
            .resolve_object(&obj)
            .await
            .map_err(|e| format!("hook {key}: {e}"))?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(engine.client.clone(), &engine.namespace, &kind.resource);
        let pol = policies(&hook);
        if pol.iter().any(|p| p == "before-hook-creation") {
            delete_and_wait(&api, hook.name()).await;
        }
        engine.progress.note(&format!("hook {phase}: {key}"));
        let plan = Plan {
            items: vec![Item {
                obj,
                wave: 0,
                step: 0,
                key: key.clone(),
                deps: Vec::new(),
                wait: true,
                timeout: None,
                keep: false,
            }],
            warnings: Vec::new(),
        };
        let result = engine.run(&plan, None).await;
        records.extend(result.objects);
        match result.failure {
            Some(f) => {
                if pol.iter().any(|p| p == "hook-failed") {
                    let _ = api.delete(hook.name(), &background()).await;
                }
                return Err(format!("{phase} hook {key} failed: {f}"));
            }
            None => {
                if pol.iter().any(|p| p == "hook-succeeded") {
                    let _ = api.delete(hook.name(), &background()).await;
                    engine.progress.note(&format!(
                        "hook {key} succeeded and was deleted (hook-succeeded)"
                    ));
                }
            }
        }
    }
    Ok(records)
}

fn background() -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    }
}

async fn delete_and_wait(api: &Api<DynamicObject>, name: &str) {
    if api.delete(name, &background()).await.is_err() {
        return;
    }
    for _ in 0..120 {
        match api.get_opt(name).await {
            Ok(None) | Err(_) => return,
            Ok(Some(_)) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
}
