//! Release storage: one Secret (or ConfigMap, or file) per revision, named
//! `sh.sherpack.release.v1.<name>.v<rev>`, data `release` =
//! base64(zstd(JSON)). Past 1,000,000 encoded bytes the record is split
//! into chunk objects of at most 700,000 bytes: chunks first, the index
//! (count, size, sha256) last; the index is deleted first. A revision
//! without its index is invisible and is cleaned up by the next apply.

use std::path::PathBuf;

use base64::Engine;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Release, Status};

/// Encoded size above which a record is chunked.
pub const CHUNK_THRESHOLD: usize = 1_000_000;
/// Largest chunk.
pub const CHUNK_SIZE: usize = 700_000;

/// Labels every record carries.
pub const NAME_LABEL: &str = "sherpack.io/release-name";
/// Revision label.
pub const VERSION_LABEL: &str = "sherpack.io/release-version";
/// Status label (index objects only).
pub const STATUS_LABEL: &str = "sherpack.io/release-status";
/// `index` or `chunk`.
pub const RECORD_LABEL: &str = "sherpack.io/record";

/// Errors of the release store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The API server refused or failed.
    #[error("release store ({what}): {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client error.
        source: kube::Error,
    },
    /// A stored record cannot be read.
    #[error("release {name} revision {revision}: stored record is corrupt: {reason}")]
    Corrupt {
        /// Release.
        name: String,
        /// Revision.
        revision: u32,
        /// Why.
        reason: String,
    },
    /// File storage I/O.
    #[error("release store {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Error.
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

/// Where records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Secrets (default).
    Secret,
    /// ConfigMaps (`binaryData`).
    ConfigMap,
    /// Files in a directory (offline use).
    File(PathBuf),
}

impl Storage {
    /// Parses `secret`, `configmap` or `file:DIR` / `file` (with a default dir).
    pub fn parse(s: &str, default_dir: PathBuf) -> std::result::Result<Storage, String> {
        match s {
            "secret" | "secrets" => Ok(Storage::Secret),
            "configmap" | "configmaps" => Ok(Storage::ConfigMap),
            "file" => Ok(Storage::File(default_dir)),
            _ => match s.strip_prefix("file:") {
                Some(d) => Ok(Storage::File(PathBuf::from(d))),
                None => Err(format!(
                    "unknown storage '{s}' (secret, configmap, file or file:DIR)"
                )),
            },
        }
    }
}

/// The object name of a revision.
pub fn record_name(name: &str, revision: u32) -> String {
    format!("sh.sherpack.release.v1.{name}.v{revision}")
}

/// How records are compressed (all are read back whatever they use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// zstd level 3 (default).
    #[default]
    Zstd,
    /// gzip (what Helm uses).
    Gzip,
    /// Plain JSON.
    None,
}

impl Compression {
    /// Parses `zstd`, `gzip` or `none`.
    pub fn parse(s: &str) -> std::result::Result<Compression, String> {
        match s {
            "zstd" => Ok(Compression::Zstd),
            "gzip" => Ok(Compression::Gzip),
            "none" => Ok(Compression::None),
            _ => Err(format!("unknown compression '{s}' (zstd, gzip or none)")),
        }
    }
}

/// JSON -> zstd -> base64 text.
pub fn encode(rel: &Release) -> Vec<u8> {
    encode_with(rel, Compression::Zstd)
}

/// JSON -> compression -> base64 text.
pub fn encode_with(rel: &Release, compression: Compression) -> Vec<u8> {
    let json = serde_json::to_vec(&super::compact::compact(rel)).unwrap_or_default();
    let packed = match compression {
        Compression::Zstd => zstd::encode_all(json.as_slice(), 3).unwrap_or_default(),
        Compression::Gzip => {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = e.write_all(&json);
            e.finish().unwrap_or_default()
        }
        Compression::None => json,
    };
    base64::engine::general_purpose::STANDARD
        .encode(packed)
        .into_bytes()
}

/// The reverse of [`encode`]: zstd, gzip or plain JSON, told by their magic bytes.
pub fn decode(name: &str, revision: u32, data: &[u8]) -> Result<Release> {
    let corrupt = |reason: String| StoreError::Corrupt {
        name: name.to_string(),
        revision,
        reason,
    };
    let packed = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| corrupt(format!("not base64: {e}")))?;
    let json = if packed.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        let decoder = zstd::stream::read::Decoder::new(packed.as_slice())
            .map_err(|e| corrupt(format!("bad zstd data: {e}")))?;
        crate::yaml::read_bounded(decoder).map_err(|e| corrupt(format!("bad zstd data: {e}")))?
    } else if packed.starts_with(&[0x1F, 0x8B]) {
        crate::yaml::read_bounded(flate2::read::GzDecoder::new(packed.as_slice()))
            .map_err(|e| corrupt(format!("bad gzip data: {e}")))?
    } else {
        packed
    };
    let mut rel: Release =
        serde_json::from_slice(&json).map_err(|e| corrupt(format!("not a release record: {e}")))?;
    super::compact::expand(&mut rel);
    Ok(rel)
}

/// The revision in a record's labels (0 when missing).
fn revision_of(meta: &kube::api::ObjectMeta) -> u32 {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(VERSION_LABEL))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The status in a record's labels.
fn status_of(meta: &kube::api::ObjectMeta) -> Option<Status> {
    let s = meta.labels.as_ref()?.get(STATUS_LABEL)?;
    serde_json::from_value(Value::String(s.clone())).ok()
}

/// The store for one namespace.
pub struct Store {
    /// Compression of records written.
    pub compression: Compression,
    client: Option<kube::Client>,
    namespace: String,
    storage: Storage,
}

fn resource(storage: &Storage) -> ApiResource {
    let (kind, plural) = match storage {
        Storage::ConfigMap => ("ConfigMap", "configmaps"),
        _ => ("Secret", "secrets"),
    };
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Api { what, source }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Store {
    /// A store in `namespace` (the client is unused for file storage).
    pub fn new(client: Option<kube::Client>, namespace: &str, storage: Storage) -> Store {
        Store {
            compression: Compression::Zstd,
            client,
            namespace: namespace.to_string(),
            storage,
        }
    }

    fn api(&self) -> Option<Api<DynamicObject>> {
        let client = self.client.clone()?;
        Some(Api::namespaced_with(
            client,
            &self.namespace,
            &resource(&self.storage),
        ))
    }

    fn data_field(&self) -> &'static str {
        if self.storage == Storage::ConfigMap {
            "binaryData"
        } else {
            "data"
        }
    }

    fn object(
        &self,
        name: &str,
        labels: Value,
        data: Value,
        secret_type: &str,
    ) -> Result<DynamicObject> {
        let mut v = json!({
            "apiVersion": "v1",
            "kind": resource(&self.storage).kind,
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
        });
        v[self.data_field()] = data;
        if self.storage == Storage::Secret {
            v["type"] = json!(secret_type);
        }
        serde_json::from_value(v).map_err(|e| StoreError::Corrupt {
            name: name.into(),
            revision: 0,
            reason: e.to_string(),
        })
    }

    /// Writes a revision (replacing it if present).
    pub async fn save(&self, rel: &Release) -> Result<()> {
        let encoded = encode_with(rel, self.compression);
        if let Storage::File(dir) = &self.storage {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: dir.clone(),
                source: e,
            })?;
            let path = dir.join(format!(
                "{}.{}.release",
                rel.namespace,
                record_name(&rel.name, rel.revision)
            ));
            return std::fs::write(&path, &encoded).map_err(|e| StoreError::Io { path, source: e });
        }
        let Some(api) = self.api() else { return Ok(()) };
        let name = record_name(&rel.name, rel.revision);
        // Remove the old index first (so a half-replaced revision is invisible), then its chunks.
        self.delete_revision(&rel.name, rel.revision).await?;
        let labels = |record: &str| {
            json!({
                "app.kubernetes.io/managed-by": "kubectl-pack",
                NAME_LABEL: rel.name,
                VERSION_LABEL: rel.revision.to_string(),
                RECORD_LABEL: record,
            })
        };
        let pp = PostParams::default();
        let index_data = if encoded.len() > CHUNK_THRESHOLD {
            let chunks: Vec<&[u8]> = encoded.chunks(CHUNK_SIZE).collect();
            for (i, c) in chunks.iter().enumerate() {
                let mut l = labels("chunk");
                l["sherpack.io/chunk"] = json!(i.to_string());
                let obj = self.object(
                    &format!("{name}.c{i}"),
                    l,
                    json!({"chunk": b64(c)}),
                    "sherpack.io/release.chunk.v1",
                )?;
                api.create(&pp, &obj)
                    .await
                    .map_err(api_err(format!("write chunk {i} of {name}")))?;
            }
            let sha: String = Sha256::digest(&encoded)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let index =
                json!({"count": chunks.len(), "size": encoded.len(), "sha256": sha}).to_string();
            json!({"index": b64(index.as_bytes())})
        } else {
            json!({"release": b64(&encoded)})
        };
        let mut l = labels("index");
        l[STATUS_LABEL] = json!(rel.status.to_string());
        let obj = self.object(&name, l, index_data, "sherpack.io/release.v1")?;
        api.create(&pp, &obj)
            .await
            .map_err(api_err(format!("write {name}")))?;
        Ok(())
    }

    /// Deletes a revision: index first, then chunks.
    pub async fn delete_revision(&self, name: &str, revision: u32) -> Result<()> {
        if let Storage::File(dir) = &self.storage {
            let path = dir.join(format!(
                "{}.{}.release",
                self.namespace,
                record_name(name, revision)
            ));
            let _ = std::fs::remove_file(path);
            return Ok(());
        }
        let Some(api) = self.api() else { return Ok(()) };
        let rn = record_name(name, revision);
        match api.delete(&rn, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(api_err(format!("delete {rn}"))(e)),
        }
        let lp = ListParams::default().labels(&format!(
            "{NAME_LABEL}={name},{VERSION_LABEL}={revision},{RECORD_LABEL}=chunk"
        ));
        let chunks = api
            .list_metadata(&lp)
            .await
            .map_err(api_err(format!("list chunks of {rn}")))?;
        for c in chunks.items {
            if let Some(n) = c.metadata.name {
                let _ = api.delete(&n, &DeleteParams::default()).await;
            }
        }
        Ok(())
    }

    fn read_data(&self, obj: &DynamicObject, key: &str) -> Option<Vec<u8>> {
        let s = obj.data[self.data_field()][key].as_str()?;
        base64::engine::general_purpose::STANDARD.decode(s).ok()
    }

    async fn load_index(
        &self,
        api: &Api<DynamicObject>,
        obj: &DynamicObject,
        name: &str,
        revision: u32,
    ) -> Result<Release> {
        if let Some(data) = self.read_data(obj, "release") {
            return decode(name, revision, &data);
        }
        let corrupt = |reason: String| StoreError::Corrupt {
            name: name.into(),
            revision,
            reason,
        };
        let index: Value = self
            .read_data(obj, "index")
            .and_then(|d| serde_json::from_slice(&d).ok())
            .ok_or_else(|| corrupt("neither release nor index data".into()))?;
        let count = index["count"].as_u64().unwrap_or(0) as usize;
        let rn = record_name(name, revision);
        let mut encoded = Vec::with_capacity(index["size"].as_u64().unwrap_or(0) as usize);
        for i in 0..count {
            let c = api
                .get(&format!("{rn}.c{i}"))
                .await
                .map_err(|e| corrupt(format!("chunk {i}: {e}")))?;
            encoded.extend(
                self.read_data(&c, "chunk")
                    .ok_or_else(|| corrupt(format!("chunk {i} has no data")))?,
            );
        }
        let sha: String = Sha256::digest(&encoded)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if encoded.len() as u64 != index["size"].as_u64().unwrap_or(0)
            || index["sha256"] != sha.as_str()
        {
            return Err(corrupt("chunks do not match the index checksum".into()));
        }
        decode(name, revision, &encoded)
    }

    /// Every revision of a release, oldest first.
    pub async fn history(&self, name: &str) -> Result<Vec<Release>> {
        if let Storage::File(dir) = &self.storage {
            let mut out = Vec::new();
            let prefix = format!("{}.sh.sherpack.release.v1.{name}.v", self.namespace);
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(_) => return Ok(out),
            };
            for e in entries.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if let Some(rev) = f
                    .strip_prefix(&prefix)
                    .and_then(|r| r.strip_suffix(".release"))
                    .and_then(|r| r.parse::<u32>().ok())
                {
                    let data = std::fs::read(e.path()).map_err(|err| StoreError::Io {
                        path: e.path(),
                        source: err,
                    })?;
                    out.push(decode(name, rev, &data)?);
                }
            }
            out.sort_by_key(|r| r.revision);
            return Ok(out);
        }
        let Some(api) = self.api() else {
            return Ok(Vec::new());
        };
        let lp = ListParams::default().labels(&format!("{NAME_LABEL}={name},{RECORD_LABEL}=index"));
        let list = api
            .list(&lp)
            .await
            .map_err(api_err(format!("list revisions of {name}")))?;
        let mut out = Vec::new();
        for obj in &list.items {
            out.push(
                self.load_index(&api, obj, name, revision_of(&obj.metadata))
                    .await?,
            );
        }
        out.sort_by_key(|r| r.revision);
        Ok(out)
    }

    /// The newest revision with one of `statuses` (any when empty). Chosen
    /// by the index labels, so only that revision is read and decoded.
    pub async fn latest(&self, name: &str, statuses: &[Status]) -> Result<Option<Release>> {
        let wanted = |s: Status| statuses.is_empty() || statuses.contains(&s);
        let Some(api) = self
            .api()
            .filter(|_| !matches!(self.storage, Storage::File(_)))
        else {
            return Ok(self
                .history(name)
                .await?
                .into_iter()
                .rev()
                .find(|r| wanted(r.status)));
        };
        let lp = ListParams::default().labels(&format!("{NAME_LABEL}={name},{RECORD_LABEL}=index"));
        let list = api
            .list_metadata(&lp)
            .await
            .map_err(api_err(format!("list revisions of {name}")))?;
        let newest = list
            .items
            .iter()
            .filter(|m| status_of(&m.metadata).is_some_and(wanted))
            .map(|m| revision_of(&m.metadata))
            .max();
        let Some(rev) = newest else { return Ok(None) };
        let obj = api
            .get(&record_name(name, rev))
            .await
            .map_err(api_err(format!("read {}", record_name(name, rev))))?;
        Ok(Some(self.load_index(&api, &obj, name, rev).await?))
    }

    /// Names and latest status of every release in the namespace (or all).
    pub async fn releases(
        &self,
        all_namespaces: bool,
    ) -> Result<Vec<(String, String, u32, String)>> {
        let Some(client) = self.client.clone() else {
            return Ok(Vec::new());
        };
        let api: Api<DynamicObject> = if all_namespaces {
            Api::all_with(client, &resource(&self.storage))
        } else {
            Api::namespaced_with(client, &self.namespace, &resource(&self.storage))
        };
        let lp = ListParams::default().labels(&format!(
            "{RECORD_LABEL}=index,app.kubernetes.io/managed-by=kubectl-pack"
        ));
        let list = api
            .list_metadata(&lp)
            .await
            .map_err(api_err("list releases"))?;
        let mut latest: std::collections::BTreeMap<(String, String), (u32, String)> =
            Default::default();
        for m in list.items {
            let labels = m.metadata.labels.unwrap_or_default();
            let (Some(n), Some(v)) = (
                labels.get(NAME_LABEL),
                labels
                    .get(VERSION_LABEL)
                    .and_then(|v| v.parse::<u32>().ok()),
            ) else {
                continue;
            };
            let ns = m.metadata.namespace.unwrap_or_default();
            let status = labels.get(STATUS_LABEL).cloned().unwrap_or_default();
            if status == super::Status::Backup.to_string() {
                continue;
            }
            let e = latest.entry((ns, n.clone())).or_insert((0, String::new()));
            if v > e.0 {
                *e = (v, status);
            }
        }
        Ok(latest
            .into_iter()
            .map(|((ns, n), (v, s))| (ns, n, v, s))
            .collect())
    }

    /// Deletes chunk objects whose revision has no index (a write that died
    /// half-way); returns how many revisions were cleaned.
    pub async fn cleanup_partial(&self, name: &str) -> Result<usize> {
        let Some(api) = self.api() else { return Ok(0) };
        let lp = ListParams::default().labels(&format!("{NAME_LABEL}={name},{RECORD_LABEL}=chunk"));
        let chunks = api
            .list_metadata(&lp)
            .await
            .map_err(api_err(format!("list chunks of {name}")))?;
        if chunks.items.is_empty() {
            return Ok(0);
        }
        let lp = ListParams::default().labels(&format!("{NAME_LABEL}={name},{RECORD_LABEL}=index"));
        let indexed: std::collections::BTreeSet<u32> = api
            .list_metadata(&lp)
            .await
            .map_err(api_err(format!("list revisions of {name}")))?
            .items
            .iter()
            .map(|m| revision_of(&m.metadata))
            .collect();
        let orphans: std::collections::BTreeSet<u32> = chunks
            .items
            .iter()
            .map(|c| revision_of(&c.metadata))
            .filter(|rev| !indexed.contains(rev))
            .collect();
        for rev in &orphans {
            self.delete_revision(name, *rev).await?;
        }
        Ok(orphans.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_the_encoding() {
        let rel = Release {
            name: "app".into(),
            namespace: "ns".into(),
            revision: 3,
            status: Status::Deployed,
            first_deployed: "2026-01-01T00:00:00Z".into(),
            last_deployed: "2026-01-02T00:00:00Z".into(),
            description: "upgrade".into(),
            pack: Default::default(),
            values: Value::Null,
            manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n".into(),
            objects: vec![super::super::ObjectRecord {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("ns".into()),
                name: "c".into(),
                resource: "configmaps".into(),
                wave: 0,
                applied: serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns", "labels": {"sherpack.io/release": "app"}}, "data": {"k": "v"}}),
                applied_patch: None,
                fields: serde_json::json!({"f:data": {"f:k": {}}}),
                keep: false,
                adopted: false,
            }],
            hooks: Vec::new(),
            plan: Vec::new(),
            partial_wave: None,
            patches_stamped: false,
        };
        let enc = encode(&rel);
        assert!(enc.len() < 700, "compressed: {}", enc.len());
        assert_eq!(decode("app", 3, &enc).unwrap(), rel);
        assert!(decode("app", 3, b"!!").is_err());
        for c in [Compression::Gzip, Compression::None] {
            assert_eq!(decode("app", 3, &encode_with(&rel, c)).unwrap(), rel);
        }
        assert!(record_name(&"x".repeat(53), 10).len() < 253);
    }
}
