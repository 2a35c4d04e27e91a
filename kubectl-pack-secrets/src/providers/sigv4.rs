//! AWS Signature Version 4 for plain HTTP requests, through the `aws-sigv4`
//! crate, and AWS credentials from the standard environment variables or
//! the shared credentials file.

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

/// Static AWS credentials.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, else
    /// the `AWS_PROFILE` (default `default`) section of
    /// `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`).
    pub fn from_env() -> Option<Credentials> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        if let (Some(a), Some(s)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            return Some(Credentials {
                access_key_id: a,
                secret_access_key: s,
                session_token: var("AWS_SESSION_TOKEN"),
            });
        }
        let file = var("AWS_SHARED_CREDENTIALS_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| var("HOME").map(|h| std::path::Path::new(&h).join(".aws/credentials")))?;
        let text = std::fs::read_to_string(file).ok()?;
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let mut in_section = false;
        let (mut a, mut s, mut t) = (None, None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_section = line.trim_matches(['[', ']']).trim() == profile;
                continue;
            }
            if !in_section {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                let v = Some(v.trim().to_string());
                match k.trim() {
                    "aws_access_key_id" => a = v,
                    "aws_secret_access_key" => s = v,
                    "aws_session_token" => t = v,
                    _ => {}
                }
            }
        }
        Some(Credentials {
            access_key_id: a?,
            secret_access_key: s?,
            session_token: t,
        })
    }
}

/// A request to sign.
pub struct Request<'a> {
    /// `GET`, `POST`...
    pub method: &'a str,
    /// Full URL with query.
    pub url: &'a str,
    /// Headers to send, `host` included.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

/// Signs a request; returns the headers to add (`authorization`,
/// `x-amz-date`, and `x-amz-security-token` / `x-amz-content-sha256` when used).
pub fn sign_request(
    req: &Request<'_>,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    sign_body: bool,
) -> Result<Vec<(String, String)>, String> {
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        None,
        "kubectl-pack",
    )
    .into();
    let mut settings = SigningSettings::default();
    if sign_body {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        req.method,
        req.url,
        req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(headers
        .iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    //! AWS's published SigV4 test vectors (copied in tests/fixtures/sigv4).
    use super::*;

    fn vector(name: &str) -> (String, String, serde_json::Value) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/sigv4")
            .join(name);
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        (
            read("request.txt"),
            read("header-signed-request.txt"),
            serde_json::from_str(&read("context.json")).unwrap(),
        )
    }

    #[test]
    fn signs_the_aws_test_suite_requests() {
        for name in [
            "get-vanilla",
            "get-vanilla-query-order-key-case",
            "post-vanilla",
            "post-header-key-sort",
            "post-x-www-form-urlencoded",
        ] {
            let (request, signed, ctx) = vector(name);
            let (head, body) = request.split_once("\n\n").unwrap_or((&request, ""));
            let mut lines = head.lines();
            let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
            let headers: Vec<(String, String)> = lines
                .map(|l| {
                    let (k, v) = l.split_once(':').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            let host = &headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("host"))
                .unwrap()
                .1;
            let url = format!("https://{host}{}", first[1]);
            let creds = Credentials {
                access_key_id: ctx["credentials"]["access_key_id"].as_str().unwrap().into(),
                secret_access_key: ctx["credentials"]["secret_access_key"]
                    .as_str()
                    .unwrap()
                    .into(),
                session_token: None,
            };
            let time: SystemTime = jiff::Timestamp::from_second(1_440_938_160).unwrap().into(); // 2015-08-30T12:36:00Z
            let out = sign_request(
                &Request {
                    method: first[0],
                    url: &url,
                    headers: &headers,
                    body: body.as_bytes(),
                },
                &creds,
                ctx["region"].as_str().unwrap(),
                ctx["service"].as_str().unwrap(),
                time,
                ctx["sign_body"].as_bool().unwrap(),
            )
            .unwrap();
            let auth = out
                .iter()
                .find(|(k, _)| k == "authorization")
                .unwrap()
                .1
                .clone();
            let expected = signed
                .lines()
                .find_map(|l| l.strip_prefix("Authorization:"))
                .unwrap();
            assert_eq!(auth, expected, "{name}");
        }
    }
}
