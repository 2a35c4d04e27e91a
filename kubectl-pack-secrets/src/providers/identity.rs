//! Workload identity: credentials a Pod gets from its platform instead of
//! static keys, each exchanged for a short-lived one and cached until
//! five minutes before it expires (long-running `sync --watch` renews).
//!
//! - AWS: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (EKS IRSA / Pod
//!   Identity webhook) → STS `AssumeRoleWithWebIdentity` (unsigned; at
//!   `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, else the regional STS).
//! - GCP: the metadata server's token endpoint (GKE Workload Identity),
//!   at `GCE_METADATA_HOST`, or `metadata.google.internal` inside a Pod.
//! - Azure: `AZURE_FEDERATED_TOKEN_FILE` (Azure Workload Identity) → a
//!   client-assertion token request at `AZURE_AUTHORITY_HOST`.
//! - Vault: the Kubernetes auth method, `VAULT_K8S_ROLE` (mount
//!   `VAULT_K8S_MOUNT`, default `kubernetes`): the Pod's ServiceAccount
//!   token posted to `auth/<mount>/login`.
//!
//! Static settings (`AWS_ACCESS_KEY_ID`, `GOOGLE_OAUTH_ACCESS_TOKEN`,
//! `AZURE_ACCESS_TOKEN`, `VAULT_TOKEN`...) win when present. Token files
//! are read at each exchange, so a rotated projected token is used.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::sigv4::Credentials;
use super::{Answer, ErrorKind, ProviderError, SecretRef, send};

/// Renew this long before expiry.
const MARGIN: Duration = Duration::from_secs(300);

#[derive(Clone)]
enum Cached {
    Token(String),
    Aws(Credentials),
}

/// The exchanged credentials of this process.
#[derive(Default)]
pub struct Identity {
    cache: tokio::sync::Mutex<HashMap<&'static str, (Cached, Instant)>>,
}

fn var(n: &str) -> Option<String> {
    std::env::var(n).ok().filter(|v| !v.is_empty())
}

fn denied(r: &SecretRef, msg: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::PermissionDenied, r, msg)
}

fn read_token(r: &SecretRef, path: &str, what: &str) -> Result<String, ProviderError> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|e| denied(r, format!("{what} {path}: cannot read it: {e}")))
}

/// Until when a credential valid for `secs` seconds is used.
fn until(secs: u64) -> Instant {
    let life = Duration::from_secs(secs);
    Instant::now() + life.saturating_sub(MARGIN).max(life / 2)
}

impl Identity {
    async fn cached(&self, key: &'static str) -> Option<Cached> {
        let c = self.cache.lock().await;
        c.get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(v, _)| v.clone())
    }

    async fn keep(&self, key: &'static str, v: Cached, until: Instant) {
        self.cache.lock().await.insert(key, (v, until));
    }

    /// AWS credentials: static ones, else web identity.
    pub async fn aws(
        &self,
        http: &reqwest::Client,
        r: &SecretRef,
    ) -> Result<Credentials, ProviderError> {
        if let Some(c) = Credentials::from_env() {
            return Ok(c);
        }
        let (Some(file), Some(role)) = (var("AWS_WEB_IDENTITY_TOKEN_FILE"), var("AWS_ROLE_ARN"))
        else {
            return Err(denied(
                r,
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN",
            ));
        };
        if let Some(Cached::Aws(c)) = self.cached("aws").await {
            return Ok(c);
        }
        let token = read_token(r, &file, "AWS_WEB_IDENTITY_TOKEN_FILE")?;
        let region = super::aws::region();
        let url = ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|n| var(n))
            .map(|v| v.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
        let session = var("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| "kubectl-pack".into());
        let resp = http
            .post(format!("{url}/"))
            .form(&[
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", role.as_str()),
                ("RoleSessionName", session.as_str()),
                ("WebIdentityToken", token.as_str()),
            ])
            .send()
            .await
            .map_err(|e| ProviderError::from_reqwest(r, &e))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| ProviderError::from_reqwest(r, &e))?;
        if !status.is_success() {
            let msg = xml(&text, "Message").unwrap_or("no error message");
            return Err(ProviderError::from_status(
                r,
                status,
                format!("STS AssumeRoleWithWebIdentity for {role}: {msg}"),
                None,
            ));
        }
        let (Some(a), Some(s), Some(t)) = (
            xml(&text, "AccessKeyId"),
            xml(&text, "SecretAccessKey"),
            xml(&text, "SessionToken"),
        ) else {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                r,
                "STS answer has no Credentials",
            ));
        };
        let creds = Credentials {
            access_key_id: a.into(),
            secret_access_key: s.into(),
            session_token: Some(t.into()),
        };
        let secs = xml(&text, "Expiration")
            .and_then(|e| e.parse::<jiff::Timestamp>().ok())
            .map(|e| (e - jiff::Timestamp::now()).get_seconds().max(0) as u64)
            .unwrap_or(900);
        self.keep("aws", Cached::Aws(creds.clone()), until(secs))
            .await;
        Ok(creds)
    }

    /// A GCP access token: static, else the metadata server.
    pub async fn gcp(
        &self,
        http: &reqwest::Client,
        r: &SecretRef,
    ) -> Result<String, ProviderError> {
        for name in ["GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_ACCESS_TOKEN"] {
            if let Some(t) = var(name) {
                return Ok(t);
            }
        }
        let host = var("GCE_METADATA_HOST").or_else(|| {
            var("KUBERNETES_SERVICE_HOST").map(|_| "metadata.google.internal".to_string())
        });
        let Some(host) = host else {
            return Err(denied(
                r,
                "no access token: export GOOGLE_OAUTH_ACCESS_TOKEN=$(gcloud auth print-access-token), or run where a metadata server answers (GCE_METADATA_HOST)",
            ));
        };
        if let Some(Cached::Token(t)) = self.cached("gcp").await {
            return Ok(t);
        }
        let url =
            format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token");
        let answer = send(r, http.get(&url).header("Metadata-Flavor", "Google")).await?;
        let (t, secs) = token_answer(r, answer, "metadata server token")?;
        self.keep("gcp", Cached::Token(t.clone()), until(secs))
            .await;
        Ok(t)
    }

    /// An Azure Key Vault token: static, else a federated token file, else
    /// client credentials.
    pub async fn azure(
        &self,
        http: &reqwest::Client,
        r: &SecretRef,
    ) -> Result<String, ProviderError> {
        if let Some(t) = var("AZURE_ACCESS_TOKEN") {
            return Ok(t);
        }
        if let Some(Cached::Token(t)) = self.cached("azure").await {
            return Ok(t);
        }
        let (Some(tenant), Some(client)) = (var("AZURE_TENANT_ID"), var("AZURE_CLIENT_ID")) else {
            return Err(denied(
                r,
                "no credentials: set AZURE_ACCESS_TOKEN, or AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE",
            ));
        };
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", client),
            ("scope", "https://vault.azure.net/.default".to_string()),
        ];
        if let Some(file) = var("AZURE_FEDERATED_TOKEN_FILE") {
            let assertion = read_token(r, &file, "AZURE_FEDERATED_TOKEN_FILE")?;
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", assertion));
        } else if let Some(secret) = var("AZURE_CLIENT_SECRET") {
            form.push(("client_secret", secret));
        } else {
            return Err(denied(
                r,
                "no credentials: set AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE",
            ));
        }
        let authority = var("AZURE_AUTHORITY_HOST")
            .unwrap_or_else(|| "https://login.microsoftonline.com".into());
        let url = format!(
            "{}/{tenant}/oauth2/v2.0/token",
            authority.trim_end_matches('/')
        );
        let answer = send(r, http.post(&url).form(&form)).await?;
        let (t, secs) = token_answer(r, answer, "token request")?;
        self.keep("azure", Cached::Token(t.clone()), until(secs))
            .await;
        Ok(t)
    }

    /// A Vault token: `VAULT_TOKEN`, else the Kubernetes auth method.
    pub async fn vault(
        &self,
        http: &reqwest::Client,
        r: &SecretRef,
        addr: &str,
    ) -> Result<String, ProviderError> {
        if let Some(t) = var("VAULT_TOKEN") {
            return Ok(t);
        }
        let Some(role) = var("VAULT_K8S_ROLE") else {
            return Err(denied(
                r,
                "VAULT_TOKEN is not set; log in with `vault login` and export VAULT_TOKEN, or set VAULT_K8S_ROLE to log in with this Pod's ServiceAccount",
            ));
        };
        if let Some(Cached::Token(t)) = self.cached("vault").await {
            return Ok(t);
        }
        let dir = std::env::var(shared::kubeconfig::SERVICE_ACCOUNT_DIR_ENV)
            .unwrap_or_else(|_| "/var/run/secrets/kubernetes.io/serviceaccount".into());
        let file = var("VAULT_K8S_TOKEN_FILE").unwrap_or_else(|| format!("{dir}/token"));
        let jwt = read_token(r, &file, "the ServiceAccount token")?;
        let mount = var("VAULT_K8S_MOUNT").unwrap_or_else(|| "kubernetes".into());
        let url = format!("{}/v1/auth/{mount}/login", addr.trim_end_matches('/'));
        let mut req = http
            .post(&url)
            .json(&serde_json::json!({"role": role, "jwt": jwt}));
        if let Some(ns) = var("VAULT_NAMESPACE") {
            req = req.header("X-Vault-Namespace", ns);
        }
        let Answer {
            status,
            retry_after,
            body,
        } = send(r, req).await?;
        if !status.is_success() {
            let msg = body["errors"]
                .as_array()
                .and_then(|e| e.first())
                .and_then(|e| e.as_str())
                .unwrap_or("no error message");
            return Err(ProviderError::from_status(
                r,
                status,
                format!("Kubernetes auth login as role {role}: {msg}"),
                retry_after,
            ));
        }
        let Some(t) = body["auth"]["client_token"].as_str() else {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                r,
                "the login answer has no auth.client_token",
            ));
        };
        let secs = body["auth"]["lease_duration"].as_u64().unwrap_or(600);
        self.keep("vault", Cached::Token(t.to_string()), until(secs))
            .await;
        Ok(t.to_string())
    }
}

/// `access_token` and `expires_in` of an OAuth-style answer.
fn token_answer(r: &SecretRef, a: Answer, what: &str) -> Result<(String, u64), ProviderError> {
    if !a.status.is_success() {
        let msg = a.body["error_description"]
            .as_str()
            .or(a.body["error"].as_str())
            .unwrap_or("no error message");
        return Err(ProviderError::from_status(
            r,
            a.status,
            format!("{what}: {msg}"),
            a.retry_after,
        ));
    }
    let t = a.body["access_token"].as_str().ok_or_else(|| {
        ProviderError::new(ErrorKind::Invalid, r, format!("{what}: no access_token"))
    })?;
    let secs = a.body["expires_in"]
        .as_u64()
        .or_else(|| a.body["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(3600);
    Ok((t.to_string(), secs))
}

/// The text of the first `<tag>` element (STS answers are flat XML).
fn xml<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(text[start..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_answers_are_read_without_an_xml_library() {
        let t = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><SessionToken>tok</SessionToken><SecretAccessKey>sk</SecretAccessKey><Expiration>2030-01-01T00:00:00Z</Expiration><AccessKeyId>ASIA1</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        assert_eq!(xml(t, "AccessKeyId"), Some("ASIA1"));
        assert_eq!(xml(t, "SessionToken"), Some("tok"));
        assert_eq!(xml(t, "Message"), None);
    }

    #[test]
    fn credentials_are_renewed_before_they_expire() {
        let now = Instant::now();
        assert!(until(3600) <= now + Duration::from_secs(3300) + Duration::from_millis(50));
        // Short-lived: at half their life, not already expired.
        assert!(until(60) >= now + Duration::from_secs(29));
    }
}
