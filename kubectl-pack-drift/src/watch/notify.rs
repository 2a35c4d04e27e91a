//! Notifications of `watch`: a JSON report POSTed to a webhook, and a Slack
//! incoming-webhook message coloured by severity. Paths, managers and times
//! only: values never leave the process (they may be Secret data).

use serde_json::{Value, json};

use crate::events::Event;

/// Scheme and host of a URL: webhook paths carry tokens (Slack's do).
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}/…",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(invalid URL)".into(),
    }
}

/// Where to send.
#[derive(Clone)]
pub struct Notifier {
    http: reqwest::Client,
    webhook: Option<String>,
    slack: Option<String>,
    release: String,
    namespace: String,
}

fn colour(event: &Event) -> &'static str {
    match (
        serde_json::to_value(event.kind).ok(),
        event.severity.as_str(),
    ) {
        (Some(Value::String(k)), _) if k == "corrected" => "#2eb67d",
        (_, "Critical") | (_, "High") => "#e01e5a",
        (_, "Medium") => "#ecb22e",
        _ => "#cccccc",
    }
}

impl Notifier {
    /// A notifier; sends nothing when both URLs are None.
    pub fn new(
        release: &str,
        namespace: &str,
        webhook: Option<String>,
        slack: Option<String>,
    ) -> Notifier {
        Notifier {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .user_agent(concat!("kubectl-pack-drift/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            webhook,
            slack,
            release: release.into(),
            namespace: namespace.into(),
        }
    }

    /// The webhook's JSON body.
    pub fn webhook_body(&self, event: &Event) -> Value {
        json!({
            "release": self.release,
            "namespace": self.namespace,
            "event": event.kind,
            "severity": event.severity,
            "time": event.time,
            "message": event.message,
            "objects": event.objects.iter().map(|o| json!({
                "object": o.object, "state": o.state, "severity": o.severity,
                "changes": o.paths.iter().map(|p| json!({"path": p.path, "manager": p.manager, "time": p.time})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// Slack's incoming-webhook message.
    pub fn slack_body(&self, event: &Event) -> Value {
        let kind = serde_json::to_value(event.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let title = format!(
            "Drift {kind} in release {} ({}){}",
            self.release,
            self.namespace,
            if event.severity.is_empty() {
                String::new()
            } else {
                format!(": {}", event.severity)
            }
        );
        let mut lines = Vec::new();
        for o in &event.objects {
            lines.push(format!("*{}* {} [{}]", o.object, o.state, o.severity));
            for p in &o.paths {
                lines.push(format!("• {}", p.describe()));
            }
        }
        if !event.message.is_empty() {
            lines.push(event.message.clone());
        }
        json!({
            "text": title,
            "attachments": [{
                "color": colour(event),
                "title": title,
                "text": lines.join("\n"),
                "footer": "kubectl pack-drift",
                "ts": jiff::Timestamp::now().as_second(),
            }],
        })
    }

    /// Sends to every configured target; failures are warnings.
    pub async fn send(&self, event: &Event) {
        let targets = [
            self.webhook.as_ref().map(|u| (u, self.webhook_body(event))),
            self.slack.as_ref().map(|u| (u, self.slack_body(event))),
        ];
        for (url, body) in targets.into_iter().flatten() {
            let mut last = String::new();
            for attempt in 0..2 {
                match self.http.post(url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        last.clear();
                        break;
                    }
                    Ok(r) => last = format!("HTTP {}", r.status()),
                    Err(e) => last = shared::error::one_line(&e.to_string()),
                }
                if attempt == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
            if !last.is_empty() {
                shared::output::warn(&format!("notification to {} failed: {last}", redact(url)));
            }
        }
    }
}
