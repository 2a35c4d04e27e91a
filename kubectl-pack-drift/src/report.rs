//! The drift report: per object what drifted, how bad it is (severity
//! rules), who changed it and when; printed as coloured text or as
//! JSON/YAML for machines. Secret values never appear in it.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;
use shared::output::Paint;

use crate::path::Path;

/// How bad a drift is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
pub enum Severity {
    /// Labels and annotations.
    Low,
    /// Other spec and configuration; unexpected objects.
    Medium,
    /// Containers, replicas and resources of workloads.
    High,
    /// Deleted objects, images, RBAC rules, Secret data.
    Critical,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        })
    }
}

const WORKLOADS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Pod",
    "ReplicationController",
];

/// The severity of a change at `path` of a `kind` object.
pub fn classify(kind: &str, path: &Path) -> Severity {
    let in_container = path.has_field("containers") || path.has_field("initContainers");
    if (kind == "Secret" && (path.starts_with(&["data"]) || path.starts_with(&["stringData"])))
        || (matches!(kind, "Role" | "ClusterRole") && path.starts_with(&["rules"]))
        || (matches!(kind, "RoleBinding" | "ClusterRoleBinding")
            && (path.starts_with(&["subjects"]) || path.starts_with(&["roleRef"])))
        || (in_container && path.0.last() == Some(&crate::path::Seg::Field("image".into())))
    {
        return Severity::Critical;
    }
    if path.starts_with(&["metadata"]) {
        return Severity::Low;
    }
    if WORKLOADS.contains(&kind)
        && (in_container || path.starts_with(&["spec", "replicas"]) || path.has_field("resources"))
    {
        return Severity::High;
    }
    Severity::Medium
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Recorded fields changed.
    Modified,
    /// The object is gone.
    Deleted,
    /// Carries the release's label but is not part of it.
    Unexpected,
}

/// One drifted field.
#[derive(Debug, Clone, Serialize)]
pub struct FieldDrift {
    /// Path in the object.
    pub path: String,
    /// The recorded value (absent for Secret data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Value>,
    /// The live value (absent when removed, or for Secret data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Value>,
    /// True when the values are secret and left out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
    /// Severity of this change.
    pub severity: Severity,
    /// The manager that owns the path now, or "unknown".
    pub manager: String,
    /// When that manager wrote it (managedFields time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The subresource it wrote through (`scale` for `kubectl scale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
}

/// [`FieldDrift::manager`] when no other manager than ours holds the path:
/// the value was written by a field manager that left no trace, or by this
/// suite itself.
pub const UNKNOWN_MANAGER: &str = "unknown";

/// One drifted object.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDrift {
    /// apiVersion.
    pub api_version: String,
    /// kind.
    pub kind: String,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// What happened.
    pub state: State,
    /// Highest severity of its changes.
    pub severity: Severity,
    /// Changed fields (Modified).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDrift>,
}

impl ObjectDrift {
    /// The object as Modified with its fields' highest severity; None
    /// when no field drifted.
    pub fn modified(mut self) -> Option<ObjectDrift> {
        self.severity = self.fields.iter().map(|f| f.severity).max()?;
        self.state = State::Modified;
        Some(self)
    }

    /// `Kind/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// The result of checking one release.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Release name.
    pub release: String,
    /// Release namespace.
    pub namespace: String,
    /// Revision checked against.
    pub revision: u32,
    /// `recorded-fields` (our records) or `ssa-dry-run` (Helm releases).
    pub method: String,
    /// Objects checked.
    pub checked: usize,
    /// Highest severity (None: clean).
    pub severity: Option<Severity>,
    /// Drifted, deleted and unexpected objects.
    pub drifted: Vec<ObjectDrift>,
    /// Not drift: notes such as fields whose ownership moved without a value change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<String>,
    /// Ignored changes (path patterns, trusted managers, HPA replicas).
    pub ignored: usize,
    /// How long the check took.
    pub duration_ms: u128,
}

impl Report {
    /// Sets `severity` from the objects.
    pub fn finish(&mut self) {
        self.severity = self.drifted.iter().map(|o| o.severity).max();
    }

    /// True when anything at or above `level` drifted.
    pub fn fails(&self, level: Severity) -> bool {
        self.severity.is_some_and(|s| s >= level)
    }
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Writes the human report.
pub fn write_text(out: &mut impl Write, r: &Report, paint: &Paint) -> std::io::Result<()> {
    for o in &r.drifted {
        let head = match o.state {
            State::Modified => "DRIFTED",
            State::Deleted => "DELETED",
            State::Unexpected => "UNEXPECTED",
        };
        let ns = o
            .namespace
            .as_ref()
            .map(|n| format!(" -n {n}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{} {}{ns}  [{}]",
            paint.bold(head),
            paint.bold(&o.key()),
            severity_paint(paint, o.severity)
        )?;
        for f in &o.fields {
            let via = f
                .subresource
                .as_ref()
                .map(|s| format!(" through the {s} subresource"))
                .unwrap_or_default();
            let who = match &f.time {
                Some(t) => format!("by {}{via} at {t}", f.manager),
                None => format!("by {}{via}", f.manager),
            };
            let multi = |v: &Option<Value>| matches!(v, Some(Value::String(s)) if s.contains('\n'));
            if f.masked {
                writeln!(
                    out,
                    "  ~ {}: secret value changed ({who}) [{}]",
                    f.path, f.severity
                )?;
            } else if multi(&f.recorded) || multi(&f.live) {
                writeln!(out, "  ~ {}: ({who}) [{}]", f.path, f.severity)?;
                let a = show(&f.recorded);
                let b = show(&f.live);
                shared::diff::write_unified_indented(out, &a, &b, paint, "      ")?;
            } else {
                writeln!(
                    out,
                    "  ~ {}: {} -> {}  ({who}) [{}]",
                    f.path,
                    paint.red(&show(&f.recorded)),
                    paint.green(&show(&f.live)),
                    f.severity
                )?;
            }
        }
    }
    for i in &r.info {
        writeln!(out, "{} {i}", paint.dim("info:"))?;
    }
    Ok(())
}

fn severity_paint(paint: &Paint, s: Severity) -> String {
    let t = s.to_string();
    match s {
        Severity::Critical | Severity::High => paint.red(&t),
        Severity::Medium => paint.yellow(&t),
        Severity::Low => paint.dim(&t),
    }
}

/// The one-line summary.
pub fn summary(r: &Report) -> String {
    let mut counts = [0usize; 4];
    for o in &r.drifted {
        counts[o.severity as usize] += 1;
    }
    let mut parts = Vec::new();
    for (i, name) in ["low", "medium", "high", "critical"]
        .iter()
        .enumerate()
        .rev()
    {
        if counts[i] > 0 {
            parts.push(format!("{} {name}", counts[i]));
        }
    }
    let ignored = if r.ignored > 0 {
        format!(", {} ignored change(s)", r.ignored)
    } else {
        String::new()
    };
    if r.drifted.is_empty() {
        format!(
            "release {} (revision {}): no drift in {} object(s){ignored}; checked in {} ms",
            r.release, r.revision, r.checked, r.duration_ms
        )
    } else {
        format!(
            "release {} (revision {}): {} object(s) drifted of {} ({}){ignored}; checked in {} ms",
            r.release,
            r.revision,
            r.drifted.len(),
            r.checked,
            parts.join(", "),
            r.duration_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Seg;

    fn p(fields: &[&str]) -> Path {
        Path(fields.iter().map(|f| Seg::Field(f.to_string())).collect())
    }

    #[test]
    fn severity_follows_the_documented_rules() {
        assert_eq!(
            classify("Secret", &p(&["data", "password"])),
            Severity::Critical
        );
        assert_eq!(classify("ClusterRole", &p(&["rules"])), Severity::Critical);
        assert_eq!(
            classify(
                "Deployment",
                &p(&["spec", "template", "spec", "containers", "image"])
            ),
            Severity::Critical
        );
        assert_eq!(
            classify("Deployment", &p(&["spec", "replicas"])),
            Severity::High
        );
        assert_eq!(classify("ConfigMap", &p(&["data", "k"])), Severity::Medium);
        assert_eq!(
            classify("Service", &p(&["metadata", "labels", "a"])),
            Severity::Low
        );
    }
}
