//! Classifying the change from one CRD to the next: every difference gets a
//! stable rule name and a level — breaking, risky or safe — from the merged
//! rule list of crd-schema-checker and crdify plus the API server's own hard
//! rules. A schema difference no rule explains is breaking ("Unhandled"),
//! so nothing passes as safe by omission.

use serde::Serialize;
use serde_json::Value;

use crate::crd::Crd;

/// How bad a change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Harmless.
    Safe,
    /// Needs care (conversion, defaults, looser validation).
    Risky,
    /// Refused by the server, or loses or rejects existing data.
    Breaking,
}

impl Level {
    /// Upper-case label for lines.
    pub fn label(self) -> &'static str {
        match self {
            Level::Safe => "SAFE",
            Level::Risky => "RISKY",
            Level::Breaking => "BREAKING",
        }
    }
}

/// One classified difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Level.
    pub level: Level,
    /// Stable rule name.
    pub rule: &'static str,
    /// CRD name.
    pub crd: String,
    /// Version, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Field path (`^.spec.size`), when about a field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What changed.
    pub message: String,
}

impl Finding {
    /// `BREAKING NoFieldRemoval crd/x version/v1 field/^.spec.size: message`.
    pub fn line(&self) -> String {
        let mut s = format!("{} {} crd/{}", self.level.label(), self.rule, self.crd);
        if let Some(v) = &self.version {
            s.push_str(&format!(" version/{v}"));
        }
        if let Some(f) = &self.field {
            s.push_str(&format!(" field/{f}"));
        }
        s.push_str(": ");
        s.push_str(&self.message);
        s
    }
}

struct Out<'a> {
    crd: &'a str,
    version: Option<String>,
    findings: Vec<Finding>,
}

impl Out<'_> {
    fn add(&mut self, level: Level, rule: &'static str, field: Option<&str>, message: String) {
        self.findings.push(Finding {
            level,
            rule,
            crd: self.crd.to_string(),
            version: self.version.clone(),
            field: field.map(str::to_string),
            message,
        });
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

/// Classifies the change from `old` to `new` (same CRD name).
pub fn classify(old: &Crd, new: &Crd) -> Vec<Finding> {
    let (old, new) = (&old.with_server_defaults(), &new.with_server_defaults());
    let mut out = Out {
        crd: new.name(),
        version: None,
        findings: Vec::new(),
    };
    let (o, n) = (&old.obj["spec"], &new.obj["spec"]);
    // The API server's own rules.
    for (rule, key, what) in [
        ("NoGroupChange", "/group", "spec.group"),
        ("NoScopeChange", "/scope", "spec.scope"),
        ("NoPluralChange", "/names/plural", "spec.names.plural"),
        ("NoKindChange", "/names/kind", "spec.names.kind"),
    ] {
        let (a, b) = (o.pointer(key), n.pointer(key));
        if a != b {
            out.add(
                Level::Breaking,
                rule,
                None,
                format!(
                    "{what} {} -> {} (the API server refuses this)",
                    s(a.unwrap_or(&Value::Null)),
                    s(b.unwrap_or(&Value::Null))
                ),
            );
        }
    }
    for (key, level) in [
        ("singular", Level::Risky),
        ("listKind", Level::Risky),
        ("shortNames", Level::Safe),
        ("categories", Level::Safe),
    ] {
        if o["names"][key] != n["names"][key] {
            out.add(
                level,
                "NamesChanged",
                None,
                format!(
                    "spec.names.{key} {} -> {}",
                    s(&o["names"][key]),
                    s(&n["names"][key])
                ),
            );
        }
    }
    let storage = new.storage_versions();
    if storage.len() != 1 {
        out.add(
            Level::Breaking,
            "OneStorageVersion",
            None,
            format!(
                "{} storage versions ({}); exactly one is allowed",
                storage.len(),
                storage.join(", ")
            ),
        );
    }
    for stored in old.stored_versions() {
        if new.version(&stored).is_none() {
            out.add(Level::Breaking, "StoredVersionRemoved", None, format!("version {stored} is in status.storedVersions and must stay in spec.versions until a storage migration drops it"));
        }
    }
    if let (Some(a), Some(b)) = (old.storage_version(), new.storage_version())
        && a != b
    {
        out.add(Level::Risky, "StorageVersionChanged", None, format!("storage version {a} -> {b}: objects stay stored as {a} until migrated (kubectl pack-crd migrate)"));
    }
    for v in old.versions() {
        let name = v["name"].as_str().unwrap_or_default();
        out.version = Some(name.to_string());
        match new.version(name) {
            None if v["served"] == true => out.add(
                Level::Breaking,
                "NoServedVersionRemoval",
                None,
                "a served version was removed: clients using it break".into(),
            ),
            None => out.add(
                Level::Risky,
                "VersionRemoved",
                None,
                "an unserved version was removed".into(),
            ),
            Some(nv) => version_changes(v, nv, &mut out),
        }
    }
    for v in new.versions() {
        let name = v["name"].as_str().unwrap_or_default();
        if old.version(name).is_none() {
            out.version = Some(name.to_string());
            out.add(Level::Safe, "NewVersion", None, "version added".into());
        }
    }
    out.version = None;
    let conv = |c: &Crd| {
        c.obj["spec"]["conversion"]["strategy"]
            .as_str()
            .unwrap_or("None")
            .to_string()
    };
    if conv(old) == "Webhook" && conv(new) == "None" {
        let schemas: Vec<&Value> = new.versions().iter().map(|v| &v["schema"]).collect();
        if schemas.windows(2).any(|w| w[0] != w[1]) {
            out.add(
                Level::Breaking,
                "NoConversionWebhookRemoval",
                None,
                "conversion Webhook -> None while the versions' schemas differ".into(),
            );
        }
    } else if o["conversion"] != n["conversion"] {
        out.add(
            Level::Risky,
            "ConversionChanged",
            None,
            format!(
                "spec.conversion {} -> {}",
                s(&o["conversion"]),
                s(&n["conversion"])
            ),
        );
    }
    if conv(new) == "None" {
        served_pairs(new, &mut out);
    }
    if o["preserveUnknownFields"] != n["preserveUnknownFields"] {
        out.add(
            Level::Breaking,
            "Unhandled",
            None,
            format!(
                "spec.preserveUnknownFields {} -> {}",
                s(&o["preserveUnknownFields"]),
                s(&n["preserveUnknownFields"])
            ),
        );
    }
    out.findings
}

/// Without conversion, an object written through one served version is
/// read through the others unchanged: flag pairs whose schemas disagree in
/// a way that would break (crdify's served-version check).
fn served_pairs(new: &Crd, out: &mut Out<'_>) {
    let served: Vec<&Value> = new
        .versions()
        .into_iter()
        .filter(|v| v["served"] == true)
        .collect();
    for (i, a) in served.iter().enumerate() {
        for b in &served[i + 1..] {
            let mut pair = Out {
                crd: out.crd,
                version: None,
                findings: Vec::new(),
            };
            let (sa, sb) = (
                &a["schema"]["openAPIV3Schema"],
                &b["schema"]["openAPIV3Schema"],
            );
            schema_rules::schema(sa, sb, "^", &mut pair);
            schema_rules::schema(sb, sa, "^", &mut pair);
            let breaking: Vec<&Finding> = pair
                .findings
                .iter()
                .filter(|f| f.level == Level::Breaking)
                .collect();
            if let Some(first) = breaking.first() {
                let (na, nb) = (s(&a["name"]), s(&b["name"]));
                out.version = Some(format!("{na}<->{nb}"));
                out.add(
                    Level::Risky,
                    "ServedVersionsIncompatible",
                    first.field.as_deref(),
                    format!(
                        "served versions {na} and {nb} differ incompatibly with conversion None ({} difference(s), first: {})",
                        breaking.len(),
                        first.rule
                    ),
                );
                out.version = None;
            }
        }
    }
}

fn version_changes(o: &Value, n: &Value, out: &mut Out<'_>) {
    if o["served"] == true && n["served"] != true {
        out.add(
            Level::Breaking,
            "NoServedToUnserved",
            None,
            "served: true -> false: clients using this version break".into(),
        );
    } else if o["served"] != true && n["served"] == true {
        out.add(
            Level::Safe,
            "VersionServed",
            None,
            "served: false -> true".into(),
        );
    }
    for key in [
        "additionalPrinterColumns",
        "deprecated",
        "deprecationWarning",
    ] {
        if o[key] != n[key] {
            out.add(
                Level::Safe,
                "PresentationChanged",
                None,
                format!("{key} changed"),
            );
        }
    }
    for sub in ["status", "scale"] {
        match (o["subresources"].get(sub).is_some(), n["subresources"].get(sub).is_some()) {
            (true, false) => out.add(Level::Breaking, "NoSubresourceRemoval", None, format!("the {sub} subresource was removed")),
            (false, true) => out.add(Level::Risky, "SubresourceAdded", None, format!("the {sub} subresource was added (writes to .{sub} through the main resource are ignored from now on)")),
            (true, true) if o["subresources"][sub] != n["subresources"][sub] => {
                out.add(Level::Risky, "SubresourceChanged", None, format!("the {sub} subresource changed"))
            }
            _ => {}
        }
    }
    let (a, b) = (
        &o["schema"]["openAPIV3Schema"],
        &n["schema"]["openAPIV3Schema"],
    );
    schema_rules::schema(a, b, "^", out);
}

mod schema_rules;
#[cfg(test)]
mod tests;
