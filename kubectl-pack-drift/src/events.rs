//! Drift history: the events (detected, corrected, correction failed) of a
//! release, kept in the cluster in one ConfigMap per release next to the
//! release records, bounded (oldest dropped), written with
//! resourceVersion preconditions so concurrent writers do not lose events.

use anyhow::Result;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde::{Deserialize, Serialize};

use crate::report::{Report, State};

/// Events kept per release.
pub const MAX_EVENTS: usize = 200;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Drift found.
    Detected,
    /// Drift undone by sync or auto-sync.
    Corrected,
    /// Auto-sync gave up (DriftCorrectionFailed).
    Failed,
}

/// One changed path in an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPath {
    /// Path.
    pub path: String,
    /// Who.
    pub manager: String,
    /// When (managedFields time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl EventPath {
    /// `path (by manager at time)`.
    pub fn describe(&self) -> String {
        match &self.time {
            Some(t) => format!("{} (by {} at {t})", self.path, self.manager),
            None => format!("{} (by {})", self.path, self.manager),
        }
    }
}

/// One object in an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventObject {
    /// `Kind/name`.
    pub object: String,
    /// modified / deleted / unexpected.
    pub state: String,
    /// Severity.
    pub severity: String,
    /// Changed paths.
    #[serde(default)]
    pub paths: Vec<EventPath>,
}

/// A drift event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When (RFC 3339).
    pub time: String,
    /// What happened.
    pub kind: Kind,
    /// Which command saw it (status, watch, sync, auto-sync).
    pub by: String,
    /// Overall severity.
    #[serde(default)]
    pub severity: String,
    /// Objects concerned.
    pub objects: Vec<EventObject>,
    /// Free text (errors of failed corrections).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Event {
    /// A "detected" event from a report's drifted objects.
    pub fn from_report(kind: Kind, by: &str, report: &Report) -> Event {
        Event {
            time: shared::release::now(),
            kind,
            by: by.into(),
            severity: report.severity.map(|s| s.to_string()).unwrap_or_default(),
            objects: report
                .drifted
                .iter()
                .map(|o| EventObject {
                    object: o.key(),
                    state: match o.state {
                        State::Modified => "modified",
                        State::Deleted => "deleted",
                        State::Unexpected => "unexpected",
                    }
                    .into(),
                    severity: o.severity.to_string(),
                    paths: o
                        .fields
                        .iter()
                        .map(|f| EventPath {
                            path: f.path.clone(),
                            manager: f.manager.clone(),
                            time: f.time.clone(),
                        })
                        .collect(),
                })
                .collect(),
            message: String::new(),
        }
    }

    /// What was found, without times: equal for the same drift seen twice.
    fn fingerprint(&self) -> Vec<(String, String, Vec<String>)> {
        self.objects
            .iter()
            .map(|o| {
                (
                    o.object.clone(),
                    o.state.clone(),
                    o.paths.iter().map(|p| p.path.clone()).collect(),
                )
            })
            .collect()
    }
}

/// Whether the last event about the same objects (detected or corrected)
/// is this very drift: then it was recorded, and announced, already — by
/// this process or by a leader before it.
fn already_known(events: &[Event], event: &Event) -> bool {
    let objects: Vec<&str> = event.objects.iter().map(|o| o.object.as_str()).collect();
    events
        .iter()
        .rev()
        .filter(|e| e.kind != Kind::Failed)
        .find(|e| {
            e.objects
                .iter()
                .any(|o| objects.contains(&o.object.as_str()))
        })
        .is_some_and(|last| {
            last.kind == Kind::Detected && last.fingerprint() == event.fingerprint()
        })
}

fn name(release: &str) -> String {
    format!("kubectl-pack-drift.{release}")
}

/// The history of one release.
pub struct History {
    api: Api<ConfigMap>,
    release: String,
}

impl History {
    /// The history of `release` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, release: &str) -> History {
        History {
            api: Api::namespaced(client, namespace),
            release: release.into(),
        }
    }

    /// All events, oldest first.
    pub async fn read(&self) -> Result<Vec<Event>> {
        let cm = self.api.get_opt(&name(&self.release)).await.map_err(|e| {
            shared::Error::api(format!("read the drift history of {}", self.release), e)
        })?;
        Ok(cm.map(|c| parse(&c)).unwrap_or_default())
    }

    /// Appends an event; a "detected" event equal to the last one is not
    /// repeated. Returns whether it was written.
    pub async fn record(&self, event: Event) -> Result<bool> {
        let cm_name = name(&self.release);
        for _ in 0..5 {
            let existing = self
                .api
                .get_opt(&cm_name)
                .await
                .map_err(|e| shared::Error::api("read the drift history", e))?;
            let mut events = existing.as_ref().map(parse).unwrap_or_default();
            if event.kind == Kind::Detected && already_known(&events, &event) {
                return Ok(false);
            }
            events.push(event.clone());
            if events.len() > MAX_EVENTS {
                events.drain(..events.len() - MAX_EVENTS);
            }
            let data = serde_json::to_string(&events)?;
            let result = match existing {
                Some(mut cm) => {
                    cm.data = Some([("events.json".to_string(), data)].into());
                    self.api
                        .replace(&cm_name, &PostParams::default(), &cm)
                        .await
                }
                None => {
                    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                        "metadata": {"name": cm_name, "labels": {
                            "app.kubernetes.io/managed-by": "kubectl-pack",
                            "sherpack.io/drift-history": self.release}},
                        "data": {"events.json": data},
                    }))?;
                    self.api.create(&PostParams::default(), &cm).await
                }
            };
            match result {
                Ok(_) => return Ok(true),
                // Someone else wrote meanwhile: read again.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => {
                    return Err(shared::Error::api(
                        format!("record a drift event of {}", self.release),
                        e,
                    )
                    .into());
                }
            }
        }
        anyhow::bail!(
            "the drift history of {} kept changing while writing; try again",
            self.release
        )
    }
}

fn parse(cm: &ConfigMap) -> Vec<Event> {
    cm.data
        .as_ref()
        .and_then(|d| d.get("events.json"))
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, object: &str, path: &str) -> Event {
        Event {
            time: "t".into(),
            kind,
            by: "watch".into(),
            severity: String::new(),
            objects: vec![EventObject {
                object: object.into(),
                state: "modified".into(),
                severity: "Low".into(),
                paths: vec![EventPath {
                    path: path.into(),
                    manager: "m".into(),
                    time: None,
                }],
            }],
            message: String::new(),
        }
    }

    #[test]
    fn a_drift_seen_again_after_a_takeover_is_known_even_after_other_objects_drifted() {
        let a = ev(Kind::Detected, "ConfigMap/a", ".data.k");
        let b = ev(Kind::Detected, "ConfigMap/b", ".data.k");
        assert!(already_known(&[a.clone(), b.clone()], &a));
        // Corrected since: the same drift again is news.
        let fixed = ev(Kind::Corrected, "ConfigMap/a", ".data.k");
        assert!(!already_known(&[a.clone(), b, fixed], &a));
        // Another path of the same object is news.
        assert!(!already_known(
            &[a],
            &ev(Kind::Detected, "ConfigMap/a", ".data.j")
        ));
    }
}
