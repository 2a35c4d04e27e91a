//! Packs in OCI registries: `push`, `pull`, and `render oci://...`.
//!
//! A pack is stored as an OCI artifact: one layer, the archive `package`
//! writes ([`LAYER_MEDIA_TYPE`]), and a small JSON config with the pack's
//! name and version ([`CONFIG_MEDIA_TYPE`]). The registry protocol is
//! `oci-client`'s (token and basic auth challenges, chunked uploads);
//! credentials come from `--username`/`--password-stdin`, else Docker's
//! `config.json` (`auths`), else none. Pulled blobs live in a
//! content-addressed cache (`~/.cache/kubectl-pack/oci/sha256/<hex>`):
//! a reference by digest whose manifest and archive are cached needs no
//! network at all, and every blob, cached or downloaded, is checked against
//! its digest before it is used — a tampered archive is refused and nothing
//! is rendered. A registry answering 5xx or dropping the connection is
//! asked again with backoff (`shared::retry`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::cli::{PullArgs, PushArgs, RegistryArgs};

/// The media type of the one layer: a pack archive.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.kubectl-pack.pack.content.v1.tar+gzip";
/// The media type of the config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.kubectl-pack.pack.config.v1+json";
/// The artifact type of the manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.kubectl-pack.pack.v1";

/// Largest manifest read.
const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// True when the reference text names a tag or a digest (the parser
/// adds `latest` to one that names neither).
fn names_version(rest: &str) -> bool {
    rest.contains('@')
        || rest
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
}

/// An `oci://` reference with its tag or digest: `version` (`--version`)
/// gives the tag when the text has none; with neither, an error — never an
/// implicit `latest`.
pub fn reference(text: &str, version: Option<&str>) -> Result<Reference> {
    reference_or(text, version, None)
}

/// [`reference`] with `default_tag` when neither the text nor `version`
/// names one (push: the pack's version).
fn reference_or(text: &str, version: Option<&str>, default_tag: Option<&str>) -> Result<Reference> {
    let Some(rest) = text.strip_prefix("oci://") else {
        bail!(
            "{text}: an OCI reference starts with oci://, e.g. oci://registry.example.com/packs/webapp:1.2.0"
        );
    };
    let r: Reference = rest.parse().with_context(|| {
        format!("{text}: not an OCI reference (oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST])")
    })?;
    if !rest.contains('/') {
        bail!("{text}: no repository; expected oci://HOST[:PORT]/REPOSITORY[:TAG]");
    }
    let tag = match (names_version(rest), version, default_tag) {
        (true, Some(_), _) => {
            bail!("{text}: give the version either as a tag or with --version, not both")
        }
        (true, None, _) => return Ok(r),
        (false, Some(v), _) | (false, None, Some(v)) => v,
        (false, None, None) => bail!(
            "{text}: which version? Give --version, a :TAG or @sha256:DIGEST (kubectl pack-render versions {text} lists them)"
        ),
    };
    Ok(Reference::with_tag(
        r.registry().to_string(),
        r.repository().to_string(),
        tag.to_string(),
    ))
}

/// A repository reference (no tag or digest), for listing its tags.
fn repository(text: &str) -> Result<Reference> {
    let rest = text.strip_prefix("oci://").unwrap_or_default();
    if names_version(rest) {
        bail!("{text}: name the repository without a tag or digest");
    }
    reference_or(text, None, Some("latest"))
}

fn display(r: &Reference) -> String {
    format!("oci://{}", r.whole())
}

/// A client for `args` (plain HTTP only when asked; extra CA from --ca-file).
fn client(args: &RegistryArgs) -> Result<Client> {
    let mut config = ClientConfig {
        protocol: if args.plain_http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        connect_timeout: Some(std::time::Duration::from_secs(10)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        user_agent: concat!("kubectl-pack/", env!("CARGO_PKG_VERSION")),
        // One request per blob (POST + PUT) instead of POST, PATCH, PUT.
        use_monolithic_push: true,
        ..Default::default()
    };
    if let Some(path) = &args.ca_file {
        let data = std::fs::read(path)
            .with_context(|| format!("--ca-file {}: cannot read it", path.display()))?;
        config.extra_root_certificates.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data,
        });
    }
    Ok(Client::new(config))
}

/// Credentials for `registry`: the flags, else Docker's config, else none.
fn auth(args: &RegistryArgs, registry: &str) -> Result<RegistryAuth> {
    if let Some(user) = &args.username {
        let password = args.password()?;
        return Ok(RegistryAuth::Basic(user.clone(), password));
    }
    Ok(match docker_credentials(registry)? {
        Some((user, password)) => RegistryAuth::Basic(user, password),
        None => RegistryAuth::Anonymous,
    })
}

/// `auths.<registry>.auth` (base64 `user:password`) of Docker's config
/// (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
fn docker_credentials(registry: &str) -> Result<Option<(String, String)>> {
    use base64::Engine as _;
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
    let Some(path) = dir.map(|d| d.join("config.json")) else {
        return Ok(None);
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let config: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON; fix or remove it", path.display()))?;
    let entry = config["auths"]
        .as_object()
        .and_then(|auths| {
            auths.iter().find(|(host, _)| {
                let host = host
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/');
                host == registry
            })
        })
        .map(|(_, v)| v.clone());
    let Some(encoded) = entry.as_ref().and_then(|e| e["auth"].as_str()) else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .with_context(|| {
            format!(
                "{}: the auth of {registry} is not base64 of user:password",
                path.display()
            )
        })?;
    Ok(decoded
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string())))
}

/// One line for a registry error, with what to do.
fn explain(r: &Reference, e: oci_client::errors::OciDistributionError) -> anyhow::Error {
    use oci_client::errors::OciDistributionError as E;
    let what = display(r);
    let host = r.registry();
    let denied = || {
        anyhow::anyhow!(
            "{what}: the registry refused access (401/403); pass --username and --password-stdin, or log in with docker login {host}"
        )
    };
    let missing =
        || anyhow::anyhow!("{what}: not found in the registry (no such repository, tag or digest)");
    match e {
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => denied(),
        E::ServerError {
            code: 401 | 403, ..
        } => denied(),
        E::ImageManifestNotFoundError(_) | E::ServerError { code: 404, .. } => missing(),
        E::DigestError(_) => anyhow::anyhow!(
            "{what}: what the registry sent does not match its digest (changed on the registry?); nothing rendered"
        ),
        E::RegistryError { envelope, .. } => {
            // The distribution spec's error codes, by their wire names.
            let codes: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| {
                    serde_json::to_value(&e.code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .collect();
            if codes.iter().any(|c| c == "UNAUTHORIZED" || c == "DENIED") {
                denied()
            } else if codes.iter().any(|c| c.ends_with("_UNKNOWN")) {
                missing()
            } else {
                let said: Vec<String> = envelope
                    .errors
                    .iter()
                    .zip(&codes)
                    .map(|(e, c)| format!("{c}: {}", e.message))
                    .collect();
                anyhow::anyhow!("{what}: the registry answered {}", said.join("; "))
            }
        }
        E::RequestError(e) => anyhow::anyhow!(
            "{what}: cannot reach the registry {host}: {}{}",
            shared::error::chain(&e),
            if e.is_connect() {
                " (is the host right? --plain-http for a registry without TLS)"
            } else {
                ""
            }
        ),
        other => anyhow::anyhow!("{what}: {other}"),
    }
}

/// True for errors worth asking again: 5xx and dropped connections.
fn transient(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::ServerError { code, .. } => *code >= 500,
        E::RequestError(r) => r.is_timeout() || r.status().is_some_and(|s| s.is_server_error()),
        _ => false,
    }
}

/// Runs `op` up to 4 times while it fails transiently.
async fn retried<T, F, Fut>(r: &Reference, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
            Output = std::result::Result<T, oci_client::errors::OciDistributionError>,
        >,
{
    let backoff = shared::retry::Backoff::new(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(5),
    );
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && attempt < 3 => {
                let wait = backoff.delay(attempt);
                shared::output::warn(&format!(
                    "{}: the registry failed ({e}); asking again in {} ms",
                    display(r),
                    wait.as_millis()
                ));
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(explain(r, e)),
        }
    }
}

/// `kubectl pack-render push ARCHIVE oci://HOST/REPO[:TAG]`.
pub async fn run_push(args: &PushArgs) -> Result<u8> {
    use std::io::Write;
    let bytes = read_archive(&args.archive)?;
    let what = args.archive.display().to_string();
    let (_tmp, dir) = crate::archive::unpack(&what, &bytes)?;
    let pack = crate::pack::Pack::load(&dir)?;
    let meta = &pack.file.metadata;
    let r = reference_or(&args.reference, None, Some(&meta.version))?;
    if r.digest().is_some() {
        bail!(
            "{}: push to a tag (the digest is the registry's to give)",
            args.reference
        );
    }
    let config = serde_json::json!({
        "name": meta.name, "version": meta.version,
        "description": meta.description, "appVersion": meta.app_version,
    });
    let config = oci_client::client::Config::new(
        serde_json::to_vec(&config)?,
        CONFIG_MEDIA_TYPE.to_string(),
        None,
    );
    let title = format!("{}-{}.tgz", meta.name, meta.version);
    let layer = oci_client::client::ImageLayer::new(
        bytes,
        LAYER_MEDIA_TYPE.to_string(),
        Some([("org.opencontainers.image.title".to_string(), title)].into()),
    );
    let layers = [layer];
    let mut manifest = OciImageManifest::build(&layers, &config, None);
    manifest.artifact_type = Some(ARTIFACT_TYPE.to_string());
    let client = client(&args.registry)?;
    let credentials = auth(&args.registry, r.registry())?;
    retried(&r, || {
        client.push(
            &r,
            &layers,
            config.clone(),
            &credentials,
            Some(manifest.clone()),
        )
    })
    .await?;
    let digest = retried(&r, || client.fetch_manifest_digest(&r, &credentials)).await?;
    writeln!(std::io::stdout().lock(), "{}@{digest}", display(&r))?;
    shared::output::info(&format!(
        "pushed {} {} to {}",
        meta.name,
        meta.version,
        display(&r)
    ));
    Ok(shared::output::exit::OK)
}

/// The semver tags of a repository that `constraint` admits, newest first
/// (pre-releases only when `prerelease`), and how many tags were not
/// semver versions.
pub fn matching_versions(
    tags: &[String],
    constraint: Option<&semver::VersionReq>,
    prerelease: bool,
) -> (Vec<semver::Version>, usize) {
    let mut skipped = 0;
    let mut out: Vec<semver::Version> = Vec::new();
    for tag in tags {
        // OCI tags cannot hold '+': Helm writes build metadata with '_'.
        let Ok(v) = semver::Version::parse(tag.trim_start_matches('v').replace('_', "+").as_str())
        else {
            skipped += 1;
            continue;
        };
        if !v.pre.is_empty() && !prerelease {
            continue;
        }
        let admitted = constraint.is_none_or(|c| {
            let mut release = v.clone();
            release.pre = semver::Prerelease::EMPTY;
            c.matches(&v) || (prerelease && c.matches(&release))
        });
        if admitted {
            out.push(v);
        }
    }
    out.sort_by(|a, b| b.cmp(a));
    out.dedup();
    (out, skipped)
}

/// Every tag of the repository `text` names (pages of 1,000).
pub async fn tags(text: &str, registry: &RegistryArgs) -> Result<Vec<String>> {
    let r = repository(text)?;
    let client = client(registry)?;
    let credentials = auth(registry, r.registry())?;
    let mut tags = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = retried(&r, || {
            client.list_tags(&r, &credentials, Some(1000), last.as_deref())
        })
        .await?;
        let n = page.tags.len();
        last = page.tags.last().cloned();
        tags.extend(page.tags);
        if n < 1000 || tags.len() > 100_000 {
            return Ok(tags);
        }
    }
}

/// `kubectl pack-render versions oci://HOST/REPO [--constraint RANGE]`:
/// the matching versions, newest first (the first line is the pick).
pub async fn run_versions(args: &crate::cli::VersionsArgs) -> Result<u8> {
    use std::io::Write;
    let r = repository(&args.reference)?;
    let constraint = args
        .constraint
        .as_deref()
        .map(semver::VersionReq::parse)
        .transpose()
        .map_err(|e| shared::error::Usage(format!("--constraint: {e}")))?;
    let tags = tags(&args.reference, &args.registry).await?;
    let (versions, skipped) = matching_versions(&tags, constraint.as_ref(), args.devel);
    let mut out = std::io::stdout().lock();
    for v in &versions {
        writeln!(out, "{v}")?;
    }
    let pick = versions
        .first()
        .map_or("none".to_string(), ToString::to_string);
    shared::output::info(&format!(
        "{}: {} tag(s), {skipped} not semver, {} matching; newest: {pick}",
        display(&r),
        tags.len(),
        versions.len()
    ));
    Ok(if versions.is_empty() {
        shared::output::exit::ERROR
    } else {
        shared::output::exit::OK
    })
}

/// `kubectl pack-render pull oci://...[:TAG|@sha256:...] [-d DIR]`.
pub async fn run_pull(args: &PullArgs) -> Result<u8> {
    use std::io::Write;
    let r = reference(&args.reference, args.version.as_deref())?;
    let fetched = fetch(&r, &args.registry).await?;
    let (_tmp, dir) = crate::archive::unpack(&display(&r), &fetched.archive)?;
    let pack = crate::pack::Pack::load(&dir)?;
    let meta = &pack.file.metadata;
    std::fs::create_dir_all(&args.destination)
        .with_context(|| format!("cannot create {}", args.destination.display()))?;
    let path = args
        .destination
        .join(format!("{}-{}.tgz", meta.name, meta.version));
    shared::files::write_atomic(&path, &fetched.archive, 0o644)?;
    writeln!(std::io::stdout().lock(), "{}", path.display())?;
    shared::output::info(&format!(
        "pulled {}@{} to {}",
        display(&r),
        fetched.digest,
        path.display()
    ));
    Ok(shared::output::exit::OK)
}

fn read_archive(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(crate::archive::MAX_ARCHIVE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > crate::archive::MAX_ARCHIVE {
        bail!(
            "{}: over {} MiB; refused",
            path.display(),
            crate::archive::MAX_ARCHIVE / 1024 / 1024
        );
    }
    Ok(bytes)
}

/// A pack archive fetched from a registry, its digests checked.
pub struct Fetched {
    /// The archive bytes.
    pub archive: Vec<u8>,
    /// The manifest's digest (`sha256:...`).
    pub digest: String,
}

/// The suite's cache folder (`KUBECTL_PACK_CACHE`, else
/// `~/.cache/kubectl-pack`).
pub fn cache_root() -> PathBuf {
    std::env::var_os("KUBECTL_PACK_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kubectl-pack")))
        .unwrap_or_else(|| std::env::temp_dir().join("kubectl-pack"))
}

/// The content-addressed cache.
fn cache_dir() -> PathBuf {
    cache_root().join("oci/sha256")
}

fn cache_path(digest: &str) -> Option<PathBuf> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| cache_dir().join(hex))
}

/// A cached blob, if there is one; one that does not match its digest is
/// an error (the cache was tampered with).
fn cached(digest: &str) -> Result<Option<Vec<u8>>> {
    let Some(path) = cache_path(digest) else {
        return Ok(None);
    };
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    if crate::archive::digest_of(&bytes) != digest {
        bail!(
            "the cached blob {} does not match its digest {digest}: it was changed after it was downloaded; nothing rendered (remove it to download it again)",
            path.display()
        );
    }
    Ok(Some(bytes))
}

fn keep(digest: &str, bytes: &[u8]) {
    let Some(path) = cache_path(digest) else {
        return;
    };
    let stored = std::fs::create_dir_all(cache_dir())
        .map_err(anyhow::Error::from)
        .and_then(|()| shared::files::write_atomic(&path, bytes, 0o644));
    if let Err(e) = stored {
        shared::output::warn(&format!(
            "the OCI cache was not written ({e}); the next pull downloads again"
        ));
    }
}

/// One client and its credentials, made once per command (the client
/// loads the trust roots; `--password-stdin` is read once).
struct Session {
    client: Client,
    credentials: RegistryAuth,
}

impl Session {
    fn new(args: &RegistryArgs, r: &Reference) -> Result<Session> {
        Ok(Session {
            client: client(args)?,
            credentials: auth(args, r.registry())?,
        })
    }
}

/// The manifest `r` names, its digest checked.
async fn pull_manifest(r: &Reference, s: &Session) -> Result<Vec<u8>> {
    let what = display(r);
    let (raw, digest) = retried(r, || {
        s.client.pull_manifest_raw(
            r,
            &s.credentials,
            &[oci_client::manifest::OCI_IMAGE_MEDIA_TYPE],
        )
    })
    .await?;
    if raw.len() > MAX_MANIFEST {
        bail!(
            "{what}: the manifest is over {} MiB; refused",
            MAX_MANIFEST / 1024 / 1024
        );
    }
    let actual = crate::archive::digest_of(&raw);
    if actual != digest || r.digest().is_some_and(|want| want != actual) {
        bail!("{what}: the manifest the registry sent does not match its digest; nothing rendered");
    }
    keep(&actual, &raw);
    Ok(raw.to_vec())
}

/// The pack archive `r` names: by digest from the cache when both the
/// manifest and the archive are there, else from the registry.
pub async fn fetch(r: &Reference, args: &RegistryArgs) -> Result<Fetched> {
    let what = display(r);
    let mut session = None;
    let manifest_bytes = match r.digest().map(cached).transpose()?.flatten() {
        Some(bytes) => bytes,
        None => {
            let s = Session::new(args, r)?;
            let bytes = pull_manifest(r, &s).await?;
            session = Some(s);
            bytes
        }
    };
    let digest = crate::archive::digest_of(&manifest_bytes);
    let manifest: OciManifest = serde_json::from_slice(&manifest_bytes)
        .with_context(|| format!("{what}: the manifest is not an OCI image manifest"))?;
    let OciManifest::Image(manifest) = manifest else {
        bail!("{what}: an image index, not a pack");
    };
    let layer = pack_layer(&what, &manifest)?;
    if let Some(bytes) = cached(&layer.digest)? {
        return Ok(Fetched {
            archive: bytes,
            digest,
        });
    }
    let Session {
        client,
        credentials,
    } = match session {
        Some(s) => s,
        None => Session::new(args, r)?,
    };
    client
        .store_auth_if_needed(r.resolve_registry(), &credentials)
        .await;
    if layer.size < 0 || layer.size as u64 > crate::archive::MAX_ARCHIVE {
        bail!(
            "{what}: the archive is {} bytes, over the limit; refused",
            layer.size
        );
    }
    let bytes = retried(r, || async {
        let mut out = Vec::new();
        client.pull_blob(r, &layer, &mut out).await.map(|()| out)
    })
    .await?;
    if crate::archive::digest_of(&bytes) != layer.digest {
        bail!(
            "{what}: the archive the registry sent does not match its digest {}; nothing rendered",
            layer.digest
        );
    }
    keep(&layer.digest, &bytes);
    Ok(Fetched {
        archive: bytes,
        digest,
    })
}

/// The manifest's pack archive layer.
fn pack_layer<'a>(what: &str, manifest: &'a OciImageManifest) -> Result<&'a OciDescriptor> {
    manifest
        .layers
        .iter()
        .find(|l| l.media_type == LAYER_MEDIA_TYPE)
        .with_context(|| {
            let types: Vec<&str> = manifest.layers.iter().map(|l| l.media_type.as_str()).collect();
            format!(
                "{what}: not a kubectl-pack pack (its layers are {}); push packs with kubectl pack-render push",
                types.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_the_constraint_newest_first_skipping_prereleases() {
        let tags: Vec<String> = [
            "1.0.0",
            "1.2.0",
            "1.10.1",
            "2.0.0",
            "1.11.0-rc.1",
            "latest",
            "v1.3.0",
            "1.2.0_build.5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = semver::VersionReq::parse(">=1.2, <2").expect("range");
        let (v, skipped) = matching_versions(&tags, Some(&c), false);
        let v: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(v, ["1.10.1", "1.3.0", "1.2.0+build.5", "1.2.0"]);
        assert_eq!(skipped, 1);
        let (v, _) = matching_versions(&tags, Some(&c), true);
        assert_eq!(v[0].to_string(), "1.11.0-rc.1");
    }

    #[test]
    fn references_parse_with_tags_digests_and_versions() {
        let r = reference("oci://127.0.0.1:5000/packs/webapp:1.2.0", None).expect("ref");
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("127.0.0.1:5000", "packs/webapp", Some("1.2.0"))
        );
        let r = reference("oci://127.0.0.1:5000/packs/webapp", Some("1.3.0")).expect("ref");
        assert_eq!(r.tag(), Some("1.3.0"));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = reference(&format!("oci://reg.example.com/p/w@{d}"), None).expect("ref");
        assert_eq!(r.digest(), Some(d.as_str()));
        for bad in [
            "https://x/y",
            "oci://",
            "oci://hostonly",
            "oci://h/UPPER",
            "oci://h:5000/p/w",
        ] {
            assert!(reference(bad, None).is_err(), "{bad}");
        }
        assert!(
            reference("oci://h:5000/p/w:1.0.0", Some("2.0.0")).is_err(),
            "tag and --version"
        );
    }
}
