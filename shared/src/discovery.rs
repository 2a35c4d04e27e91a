//! Resolving kinds to resources through classic discovery.
//!
//! Only the group-versions a stream actually uses are fetched (one request
//! each: `/api/v1` or `/apis/<group>/<version>`), which works on every server
//! version — aggregated discovery does not exist before 1.26 — and costs a
//! handful of requests instead of a walk of every group. Results are cached
//! for the run; a kind that is missing triggers exactly one refresh of its
//! group-version, so a CRD created a moment ago is found.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::core::discovery::{ApiResource, Scope};

use crate::error::{Error, Result};
use crate::identity::split_api_version;
use crate::stream::SourcedObject;

/// A resolved kind: how to address it and whether it is namespaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKind {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
    /// Whether the kind has a `status` subresource.
    pub has_status: bool,
}

impl ResolvedKind {
    /// True for namespaced kinds.
    pub fn namespaced(&self) -> bool {
        matches!(self.scope, Scope::Namespaced)
    }
}

type GroupVersionKinds = HashMap<String, ResolvedKind>;

/// The top-level resources of one group-version's resource list, with
/// whether each can be listed.
fn resources_of(
    api_version: &str,
    list: &k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList,
) -> Vec<(ResolvedKind, bool)> {
    let (group, version) = split_api_version(api_version);
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| {
            let has_status = list
                .resources
                .iter()
                .any(|s| s.name == format!("{}/status", r.name));
            (
                ResolvedKind {
                    resource: ApiResource {
                        group: group.to_string(),
                        version: version.to_string(),
                        api_version: api_version.to_string(),
                        kind: r.kind.clone(),
                        plural: r.name.clone(),
                    },
                    scope: if r.namespaced {
                        Scope::Namespaced
                    } else {
                        Scope::Cluster
                    },
                    has_status,
                },
                r.verbs.iter().any(|v| v == "list"),
            )
        })
        .collect()
}

/// Every resource the server serves that can be listed (preferred version
/// of each group; subresources left out), fetched with one request per
/// group-version, all at once.
pub async fn listable_resources(client: &Client) -> Result<Vec<ResolvedKind>> {
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
    let fetched = futures::future::join_all(versions.iter().map(|gv| async move {
        let (group, version) = split_api_version(gv);
        let list = if group.is_empty() {
            client.list_core_api_resources(version).await
        } else {
            client.list_api_group_resources(gv).await
        };
        (gv, list)
    }))
    .await;
    let mut out = Vec::new();
    for (gv, list) in fetched {
        let list = match list {
            Ok(l) => l,
            // An aggregated API that is down: nothing to list there.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 503 => continue,
            Err(e) => return Err(Error::api(format!("discover {gv}"), e)),
        };
        out.extend(
            resources_of(gv, &list)
                .into_iter()
                .filter(|(_, listable)| *listable)
                .map(|(kind, _)| kind),
        );
    }
    Ok(out)
}

/// Kind resolver with a per-run cache keyed by apiVersion.
pub struct Resolver {
    client: Client,
    cache: Mutex<HashMap<String, (GroupVersionKinds, bool)>>,
}

impl Resolver {
    /// A resolver with an empty cache.
    pub fn new(client: Client) -> Self {
        Resolver {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves `apiVersion` + `kind`; `Ok(None)` when the server does not
    /// serve it even after one refresh of that group-version.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<Option<ResolvedKind>> {
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(api_version)
                .map(|(kinds, refreshed)| (kinds.get(kind).cloned(), *refreshed))
        };
        match cached {
            Some((Some(found), _)) => return Ok(Some(found)),
            Some((None, true)) => return Ok(None),
            _ => {}
        }
        let refreshed = cached.is_some();
        let kinds = self.fetch(api_version).await?;
        let found = kinds.get(kind).cloned();
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(api_version.to_string(), (kinds, refreshed));
        Ok(found)
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

    /// Forgets everything cached, e.g. after CRDs were applied.
    pub fn invalidate(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    async fn fetch(&self, api_version: &str) -> Result<GroupVersionKinds> {
        let (group, version) = split_api_version(api_version);
        let list = if group.is_empty() {
            self.client.list_core_api_resources(version).await
        } else {
            self.client.list_api_group_resources(api_version).await
        };
        let list = match list {
            Ok(list) => list,
            // An unknown group or version: nothing is served there.
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(HashMap::new()),
            Err(e) => return Err(Error::api(format!("discover {api_version}"), e)),
        };
        let kinds = resources_of(api_version, &list)
            .into_iter()
            .map(|(kind, _)| (kind.resource.kind.clone(), kind))
            .collect();
        Ok(kinds)
    }
}
