//! Executes a plan: wave by wave, step by step, objects applied in parallel
//! (bounded) with server-side apply, CRDs waited Established (and discovery
//! refreshed) before their custom resources, readiness gates between waves.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use futures::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject, PropagationPolicy};
use serde_json::{Value, json};
use shared::apply::{Applier, ApplyOptions};
use shared::discovery::{ResolvedKind, Resolver};
use shared::identity::ObjectId;
use shared::release::fields;
use shared::release::{ObjectRecord, WaveRecord};

use crate::plan::{Item, Plan};
use crate::progress::Progress;
use crate::readiness::{self, State};

pub use shared::release::{APPLYSET_ID_LABEL, RELEASE_LABEL, applyset_id, parent_name};

/// The server's answer, the object's resource, and whether it is namespaced.
type AppliedObject = (Value, kube::discovery::ApiResource, bool);

/// Settings of one run.
pub struct Engine<'a> {
    /// Client.
    pub client: kube::Client,
    /// Discovery cache.
    pub resolver: &'a Resolver,
    /// Release namespace (default for namespaced objects).
    pub namespace: String,
    /// Release name.
    pub release: String,
    /// Parallel applies.
    pub concurrency: usize,
    /// `--force-conflicts`.
    pub force: bool,
    /// Wait between waves.
    pub wait: bool,
    /// Overall deadline.
    pub deadline: Instant,
    /// Keep going after a failed wave.
    pub keep_going: bool,
    /// Output.
    pub progress: Progress,
    /// Pod states that fail a workload at once (`--rollback-on`).
    pub fail_on: Vec<String>,
    /// Ask before each next wave.
    pub pause: bool,
    /// Objects to delete and create again (immutable fields changed).
    pub replace: Vec<ObjectId>,
    /// Workloads whose replicas an HPA sets (and holds): applied without
    /// `spec.replicas`, so there is no conflict and no fight.
    pub leave_replicas: Vec<ObjectId>,
}

/// What a run did.
pub struct RunResult {
    /// Records of the applied objects.
    pub objects: Vec<ObjectRecord>,
    /// The waves that ran.
    pub plan: Vec<WaveRecord>,
    /// The first failure.
    pub failure: Option<String>,
}

/// Server-side applies at once within a step, unless `--concurrency` says
/// otherwise: 64 keeps a 2-core API server busy (measured with
/// `bench/waves.py`: 32 left it idle between answers).
pub const DEFAULT_CONCURRENCY: usize = 64;

impl<'a> Engine<'a> {
    /// An engine for `release` with the defaults (64 at once, waiting,
    /// 5 minutes, stop on failure).
    pub fn new(
        client: kube::Client,
        resolver: &'a Resolver,
        namespace: &str,
        release: &str,
    ) -> Engine<'a> {
        Engine {
            client,
            resolver,
            namespace: namespace.to_string(),
            release: release.to_string(),
            concurrency: DEFAULT_CONCURRENCY,
            force: false,
            wait: true,
            deadline: Instant::now() + Duration::from_secs(300),
            keep_going: false,
            progress: Progress::new(),
            fail_on: Vec::new(),
            pause: false,
            replace: Vec::new(),
            leave_replicas: Vec::new(),
        }
    }
}

impl Engine<'_> {
    fn labelled(&self, item: &Item) -> shared::stream::SourcedObject {
        let mut obj = item.obj.clone();
        shared::release::owner::stamp(&mut obj.object, &self.release, &self.namespace);
        let id = ObjectId::of(&obj.object);
        if self
            .leave_replicas
            .iter()
            .any(|l| l.kind == id.kind && l.name == id.name)
            && let Some(spec) = obj.object["spec"].as_object_mut()
            && spec.remove("replicas").is_some()
        {
            self.progress.note(&format!(
                "left .spec.replicas of {} to its HorizontalPodAutoscaler",
                item.key
            ));
        }
        obj
    }

    async fn apply_one(&self, item: &Item) -> Result<AppliedObject> {
        let obj = self.labelled(item);
        let applier = Applier::new(self.client.clone(), self.resolver, &self.namespace);
        let (kind, id, _) = applier.prepare(&obj).await?;
        if self.replace.iter().any(|r| r.key() == id.key()) {
            self.delete_for_replace(&kind, &id).await?;
        }
        let mut options = ApplyOptions {
            dry_run: false,
            force_conflicts: self.force,
        };
        let mut applied = match applier.apply(&obj, options).await {
            // Someone changed release fields with kubectl: take them back.
            Err(shared::Error::ApplyConflict { contested, .. })
                if !contested.is_empty() && contested.iter().all(|c| c.by_hand()) =>
            {
                options.force_conflicts = true;
                let applied = applier.apply(&obj, options).await?;
                for c in &contested {
                    self.progress.note(&format!(
                        "took {} of {} back from {}",
                        c.field, item.key, c.manager
                    ));
                }
                applied
            }
            other => other?,
        };
        if shared::takeover::take_over_client_side_apply(
            &self.client,
            &kind.resource,
            &applied.object,
        )
        .await?
        {
            // Apply again: fields the manifest no longer has are now ours to prune.
            applied = applier.apply(&obj, options).await?;
            self.progress.note(&format!(
                "took over client-side-apply fields of {}",
                item.key
            ));
        }
        Ok((applied.object, kind.resource.clone(), kind.namespaced()))
    }

    /// Deletes an object the server will not update in place (the
    /// preflight found it; `--force-replace` or `sherpack.io/replace`), and
    /// waits until it is gone so it can be created again. A StatefulSet is
    /// deleted with orphan propagation: its Pods and PVCs stay, and the new
    /// StatefulSet adopts them.
    async fn delete_for_replace(&self, kind: &ResolvedKind, id: &ObjectId) -> Result<()> {
        let api: Api<DynamicObject> = match &id.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &kind.resource),
            None => Api::all_with(self.client.clone(), &kind.resource),
        };
        let orphan = id.kind == "StatefulSet";
        let dp = DeleteParams {
            propagation_policy: Some(if orphan {
                PropagationPolicy::Orphan
            } else {
                PropagationPolicy::Background
            }),
            ..Default::default()
        };
        match api.delete(&id.name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(shared::Error::api(format!("replace {id}: delete"), e).into()),
        }
        while api
            .get_opt(&id.name)
            .await
            .map_err(|e| shared::Error::api(format!("replace {id}: wait for the deletion"), e))?
            .is_some()
        {
            if Instant::now() >= self.deadline {
                anyhow::bail!("replace {id}: still being deleted at the timeout");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let kept = if orphan {
            " (its Pods and PVCs kept)"
        } else {
            ""
        };
        self.progress
            .note(&format!("replacing {id}: deleted{kept}, creating it again"));
        Ok(())
    }

    /// Runs the plan (only `only_wave` when given).
    pub async fn run(&self, plan: &Plan, only_wave: Option<i64>) -> RunResult {
        let mut result = RunResult {
            objects: Vec::new(),
            plan: Vec::new(),
            failure: None,
        };
        for (wave, idx) in plan.waves() {
            if only_wave.is_some_and(|w| w != wave) {
                continue;
            }
            if shared::interrupt::requested() {
                result
                    .failure
                    .get_or_insert(shared::interrupt::STOPPED.into());
                break;
            }
            if self.pause && !result.plan.is_empty() {
                let question = format!("wave {wave} next ({} objects): continue?", idx.len());
                let go = tokio::task::spawn_blocking(move || {
                    dialoguer::Confirm::new()
                        .with_prompt(question)
                        .default(true)
                        .interact()
                        .unwrap_or(false)
                })
                .await
                .unwrap_or(false);
                if !go {
                    result.failure = Some(format!(
                        "stopped before wave {wave} (--pause-between-waves)"
                    ));
                    break;
                }
            }
            result.plan.push(WaveRecord {
                wave,
                objects: idx.iter().map(|&i| plan.items[i].key.clone()).collect(),
            });
            self.progress.wave_start(wave, idx.len());
            let mut steps: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for &i in &idx {
                steps.entry(plan.items[i].step).or_default().push(i);
            }
            let mut wave_failed = None;
            for (_, step) in steps {
                match self.run_step(plan, &step, wave, &mut result.objects).await {
                    Ok(()) => {}
                    Err(e) => {
                        wave_failed = Some(e);
                        break;
                    }
                }
            }
            self.progress.wave_end(wave, wave_failed.as_deref());
            if let Some(e) = wave_failed {
                result.failure.get_or_insert(e);
                if !self.keep_going {
                    break;
                }
            }
        }
        result
    }

    async fn run_step(
        &self,
        plan: &Plan,
        step: &[usize],
        wave: i64,
        records: &mut Vec<ObjectRecord>,
    ) -> Result<(), String> {
        let mut applied: Vec<(usize, Result<AppliedObject>)> =
            futures::stream::iter(step.iter().copied())
                .map(|i| async move {
                    if shared::interrupt::requested() {
                        return (i, Err(anyhow!(shared::interrupt::STOPPED)));
                    }
                    (i, self.apply_one(&plan.items[i]).await)
                })
                .buffer_unordered(self.concurrency.max(1))
                .collect()
                .await;
        // Records in plan order: stable, and they compress better.
        applied.sort_by_key(|(i, _)| *i);
        let mut first_error = None;
        let mut pending = Vec::new();
        let mut crds = Vec::new();
        for (i, r) in applied {
            let item = &plan.items[i];
            match r {
                Ok((obj, resource, namespaced)) => {
                    self.progress.applied(&item.key);
                    if item.obj.kind() == "CustomResourceDefinition" {
                        crds.push((item.key.clone(), obj.clone()));
                    }
                    let owned =
                        fields::owned_fields(&obj, shared::FIELD_MANAGER).unwrap_or(Value::Null);
                    records.push(ObjectRecord {
                        api_version: item.obj.api_version().to_string(),
                        kind: item.obj.kind().to_string(),
                        namespace: if namespaced {
                            obj["metadata"]["namespace"].as_str().map(str::to_string)
                        } else {
                            None
                        },
                        name: item.obj.name().to_string(),
                        resource: resource.plural.clone(),
                        wave,
                        applied: fields::cut(&obj, &owned),
                        applied_patch: None,
                        fields: owned,
                        keep: item.keep,
                        adopted: false,
                    });
                    let must_wait =
                        item.obj.kind() == "CustomResourceDefinition" || (self.wait && item.wait);
                    if must_wait && readiness::assess(&obj) != State::Ready {
                        pending.push((
                            i,
                            resource,
                            obj["metadata"]["namespace"].as_str().map(str::to_string),
                        ));
                    }
                }
                Err(e) => {
                    let msg = shared::error::one_line(&format!("{e:#}"));
                    if msg != shared::interrupt::STOPPED {
                        self.progress.failed(&item.key, &msg);
                    }
                    first_error.get_or_insert(msg);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.wait_ready(plan, pending).await?;
        if !crds.is_empty() {
            // New kinds: the next steps must see them.
            self.wait_discoverable(&crds).await?;
            self.resolver.invalidate();
        }
        Ok(())
    }

    /// Waits until discovery serves the kinds of CRDs applied in this step
    /// (it can lag a moment behind Established).
    async fn wait_discoverable(&self, crds: &[(String, Value)]) -> Result<(), String> {
        for (key, crd) in crds {
            while !shared::crd::discoverable(&self.client, crd).await {
                if shared::interrupt::requested() {
                    return Err(shared::interrupt::STOPPED.into());
                }
                if Instant::now() >= self.deadline {
                    return Err(format!(
                        "{key}: Established, but discovery does not serve it"
                    ));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    async fn wait_ready(
        &self,
        plan: &Plan,
        mut pending: Vec<(usize, kube::discovery::ApiResource, Option<String>)>,
    ) -> Result<(), String> {
        let started = Instant::now();
        let mut last: BTreeMap<usize, String> = BTreeMap::new();
        while !pending.is_empty() {
            if shared::interrupt::requested() {
                return Err(shared::interrupt::STOPPED.into());
            }
            // One LIST per resource and namespace, not a GET per object.
            let wanted: Vec<shared::live::Wanted<'_>> = pending
                .iter()
                .map(|(i, res, ns)| (res, ns.as_deref(), plan.items[*i].obj.name()))
                .collect();
            let fetched = shared::live::fetch(&self.client, &wanted).await;
            let keys: Vec<_> = wanted.iter().map(shared::live::key).collect();
            let mut still = Vec::new();
            for ((i, res, ns), key) in pending.into_iter().zip(keys) {
                let item = &plan.items[i];
                let live = match &fetched {
                    Ok(map) => match map.get(&key) {
                        Some(v) => v.clone(),
                        None => return Err(format!("{}: deleted while waiting for it", item.key)),
                    },
                    Err(e) => {
                        // The API server may come back: keep trying until the deadline.
                        if Instant::now() >= self.deadline {
                            return Err(format!("{}: cannot read it back: {e}", item.key));
                        }
                        self.progress
                            .waiting(&item.key, &format!("cannot read it back ({e}); retrying"));
                        still.push((i, res, ns));
                        continue;
                    }
                };
                match readiness::assess(&live) {
                    State::Ready => self.progress.ready(&item.key),
                    State::Failed(reason) => {
                        let msg = format!("{} failed: {reason}", item.key);
                        self.progress.failed(&item.key, &reason);
                        return Err(msg);
                    }
                    State::InProgress(reason) => {
                        if let Some(bad) = self.failing_pod(&live).await {
                            self.progress.failed(&item.key, &bad);
                            return Err(format!("{}: {bad}", item.key));
                        }
                        let own = item.timeout.map(|t| started + t);
                        let deadline = own.map_or(self.deadline, |o| o.min(self.deadline));
                        if Instant::now() >= deadline {
                            let why = format!(
                                "timed out waiting for readiness ({reason}) after {}s",
                                started.elapsed().as_secs()
                            );
                            self.progress.failed(&item.key, &why);
                            return Err(format!("{}: {why}", item.key));
                        }
                        if last.get(&i) != Some(&reason) {
                            self.progress.waiting(&item.key, &reason);
                            last.insert(i, reason);
                        }
                        still.push((i, res, ns));
                    }
                }
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        Ok(())
    }
}

impl Engine<'_> {
    /// With `--rollback-on`: a Pod of this workload in one of those states.
    async fn failing_pod(&self, workload: &Value) -> Option<String> {
        if self.fail_on.is_empty()
            || !matches!(
                workload["kind"].as_str(),
                Some("Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicaSet")
            )
        {
            return None;
        }
        let labels = workload["spec"]["selector"]["matchLabels"].as_object()?;
        let selector: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        let ns = workload["metadata"]["namespace"].as_str()?;
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        let list = pods
            .list(&kube::api::ListParams::default().labels(&selector.join(",")))
            .await
            .ok()?;
        for pod in list.items {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let status = pod.status.unwrap_or_default();
            if status.phase.as_deref() == Some("Failed")
                && self.fail_on.iter().any(|f| f == "Failed")
            {
                return Some(format!("pod {name} Failed (--rollback-on)"));
            }
            for cs in status.container_statuses.unwrap_or_default() {
                if let Some(reason) = cs.state.and_then(|s| s.waiting).and_then(|w| w.reason)
                    && self.fail_on.contains(&reason)
                {
                    return Some(format!(
                        "pod {name} container {}: {reason} (--rollback-on)",
                        cs.name
                    ));
                }
            }
        }
        None
    }
}

/// Creates/updates the ApplySet parent Secret with the group-kinds it contains.
pub async fn write_parent(
    client: &kube::Client,
    namespace: &str,
    release: &str,
    records: &[ObjectRecord],
) -> Result<()> {
    let mut gks: Vec<String> = records
        .iter()
        .map(|r| {
            let group = shared::identity::split_api_version(&r.api_version).0;
            if group.is_empty() {
                r.kind.clone()
            } else {
                format!("{}.{group}", r.kind)
            }
        })
        .collect();
    gks.sort();
    gks.dedup();
    let parent = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": parent_name(release), "namespace": namespace,
            "labels": {APPLYSET_ID_LABEL: applyset_id(release, namespace), "app.kubernetes.io/managed-by": "kubectl-pack", RELEASE_LABEL: release},
            "annotations": {
                "applyset.kubernetes.io/tooling": concat!("kubectl-pack/v", env!("CARGO_PKG_VERSION")),
                "applyset.kubernetes.io/contains-group-kinds": gks.join(","),
            },
        },
        "type": "Opaque",
    });
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), namespace);
    let mut pp = kube::api::PatchParams::apply(shared::FIELD_MANAGER);
    pp.force = true;
    api.patch(
        &parent_name(release),
        &pp,
        &kube::api::Patch::Apply(&parent),
    )
    .await
    .map_err(|e| anyhow!("cannot write the ApplySet parent of {release}: {e}"))?;
    Ok(())
}
