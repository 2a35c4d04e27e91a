//! Azure Key Vault: `GET {vault}/secrets/{name}[/{version}]?api-version=7.4`
//! with a Bearer token for `https://vault.azure.net/.default`, taken from
//! `AZURE_ACCESS_TOKEN` or obtained with client credentials
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`,
//! `AZURE_AUTHORITY_HOST`).

use super::{Answer, ErrorKind, Fetched, ProviderError, SecretRef, from_payload, send};

fn vault_url(vault: &str) -> String {
    match std::env::var("AZURE_KEYVAULT_ENDPOINT") {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_string(),
        _ => format!("https://{vault}.vault.azure.net"),
    }
}

async fn token(
    http: &reqwest::Client,
    cache: &tokio::sync::Mutex<Option<String>>,
    r: &SecretRef,
) -> Result<String, ProviderError> {
    if let Ok(t) = std::env::var("AZURE_ACCESS_TOKEN")
        && !t.is_empty()
    {
        return Ok(t);
    }
    let mut cached = cache.lock().await;
    if let Some(t) = cached.as_ref() {
        return Ok(t.clone());
    }
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let (Some(tenant), Some(client), Some(secret)) = (
        var("AZURE_TENANT_ID"),
        var("AZURE_CLIENT_ID"),
        var("AZURE_CLIENT_SECRET"),
    ) else {
        return Err(ProviderError::new(
            ErrorKind::PermissionDenied,
            r,
            "no credentials: set AZURE_ACCESS_TOKEN, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
        ));
    };
    let authority =
        var("AZURE_AUTHORITY_HOST").unwrap_or_else(|| "https://login.microsoftonline.com".into());
    let url = format!(
        "{}/{tenant}/oauth2/v2.0/token",
        authority.trim_end_matches('/')
    );
    let Answer {
        status,
        retry_after: after,
        body,
    } = send(
        r,
        http.post(&url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", "https://vault.azure.net/.default"),
        ]),
    )
    .await?;
    if !status.is_success() {
        let msg = body["error_description"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("no error message");
        return Err(ProviderError::from_status(
            r,
            status,
            format!("token request: {msg}"),
            after,
        ));
    }
    let t = body["access_token"]
        .as_str()
        .ok_or_else(|| {
            ProviderError::new(ErrorKind::Invalid, r, "token answer has no access_token")
        })?
        .to_string();
    *cached = Some(t.clone());
    Ok(t)
}

/// Reads one secret (latest or a given version).
pub async fn fetch(
    http: &reqwest::Client,
    cache: &tokio::sync::Mutex<Option<String>>,
    r: &SecretRef,
) -> Result<Fetched, ProviderError> {
    let (vault, name) = r.path.split_once('/').unwrap_or((&r.path, ""));
    let token = token(http, cache, r).await?;
    let mut url = format!("{}/secrets/{name}", vault_url(vault));
    if let Some(v) = &r.version {
        url.push('/');
        url.push_str(v);
    }
    url.push_str("?api-version=7.4");
    let Answer {
        status,
        retry_after: after,
        body,
    } = send(r, http.get(&url).bearer_auth(token)).await?;
    if !status.is_success() {
        let code = body["error"]["code"].as_str().unwrap_or_default();
        let msg = body["error"]["message"]
            .as_str()
            .unwrap_or("no error message");
        return Err(ProviderError::from_status(
            r,
            status,
            format!("{code} {msg}").trim().to_string(),
            after,
        ));
    }
    let value = body["value"]
        .as_str()
        .ok_or_else(|| ProviderError::new(ErrorKind::Invalid, r, "the answer has no value"))?;
    Ok(from_payload(r, value.as_bytes().to_vec()))
}
