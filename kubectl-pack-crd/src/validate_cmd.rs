//! `validate`: for every CRD of the input, read all its stored objects (all
//! namespaces) and validate each against the new version's schema, before
//! the upgrade makes them unwritable. Exit 1 if any object would break.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use shared::kubeconfig::{Kube, KubeArgs};
use shared::output::exit;

use crate::cli::ValidateArgs;
use crate::crd::{self, Crd};
use crate::schema::{self, Outcome};

/// One object's result.
#[derive(Debug, Serialize)]
pub struct ObjectResult {
    /// `namespace/name`.
    pub object: String,
    /// What was found.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// One CRD's result.
#[derive(Debug, Serialize)]
pub struct CrdResult {
    /// CRD name.
    pub crd: String,
    /// Version whose schema was used.
    pub version: String,
    /// Objects checked.
    pub checked: usize,
    /// Objects with findings.
    pub objects: Vec<ObjectResult>,
    /// CEL rule evaluations (per object visit).
    pub cel_checked: usize,
    /// CEL rules not evaluated (per object visit).
    pub cel_not_checked: usize,
    /// Why, one line per distinct rule and reason.
    pub cel_not_checked_reasons: Vec<String>,
    /// Notes (CRD not in the cluster, no ratcheting on this server).
    pub notes: Vec<String>,
}

impl CrdResult {
    /// Objects that would fail validation.
    pub fn broken(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| !o.outcome.violations.is_empty())
            .count()
    }
}

/// Validates the live objects of `new` against its schema.
pub async fn check_crd(k: &Kube, new: &Crd) -> Result<CrdResult> {
    let storage = new.storage_version().unwrap_or_default();
    let mut result = CrdResult {
        crd: new.name().to_string(),
        version: storage.clone(),
        checked: 0,
        objects: Vec::new(),
        cel_checked: 0,
        cel_not_checked: 0,
        cel_not_checked_reasons: Vec::new(),
        notes: Vec::new(),
    };
    let Some(live) = crd::live(k, new.name()).await? else {
        result
            .notes
            .push("not in the cluster: no stored objects to check".into());
        return Ok(result);
    };
    let Some(version) = crd::read_version(&live, Some(&storage)) else {
        result
            .notes
            .push("no served version to read objects through".into());
        return Ok(result);
    };
    // Objects read as a version the new CRD still has are checked against that version's schema.
    let schema_version = if new.schema(&version).is_some() {
        version.clone()
    } else {
        storage
    };
    let Some(schema) = new.schema(&schema_version) else {
        result.notes.push(format!(
            "version {schema_version} has no schema: everything is accepted"
        ));
        return Ok(result);
    };
    result.version = schema_version;
    for o in crd::list_all(k, &live, &version).await? {
        result.checked += 1;
        let outcome = schema::validate(schema, &o);
        result.cel_checked += outcome.cel_checked;
        result.cel_not_checked += outcome.cel_not_checked;
        for why in &outcome.cel_not_checked_reasons {
            if !result.cel_not_checked_reasons.contains(why) {
                result.cel_not_checked_reasons.push(why.clone());
            }
        }
        if !outcome.violations.is_empty() || !outcome.pruned.is_empty() {
            result.objects.push(ObjectResult {
                object: crd::object_name(&o),
                outcome,
            });
        }
    }
    if let Ok(info) = k.client.apiserver_version().await
        && info.major == "1"
        && info
            .minor
            .trim_end_matches('+')
            .parse::<u32>()
            .is_ok_and(|m| m < 30)
    {
        result.notes.push(format!(
            "this API server ({}) predates validation ratcheting (1.30): here every violation blocks every update of its object",
            info.git_version
        ));
    }
    Ok(result)
}

/// Prints results as text.
pub fn write_text(out: &mut impl Write, results: &[CrdResult]) -> std::io::Result<()> {
    for r in results {
        writeln!(
            out,
            "CRD {}: {} object(s) checked against version {}",
            r.crd, r.checked, r.version
        )?;
        for o in &r.objects {
            for v in &o.outcome.violations {
                writeln!(
                    out,
                    "  {}: {}: {} [{}; {}]",
                    o.object,
                    v.path,
                    v.message,
                    v.rule,
                    v.blocks_words()
                )?;
            }
            for p in &o.outcome.pruned {
                writeln!(
                    out,
                    "  {}: {p}: unknown field, would be pruned (warning)",
                    o.object
                )?;
            }
        }
        if r.cel_checked > 0 {
            writeln!(
                out,
                "  {} CEL rule evaluation(s) (x-kubernetes-validations)",
                r.cel_checked
            )?;
        }
        if r.cel_not_checked > 0 {
            writeln!(
                out,
                "  not checked: {} CEL rule evaluation(s) this interpreter cannot do:",
                r.cel_not_checked
            )?;
            for why in &r.cel_not_checked_reasons {
                writeln!(out, "    {why}")?;
            }
        }
        for n in &r.notes {
            writeln!(out, "  note: {n}")?;
        }
        writeln!(out, "  {} object(s) would fail validation", r.broken())?;
    }
    Ok(())
}

/// Runs `validate`.
pub async fn run(kube: &KubeArgs, args: &ValidateArgs) -> Result<u8> {
    let crds = crd::load(&args.input.filename, None).await?;
    for c in &crds {
        c.check()?;
    }
    let k = kube.connect().await?;
    let mut results = Vec::new();
    for c in &crds {
        results.push(check_crd(&k, c).await?);
    }
    let mut out = std::io::stdout().lock();
    match &args.output.output {
        f if f.is_text() => write_text(&mut out, &results)?,
        format => {
            // -o name: the stored objects the new schema would refuse.
            let names: Vec<String> = results
                .iter()
                .flat_map(|r| {
                    r.objects
                        .iter()
                        .filter(|o| !o.outcome.violations.is_empty())
                        .map(move |o| format!("{}/{}", r.crd, o.object))
                })
                .collect();
            shared::output::write_structured(&mut out, format, &results, &names)?
        }
    }
    Ok(if results.iter().any(|r| r.broken() > 0) {
        exit::DIFFERENCES
    } else {
        exit::OK
    })
}
