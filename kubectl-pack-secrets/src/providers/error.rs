//! Provider errors, classified for retrying: permanent (not found,
//! permission denied, invalid) or transient (throttled, unavailable,
//! timed out). Messages carry the reference and the provider's message,
//! never a value.

use std::time::Duration;

use super::SecretRef;

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

    pub(super) fn new(kind: ErrorKind, r: &SecretRef, detail: impl Into<String>) -> ProviderError {
        ProviderError {
            kind,
            reference: r.to_string(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// Classifies an HTTP status (for providers with plain status semantics).
    pub(super) fn from_status(
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

    pub(super) fn from_reqwest(r: &SecretRef, e: &reqwest::Error) -> ProviderError {
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
pub(super) fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(30)))
}
