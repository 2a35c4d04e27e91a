//! GCP Secret Manager: `GET {endpoint}/v1/projects/P/secrets/S/versions/V:access`
//! with a Bearer token; the payload's `dataCrc32c` is verified.

use base64::Engine;

use super::{Answer, ErrorKind, Fetched, ProviderError, SecretRef, from_payload, send};

/// The API base: `CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER` (gcloud's
/// override) or the public endpoint.
fn endpoint() -> String {
    std::env::var("CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| v.trim_end_matches('/').trim_end_matches("/v1").to_string())
        .unwrap_or_else(|| "https://secretmanager.googleapis.com".into())
}

/// Reads one secret version.
pub async fn fetch(
    http: &reqwest::Client,
    token: &str,
    r: &SecretRef,
) -> Result<Fetched, ProviderError> {
    let version = r.version.as_deref().unwrap_or("latest");
    let url = format!("{}/v1/{}/versions/{version}:access", endpoint(), r.path);
    let Answer {
        status,
        retry_after: after,
        body,
    } = send(r, http.get(&url).bearer_auth(token)).await?;
    if !status.is_success() {
        let msg = body["error"]["message"]
            .as_str()
            .unwrap_or("no error message");
        let code = body["error"]["status"].as_str().unwrap_or_default();
        return Err(ProviderError::from_status(
            r,
            status,
            format!("{code} {msg}").trim().to_string(),
            after,
        ));
    }
    let data = body["payload"]["data"].as_str().ok_or_else(|| {
        ProviderError::new(ErrorKind::Invalid, r, "the answer has no payload.data")
    })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| ProviderError::new(ErrorKind::Invalid, r, "payload.data is not base64"))?;
    if let Some(expected) = body["payload"]["dataCrc32c"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .or_else(|| body["payload"]["dataCrc32c"].as_u64())
        && u64::from(crc32c(&bytes)) != expected
    {
        // Corrupted in transit: worth another try.
        return Err(ProviderError::new(
            ErrorKind::Unavailable,
            r,
            "payload failed its CRC32C check",
        ));
    }
    Ok(from_payload(r, bytes))
}

/// CRC-32C (Castagnoli), as GCP computes `dataCrc32c`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = 0u32.wrapping_sub(crc & 1);
            crc = (crc >> 1) ^ (0x82F6_3B78 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(super::crc32c(b"123456789"), 0xE306_9283);
    }
}
