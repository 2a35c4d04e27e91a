//! Dependencies from remote repositories: `oci://HOST/PATH` (the pack is
//! `oci://HOST/PATH/<name>`, versions are its semver tags) and
//! `https://`/`http://` Helm-style repositories (an `index.yaml` of
//! `entries: {<name>: [{version, digest, urls}]}`, fetched with its ETag).
//!
//! `deps update` picks, for each remote dependency, the newest version its
//! range admits (pre-releases only with `allowPrerelease: true`), downloads
//! the archive into `charts/<name>-<version>.tgz` (its digest checked against
//! the registry's or the index's), removes that dependency's other archives,
//! and pins name, version, repository and digest in `Pack.lock.yaml`, then
//! says what changed. As Helm does, only direct dependencies are fetched: a
//! remote pack carries its own dependencies in its `charts/`. A render
//! loads these archives and refuses one whose digest is not the locked one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::pack::Dependency;

/// Largest `index.yaml` read.
const MAX_INDEX: usize = 16 * 1024 * 1024;

/// True for repositories fetched by `deps update`.
pub fn is_remote(repository: &str) -> bool {
    ["oci://", "https://", "http://"]
        .iter()
        .any(|p| repository.starts_with(p))
}

/// One pinned dependency of `Pack.lock.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// Dependency name.
    pub name: String,
    /// Version chosen.
    pub version: String,
    /// Where it came from.
    pub repository: String,
    /// `sha256:` of its archive in `charts/`.
    pub digest: String,
}

/// The remote dependencies pinned in `dir/Pack.lock.yaml`, by name.
pub fn locked(dir: &Path) -> Result<BTreeMap<String, Pinned>> {
    let mut out = BTreeMap::new();
    for d in lock_entries(dir)? {
        let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
        if d["digest"].is_string() {
            out.insert(
                s("name"),
                Pinned {
                    name: s("name"),
                    version: s("version"),
                    repository: s("repository"),
                    digest: s("digest"),
                },
            );
        }
    }
    Ok(out)
}

/// The `dependencies` entries of `dir/Pack.lock.yaml` (none without one).
fn lock_entries(dir: &Path) -> Result<Vec<Value>> {
    let path = dir.join("Pack.lock.yaml");
    let Ok(text) = crate::pack::read_bounded(&path) else {
        return Ok(Vec::new());
    };
    let mut v = crate::pack::parse_yaml_file(&path, &text)?;
    Ok(match v["dependencies"].take() {
        Value::Array(entries) => entries,
        _ => Vec::new(),
    })
}

/// The archive of remote dependency `dep` in `charts/`: the locked one
/// (its digest checked), else the newest whose version the range admits.
pub fn archive_for(pack_dir: &Path, dep: &Dependency) -> Result<PathBuf> {
    let charts = pack_dir.join("charts");
    let pinned = locked(pack_dir)?.remove(&dep.name);
    if let Some(p) = &pinned {
        let path = charts.join(format!("{}-{}.tgz", dep.name, p.version));
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "dependency {}: {} is missing; run kubectl pack-render deps update {}",
                dep.name,
                path.display(),
                pack_dir.display()
            )
        })?;
        let digest = crate::archive::digest_of(&bytes);
        if digest != p.digest {
            bail!(
                "dependency {}: {} does not match the digest in Pack.lock.yaml ({} there, {digest} here); nothing rendered — run deps update to fetch it again",
                dep.name,
                path.display(),
                p.digest
            );
        }
        return Ok(path);
    }
    let req = version_req(dep)?;
    let mut found: Vec<(semver::Version, PathBuf)> = std::fs::read_dir(&charts)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = archive_version(&e.file_name().to_string_lossy(), &dep.name)?;
            req.matches(&v).then(|| (v, e.path()))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).with_context(|| {
        format!(
            "dependency {} ({} from {}) is not in {}; run kubectl pack-render deps update {}",
            dep.name,
            dep.version,
            dep.repository,
            charts.display(),
            pack_dir.display()
        )
    })
}

/// The version of `file` when it is `<name>-<semver>.tgz`.
fn archive_version(file: &str, name: &str) -> Option<semver::Version> {
    let version = file
        .strip_prefix(name)?
        .strip_prefix('-')?
        .strip_suffix(".tgz")?;
    semver::Version::parse(version).ok()
}

fn version_req(dep: &Dependency) -> Result<semver::VersionReq> {
    let text = if dep.version.trim().is_empty() {
        "*"
    } else {
        dep.version.trim()
    };
    semver::VersionReq::parse(text)
        .with_context(|| format!("dependency {}: invalid version range {text:?}", dep.name))
}

/// `deps update PACK`.
pub async fn update(pack_dir: &Path, registry: &crate::cli::RegistryArgs) -> Result<u8> {
    use std::io::Write;
    let pack = crate::deps::load_pack_file(pack_dir)?;
    let before = locked(pack_dir)?;
    let mut pinned = Vec::new();
    for dep in pack
        .dependencies
        .iter()
        .filter(|d| d.enabled != Some(false) && is_remote(&d.repository))
    {
        match fetch_dependency(pack_dir, dep, registry).await {
            Ok(p) => pinned.push(p),
            Err(e) if dep.optional => shared::output::warn(&format!(
                "optional dependency {} skipped: {}",
                dep.name,
                shared::error::one_line(&format!("{e:#}"))
            )),
            Err(e) => return Err(e),
        }
    }
    write_lock(pack_dir, &pinned)?;
    let mut out = std::io::stdout().lock();
    for p in &pinned {
        let line = match before.get(&p.name) {
            Some(old) if old.version == p.version && old.digest == p.digest => {
                format!("{} {} (unchanged)", p.name, p.version)
            }
            Some(old) => format!("{} {} -> {}", p.name, old.version, p.version),
            None => format!("{} {} (added)", p.name, p.version),
        };
        writeln!(out, "{line}")?;
    }
    for gone in before
        .keys()
        .filter(|n| !pinned.iter().any(|p| &p.name == *n))
    {
        writeln!(out, "{gone} (removed)")?;
    }
    Ok(shared::output::exit::OK)
}

/// Every dependency of `dir/Pack.lock.yaml` (local and remote) with its
/// version.
pub fn lock_versions(dir: &Path) -> Result<BTreeMap<String, String>> {
    Ok(lock_entries(dir)?
        .iter()
        .filter_map(|d| {
            Some((
                d["name"].as_str()?.to_string(),
                d["version"].as_str()?.to_string(),
            ))
        })
        .collect())
}

/// What changed between two locks, one line each (unchanged ones left out).
pub fn changes(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, version) in after {
        match before.get(name) {
            Some(old) if old == version => {}
            Some(old) => out.push(format!("{name} {old} -> {version}")),
            None => out.push(format!("{name} {version} (added)")),
        }
    }
    for name in before.keys().filter(|n| !after.contains_key(*n)) {
        out.push(format!("{name} (removed)"));
    }
    out
}

/// The lock file: the remote pins, plus the local resolution when the pack
/// has local dependencies too.
pub fn write_lock(pack_dir: &Path, pinned: &[Pinned]) -> Result<()> {
    let mut entries: Vec<Value> = Vec::new();
    if let Ok(local) = crate::deps::resolve(pack_dir) {
        for c in local.chosen.values() {
            let rel = c
                .dir
                .strip_prefix(pack_dir)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| c.dir.display().to_string());
            entries.push(json!({"name": c.name, "version": c.version.to_string(), "path": rel}));
        }
    }
    for p in pinned {
        entries.push(json!({"name": p.name, "version": p.version, "repository": p.repository, "digest": p.digest}));
    }
    let text = shared::yaml::to_string(&json!({ "dependencies": entries }))?;
    shared::files::write_atomic(&pack_dir.join("Pack.lock.yaml"), text.as_bytes(), 0o644)
}

/// Picks, downloads and stores one remote dependency.
async fn fetch_dependency(
    pack_dir: &Path,
    dep: &Dependency,
    registry: &crate::cli::RegistryArgs,
) -> Result<Pinned> {
    let req = version_req(dep)?;
    let (version, bytes) = if dep.repository.starts_with("oci://") {
        from_oci(dep, &req, registry).await?
    } else {
        from_index(dep, &req).await?
    };
    let charts = pack_dir.join("charts");
    std::fs::create_dir_all(&charts)
        .with_context(|| format!("cannot create {}", charts.display()))?;
    // The archive must hold the pack it claims to be.
    let (_tmp, inner) = crate::archive::unpack(&format!("{} {version}", dep.name), &bytes)?;
    let file = crate::deps::load_pack_file(&inner)?;
    if file.metadata.name != dep.name || file.metadata.version != version.to_string() {
        bail!(
            "dependency {}: the archive for {version} holds {} {}",
            dep.name,
            file.metadata.name,
            file.metadata.version
        );
    }
    // Its other versions go; `common-lib-2.0.0.tgz` is not `common`'s.
    for old in std::fs::read_dir(&charts)?.flatten() {
        let name = old.file_name().to_string_lossy().into_owned();
        if archive_version(&name, &dep.name).is_some() {
            std::fs::remove_file(old.path())?;
        }
    }
    let path = charts.join(format!("{}-{version}.tgz", dep.name));
    shared::files::write_atomic(&path, &bytes, 0o644)?;
    Ok(Pinned {
        name: dep.name.clone(),
        version: version.to_string(),
        repository: dep.repository.clone(),
        digest: crate::archive::digest_of(&bytes),
    })
}

fn newest(dep: &Dependency, req: &semver::VersionReq, tags: &[String]) -> Result<semver::Version> {
    let (versions, _) = crate::oci::matching_versions(tags, Some(req), dep.allow_prerelease);
    versions.into_iter().next().with_context(|| {
        format!(
            "dependency {}: no version in {} matches {:?}{}",
            dep.name,
            dep.repository,
            dep.version,
            if dep.allow_prerelease {
                ""
            } else {
                " (pre-releases need allowPrerelease: true)"
            }
        )
    })
}

async fn from_oci(
    dep: &Dependency,
    req: &semver::VersionReq,
    registry: &crate::cli::RegistryArgs,
) -> Result<(semver::Version, Vec<u8>)> {
    let repo = format!("{}/{}", dep.repository.trim_end_matches('/'), dep.name);
    let tags = crate::oci::tags(&repo, registry).await?;
    let version = newest(dep, req, &tags)?;
    let r = crate::oci::reference(&repo, Some(&version.to_string()))?;
    let fetched = crate::oci::fetch(&r, registry).await?;
    Ok((version, fetched.archive))
}

async fn from_index(
    dep: &Dependency,
    req: &semver::VersionReq,
) -> Result<(semver::Version, Vec<u8>)> {
    let base = dep.repository.trim_end_matches('/');
    let client = http_client()?;
    let entries = index_entries(&client, &dep.repository, &dep.name).await?;
    let index_url = format!("{base}/index.yaml");
    let tags: Vec<String> = entries
        .iter()
        .filter_map(|e| e["version"].as_str().map(str::to_string))
        .collect();
    let version = newest(dep, req, &tags)?;
    let entry = entries
        .iter()
        .find(|e| {
            e["version"]
                .as_str()
                .and_then(|v| semver::Version::parse(v).ok())
                .as_ref()
                == Some(&version)
        })
        .context("the chosen version vanished from the index")?;
    let url = entry["urls"][0]
        .as_str()
        .with_context(|| format!("{index_url}: {} {version} has no urls", dep.name))?;
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("{base}/{url}")
    };
    let bytes = download(&client, &url).await?;
    if let Some(want) = entry["digest"].as_str() {
        let want = if want.starts_with("sha256:") {
            want.to_string()
        } else {
            format!("sha256:{want}")
        };
        if crate::archive::digest_of(&bytes) != want {
            bail!("{url}: the archive does not match the index's digest {want}; nothing written");
        }
    }
    Ok((version, bytes))
}

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
        .user_agent(concat!("kubectl-pack/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The entries of pack `name` in the Helm-style repository's `index.yaml`
/// (fetched conditionally, cached under the suite's cache).
pub async fn index_entries(
    client: &reqwest::Client,
    repository: &str,
    name: &str,
) -> Result<Vec<Value>> {
    let base = repository.trim_end_matches('/');
    let cache = crate::oci::cache_root().join("repos");
    let index_url = format!("{base}/index.yaml");
    let index = shared::poll::get_conditional(client, &index_url, &cache, MAX_INDEX).await?;
    let text = String::from_utf8(index.body).with_context(|| format!("{index_url}: not UTF-8"))?;
    let index: Value = shared::yaml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{index_url}: not a repository index: {}", e.message))?;
    Ok(index["entries"][name]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// [`index_entries`] with a default client.
pub async fn index_entries_of(repository: &str, name: &str) -> Result<Vec<Value>> {
    index_entries(&http_client()?, repository, name).await
}

async fn download(client: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("{url}: cannot fetch it"))?;
    if !response.status().is_success() {
        bail!("{url}: the server answered {}", response.status());
    }
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("{url}: the answer broke off"))?;
    if bytes.len() as u64 > crate::archive::MAX_ARCHIVE {
        bail!(
            "{url}: over {} MiB; refused",
            crate::archive::MAX_ARCHIVE / 1024 / 1024
        );
    }
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression guard: updating `common` must not delete
    /// `common-lib`'s archive.
    #[test]
    fn an_archive_is_a_dependency_s_only_when_the_rest_is_its_version() {
        assert_eq!(
            archive_version("common-1.2.0.tgz", "common").map(|v| v.to_string()),
            Some("1.2.0".into())
        );
        assert_eq!(archive_version("common-lib-2.0.0.tgz", "common"), None);
        assert_eq!(archive_version("common-1.2.0.tar", "common"), None);
        assert_eq!(archive_version("commonx-1.0.0.tgz", "common"), None);
    }
}
