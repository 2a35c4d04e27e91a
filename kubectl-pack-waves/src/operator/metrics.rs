//! The operator's Prometheus metrics: reconciles by result and their
//! durations, registry polls by result, and a drift gauge per PackRelease.

use std::collections::BTreeMap;
use std::sync::Mutex;

const BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Default)]
struct Counts {
    reconciles: BTreeMap<String, u64>,
    polls: BTreeMap<String, u64>,
    drift: BTreeMap<(String, String), u8>,
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The counters, shared by the reconciler and the HTTP endpoint.
pub struct Metrics {
    counts: Mutex<Counts>,
}

impl Metrics {
    /// All zero.
    pub fn new() -> Metrics {
        Metrics {
            counts: Mutex::new(Counts {
                buckets: vec![0; BUCKETS.len()],
                ..Default::default()
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Counts) -> R) -> R {
        f(&mut self.counts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A reconcile ended with `result` after `seconds`.
    pub fn reconciled(&self, result: &str, seconds: f64) {
        self.with(|c| {
            *c.reconciles.entry(result.into()).or_default() += 1;
            c.sum += seconds;
            c.count += 1;
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    c.buckets[i] += 1;
                }
            }
        });
    }

    /// A registry poll ended with `result` (`ok`, `error`, `no-match`).
    pub fn polled(&self, result: &str) {
        self.with(|c| *c.polls.entry(result.into()).or_default() += 1);
    }

    /// Whether PackRelease `namespace/name` has drift.
    pub fn drift(&self, namespace: &str, name: &str, drifted: bool) {
        self.with(|c| {
            c.drift
                .insert((namespace.into(), name.into()), u8::from(drifted))
        });
    }

    /// Forgets a deleted PackRelease.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.with(|c| c.drift.remove(&(namespace.into(), name.into())));
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        self.with(|c| {
            let mut s = String::new();
            s.push_str("# HELP packrelease_reconciles_total PackRelease reconciles, by result.\n# TYPE packrelease_reconciles_total counter\n");
            for r in ["deployed", "unchanged", "failed", "stalled", "suspended"] {
                let n = c.reconciles.get(r).copied().unwrap_or(0);
                s.push_str(&format!("packrelease_reconciles_total{{result=\"{r}\"}} {n}\n"));
            }
            s.push_str("# HELP packrelease_reconcile_duration_seconds Time of a reconcile.\n# TYPE packrelease_reconcile_duration_seconds histogram\n");
            for (i, b) in BUCKETS.iter().enumerate() {
                s.push_str(&format!(
                    "packrelease_reconcile_duration_seconds_bucket{{le=\"{b}\"}} {}\n",
                    c.buckets[i]
                ));
            }
            s.push_str(&format!(
                "packrelease_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {}\npackrelease_reconcile_duration_seconds_sum {}\npackrelease_reconcile_duration_seconds_count {}\n",
                c.count, c.sum, c.count
            ));
            s.push_str("# HELP packrelease_registry_polls_total Registry polls, by result.\n# TYPE packrelease_registry_polls_total counter\n");
            for r in ["ok", "error", "no-match"] {
                let n = c.polls.get(r).copied().unwrap_or(0);
                s.push_str(&format!("packrelease_registry_polls_total{{result=\"{r}\"}} {n}\n"));
            }
            s.push_str("# HELP packrelease_drift 1 while the release of a PackRelease has drift.\n# TYPE packrelease_drift gauge\n");
            for ((ns, name), v) in &c.drift {
                s.push_str(&format!(
                    "packrelease_drift{{namespace=\"{}\",name=\"{}\"}} {v}\n",
                    esc(ns),
                    esc(name)
                ));
            }
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_reconciles_polls_and_drift() {
        let m = Metrics::new();
        m.reconciled("deployed", 0.3);
        m.polled("error");
        m.drift("apps", "web", true);
        let t = m.render();
        assert!(t.contains("packrelease_reconciles_total{result=\"deployed\"} 1"));
        assert!(t.contains("packrelease_reconcile_duration_seconds_bucket{le=\"0.5\"} 1"));
        assert!(t.contains("packrelease_reconcile_duration_seconds_bucket{le=\"0.25\"} 0"));
        assert!(t.contains("packrelease_registry_polls_total{result=\"error\"} 1"));
        assert!(t.contains("packrelease_drift{namespace=\"apps\",name=\"web\"} 1"));
        m.forget("apps", "web");
        assert!(!m.render().contains("name=\"web\""));
    }
}
