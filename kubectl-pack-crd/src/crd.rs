//! A CustomResourceDefinition as JSON, with the accessors the commands
//! need, loaded from a file, stdin or the cluster (`cluster:<name>`), and
//! the checks the API server itself makes (one storage version, structural
//! schemas) done before anything is sent.

use anyhow::{Context as _, Result, bail};
use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::Value;
use shared::kubeconfig::Kube;

/// The `apiextensions.k8s.io/v1` CRD resource.
pub fn crd_resource() -> ApiResource {
    ApiResource {
        group: "apiextensions.k8s.io".into(),
        version: "v1".into(),
        api_version: "apiextensions.k8s.io/v1".into(),
        kind: "CustomResourceDefinition".into(),
        plural: "customresourcedefinitions".into(),
    }
}

/// A CRD and where it came from.
#[derive(Debug, Clone)]
pub struct Crd {
    /// The object.
    pub obj: Value,
    /// File, stdin or cluster, for messages.
    pub origin: String,
}

impl Crd {
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.obj["metadata"]["name"].as_str().unwrap_or_default()
    }
    /// `spec.group`.
    pub fn group(&self) -> &str {
        self.obj["spec"]["group"].as_str().unwrap_or_default()
    }
    /// `spec.names.kind`.
    pub fn kind(&self) -> &str {
        self.obj["spec"]["names"]["kind"]
            .as_str()
            .unwrap_or_default()
    }
    /// `spec.names.plural`.
    pub fn plural(&self) -> &str {
        self.obj["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
    }
    /// `spec.versions`.
    pub fn versions(&self) -> Vec<&Value> {
        self.obj["spec"]["versions"]
            .as_array()
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }
    /// The version named `name`.
    pub fn version(&self, name: &str) -> Option<&Value> {
        self.versions().into_iter().find(|v| v["name"] == name)
    }
    /// Names of the versions.
    pub fn version_names(&self) -> Vec<String> {
        self.versions()
            .iter()
            .filter_map(|v| v["name"].as_str().map(str::to_string))
            .collect()
    }
    /// Names of every version marked `storage: true` (one in a valid CRD).
    pub fn storage_versions(&self) -> Vec<String> {
        self.versions()
            .iter()
            .filter(|v| v["storage"] == true)
            .filter_map(|v| v["name"].as_str().map(str::to_string))
            .collect()
    }

    /// The storage version's name.
    pub fn storage_version(&self) -> Option<String> {
        self.versions()
            .iter()
            .find(|v| v["storage"] == true)
            .and_then(|v| v["name"].as_str().map(str::to_string))
    }
    /// `status.storedVersions` (the storage version when absent).
    pub fn stored_versions(&self) -> Vec<String> {
        match self.obj["status"]["storedVersions"].as_array() {
            Some(v) => v
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            None => self.storage_version().into_iter().collect(),
        }
    }
    /// The schema of version `name`.
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.version(name)
            .map(|v| &v["schema"]["openAPIV3Schema"])
            .filter(|s| !s.is_null())
    }
    /// The API resource of its custom resources in version `version`.
    pub fn resource(&self, version: &str) -> ApiResource {
        ApiResource {
            group: self.group().to_string(),
            version: version.to_string(),
            api_version: format!("{}/{version}", self.group()),
            kind: self.kind().to_string(),
            plural: self.plural().to_string(),
        }
    }

    /// The CRD with the defaults the API server fills in (singular,
    /// listKind, conversion, preserveUnknownFields), so a file and the live
    /// object compare equal when they mean the same.
    pub fn with_server_defaults(&self) -> Crd {
        let mut c = self.clone();
        let kind = self.kind().to_string();
        let spec = &mut c.obj["spec"];
        if spec["names"]["singular"].as_str().is_none_or(str::is_empty) {
            spec["names"]["singular"] = Value::String(kind.to_lowercase());
        }
        if spec["names"]["listKind"].as_str().is_none_or(str::is_empty) {
            spec["names"]["listKind"] = Value::String(format!("{kind}List"));
        }
        if spec["conversion"].is_null() {
            spec["conversion"] = serde_json::json!({"strategy": "None"});
        }
        if spec["preserveUnknownFields"].is_null() {
            spec["preserveUnknownFields"] = Value::Bool(false);
        }
        c
    }

    /// What the API server would refuse, as one line, before we send it.
    pub fn check(&self) -> Result<()> {
        let at = format!("CRD {} ({})", self.name(), self.origin);
        if self.name().is_empty() || self.group().is_empty() || self.plural().is_empty() {
            bail!("{at}: metadata.name, spec.group and spec.names.plural are required");
        }
        let storage = self.storage_versions();
        if storage.len() != 1 {
            bail!(
                "{at}: exactly one version must have storage: true, found {} ({}); pick one storage version",
                storage.len(),
                storage.join(", ")
            );
        }
        for v in self.versions() {
            let name = v["name"].as_str().unwrap_or("?");
            if let Some(schema) = self.schema(name)
                && let Err(e) = structural(schema, "^")
            {
                bail!("{at}: version {name}: the schema is not structural: {e}");
            }
        }
        Ok(())
    }
}

/// A structural schema gives every node a type (or int-or-string /
/// preserve-unknown-fields), as the API server requires for v1 CRDs.
fn structural(node: &Value, path: &str) -> std::result::Result<(), String> {
    let Some(map) = node.as_object() else {
        return Err(format!("{path} is not a schema object"));
    };
    let typed = map.get("type").and_then(Value::as_str).is_some()
        || map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        || map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !typed {
        return Err(format!("{path} has no type"));
    }
    if let Some(t) = map.get("type").and_then(Value::as_str)
        && !["object", "array", "string", "integer", "number", "boolean"].contains(&t)
    {
        return Err(format!("{path} has unknown type '{t}'"));
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            structural(v, &format!("{path}.{k}"))?;
        }
    }
    if let Some(items) = map.get("items") {
        structural(items, &format!("{path}[*]"))?;
    }
    if let Some(ap) = map.get("additionalProperties")
        && ap.is_object()
    {
        structural(ap, &format!("{path}.*"))?;
    }
    Ok(())
}

/// Reads CRDs from `-`, a file, or `cluster:<name>`.
pub async fn load(source: &str, kube: Option<&Kube>) -> Result<Vec<Crd>> {
    if let Some(name) = source.strip_prefix("cluster:") {
        let Some(k) = kube else {
            bail!("{source}: needs a cluster connection");
        };
        return Ok(vec![live(k, name).await?.with_context(|| {
            format!("CRD {name} does not exist in the cluster (kubectl get crd shows which do)")
        })?]);
    }
    let objects = shared::stream::read_inputs(&[source], false)?;
    let origin = if source == "-" {
        "stdin".to_string()
    } else {
        source.to_string()
    };
    let mut out = Vec::new();
    for o in objects {
        if o.kind() != "CustomResourceDefinition" {
            bail!(
                "{}: {}/{} is not a CustomResourceDefinition",
                o.source,
                o.kind(),
                o.name()
            );
        }
        out.push(Crd {
            obj: o.object,
            origin: origin.clone(),
        });
    }
    if out.is_empty() {
        bail!("{origin}: no CustomResourceDefinition found");
    }
    Ok(out)
}

/// The live CRD `name`, if any.
pub async fn live(k: &Kube, name: &str) -> Result<Option<Crd>> {
    let api: Api<DynamicObject> = Api::all_with(k.client.clone(), &crd_resource());
    let got = api
        .get_opt(name)
        .await
        .map_err(|e| shared::Error::api(format!("read CRD {name}"), e))?;
    Ok(got.map(|o| Crd {
        obj: serde_json::to_value(o).unwrap_or_default(),
        origin: format!("cluster:{name}"),
    }))
}

/// Every stored object of `crd`, all namespaces, read as `version` (paged).
pub async fn list_all(k: &Kube, crd: &Crd, version: &str) -> Result<Vec<Value>> {
    let api: Api<DynamicObject> = Api::all_with(k.client.clone(), &crd.resource(version));
    let mut out = Vec::new();
    let mut params = kube::api::ListParams::default().limit(500);
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|e| shared::Error::api(format!("list {} objects", crd.name()), e))?;
        for o in page.items {
            let mut v = serde_json::to_value(o).unwrap_or_default();
            v["apiVersion"] = Value::String(format!("{}/{version}", crd.group()));
            v["kind"] = Value::String(crd.kind().to_string());
            out.push(v);
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => params = params.continue_token(&c),
            None => return Ok(out),
        }
    }
}

/// A served version of `live` to read objects through, preferring `want`.
pub fn read_version(live: &Crd, want: Option<&str>) -> Option<String> {
    let served = |n: &str| live.version(n).is_some_and(|v| v["served"] == true);
    if let Some(w) = want
        && served(w)
    {
        return Some(w.to_string());
    }
    if let Some(s) = live.storage_version()
        && served(&s)
    {
        return Some(s);
    }
    live.version_names().into_iter().find(|n| served(n))
}

/// `Namespace/name` or `name` of an object.
pub fn object_name(o: &Value) -> String {
    match o["metadata"]["namespace"].as_str() {
        Some(ns) => format!(
            "{ns}/{}",
            o["metadata"]["name"].as_str().unwrap_or_default()
        ),
        None => o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Waits until CRD `name` is ready to use ([`shared::crd`]: Established,
/// names accepted and current, served by discovery).
pub async fn wait_established(k: &Kube, name: &str, timeout: std::time::Duration) -> Result<()> {
    use shared::crd::CrdState;
    let start = std::time::Instant::now();
    loop {
        let why = match live(k, name).await? {
            Some(c) => match shared::crd::state(&c.obj) {
                CrdState::Established if shared::crd::discoverable(&k.client, &c.obj).await => {
                    return Ok(());
                }
                CrdState::Established => "discovery does not serve it yet".to_string(),
                CrdState::Failed(why) => bail!("CRD {name} will not become ready: {why}"),
                CrdState::Pending(why) => why,
            },
            None => "it does not exist".to_string(),
        };
        if start.elapsed() > timeout {
            bail!("CRD {name} not ready after {}s: {why}", timeout.as_secs());
        }
        if shared::interrupt::requested() {
            bail!("CRD {name}: {}", shared::interrupt::STOPPED);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Server-side applies a CRD (status left out) as our field manager.
pub async fn apply(k: &Kube, crd: &Crd, force: bool) -> Result<()> {
    let api: Api<DynamicObject> = Api::all_with(k.client.clone(), &crd_resource());
    let mut obj = shared::diff::without_server_metadata(crd.obj.clone());
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
    let mut params = kube::api::PatchParams::apply(shared::FIELD_MANAGER);
    params.force = force;
    api.patch(crd.name(), &params, &kube::api::Patch::Apply(&obj))
        .await
        .map_err(|e| shared::Error::api(format!("apply CRD {}", crd.name()), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(versions: Value) -> Crd {
        Crd {
            obj: json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com"},
                "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"}, "versions": versions}}),
            origin: "test".into(),
        }
    }

    #[test]
    fn two_storage_versions_and_untyped_nodes_are_refused() {
        let schema = json!({"openAPIV3Schema": {"type": "object"}});
        let two = crd(
            json!([{"name": "v1", "served": true, "storage": true, "schema": schema},
                              {"name": "v2", "served": true, "storage": true, "schema": schema}]),
        );
        assert!(
            two.check()
                .unwrap_err()
                .to_string()
                .contains("exactly one version")
        );
        let untyped = crd(json!([{"name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"properties": {}}}}}}]));
        let e = untyped.check().unwrap_err().to_string();
        assert!(e.contains("not structural: ^.spec has no type"), "{e}");
    }
}
