//! Conditional fetches for anything polled: a document kept in a local
//! cache with its `ETag`, asked for again with `If-None-Match`, so an
//! unchanged document costs a `304 Not Modified` and no body (HTTP pack
//! repositories' `index.yaml` today; the operator's registry polls later).
//! A failed request is asked again with [`crate::retry::Backoff`] when it
//! may pass next time (5xx, timeouts).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// What a conditional fetch found.
#[derive(Debug)]
pub struct Fetched {
    /// The document (from the server, or the cache on 304).
    pub body: Vec<u8>,
    /// True when the server answered 304 and the cache was used.
    pub not_modified: bool,
}

/// The cache folder of `url` under `cache` (one folder per URL).
fn slot(cache: &Path, url: &str) -> PathBuf {
    use sha2::Digest;
    cache.join(format!("{:x}", sha2::Sha256::digest(url.as_bytes())))
}

/// GETs `url` with the cached ETag as `If-None-Match`; on 200 stores body
/// and ETag, on 304 returns the cached body. At most `limit` bytes.
pub async fn get_conditional(
    client: &reqwest::Client,
    url: &str,
    cache: &Path,
    limit: usize,
) -> Result<Fetched> {
    let dir = slot(cache, url);
    let cached_body = std::fs::read(dir.join("body")).ok();
    let etag = cached_body
        .as_ref()
        .and_then(|_| std::fs::read_to_string(dir.join("etag")).ok());
    let backoff = crate::retry::Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut attempt = 0;
    let response = loop {
        let mut request = client.get(url);
        if let Some(tag) = &etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, tag.trim());
        }
        match request.send().await {
            Ok(r) if r.status().is_server_error() && attempt < 3 => {}
            Ok(r) => break r,
            Err(e) if e.is_timeout() && attempt < 3 => {}
            Err(e) => bail!("{url}: cannot fetch it: {}", crate::error::chain(&e)),
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
        attempt += 1;
    };
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED
        && let Some(body) = cached_body
    {
        return Ok(Fetched {
            body,
            not_modified: true,
        });
    }
    if !status.is_success() {
        bail!("{url}: the server answered {status}");
    }
    let new_etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = read_limited(response, url, limit).await?;
    store(&dir, &body, new_etag.as_deref());
    Ok(Fetched {
        body,
        not_modified: false,
    })
}

async fn read_limited(mut response: reqwest::Response, url: &str, limit: usize) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("{url}: the answer broke off"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            bail!("{url}: over {} MiB; refused", limit / 1024 / 1024);
        }
    }
    Ok(body)
}

/// Keeps body and ETag; a cache that cannot be written only costs the
/// next fetch its 304.
fn store(dir: &Path, body: &[u8], etag: Option<&str>) {
    let written = std::fs::create_dir_all(dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| crate::files::write_atomic(&dir.join("body"), body, 0o644))
        .and_then(|()| match etag {
            Some(tag) => crate::files::write_atomic(&dir.join("etag"), tag.as_bytes(), 0o644),
            None => std::fs::remove_file(dir.join("etag"))
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })
                .map_err(anyhow::Error::from),
        });
    if let Err(e) = written {
        crate::output::warn(&format!(
            "the cache {} was not written ({e}); the next fetch downloads again",
            dir.display()
        ));
    }
}
