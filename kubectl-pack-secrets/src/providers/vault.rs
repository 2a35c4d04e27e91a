//! HashiCorp Vault KV v2: `GET {VAULT_ADDR}/v1/{mount}/data/{path}[?version=N]`
//! with `X-Vault-Token` (`VAULT_TOKEN`, or a Kubernetes auth login: see
//! `identity`) and `X-Vault-Namespace`; the answer's
//! `data.data` map is the secret.

use super::{
    Answer, ErrorKind, Fetched, ProviderError, SecretRef, env_required, from_json_map, send,
};

/// Reads one KV v2 secret.
pub async fn fetch(
    http: &reqwest::Client,
    identity: &super::identity::Identity,
    r: &SecretRef,
) -> Result<Fetched, ProviderError> {
    let addr = env_required(
        r,
        "VAULT_ADDR",
        "set it to your Vault's address (e.g. https://vault.example:8200)",
    )?;
    let token = identity.vault(http, r, &addr).await?;
    let (mount, path) = r
        .path
        .trim_matches('/')
        .split_once('/')
        .unwrap_or((&r.path, ""));
    let mut url = format!("{}/v1/{mount}/data/{path}", addr.trim_end_matches('/'));
    if let Some(v) = &r.version {
        url.push_str(&format!("?version={v}"));
    }
    let mut req = http.get(&url).header("X-Vault-Token", token);
    if let Ok(ns) = std::env::var("VAULT_NAMESPACE")
        && !ns.is_empty()
    {
        req = req.header("X-Vault-Namespace", ns);
    }
    let Answer {
        status,
        retry_after: after,
        body,
    } = send(r, req).await?;
    if !status.is_success() {
        let errors = body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "no error message".into());
        return Err(ProviderError::from_status(r, status, errors, after));
    }
    // A deleted or destroyed version answers 200/404 with data: null.
    let data = body["data"]["data"].as_object().ok_or_else(|| {
        let deleted = body["data"]["metadata"]["deletion_time"]
            .as_str()
            .is_some_and(|t| !t.is_empty());
        ProviderError::new(
            if deleted {
                ErrorKind::NotFound
            } else {
                ErrorKind::Invalid
            },
            r,
            if deleted {
                "this version was deleted"
            } else {
                "the answer has no data.data (is the mount KV version 2?)"
            },
        )
    })?;
    Ok(from_json_map(data))
}
