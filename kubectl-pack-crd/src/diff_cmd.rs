//! `diff OLD NEW`: one line per classified change, a summary, or a JSON /
//! YAML report; exit 0 when nothing breaks, 1 on breaking changes (risky
//! too with `--strict`), 2 on bad input.

use std::io::Write;

use anyhow::Result;
use shared::kubeconfig::KubeArgs;
use shared::output::exit;

use crate::classify::{Finding, Level, classify};
use crate::cli::DiffArgs;
use crate::crd::{self, Crd};

/// Loads both sides, connecting only when one is `cluster:NAME`.
async fn load_pair(kube: &KubeArgs, old: &str, new: &str) -> Result<(Vec<Crd>, Vec<Crd>)> {
    let k = if old.starts_with("cluster:") || new.starts_with("cluster:") {
        Some(kube.connect().await?)
    } else {
        None
    };
    if old == "-" && new == "-" {
        anyhow::bail!("OLD and NEW cannot both be stdin");
    }
    Ok((
        crd::load(old, k.as_ref()).await?,
        crd::load(new, k.as_ref()).await?,
    ))
}

/// Findings for every CRD of `new` against its namesake in `old`.
pub fn findings(old: &[Crd], new: &[Crd]) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    for n in new {
        n.check()?;
        match old.iter().find(|o| o.name() == n.name()) {
            Some(o) => out.extend(classify(o, n)),
            None => out.push(Finding {
                level: Level::Safe,
                rule: "NewCrd",
                crd: n.name().to_string(),
                version: None,
                field: None,
                message: "not in OLD: created".into(),
            }),
        }
    }
    for o in old
        .iter()
        .filter(|o| !new.iter().any(|n| n.name() == o.name()))
    {
        shared::output::warn(&format!(
            "CRD {} is in OLD only: not compared (this suite never deletes CRDs)",
            o.name()
        ));
    }
    Ok(out)
}

/// Counts per level.
pub fn summary(f: &[Finding]) -> (usize, usize, usize) {
    let n = |l| f.iter().filter(|x| x.level == l).count();
    (n(Level::Breaking), n(Level::Risky), n(Level::Safe))
}

/// Runs `diff`.
pub async fn run(kube: &KubeArgs, args: &DiffArgs) -> Result<u8> {
    let (old, new) = load_pair(kube, &args.old, &args.new).await?;
    let found = findings(&old, &new)?;
    let (breaking, risky, safe) = summary(&found);
    let mut out = std::io::stdout().lock();
    match &args.output.output {
        f if f.is_text() => {
            for f in &found {
                writeln!(out, "{}", f.line())?;
            }
            writeln!(
                out,
                "{breaking} breaking, {risky} risky, {safe} safe change(s)"
            )?;
        }
        format => {
            let report = serde_json::json!({
                "findings": found,
                "summary": {"breaking": breaking, "risky": risky, "safe": safe},
            });
            // -o name: the CRDs with a change, once each.
            let mut names: Vec<String> = found
                .iter()
                .map(|f| format!("customresourcedefinition.apiextensions.k8s.io/{}", f.crd))
                .collect();
            names.dedup();
            shared::output::write_structured(&mut out, format, &report, &names)?;
        }
    }
    Ok(if breaking > 0 || (args.strict && risky > 0) {
        exit::DIFFERENCES
    } else {
        exit::OK
    })
}
