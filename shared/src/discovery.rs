//! Resolving kinds to resources through API discovery.
//!
//! Current servers (aggregated discovery: beta in 1.26, GA in 1.30) answer
//! `GET /api` and `GET /apis` with every group, version and resource at once
//! when asked with the `apidiscovery.k8s.io/v2` Accept header: two requests
//! describe the whole server. A server without it answers the same request
//! with the classic `APIVersions` / `APIGroupList`, and then the classic walk
//! is used: one request per group-version (`/api/v1`,
//! `/apis/<group>/<version>`), and for [`Resolver::resolve`] only the
//! group-versions a stream actually uses. Which kind of server it is, is
//! learnt from the first answer and remembered for the run.
//!
//! Results are cached for the run; a kind that is missing triggers exactly
//! one refresh of its group-version (for aggregated discovery, of its root),
//! so a CRD created a moment ago is found. Fetches are single-flight: 32
//! parallel applies that all miss at once cause one request, not 32.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::core::discovery::{ApiResource, Scope};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::identity::split_api_version;
use crate::stream::SourcedObject;

/// Set to `classic` to skip aggregated discovery (to measure or test the
/// fallback that servers before 1.26 get).
pub const DISCOVERY_ENV: &str = "KUBECTL_PACK_DISCOVERY";

/// The mode forced by [`DISCOVERY_ENV`], if any.
fn forced_mode() -> Option<Mode> {
    match std::env::var(DISCOVERY_ENV).as_deref() {
        Ok("classic") => Some(Mode::Classic),
        _ => None,
    }
}

/// The Accept header of aggregated discovery: v2, then v2beta1 (1.26-1.29),
/// then plain JSON, which a server without it answers with the classic list.
pub const ACCEPT_AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// A resolved kind: how to address it and whether it is namespaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKind {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
    /// Whether the kind has a `status` subresource.
    pub has_status: bool,
    /// The singular resource name (`deployment`; empty when not given).
    pub singular: String,
    /// Short names (`deploy`), for selectors typed as kubectl users type them.
    pub short_names: Vec<String>,
}

impl ResolvedKind {
    /// True for namespaced kinds.
    pub fn namespaced(&self) -> bool {
        matches!(self.scope, Scope::Namespaced)
    }
}

/// One resource of a discovery answer, with whether it can be listed.
#[derive(Debug, Clone)]
struct Discovered {
    kind: ResolvedKind,
    listable: bool,
}

/// One group-version of an aggregated answer.
#[derive(Debug, Clone)]
struct GroupVersion {
    api_version: String,
    /// First version of its group: the server's preferred one.
    preferred: bool,
    /// An aggregated API server that did not answer (`freshness: Stale`).
    stale: bool,
    resources: Vec<Discovered>,
}

/// Which discovery the server speaks, learnt from its first answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `/api` and `/apis` answer with `APIGroupDiscoveryList`.
    Aggregated,
    /// One request per group-version.
    Classic,
}

fn api_resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = split_api_version(api_version);
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

/// The top-level resources of one classic group-version resource list.
fn classic_resources(
    api_version: &str,
    list: &k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList,
) -> Vec<Discovered> {
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| {
            let has_status = list
                .resources
                .iter()
                .any(|s| s.name == format!("{}/status", r.name));
            Discovered {
                kind: ResolvedKind {
                    resource: api_resource(api_version, &r.kind, &r.name),
                    scope: if r.namespaced {
                        Scope::Namespaced
                    } else {
                        Scope::Cluster
                    },
                    has_status,
                    singular: r.singular_name.clone(),
                    short_names: r.short_names.clone().unwrap_or_default(),
                },
                listable: r.verbs.iter().any(|v| v == "list"),
            }
        })
        .collect()
}

/// Every group-version of an aggregated answer (`APIGroupDiscoveryList`),
/// or `None` when the answer is a classic list (an older server).
fn aggregated_versions(answer: &Value) -> Option<Vec<GroupVersion>> {
    if answer["kind"] != "APIGroupDiscoveryList" {
        return None;
    }
    let mut out = Vec::new();
    for group in answer["items"].as_array().into_iter().flatten() {
        let name = group["metadata"]["name"].as_str().unwrap_or_default();
        let versions = group["versions"].as_array().into_iter().flatten();
        for (i, v) in versions.enumerate() {
            let Some(version) = v["version"].as_str() else {
                continue;
            };
            let api_version = if name.is_empty() {
                version.to_string()
            } else {
                format!("{name}/{version}")
            };
            let resources = v["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| aggregated_resource(&api_version, r))
                .collect();
            out.push(GroupVersion {
                preferred: i == 0,
                stale: v["freshness"] == "Stale",
                api_version,
                resources,
            });
        }
    }
    Some(out)
}

fn aggregated_resource(api_version: &str, r: &Value) -> Option<Discovered> {
    let plural = r["resource"].as_str()?;
    let kind = r["responseKind"]["kind"].as_str()?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let has_status = r["subresources"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["subresource"] == "status");
    Some(Discovered {
        kind: ResolvedKind {
            resource: api_resource(api_version, kind, plural),
            scope: if r["scope"] == "Cluster" {
                Scope::Cluster
            } else {
                Scope::Namespaced
            },
            has_status,
            singular: r["singularResource"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            short_names: strings(&r["shortNames"]),
        },
        listable: strings(&r["verbs"]).iter().any(|v| v == "list"),
    })
}

/// `GET root` (`/api` or `/apis`) asking for aggregated discovery: the
/// group-versions, or `None` when the server answered the classic way.
async fn fetch_aggregated(client: &Client, root: &str) -> Result<Option<Vec<GroupVersion>>> {
    let req = http::Request::get(root)
        .header(http::header::ACCEPT, ACCEPT_AGGREGATED)
        .body(Vec::new())
        .map_err(|e| Error::Api {
            context: format!("discover {root}"),
            message: e.to_string(),
            code: None,
        })?;
    let text = client
        .request_text(req)
        .await
        .map_err(|e| Error::api(format!("discover {root}"), e))?;
    let answer: Value = serde_json::from_str(&text).map_err(|e| Error::Api {
        context: format!("discover {root}"),
        message: format!("the answer is not JSON ({e}); is the server a Kubernetes API server?"),
        code: None,
    })?;
    Ok(aggregated_versions(&answer))
}

/// Classic discovery of one group-version: its resources, or an empty list
/// when the server does not serve it (404; 503 for an aggregated API that
/// is down).
async fn fetch_classic(client: &Client, api_version: &str) -> Result<Vec<Discovered>> {
    let (group, version) = split_api_version(api_version);
    let list = if group.is_empty() {
        client.list_core_api_resources(version).await
    } else {
        client.list_api_group_resources(api_version).await
    };
    match list {
        Ok(list) => Ok(classic_resources(api_version, &list)),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 503 => Ok(Vec::new()),
        Err(e) => Err(Error::api(format!("discover {api_version}"), e)),
    }
}

/// Every resource the server serves that can be listed (the preferred
/// version of each group; subresources and unavailable aggregated APIs left
/// out): two requests with aggregated discovery, else the classic walk with
/// one request per group-version, all at once.
pub async fn listable_resources(client: &Client) -> Result<Vec<ResolvedKind>> {
    listable_resources_in(client, forced_mode()).await
}

/// [`listable_resources`] in a given mode (`None`: as the server offers).
pub async fn listable_resources_in(
    client: &Client,
    mode: Option<Mode>,
) -> Result<Vec<ResolvedKind>> {
    let versions = if mode == Some(Mode::Classic) {
        classic_listing(client).await?
    } else {
        let (core, groups) = futures::join!(
            fetch_aggregated(client, "/api"),
            fetch_aggregated(client, "/apis")
        );
        match (core?, groups?) {
            (Some(core), Some(groups)) => core.into_iter().chain(groups).collect(),
            _ => classic_listing(client).await?,
        }
    };
    Ok(versions
        .into_iter()
        .filter(|gv| gv.preferred && !gv.stale)
        .flat_map(|gv| gv.resources)
        .filter(|d| d.listable)
        .map(|d| d.kind)
        .collect())
}

/// The classic walk: `/apis` for the groups, then every preferred
/// group-version's resource list.
async fn classic_listing(client: &Client) -> Result<Vec<GroupVersion>> {
    let groups = client
        .list_api_groups()
        .await
        .map_err(|e| Error::api("discover API groups", e))?;
    let mut versions = vec!["v1".to_string()];
    for g in groups.groups {
        if let Some(v) = g.preferred_version.or_else(|| g.versions.first().cloned()) {
            versions.push(v.group_version);
        }
    }
    let fetched = futures::future::join_all(versions.iter().map(|gv| fetch_classic(client, gv)));
    let mut out = Vec::new();
    for (gv, resources) in versions.iter().zip(fetched.await) {
        out.push(GroupVersion {
            api_version: gv.clone(),
            preferred: true,
            stale: false,
            resources: resources?,
        });
    }
    Ok(out)
}

type GroupVersionKinds = HashMap<String, ResolvedKind>;

/// What the resolver knows: the server's discovery mode once learnt, and
/// per apiVersion its kinds and whether they were already refreshed once.
#[derive(Default)]
struct State {
    mode: Option<Mode>,
    cache: HashMap<String, (GroupVersionKinds, bool)>,
}

/// Kind resolver with a per-run cache keyed by apiVersion.
pub struct Resolver {
    client: Client,
    state: Mutex<State>,
    /// Held while fetching, so concurrent misses cause one request.
    fetching: tokio::sync::Mutex<()>,
}

enum Cached {
    Found(ResolvedKind),
    Absent { refreshed: bool },
    Unknown,
}

impl Resolver {
    /// A resolver with an empty cache.
    pub fn new(client: Client) -> Self {
        Self::with_mode(client, forced_mode())
    }

    /// A resolver that uses `mode` (`None`: whatever the server offers).
    pub fn with_mode(client: Client, mode: Option<Mode>) -> Self {
        Resolver {
            client,
            state: Mutex::new(State {
                mode,
                cache: HashMap::new(),
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The discovery mode learnt so far (`None` before the first fetch).
    pub fn mode(&self) -> Option<Mode> {
        self.lock().mode
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached(&self, api_version: &str, kind: &str) -> Cached {
        match self.lock().cache.get(api_version) {
            Some((kinds, refreshed)) => match kinds.get(kind) {
                Some(k) => Cached::Found(k.clone()),
                None => Cached::Absent {
                    refreshed: *refreshed,
                },
            },
            None => Cached::Unknown,
        }
    }

    /// Resolves `apiVersion` + `kind`; `Ok(None)` when the server does not
    /// serve it even after one refresh of that group-version.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<Option<ResolvedKind>> {
        let before = match self.cached(api_version, kind) {
            Cached::Found(k) => return Ok(Some(k)),
            Cached::Absent { refreshed: true } => return Ok(None),
            other => other,
        };
        let _single = self.fetching.lock().await;
        // Another task may have fetched while this one waited.
        match (self.cached(api_version, kind), before) {
            (Cached::Found(k), _) => return Ok(Some(k)),
            (Cached::Absent { refreshed: true }, _) => return Ok(None),
            (Cached::Absent { refreshed: false }, Cached::Unknown) => return Ok(None),
            _ => {}
        }
        let refreshed = self.lock().cache.contains_key(api_version);
        self.fetch(api_version).await?;
        let mut state = self.lock();
        let entry = state
            .cache
            .entry(api_version.to_string())
            .or_insert_with(|| (HashMap::new(), false));
        entry.1 = refreshed;
        Ok(entry.0.get(kind).cloned())
    }

    /// Resolves the kind of a read object, or fails with an error naming the
    /// object and its source.
    pub async fn resolve_object(&self, obj: &SourcedObject) -> Result<ResolvedKind> {
        self.resolve(obj.api_version(), obj.kind())
            .await?
            .ok_or_else(|| Error::UnknownKind {
                object: format!("{}/{}", obj.kind(), obj.name()),
                source_ref: obj.source.clone(),
                api_version: obj.api_version().to_string(),
                kind: obj.kind().to_string(),
            })
    }

    /// Forgets everything cached (but not the server's mode), e.g. after
    /// CRDs were applied.
    pub fn invalidate(&self) {
        self.lock().cache.clear();
    }

    /// Fetches what the server says about `api_version` into the cache:
    /// its whole root with aggregated discovery, else that group-version.
    async fn fetch(&self, api_version: &str) -> Result<()> {
        let root = if split_api_version(api_version).0.is_empty() {
            "/api"
        } else {
            "/apis"
        };
        if self.mode() != Some(Mode::Classic) {
            if let Some(versions) = fetch_aggregated(&self.client, root).await? {
                let mut state = self.lock();
                state.mode = Some(Mode::Aggregated);
                for gv in versions {
                    let kinds = gv
                        .resources
                        .into_iter()
                        .map(|d| (d.kind.resource.kind.clone(), d.kind))
                        .collect();
                    let refreshed = state.cache.get(&gv.api_version).is_some_and(|e| e.1);
                    state.cache.insert(gv.api_version, (kinds, refreshed));
                }
                state.cache.entry(api_version.to_string()).or_default();
                return Ok(());
            }
            self.lock().mode = Some(Mode::Classic);
        }
        let kinds = fetch_classic(&self.client, api_version)
            .await?
            .into_iter()
            .map(|d| (d.kind.resource.kind.clone(), d.kind))
            .collect();
        self.lock()
            .cache
            .insert(api_version.to_string(), (kinds, false));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer() -> Value {
        json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "items": [
            {"metadata": {"name": "apps"}, "versions": [
                {"version": "v1", "resources": [
                    {"resource": "deployments", "responseKind": {"group": "", "version": "", "kind": "Deployment"},
                     "scope": "Namespaced", "verbs": ["create", "get", "list", "watch"],
                     "subresources": [{"subresource": "status", "verbs": ["get", "patch"]},
                                      {"subresource": "scale", "verbs": ["get"]}]},
                    {"resource": "controllerrevisions", "responseKind": {"kind": "ControllerRevision"},
                     "scope": "Namespaced", "verbs": ["get"]}]}]},
            {"metadata": {"name": "example.com"}, "versions": [
                {"version": "v2", "resources": [
                    {"resource": "widgets", "responseKind": {"kind": "Widget"}, "scope": "Cluster", "verbs": ["list"]}]},
                {"version": "v1", "resources": []}]},
            {"metadata": {"name": "metrics.k8s.io"}, "versions": [
                {"version": "v1beta1", "freshness": "Stale", "resources": [
                    {"resource": "pods", "responseKind": {"kind": "PodMetrics"}, "scope": "Namespaced", "verbs": ["list"]}]}]}
        ]})
    }

    #[test]
    fn aggregated_answer_gives_every_group_version_with_scope_status_and_verbs() {
        let gvs = aggregated_versions(&answer()).expect("aggregated");
        let names: Vec<_> = gvs
            .iter()
            .map(|g| (g.api_version.as_str(), g.preferred, g.stale))
            .collect();
        assert_eq!(
            names,
            [
                ("apps/v1", true, false),
                ("example.com/v2", true, false),
                ("example.com/v1", false, false),
                ("metrics.k8s.io/v1beta1", true, true)
            ]
        );
        let deploy = &gvs[0].resources[0];
        assert_eq!(deploy.kind.resource.plural, "deployments");
        assert_eq!(deploy.kind.resource.kind, "Deployment");
        assert_eq!(deploy.kind.resource.group, "apps");
        assert!(deploy.kind.namespaced() && deploy.kind.has_status && deploy.listable);
        assert!(!gvs[0].resources[1].listable && !gvs[0].resources[1].kind.has_status);
        assert!(!gvs[1].resources[0].kind.namespaced());
    }

    #[test]
    fn classic_answer_is_not_taken_for_an_empty_aggregated_one() {
        let classic = json!({"kind": "APIGroupList", "groups": [{"name": "apps"}]});
        assert!(aggregated_versions(&classic).is_none());
        let core = json!({"kind": "APIVersions", "versions": ["v1"]});
        assert!(aggregated_versions(&core).is_none());
    }

    #[test]
    fn core_group_has_no_group_prefix() {
        let core = json!({"kind": "APIGroupDiscoveryList", "items": [{"metadata": {}, "versions": [
            {"version": "v1", "resources": [{"resource": "configmaps", "responseKind": {"kind": "ConfigMap"},
              "scope": "Namespaced", "verbs": ["list"]}]}]}]});
        let gvs = aggregated_versions(&core).expect("aggregated");
        assert_eq!(gvs[0].api_version, "v1");
        assert_eq!(gvs[0].resources[0].kind.resource.api_version, "v1");
        assert_eq!(gvs[0].resources[0].kind.resource.group, "");
    }
}
