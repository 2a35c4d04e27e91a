//! `watch --auto-sync`: restoring drifted objects, at most three attempts
//! per object (after 0, 1 and 2 s, with jitter), and giving up —
//! `DriftCorrectionFailed`, recorded, notified, and a Warning Event on the
//! object — instead of fighting whoever keeps changing it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::api::Api;
use serde_json::json;
use shared::release::ObjectRecord;

use super::{MAX_ATTEMPTS, Msg, Watch, single};
use crate::check::{LiveKey, key_of};
use crate::events::{Event, Kind};

impl Watch<'_> {
    pub(super) fn schedule(&mut self, rec: &ObjectRecord, attempt: u32) {
        let key = key_of(rec);
        let drift = self.state.get(&key).cloned();
        if let Some(d) = drift {
            self.in_flight.insert(key.clone(), d);
        }
        self.attempts.entry(key).or_default().push(Instant::now());
        let client = self.k.client.clone();
        let rec = rec.clone();
        let (release, namespace) = (self.rel.name.clone(), self.rel.namespace.clone());
        let tx = self.tx.clone();
        tokio::spawn(async move {
            // Attempt 1 at once, then after 1 s and 2 s, with up to 25% jitter.
            if attempt > 1 {
                let base = Duration::from_secs(1 << (attempt - 2));
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos() % 250)
                    .unwrap_or(0);
                tokio::time::sleep(base + base * jitter / 1000).await;
            }
            let of = crate::restore::For {
                release: &release,
                namespace: &namespace,
            };
            let result = crate::restore::restore(&client, &rec, of, false)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = tx.send(Msg::Corrected(key_of(&rec), attempt, result)).await;
        });
    }

    pub(super) async fn corrected(
        &mut self,
        key: LiveKey,
        attempt: u32,
        result: Result<(), String>,
        by_key: &HashMap<LiveKey, &ObjectRecord>,
    ) {
        let corrected = self.in_flight.remove(&key);
        let Some(rec) = by_key.get(&key) else { return };
        let name = format!("{}/{}", rec.kind, rec.name);
        match result {
            Ok(()) => {
                self.metrics.corrected("success");
                self.line(
                    "corrected",
                    &name,
                    &format!("restored to the recorded state (attempt {attempt})"),
                );
                if let Some(d) = corrected {
                    self.announce(d, Kind::Corrected).await;
                }
            }
            Err(e) => {
                self.metrics.corrected("failure");
                if !self.state.contains_key(&key) {
                    return;
                }
                if attempt < MAX_ATTEMPTS {
                    self.line(
                        "retry",
                        &name,
                        &format!("correction attempt {attempt} failed: {e}"),
                    );
                    self.schedule(rec, attempt + 1);
                    return;
                }
                let message =
                    format!("DriftCorrectionFailed: gave up after {attempt} attempts: {e}");
                self.give_up(rec, &message).await;
            }
        }
    }

    /// Stops correcting an object: prints, records, notifies, and leaves a
    /// Warning Event on it.
    pub(super) async fn give_up(&mut self, rec: &ObjectRecord, message: &str) {
        let key = key_of(rec);
        self.gave_up.insert(key.clone());
        self.line("failed", &format!("{}/{}", rec.kind, rec.name), message);
        if let Some(d) = self.state.get(&key).cloned() {
            let mut report = single(self.rel, d);
            report.finish();
            let mut event = Event::from_report(Kind::Failed, "auto-sync", &report);
            event.message = message.to_string();
            if let Err(err) = self.history.record(event.clone()).await {
                shared::output::warn(&format!(
                    "drift event not recorded: {}",
                    shared::error::one_line(&err.to_string())
                ));
            }
            self.notifier.send(&event).await;
        }
        self.kube_event(rec, message).await;
    }

    /// A Warning Event on the object, so `kubectl describe` shows it (best effort).
    async fn kube_event(&self, rec: &ObjectRecord, message: &str) {
        let ns = rec.namespace.clone().unwrap_or_else(|| "default".into());
        let now = shared::release::now();
        let ev = json!({
            "metadata": {"generateName": format!("{}.", rec.name), "namespace": ns},
            "involvedObject": {"apiVersion": rec.api_version, "kind": rec.kind, "name": rec.name, "namespace": rec.namespace},
            "reason": "DriftCorrectionFailed", "type": "Warning", "message": message,
            "source": {"component": "kubectl-pack-drift"},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        let api: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.k.client.clone(), &ns);
        if let Ok(ev) = serde_json::from_value(ev) {
            let _ = api.create(&Default::default(), &ev).await;
        }
    }
}
