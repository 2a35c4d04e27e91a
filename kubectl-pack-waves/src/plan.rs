//! The wave plan: wave numbers from annotations (ours, Argo CD's, werf's),
//! Namespaces and CRDs moved before what needs them, `depends-on`
//! dependencies (ours, `wait-for`, kpt's), and inside a wave "steps" so a
//! dependency is applied and ready before its dependents. Every error is
//! found here, before anything is applied.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use shared::stream::SourcedObject;

use crate::readiness;

/// Argo CD's default kind order (unknown kinds last).
const KIND_ORDER: [&str; 27] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "Ingress",
    "APIService",
];

/// The rank of a kind in the default order.
pub fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// One object of the plan.
#[derive(Debug, Clone)]
pub struct Item {
    /// The object as read.
    pub obj: SourcedObject,
    /// Effective wave.
    pub wave: i64,
    /// Step inside the wave (dependencies first).
    pub step: usize,
    /// `Kind/name` (with namespace when given).
    pub key: String,
    /// Indexes of the items it depends on.
    pub deps: Vec<usize>,
    /// Wait for readiness (`sherpack.io/wait-ready: "false"` turns it off).
    pub wait: bool,
    /// Own timeout (`sherpack.io/timeout`).
    pub timeout: Option<Duration>,
    /// `resource-policy: keep`.
    pub keep: bool,
}

/// A planning error: names the objects involved.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Annotation values outside what is accepted (one line per value).
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// A dependency that is not in the stream.
    #[error(
        "{key} at {source_ref}: depends on {dep}, which is not in the stream; add it to the stream or remove the dependency"
    )]
    MissingDependency {
        /// Object.
        key: String,
        /// Where.
        source_ref: String,
        /// Missing dependency.
        dep: String,
    },
    /// A dependency cycle.
    #[error("dependency cycle: {0}")]
    Cycle(String),
    /// The same object twice.
    #[error("{key} appears twice, at {first} and at {second}; remove one")]
    Duplicate {
        /// Object.
        key: String,
        /// First place.
        first: String,
        /// Second place.
        second: String,
    },
}

/// A whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Items, in apply order (wave, step, kind order, stream order).
    pub items: Vec<Item>,
    /// Warnings (not errors).
    pub warnings: Vec<String>,
}

/// Builds the plan for a stream.
pub fn build(objects: Vec<SourcedObject>) -> Result<Plan, PlanError> {
    let mut items: Vec<Item> = Vec::with_capacity(objects.len());
    let mut seen: HashMap<(String, String, Option<String>, String), String> = HashMap::new();
    let mut invalid = Vec::new();
    let mut depends: Vec<Vec<String>> = Vec::new();
    for obj in objects {
        let key = obj.key();
        let ident = (
            shared::identity::split_api_version(obj.api_version())
                .0
                .to_string(),
            obj.kind().to_string(),
            obj.namespace().map(str::to_string),
            obj.name().to_string(),
        );
        if let Some(first) = seen.insert(ident, obj.source.to_string()) {
            return Err(PlanError::Duplicate {
                key,
                first,
                second: obj.source.to_string(),
            });
        }
        let marks = match crate::marks::read(&obj.object) {
            Ok(m) => m,
            Err(errors) => {
                invalid.extend(
                    errors
                        .into_iter()
                        .map(|e| format!("{key} at {}: {e}", obj.source)),
                );
                continue;
            }
        };
        let (wave, wait, timeout, keep) = (marks.wave, marks.wait_ready, marks.timeout, marks.keep);
        depends.push(marks.depends_on);
        items.push(Item {
            obj,
            wave,
            step: 0,
            key,
            deps: Vec::new(),
            wait,
            timeout,
            keep,
        });
    }
    if !invalid.is_empty() {
        return Err(PlanError::Invalid(invalid));
    }
    // Explicit dependencies.
    for (i, list) in depends.iter().enumerate() {
        let mut deps = Vec::new();
        for d in list {
            let j = find(&items, i, d).ok_or_else(|| PlanError::MissingDependency {
                key: items[i].key.clone(),
                source_ref: items[i].obj.source.to_string(),
                dep: d.to_string(),
            })?;
            deps.push(j);
        }
        items[i].deps = deps;
    }
    // Implicit: Namespace before objects in it, CRD before its custom resources.
    let ns_index: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.obj.kind() == "Namespace")
        .map(|(i, it)| (it.obj.name().to_string(), i))
        .collect();
    let crd_index: HashMap<(String, String), usize> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.obj.kind() == "CustomResourceDefinition")
        .map(|(i, it)| {
            let spec = &it.obj.object["spec"];
            (
                (
                    spec["group"].as_str().unwrap_or_default().to_string(),
                    spec["names"]["kind"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
                i,
            )
        })
        .collect();
    for (i, item) in items.iter_mut().enumerate() {
        if let Some(ns) = item.obj.namespace()
            && let Some(&j) = ns_index.get(ns)
            && j != i
        {
            item.deps.push(j);
        }
        let group = shared::identity::split_api_version(item.obj.api_version())
            .0
            .to_string();
        if let Some(&j) = crd_index.get(&(group, item.obj.kind().to_string()))
            && j != i
        {
            item.deps.push(j);
        }
        item.deps.sort_unstable();
        item.deps.dedup();
    }
    // Namespaces and CRDs move down to the earliest wave that needs them.
    let order = topo_order(&items)?;
    for &i in order.iter().rev() {
        for d in items[i].deps.clone() {
            let implicit = matches!(
                items[d].obj.kind(),
                "Namespace" | "CustomResourceDefinition"
            );
            if implicit && items[d].wave > items[i].wave {
                items[d].wave = items[i].wave;
            }
        }
    }
    // Dependents move up to the wave of their dependencies; steps within a wave.
    for &i in &order {
        let mut wave = items[i].wave;
        for &d in &items[i].deps {
            wave = wave.max(items[d].wave);
        }
        items[i].wave = wave;
        let step = items[i]
            .deps
            .iter()
            .filter(|&&d| items[d].wave == wave)
            .map(|&d| items[d].step + 1)
            .max()
            .unwrap_or(0);
        items[i].step = step;
    }
    let warnings = warnings(&items);
    // Stable apply order: wave, step, kind order, stream order.
    let mut indexed: Vec<(usize, Item)> = items.into_iter().enumerate().collect();
    indexed.sort_by_key(|(i, it)| (it.wave, it.step, kind_rank(it.obj.kind()), *i));
    let remap: HashMap<usize, usize> = indexed
        .iter()
        .enumerate()
        .map(|(new, (old, _))| (*old, new))
        .collect();
    let items = indexed
        .into_iter()
        .map(|(_, mut it)| {
            it.deps = it.deps.iter().map(|d| remap[d]).collect();
            it
        })
        .collect();
    Ok(Plan { items, warnings })
}

/// Finds a dependency named `name`, `Kind/name`, or kpt's `group/namespaces/ns/Kind/name`.
fn find(items: &[Item], from: usize, dep: &str) -> Option<usize> {
    let parts: Vec<&str> = dep.split('/').collect();
    let (kind, name, ns) = match parts.as_slice() {
        [name] => (None, *name, None),
        [kind, name] => (Some(*kind), *name, None),
        [_group, kind, name] => (Some(*kind), *name, None),
        [_group, "namespaces", ns, kind, name] => (Some(*kind), *name, Some(*ns)),
        _ => return None,
    };
    let from_ns = items[from].obj.namespace();
    items.iter().enumerate().position(|(i, it)| {
        i != from
            && it.obj.name() == name
            && kind.is_none_or(|k| it.obj.kind() == k)
            && ns.is_none_or(|n| it.obj.namespace() == Some(n))
            && (ns.is_some()
                || it.obj.namespace().is_none()
                || it.obj.namespace() == from_ns
                || from_ns.is_none())
    })
}

/// Dependencies first; a cycle is an error naming its objects.
fn topo_order(items: &[Item]) -> Result<Vec<usize>, PlanError> {
    let n = items.len();
    let mut indegree = vec![0usize; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, it) in items.iter().enumerate() {
        for &d in &it.deps {
            indegree[i] += 1;
            dependents[d].push(i);
        }
    }
    let mut queue: std::collections::VecDeque<usize> =
        (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &j in &dependents[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                queue.push_back(j);
            }
        }
    }
    if order.len() < n {
        let mut stuck: Vec<&str> = (0..n)
            .filter(|&i| indegree[i] > 0)
            .map(|i| items[i].key.as_str())
            .collect();
        stuck.sort_unstable();
        return Err(PlanError::Cycle(format!(
            "{} depend on each other",
            stuck.join(", ")
        )));
    }
    Ok(order)
}

fn warnings(items: &[Item]) -> Vec<String> {
    let mut out = Vec::new();
    // A PVC gating an earlier wave than the Pods that mount it never binds with WaitForFirstConsumer.
    for pvc in items
        .iter()
        .filter(|i| i.obj.kind() == "PersistentVolumeClaim" && i.wait)
    {
        for w in items.iter().filter(|i| i.wave > pvc.wave) {
            let spec = &w.obj.object["spec"]["template"]["spec"];
            let spec = if spec.is_null() {
                &w.obj.object["spec"]
            } else {
                spec
            };
            let mounts = spec["volumes"].as_array().is_some_and(|v| {
                v.iter()
                    .any(|vol| vol["persistentVolumeClaim"]["claimName"] == pvc.obj.name())
            });
            if mounts {
                out.push(format!(
                    "{} is in wave {} but {} that uses it is in wave {}: with a WaitForFirstConsumer storage class it never binds; put them in the same wave or set sherpack.io/wait-ready: \"false\" on the PVC",
                    pvc.key, pvc.wave, w.key, w.wave
                ));
            }
        }
    }
    out
}

/// A JSON/YAML view of the plan.
#[derive(Serialize)]
pub struct PlanView {
    waves: Vec<WaveView>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct WaveView {
    wave: i64,
    objects: Vec<ObjectView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectView {
    object: String,
    step: usize,
    depends_on: Vec<String>,
    readiness: String,
    source: String,
}

impl Plan {
    /// Items grouped by wave, in order.
    pub fn waves(&self) -> BTreeMap<i64, Vec<usize>> {
        let mut m: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, it) in self.items.iter().enumerate() {
            m.entry(it.wave).or_default().push(i);
        }
        m
    }

    /// The serializable view.
    pub fn view(&self) -> PlanView {
        PlanView {
            waves: self
                .waves()
                .into_iter()
                .map(|(wave, idx)| WaveView {
                    wave,
                    objects: idx
                        .iter()
                        .map(|&i| {
                            let it = &self.items[i];
                            ObjectView {
                                object: it.key.clone(),
                                step: it.step,
                                depends_on: it
                                    .deps
                                    .iter()
                                    .map(|&d| self.items[d].key.clone())
                                    .collect(),
                                readiness: if it.wait {
                                    readiness::rule(&it.obj.object).to_string()
                                } else {
                                    "not waited (wait-ready: false)".into()
                                },
                                source: it.obj.source.to_string(),
                            }
                        })
                        .collect(),
                })
                .collect(),
            warnings: self.warnings.clone(),
        }
    }
}
