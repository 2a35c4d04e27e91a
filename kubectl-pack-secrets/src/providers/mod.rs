//! Secret providers: Vault KV v2, AWS Secrets Manager and SSM Parameter
//! Store, GCP Secret Manager, Azure Key Vault. Each speaks the provider's
//! documented HTTP API directly, with an endpoint override for tests.
//!
//! Errors are classified: not-found, permission-denied and invalid requests
//! are permanent; timeouts, 5xx and throttling are transient and retried
//! with bounded exponential backoff plus jitter. Nothing here logs a value.

mod aws;
mod azure;
mod gcp;
pub mod sigv4;
mod vault;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cli::ProviderArgs;

/// Which provider a reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `vault://MOUNT/PATH`.
    Vault,
    /// `aws-sm://SECRET-ID`.
    AwsSm,
    /// `aws-ssm://PATH` (a trailing `/` reads every parameter under it).
    AwsSsm,
    /// `gcp-sm://projects/P/secrets/S[/versions/V]`.
    GcpSm,
    /// `azure-kv://VAULT/NAME[/VERSION]`.
    AzureKv,
}

impl Kind {
    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Kind::Vault => "vault",
            Kind::AwsSm => "aws-sm",
            Kind::AwsSsm => "aws-ssm",
            Kind::GcpSm => "gcp-sm",
            Kind::AzureKv => "azure-kv",
        }
    }

    /// Parses a scheme or provider name (also the long names ESO uses).
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "vault" => Kind::Vault,
            "aws-sm" | "aws-secretsmanager" | "aws-secrets-manager" => Kind::AwsSm,
            "aws-ssm" | "aws-parameterstore" | "aws-parameter-store" => Kind::AwsSsm,
            "gcp-sm" | "gcp-secretmanager" => Kind::GcpSm,
            "azure-kv" | "azure-keyvault" => Kind::AzureKv,
            _ => return None,
        })
    }
}

/// A parsed secret reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRef {
    /// The provider.
    pub kind: Kind,
    /// Provider path (without scheme, version and key).
    pub path: String,
    /// One key of the secret (`#key`, or a spec's `property`).
    pub key: Option<String>,
    /// Version (`?version=`, GCP/Azure path suffix, or a spec's `version`).
    pub version: Option<String>,
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.kind.scheme(), self.path)?;
        if let Some(v) = &self.version {
            write!(f, "?version={v}")?;
        }
        if let Some(k) = &self.key {
            write!(f, "#{k}")?;
        }
        Ok(())
    }
}

impl SecretRef {
    /// Parses `scheme://path[?version=V][#key]`.
    pub fn parse(s: &str) -> Result<SecretRef, String> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("{s}: not a provider reference; use vault://, aws-sm://, aws-ssm://, gcp-sm:// or azure-kv://")
        })?;
        let kind = Kind::parse(scheme).ok_or_else(|| {
            format!(
                "{s}: unknown provider '{scheme}'; use vault, aws-sm, aws-ssm, gcp-sm or azure-kv"
            )
        })?;
        let (rest, key) = match rest.split_once('#') {
            Some((r, k)) if !k.is_empty() => (r, Some(k.to_string())),
            Some((r, _)) => (r, None),
            None => (rest, None),
        };
        let (path, version) = match rest.split_once("?version=") {
            Some((p, v)) => (p.to_string(), Some(v.to_string())),
            None => (rest.to_string(), None),
        };
        if path.trim_matches('/').is_empty() {
            return Err(format!("{s}: empty secret path"));
        }
        let mut r = SecretRef {
            kind,
            path,
            key,
            version,
        };
        r.normalize().map_err(|e| format!("{s}: {e}"))?;
        Ok(r)
    }

    /// Moves path-encoded versions into `version` and checks the shape.
    fn normalize(&mut self) -> Result<(), String> {
        match self.kind {
            Kind::Vault => {
                if !self.path.contains('/') {
                    return Err("expected vault://MOUNT/PATH".into());
                }
            }
            Kind::GcpSm => {
                let path = self.path.clone();
                let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
                match parts.as_slice() {
                    ["projects", p, "secrets", s] => {
                        self.path = format!("projects/{p}/secrets/{s}")
                    }
                    ["projects", p, "secrets", s, "versions", v] => {
                        self.path = format!("projects/{p}/secrets/{s}");
                        self.version = Some(v.to_string());
                    }
                    _ => return Err("expected gcp-sm://projects/P/secrets/S[/versions/V]".into()),
                }
            }
            Kind::AzureKv => {
                let path = self.path.clone();
                let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
                match parts.as_slice() {
                    [vault, name] => self.path = format!("{vault}/{name}"),
                    [vault, name, version] => {
                        self.path = format!("{vault}/{name}");
                        self.version = Some(version.to_string());
                    }
                    _ => return Err("expected azure-kv://VAULT/NAME[/VERSION]".into()),
                }
            }
            Kind::AwsSm | Kind::AwsSsm => {}
        }
        Ok(())
    }

    /// The name a single value gets when the secret is not a map: the key,
    /// or the last path segment.
    pub fn default_key(&self) -> String {
        if let Some(k) = &self.key {
            return k.clone();
        }
        let last = self
            .path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("value");
        let clean: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() {
            "value".into()
        } else {
            clean
        }
    }
}

/// The values of one secret: key -> bytes, sorted by key.
pub type Fetched = BTreeMap<String, Vec<u8>>;

/// What went wrong, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The secret (or version, or key) does not exist.
    NotFound,
    /// Credentials missing, wrong, or not allowed.
    PermissionDenied,
    /// The request or the response is malformed, or the configuration is.
    Invalid,
    /// Throttled (429, ThrottlingException).
    Throttled,
    /// 5xx, connection refused, a sealed Vault.
    Unavailable,
    /// No answer in time.
    Timeout,
}

/// A provider error: never includes a secret value.
#[derive(Debug, Clone)]
pub struct ProviderError {
    /// The class.
    pub kind: ErrorKind,
    /// The reference asked for.
    pub reference: String,
    /// The provider's own message or status.
    pub detail: String,
    /// Server-requested delay (Retry-After).
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            ErrorKind::NotFound => "not found",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Invalid => "invalid request",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Unavailable => "provider unavailable",
            ErrorKind::Timeout => "timed out",
        };
        write!(
            f,
            "{}: {what}: {}",
            self.reference,
            shared::error::one_line(&self.detail)
        )
    }
}

impl std::error::Error for ProviderError {}

impl ProviderError {
    /// Permanent errors are reported, never retried.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::Invalid
        )
    }

    fn new(kind: ErrorKind, r: &SecretRef, detail: impl Into<String>) -> ProviderError {
        ProviderError {
            kind,
            reference: r.to_string(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// Classifies an HTTP status (for providers with plain status semantics).
    fn from_status(
        r: &SecretRef,
        status: reqwest::StatusCode,
        detail: String,
        retry_after: Option<Duration>,
    ) -> ProviderError {
        let kind = match status.as_u16() {
            404 => ErrorKind::NotFound,
            401 | 403 => ErrorKind::PermissionDenied,
            408 => ErrorKind::Timeout,
            429 => ErrorKind::Throttled,
            s if s >= 500 => ErrorKind::Unavailable,
            _ => ErrorKind::Invalid,
        };
        ProviderError {
            kind,
            reference: r.to_string(),
            detail: format!("HTTP {}: {detail}", status.as_u16()),
            retry_after,
        }
    }

    fn from_reqwest(r: &SecretRef, e: &reqwest::Error) -> ProviderError {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_connect() || e.is_request() {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Invalid
        };
        // reqwest errors name the URL, never a body.
        ProviderError::new(kind, r, error_chain(e))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The `Retry-After` header in seconds.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(30)))
}

/// Clients for every provider, configured from the environment.
pub struct Providers {
    http: reqwest::Client,
    retries: u32,
    azure_token: tokio::sync::Mutex<Option<String>>,
}

impl Providers {
    /// Builds the HTTP client (`VAULT_CACERT` adds a trusted CA).
    pub fn new(args: &ProviderArgs) -> anyhow::Result<Providers> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.provider_timeout.max(1)))
            .connect_timeout(Duration::from_secs(args.provider_timeout.clamp(1, 10)))
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
            azure_token: tokio::sync::Mutex::new(None),
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
            Kind::Vault => vault::fetch(&self.http, r).await,
            Kind::AwsSm => aws::secrets_manager(&self.http, r).await,
            Kind::AwsSsm => aws::parameter_store(&self.http, r).await,
            Kind::GcpSm => gcp::fetch(&self.http, r).await,
            Kind::AzureKv => azure::fetch(&self.http, &self.azure_token, r).await,
        }
    }
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
