//! What a check ignores and how it reports, merged from the built-in
//! defaults, the pack's `drift:` block (carried in the release record from
//! the render header) and the command line.
//!
//! The pack block:
//! ```yaml
//! drift:
//!   detection: enabled        # enabled | warn (report, exit 0) | disabled
//!   interval: 5m              # watch: full re-check period
//!   ignore: [status, 'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]']
//!   trustedManagers: ["my-operator:spec.replicas"]
//!   notify: {webhook: URL, slack: URL}
//! ```

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::path::{Path, Pattern};

/// Paths never worth reporting.
const DEFAULT_IGNORES: &[&str] = &[
    r#"metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]"#,
    r#"metadata.annotations["deployment.kubernetes.io/revision"]"#,
    "status",
];

/// Managers whose changes to a path are expected (flux2#1842: the HPA).
const DEFAULT_TRUSTED: &[&str] = &["horizontal-pod-autoscaler:spec.replicas"];

/// A manager whose changes are expected, optionally only under a path.
#[derive(Debug, Clone)]
pub struct Trusted {
    /// Manager name as in managedFields.
    pub manager: String,
    /// Only changes under this path (None: anywhere).
    pub path: Option<Pattern>,
}

impl Trusted {
    fn parse(text: &str) -> Result<Trusted, String> {
        let (manager, path) = match text.split_once(':') {
            Some((m, p)) => (m, Some(Pattern::parse(p)?)),
            None => (text, None),
        };
        if manager.trim().is_empty() {
            return Err(format!("'{text}' names no manager"));
        }
        Ok(Trusted {
            manager: manager.trim().to_string(),
            path,
        })
    }
}

/// How the pack wants drift handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// Report and fail.
    Enabled,
    /// Report, exit 0.
    Warn,
    /// Do not check.
    Disabled,
}

/// The merged settings of a check.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Ignored paths.
    pub ignore: Vec<Pattern>,
    /// Trusted managers.
    pub trusted: Vec<Trusted>,
    /// Ignore `spec.replicas` of objects an HPA targets.
    pub hpa_replicas: bool,
    /// The pack's detection mode.
    pub detection: Detection,
    /// The pack's watch interval.
    pub interval: Option<Duration>,
    /// The pack's webhook.
    pub webhook: Option<String>,
    /// The pack's Slack webhook.
    pub slack: Option<String>,
}

/// Command-line parts of the settings.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--ignore`.
    pub ignore: Vec<String>,
    /// `--trusted-manager`.
    pub trusted: Vec<String>,
    /// `--no-default-trusted`.
    pub no_default_trusted: bool,
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .with_context(|| format!("{what}: every entry must be a string, got {i}"))
            })
            .collect(),
        other => bail!("{what}: expected a list of strings, got {other}"),
    }
}

impl Settings {
    /// Merges defaults, the pack's `drift` block and the flags.
    pub fn new(pack: &Value, flags: &Flags) -> Result<Settings> {
        let block = &pack["drift"];
        let mut ignore = Vec::new();
        for p in DEFAULT_IGNORES {
            ignore.push(Pattern::parse(p).map_err(anyhow::Error::msg)?);
        }
        for p in strings(&block["ignore"], "the pack's drift.ignore")? {
            ignore.push(
                Pattern::parse(&p)
                    .map_err(|e| anyhow::anyhow!("the pack's drift.ignore entry '{p}': {e}"))?,
            );
        }
        for p in &flags.ignore {
            ignore.push(Pattern::parse(p).map_err(|e| anyhow::anyhow!("--ignore '{p}': {e}"))?);
        }
        let mut trusted = Vec::new();
        if !flags.no_default_trusted {
            for t in DEFAULT_TRUSTED {
                trusted.push(Trusted::parse(t).map_err(anyhow::Error::msg)?);
            }
        }
        for t in strings(
            &block["trustedManagers"],
            "the pack's drift.trustedManagers",
        )? {
            trusted.push(Trusted::parse(&t).map_err(|e| {
                anyhow::anyhow!("the pack's drift.trustedManagers entry '{t}': {e}")
            })?);
        }
        for t in &flags.trusted {
            trusted.push(
                Trusted::parse(t).map_err(|e| anyhow::anyhow!("--trusted-manager '{t}': {e}"))?,
            );
        }
        let detection = match block["detection"].as_str() {
            None | Some("enabled") => Detection::Enabled,
            Some("warn") => Detection::Warn,
            Some("disabled") => Detection::Disabled,
            Some(other) => {
                bail!("the pack's drift.detection is '{other}'; use enabled, warn or disabled")
            }
        };
        let interval = match block["interval"].as_str() {
            None => None,
            Some(s) => shared::kubeconfig::parse_duration(s)
                .map_err(|e| anyhow::anyhow!("the pack's drift.interval '{s}': {e}"))?,
        };
        let url = |k: &str| block["notify"][k].as_str().map(str::to_string);
        if block["notify"].get("email").is_some() {
            shared::output::warn(
                "the pack's drift.notify.email is not supported (no mail transport); use notify.webhook or notify.slack",
            );
        }
        Ok(Settings {
            ignore,
            trusted,
            hpa_replicas: !flags.no_default_trusted,
            detection,
            interval,
            webhook: url("webhook"),
            slack: url("slack"),
        })
    }

    /// True when `path` is ignored by a pattern.
    pub fn ignored(&self, path: &Path) -> bool {
        self.ignore.iter().any(|p| p.matches(path))
    }

    /// True when `manager` is trusted at `path`.
    pub fn trusts(&self, manager: &str, path: &Path) -> bool {
        self.trusted
            .iter()
            .any(|t| t.manager == manager && t.path.as_ref().is_none_or(|p| p.matches(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Seg;
    use serde_json::json;

    #[test]
    fn pack_block_and_flags_add_to_the_defaults() {
        let pack = json!({"drift": {"ignore": ["data.generated"], "trustedManagers": ["op:spec"], "detection": "warn", "interval": "30s"}});
        let s = Settings::new(
            &pack,
            &Flags {
                ignore: vec!["spec.x".into()],
                ..Default::default()
            },
        )
        .unwrap();
        let p = |f: &[&str]| Path(f.iter().map(|x| Seg::Field(x.to_string())).collect());
        assert!(s.ignored(&p(&["data", "generated"])));
        assert!(s.ignored(&p(&["spec", "x", "y"])));
        assert!(s.ignored(&p(&["status", "phase"])));
        assert!(!s.ignored(&p(&["data", "other"])));
        assert!(s.trusts("op", &p(&["spec", "a"])));
        assert!(s.trusts("horizontal-pod-autoscaler", &p(&["spec", "replicas"])));
        assert!(!s.trusts("kubectl-edit", &p(&["spec", "replicas"])));
        assert_eq!(s.detection, Detection::Warn);
        assert_eq!(s.interval, Some(Duration::from_secs(30)));
    }

    #[test]
    fn bad_pack_settings_name_the_entry() {
        let e = Settings::new(&json!({"drift": {"ignore": ["a["]}}), &Flags::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("drift.ignore entry 'a['"), "{e}");
        let e = Settings::new(&json!({"drift": {"detection": "maybe"}}), &Flags::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("enabled, warn or disabled"), "{e}");
    }
}
