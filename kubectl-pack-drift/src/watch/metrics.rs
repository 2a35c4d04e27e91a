//! Prometheus text metrics, `/healthz` and `/readyz` for `watch --metrics-addr`
//! (served by `shared::probe`). Labels are release and namespace only, plus
//! severity/result where the metric is about those.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::report::Severity;

const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Counts {
    checks: u64,
    detected: BTreeMap<String, u64>,
    corrections: BTreeMap<String, u64>,
    buckets: Vec<u64>,
    sum: f64,
}

/// The watch's counters.
pub struct Metrics {
    labels: String,
    counts: Mutex<Counts>,
}

impl Metrics {
    /// Counters for one release.
    pub fn new(release: &str, namespace: &str) -> Metrics {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        Metrics {
            labels: format!(
                "release=\"{}\",namespace=\"{}\"",
                esc(release),
                esc(namespace)
            ),
            counts: Mutex::new(Counts {
                buckets: vec![0; BUCKETS.len()],
                ..Default::default()
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Counts) -> R) -> R {
        f(&mut self.counts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// One check ran, taking `seconds`.
    pub fn checked(&self, seconds: f64) {
        self.with(|c| {
            c.checks += 1;
            c.sum += seconds;
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    c.buckets[i] += 1;
                }
            }
        });
    }

    /// Drift of `severity` was found.
    pub fn detected(&self, severity: Severity) {
        self.with(|c| *c.detected.entry(severity.to_string()).or_default() += 1);
    }

    /// A correction ended with `result` (success or failure).
    pub fn corrected(&self, result: &str) {
        self.with(|c| *c.corrections.entry(result.to_string()).or_default() += 1);
    }

    fn series(&self, family: &str, s: &mut String) {
        let l = &self.labels;
        self.with(|c| match family {
            "checks" => s.push_str(&format!("drift_checks_total{{{l}}} {}\n", c.checks)),
            "detected" => {
                for sev in ["Low", "Medium", "High", "Critical"] {
                    let n = c.detected.get(sev).copied().unwrap_or(0);
                    s.push_str(&format!(
                        "drift_detected_total{{{l},severity=\"{sev}\"}} {n}\n"
                    ));
                }
            }
            "corrections" => {
                for r in ["success", "failure"] {
                    let n = c.corrections.get(r).copied().unwrap_or(0);
                    s.push_str(&format!(
                        "drift_corrections_total{{{l},result=\"{r}\"}} {n}\n"
                    ));
                }
            }
            _ => {
                for (i, b) in BUCKETS.iter().enumerate() {
                    s.push_str(&format!(
                        "drift_check_duration_seconds_bucket{{{l},le=\"{b}\"}} {}\n",
                        c.buckets[i]
                    ));
                }
                s.push_str(&format!(
                    "drift_check_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}\n",
                    c.checks
                ));
                s.push_str(&format!(
                    "drift_check_duration_seconds_sum{{{l}}} {}\n",
                    c.sum
                ));
                s.push_str(&format!(
                    "drift_check_duration_seconds_count{{{l}}} {}\n",
                    c.checks
                ));
            }
        });
    }
}

/// The metrics of every release followed (one, or all in scope).
#[derive(Default)]
pub struct Registry {
    releases: Mutex<BTreeMap<(String, String), std::sync::Arc<Metrics>>>,
}

impl Registry {
    /// The counters of a release (kept across its revisions).
    pub fn add(&self, release: &str, namespace: &str) -> std::sync::Arc<Metrics> {
        let mut all = self.releases.lock().unwrap_or_else(|e| e.into_inner());
        all.entry((namespace.to_string(), release.to_string()))
            .or_insert_with(|| std::sync::Arc::new(Metrics::new(release, namespace)))
            .clone()
    }

    /// Forgets an uninstalled release.
    pub fn remove(&self, release: &str, namespace: &str) {
        let mut all = self.releases.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(&(namespace.to_string(), release.to_string()));
    }

    /// The exposition text: each family's HELP and TYPE once, then every
    /// release's series.
    pub fn render(&self) -> String {
        let all: Vec<std::sync::Arc<Metrics>> = self
            .releases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut s = String::new();
        for (family, head) in [
            (
                "checks",
                "# HELP drift_checks_total Drift checks run (full checks and per-object re-checks).\n# TYPE drift_checks_total counter\n",
            ),
            (
                "detected",
                "# HELP drift_detected_total Objects found drifted, by severity.\n# TYPE drift_detected_total counter\n",
            ),
            (
                "corrections",
                "# HELP drift_corrections_total Automatic corrections, by result.\n# TYPE drift_corrections_total counter\n",
            ),
            (
                "duration",
                "# HELP drift_check_duration_seconds Time of a drift check.\n# TYPE drift_check_duration_seconds histogram\n",
            ),
        ] {
            s.push_str(head);
            for m in &all {
                m.series(family, &mut s);
            }
        }
        s
    }
}

/// The routes of `--metrics-addr`: `/metrics`, `/healthz` and `/readyz`.
pub fn routes(metrics: std::sync::Arc<Registry>) -> shared::probe::Routes {
    use shared::probe::Response;
    std::sync::Arc::new(move |path| match path {
        "/metrics" => Some(Response::metrics(metrics.render())),
        // Ready once connected, leading or standing by (the Deployment in
        // deploy/ probes it; a standby must not block its PDB).
        "/healthz" | "/readyz" => Some(Response::ok("ok\n")),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_documented_series() {
        let r = Registry::default();
        let m = r.add("demo", "ns");
        m.checked(0.02);
        m.detected(Severity::High);
        m.corrected("failure");
        r.add("other", "ns2");
        let t = r.render();
        assert_eq!(t.matches("# TYPE drift_checks_total").count(), 1);
        assert!(t.contains("drift_checks_total{release=\"other\",namespace=\"ns2\"} 0"));
        assert!(t.contains("drift_checks_total{release=\"demo\",namespace=\"ns\"} 1"));
        assert!(t.contains(
            "drift_detected_total{release=\"demo\",namespace=\"ns\",severity=\"High\"} 1"
        ));
        assert!(t.contains(
            "drift_corrections_total{release=\"demo\",namespace=\"ns\",result=\"failure\"} 1"
        ));
        assert!(t.contains(
            "drift_check_duration_seconds_bucket{release=\"demo\",namespace=\"ns\",le=\"0.025\"} 1"
        ));
        assert!(t.contains(
            "drift_check_duration_seconds_bucket{release=\"demo\",namespace=\"ns\",le=\"0.01\"} 0"
        ));
    }
}
