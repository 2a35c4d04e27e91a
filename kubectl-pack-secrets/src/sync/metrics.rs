//! `sync --watch --metrics-addr`: Secrets written by outcome, failures by
//! class, retries, Pods followed; `/healthz` and `/readyz` (ready once
//! connected, leading or standing by).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The counters.
#[derive(Default)]
pub struct Metrics {
    synced: Mutex<BTreeMap<String, u64>>,
    failures: Mutex<BTreeMap<String, u64>>,
    retries: AtomicU64,
    pods: AtomicU64,
    ready: AtomicBool,
}

impl Metrics {
    /// A Secret was written (or found unchanged).
    pub fn synced(&self, outcome: &str) {
        let mut m = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(outcome.into()).or_default() += 1;
    }

    /// A sync failed: `permanent` (reported once) or `transient` (retried).
    pub fn failed(&self, class: &str) {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(class.into()).or_default() += 1;
    }

    /// A transient failure is tried again.
    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Pods with the annotation being followed.
    pub fn pods(&self, n: usize) {
        self.pods.store(n as u64, Ordering::Relaxed);
    }

    /// Connected to the API server.
    pub fn ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut s = String::from(
            "# HELP secrets_sync_total Secrets synced, by outcome.\n# TYPE secrets_sync_total counter\n",
        );
        let synced = self
            .synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for o in ["created", "updated", "unchanged"] {
            let n = synced.get(o).copied().unwrap_or(0);
            s.push_str(&format!("secrets_sync_total{{outcome=\"{o}\"}} {n}\n"));
        }
        s.push_str("# HELP secrets_sync_failures_total Failed syncs, by class.\n# TYPE secrets_sync_failures_total counter\n");
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for c in ["permanent", "transient"] {
            let n = failures.get(c).copied().unwrap_or(0);
            s.push_str(&format!(
                "secrets_sync_failures_total{{class=\"{c}\"}} {n}\n"
            ));
        }
        s.push_str(&format!(
            "# HELP secrets_sync_retries_total Transient failures tried again.\n# TYPE secrets_sync_retries_total counter\nsecrets_sync_retries_total {}\n",
            self.retries.load(Ordering::Relaxed)
        ));
        s.push_str(&format!(
            "# HELP secrets_sync_pods Pods with the sync annotation being followed.\n# TYPE secrets_sync_pods gauge\nsecrets_sync_pods {}\n",
            self.pods.load(Ordering::Relaxed)
        ));
        s
    }
}

/// `/healthz`, `/readyz`, `/metrics`.
pub fn routes(m: std::sync::Arc<Metrics>) -> shared::probe::Routes {
    use shared::probe::Response;
    std::sync::Arc::new(move |path| match path {
        "/healthz" => Some(Response::ok("ok\n")),
        "/readyz" if m.ready.load(Ordering::Relaxed) => Some(Response::ok("ok\n")),
        "/readyz" => Some(Response::unavailable("not connected yet\n")),
        "/metrics" => Some(Response::metrics(m.render())),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_outcomes_failures_and_pods() {
        let m = Metrics::default();
        m.synced("created");
        m.failed("transient");
        m.retried();
        m.pods(3);
        let t = m.render();
        assert!(t.contains("secrets_sync_total{outcome=\"created\"} 1"));
        assert!(t.contains("secrets_sync_failures_total{class=\"transient\"} 1"));
        assert!(t.contains("secrets_sync_retries_total 1"));
        assert!(t.contains("secrets_sync_pods 3"));
    }
}
