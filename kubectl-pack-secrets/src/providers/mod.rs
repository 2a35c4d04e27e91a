//! Secret providers: Vault KV v2, AWS Secrets Manager and SSM Parameter
//! Store, GCP Secret Manager, Azure Key Vault. Each speaks the provider's
//! documented HTTP API directly, with an endpoint override for tests.
//!
//! Errors are classified: not-found, permission-denied and invalid requests
//! are permanent; timeouts, 5xx and throttling are transient and retried
//! with bounded exponential backoff plus jitter. Nothing here logs a value.

mod aws;
mod azure;
mod error;
mod gcp;
mod identity;
mod reference;
pub mod sigv4;
mod vault;

use std::collections::BTreeMap;
use std::time::Duration;

use error::retry_after;
pub use error::{ErrorKind, ProviderError};
pub use reference::{Kind, SecretRef};

use crate::cli::ProviderArgs;

/// The values of one secret: key -> bytes, sorted by key.
pub type Fetched = BTreeMap<String, Vec<u8>>;

/// Clients for every provider, configured from the environment.
pub struct Providers {
    http: reqwest::Client,
    retries: u32,
    identity: identity::Identity,
}

impl Providers {
    /// Builds the HTTP client (`VAULT_CACERT` adds a trusted CA).
    pub fn new(args: &ProviderArgs) -> anyhow::Result<Providers> {
        let mut b = reqwest::Client::builder()
            .timeout(args.provider_timeout)
            .connect_timeout(args.provider_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("kubectl-pack-secrets/", env!("CARGO_PKG_VERSION")));
        if let Ok(path) = std::env::var("VAULT_CACERT")
            && !path.is_empty()
        {
            let pem =
                std::fs::read(&path).map_err(|e| anyhow::anyhow!("VAULT_CACERT {path}: {e}"))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                anyhow::anyhow!("VAULT_CACERT {path}: not a PEM certificate bundle: {e}")
            })? {
                b = b.add_root_certificate(cert);
            }
        }
        Ok(Providers {
            http: b.build()?,
            retries: args.retries,
            identity: identity::Identity::default(),
        })
    }

    /// Fetches one secret, retrying transient errors with backoff and jitter.
    pub async fn fetch(&self, r: &SecretRef) -> Result<Fetched, ProviderError> {
        let mut attempt = 0;
        loop {
            match self.fetch_once(r).await {
                Ok(v) => return select_key(r, v),
                Err(e) if e.is_permanent() || attempt >= self.retries => return Err(e),
                Err(e) => {
                    let delay = e.retry_after.unwrap_or_else(|| backoff(attempt));
                    shared::output::info(&format!("{e}; retrying in {} ms", delay.as_millis()));
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn fetch_once(&self, r: &SecretRef) -> Result<Fetched, ProviderError> {
        match r.kind {
            Kind::Vault => vault::fetch(&self.http, &self.identity, r).await,
            Kind::AwsSm => {
                let creds = self.identity.aws(&self.http, r).await?;
                aws::secrets_manager(&self.http, &creds, r).await
            }
            Kind::AwsSsm => {
                let creds = self.identity.aws(&self.http, r).await?;
                aws::parameter_store(&self.http, &creds, r).await
            }
            Kind::GcpSm => {
                let token = self.identity.gcp(&self.http, r).await?;
                gcp::fetch(&self.http, &token, r).await
            }
            Kind::AzureKv => {
                let token = self.identity.azure(&self.http, r).await?;
                azure::fetch(&self.http, &token, r).await
            }
        }
    }
}

/// An answer: status, `Retry-After`, and the JSON body (`null` when not JSON).
struct Answer {
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    body: serde_json::Value,
}

/// Sends a request and reads its JSON answer; transport errors are classified.
async fn send(r: &SecretRef, req: reqwest::RequestBuilder) -> Result<Answer, ProviderError> {
    let resp = req
        .send()
        .await
        .map_err(|e| ProviderError::from_reqwest(r, &e))?;
    let status = resp.status();
    let retry_after = retry_after(resp.headers());
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// Exponential backoff (200 ms doubling, capped at 5 s) with +-50% jitter.
pub fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1 << attempt.min(10)).min(5_000);
    let mut b = [0u8; 2];
    shared::sops::cipher::fill_random(&mut b);
    let r = u16::from_le_bytes(b) as u64; // 0..65535
    Duration::from_millis(base / 2 + base * r / 65_536)
}

/// A provider's string payload: a JSON object becomes one entry per key,
/// anything else one entry named after the reference.
fn from_payload(r: &SecretRef, payload: Vec<u8>) -> Fetched {
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(&payload)
    {
        return from_json_map(&m);
    }
    let mut out = Fetched::new();
    out.insert(r.default_key(), payload);
    out
}

fn from_json_map(m: &serde_json::Map<String, serde_json::Value>) -> Fetched {
    m.iter()
        .map(|(k, v)| {
            let bytes = match v {
                serde_json::Value::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            };
            (k.clone(), bytes)
        })
        .collect()
}

/// Applies `#key`: one entry, or not-found naming the available keys.
fn select_key(r: &SecretRef, v: Fetched) -> Result<Fetched, ProviderError> {
    let Some(key) = &r.key else { return Ok(v) };
    if v.len() == 1 && v.contains_key(key) {
        return Ok(v);
    }
    match v.get(key) {
        Some(value) => Ok(Fetched::from([(key.clone(), value.clone())])),
        None => Err(ProviderError::new(
            ErrorKind::NotFound,
            r,
            format!(
                "the secret has no key '{key}' (keys: {})",
                v.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// A required environment variable, or an Invalid error naming it.
fn env_required(r: &SecretRef, name: &str, hint: &str) -> Result<String, ProviderError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(ProviderError::new(
            ErrorKind::PermissionDenied,
            r,
            format!("{name} is not set; {hint}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_reference_form() {
        let r = SecretRef::parse("vault://secret/app/db?version=3#password").unwrap();
        assert_eq!(
            (
                r.kind,
                r.path.as_str(),
                r.key.as_deref(),
                r.version.as_deref()
            ),
            (Kind::Vault, "secret/app/db", Some("password"), Some("3"))
        );
        let r = SecretRef::parse("gcp-sm://projects/p1/secrets/s1/versions/7").unwrap();
        assert_eq!(
            (r.path.as_str(), r.version.as_deref()),
            ("projects/p1/secrets/s1", Some("7"))
        );
        let r = SecretRef::parse("azure-kv://myvault/db-pass/abc123").unwrap();
        assert_eq!(
            (r.path.as_str(), r.version.as_deref()),
            ("myvault/db-pass", Some("abc123"))
        );
        assert_eq!(
            SecretRef::parse("aws-sm:///prod/db").unwrap().default_key(),
            "db"
        );
        assert!(
            SecretRef::parse("s3://x")
                .unwrap_err()
                .contains("unknown provider")
        );
        assert!(SecretRef::parse("vault://secret").is_err());
    }

    #[test]
    fn json_payloads_become_maps_and_keys_are_selected() {
        let r = SecretRef::parse("aws-sm://db#user").unwrap();
        let v = from_payload(&r, br#"{"user":"u","port":5432}"#.to_vec());
        assert_eq!(v.get("port").map(Vec::as_slice), Some(&b"5432"[..]));
        assert_eq!(select_key(&r, v).unwrap().len(), 1);
        let e = select_key(
            &SecretRef::parse("aws-sm://db#nope").unwrap(),
            from_payload(&r, br#"{"a":"b"}"#.to_vec()),
        )
        .unwrap_err();
        assert!(e.is_permanent() && e.to_string().contains("keys: a"));
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(backoff(0) <= Duration::from_millis(300));
        assert!(backoff(20) <= Duration::from_millis(7_500));
    }
}
