//! Azure Key Vault: `GET {vault}/secrets/{name}[/{version}]?api-version=7.4`
//! with a Bearer token for `https://vault.azure.net/.default` (see
//! `identity`: `AZURE_ACCESS_TOKEN`, a federated token file, or client
//! credentials).

use super::{Answer, ErrorKind, Fetched, ProviderError, SecretRef, from_payload, send};

fn vault_url(vault: &str) -> String {
    match std::env::var("AZURE_KEYVAULT_ENDPOINT") {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_string(),
        _ => format!("https://{vault}.vault.azure.net"),
    }
}

/// Reads one secret (latest or a given version).
pub async fn fetch(
    http: &reqwest::Client,
    token: &str,
    r: &SecretRef,
) -> Result<Fetched, ProviderError> {
    let (vault, name) = r.path.split_once('/').unwrap_or((&r.path, ""));
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
