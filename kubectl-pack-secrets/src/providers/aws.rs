//! AWS Secrets Manager (`secretsmanager.GetSecretValue`) and SSM Parameter
//! Store (`AmazonSSM.GetParameter` / `GetParametersByPath`): JSON 1.1
//! requests signed with SigV4. Endpoints: `AWS_ENDPOINT_URL_SECRETS_MANAGER`,
//! `AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL`, else the regional endpoint.

use std::time::SystemTime;

use base64::Engine;
use serde_json::json;

use super::sigv4::{self, Credentials};
use super::{Answer, ErrorKind, Fetched, ProviderError, SecretRef, from_payload, send};

/// `AWS_REGION`, `AWS_DEFAULT_REGION`, else us-east-1.
pub(super) fn region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "us-east-1".into())
}

fn endpoint(service_env: &str, host_prefix: &str, region: &str) -> String {
    [service_env, "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        .map(|v| v.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("https://{host_prefix}.{region}.amazonaws.com"))
}

/// One signed JSON 1.1 call; the parsed answer, or a classified error.
async fn call(
    http: &reqwest::Client,
    creds: &Credentials,
    r: &SecretRef,
    (service, service_env, host_prefix, target): (&str, &str, &str, &str),
    body: serde_json::Value,
) -> Result<serde_json::Value, ProviderError> {
    let region = region();
    let url = format!("{}/", endpoint(service_env, host_prefix, &region));
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_string();
    let body = body.to_string();
    let headers = vec![
        ("host".to_string(), host),
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("x-amz-target".to_string(), target.to_string()),
    ];
    let signed = sigv4::sign_request(
        &sigv4::Request {
            method: "POST",
            url: &url,
            headers: &headers,
            body: body.as_bytes(),
        },
        creds,
        &region,
        service,
        SystemTime::now(),
        false,
    )
    .map_err(|e| {
        ProviderError::new(
            ErrorKind::Invalid,
            r,
            format!("cannot sign the request: {e}"),
        )
    })?;
    let mut req = http.post(&url).body(body);
    for (k, v) in headers.iter().skip(1).chain(signed.iter()) {
        req = req.header(k, v);
    }
    let Answer {
        status,
        retry_after: after,
        body: answer,
    } = send(r, req).await?;
    if status.is_success() {
        return Ok(answer);
    }
    let kind_name = answer["__type"].as_str().unwrap_or_default();
    let kind_name = kind_name.rsplit('#').next().unwrap_or(kind_name);
    let message = answer["message"]
        .as_str()
        .or(answer["Message"].as_str())
        .unwrap_or("no error message");
    let kind = match kind_name {
        "ResourceNotFoundException" | "ParameterNotFound" | "ParameterVersionNotFound" => {
            ErrorKind::NotFound
        }
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException" => ErrorKind::PermissionDenied,
        "ThrottlingException" | "TooManyRequestsException" => ErrorKind::Throttled,
        "InternalServiceError" | "InternalServerError" | "ServiceUnavailable" => {
            ErrorKind::Unavailable
        }
        _ if status.as_u16() >= 500 => ErrorKind::Unavailable,
        _ if status.as_u16() == 429 => ErrorKind::Throttled,
        _ if status.as_u16() == 403 => ErrorKind::PermissionDenied,
        _ => ErrorKind::Invalid,
    };
    Err(ProviderError {
        kind,
        reference: r.to_string(),
        detail: format!("HTTP {} {kind_name}: {message}", status.as_u16()),
        retry_after: after,
    })
}

/// `aws-sm://ID[?version=STAGE|ID][#key]`.
pub async fn secrets_manager(
    http: &reqwest::Client,
    creds: &Credentials,
    r: &SecretRef,
) -> Result<Fetched, ProviderError> {
    let mut body = json!({ "SecretId": r.path });
    match &r.version {
        // Version ids are UUIDs; anything else is a stage label.
        Some(v) if v.len() == 36 && v.matches('-').count() == 4 => body["VersionId"] = json!(v),
        Some(v) => body["VersionStage"] = json!(v),
        None => body["VersionStage"] = json!("AWSCURRENT"),
    }
    let answer = call(
        http,
        creds,
        r,
        (
            "secretsmanager",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "secretsmanager",
            "secretsmanager.GetSecretValue",
        ),
        body,
    )
    .await?;
    if let Some(s) = answer["SecretString"].as_str() {
        return Ok(from_payload(r, s.as_bytes().to_vec()));
    }
    if let Some(b) = answer["SecretBinary"].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| ProviderError::new(ErrorKind::Invalid, r, "SecretBinary is not base64"))?;
        return Ok(from_payload(r, bytes));
    }
    Err(ProviderError::new(
        ErrorKind::Invalid,
        r,
        "the answer has neither SecretString nor SecretBinary",
    ))
}

/// `aws-ssm://PATH` (one parameter) or `aws-ssm://PATH/` (every parameter under it).
pub async fn parameter_store(
    http: &reqwest::Client,
    creds: &Credentials,
    r: &SecretRef,
) -> Result<Fetched, ProviderError> {
    let svc = ("ssm", "AWS_ENDPOINT_URL_SSM", "ssm", "");
    if r.path.ends_with('/') {
        let mut out = Fetched::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({ "Path": r.path.trim_end_matches('/'), "Recursive": true, "WithDecryption": true });
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let answer = call(
                http,
                creds,
                r,
                (svc.0, svc.1, svc.2, "AmazonSSM.GetParametersByPath"),
                body,
            )
            .await?;
            for p in answer["Parameters"].as_array().into_iter().flatten() {
                let name = p["Name"].as_str().unwrap_or_default();
                let key = name
                    .strip_prefix(r.path.as_str())
                    .unwrap_or(name)
                    .trim_start_matches('/')
                    .replace('/', "_");
                out.insert(
                    key,
                    p["Value"].as_str().unwrap_or_default().as_bytes().to_vec(),
                );
            }
            token = answer["NextToken"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        if out.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                r,
                "no parameters under this path",
            ));
        }
        return Ok(out);
    }
    let name = match &r.version {
        Some(v) => format!("{}:{v}", r.path),
        None => r.path.clone(),
    };
    let answer = call(
        http,
        creds,
        r,
        (svc.0, svc.1, svc.2, "AmazonSSM.GetParameter"),
        json!({ "Name": name, "WithDecryption": true }),
    )
    .await?;
    let value = answer["Parameter"]["Value"].as_str().ok_or_else(|| {
        ProviderError::new(ErrorKind::Invalid, r, "the answer has no Parameter.Value")
    })?;
    Ok(from_payload(r, value.as_bytes().to_vec()))
}
