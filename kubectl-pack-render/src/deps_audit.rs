//! `kubectl pack-render deps audit PACK`: for each direct dependency, the
//! version in use, newer versions its range admits and those it excludes,
//! versions the repository marks deprecated or yanked (the one in use
//! especially), remote packs not pinned by digest in `Pack.lock.yaml`, and
//! the licence each declares (`metadata.license` of its Pack.yaml).
//!
//! Sources: OCI repositories (tags), Helm-style `index.yaml` repositories
//! (entries, with `deprecated: true` or `yanked: true`), and local
//! `file://`/`charts/` packs (their Pack.yaml's `metadata.deprecated`).
//! Exit 1 when a dependency in use is deprecated, yanked or unpinned;
//! newer versions alone are information. A dependency with `enabled:
//! false` is listed as disabled and not judged.

use std::path::Path;

use serde_json::{Value, json};

use crate::cli::RegistryArgs;
use crate::pack::Dependency;

/// What the audit found for one dependency.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Finding {
    name: String,
    constraint: String,
    repository: String,
    version: Option<String>,
    digest: Option<String>,
    newer_allowed: Vec<String>,
    newer_excluded: Vec<String>,
    deprecated: Vec<String>,
    yanked: Vec<String>,
    license: Option<String>,
    problems: Vec<String>,
}

/// One version a repository offers, with its marks.
struct Offered {
    version: semver::Version,
    deprecated: bool,
    yanked: bool,
}

/// Runs `deps audit`.
pub async fn run(
    pack: &Path,
    registry: &RegistryArgs,
    format: &shared::output::Format,
) -> anyhow::Result<u8> {
    let file = crate::deps::load_pack_file(pack)?;
    let locked = crate::remote::locked(pack)?;
    let local = match file
        .dependencies
        .iter()
        .any(|d| !crate::remote::is_remote(&d.repository))
    {
        true => Some(crate::deps::resolve(pack)?),
        false => None,
    };
    let mut findings = Vec::new();
    for dep in &file.dependencies {
        let mut f = Finding {
            name: dep.name.clone(),
            constraint: if dep.version.is_empty() {
                "*".into()
            } else {
                dep.version.clone()
            },
            repository: dep.repository.clone(),
            ..Default::default()
        };
        if dep.enabled == Some(false) {
            // Not part of the release: nothing in use to judge.
            f.version = Some("disabled".into());
            findings.push(f);
            continue;
        }
        let offered = if crate::remote::is_remote(&dep.repository) {
            let pin = locked.get(&dep.name);
            f.version = pin.map(|p| p.version.clone());
            f.digest = pin.map(|p| p.digest.clone());
            if let Ok(archive) = crate::remote::archive_for(pack, dep) {
                let (_tmp, inner) = crate::archive::unpack_file(&archive)?;
                f.license = license(&inner);
                if f.version.is_none() {
                    f.version = crate::deps::load_pack_file(&inner)
                        .ok()
                        .map(|p| p.metadata.version);
                }
            }
            if pin.is_none() {
                f.problems.push(format!(
                    "not pinned by digest in Pack.lock.yaml: run kubectl pack-render deps update {}",
                    pack.display()
                ));
            }
            remote_versions(dep, registry).await?
        } else {
            let chosen = local.as_ref().and_then(|r| r.chosen.get(&dep.name));
            f.version = chosen.map(|c| c.version.to_string());
            f.license = chosen.and_then(|c| license(&c.dir));
            local_versions(pack, dep)?
        };
        judge(dep, &mut f, &offered);
        findings.push(f);
    }
    print(&findings, format)?;
    Ok(if findings.iter().any(|f| !f.problems.is_empty()) {
        shared::output::exit::ERROR
    } else {
        shared::output::exit::OK
    })
}

/// Fills newer/deprecated/yanked and the problems of the version in use.
fn judge(dep: &Dependency, f: &mut Finding, offered: &[Offered]) {
    let req = semver::VersionReq::parse(if dep.version.trim().is_empty() {
        "*"
    } else {
        dep.version.trim()
    })
    .ok();
    let current = f
        .version
        .as_deref()
        .and_then(|v| semver::Version::parse(v).ok());
    let mut sorted: Vec<&Offered> = offered.iter().collect();
    sorted.sort_by(|a, b| b.version.cmp(&a.version));
    for o in sorted {
        let v = o.version.to_string();
        if o.deprecated {
            f.deprecated.push(v.clone());
        }
        if o.yanked {
            f.yanked.push(v.clone());
        }
        if current.as_ref().is_some_and(|c| &o.version > c) && !o.yanked {
            let allowed = req.as_ref().is_some_and(|r| r.matches(&o.version))
                && (o.version.pre.is_empty() || dep.allow_prerelease);
            if allowed {
                f.newer_allowed.push(v);
            } else if o.version.pre.is_empty() {
                f.newer_excluded.push(v);
            }
        }
    }
    if let Some(c) = &current {
        let c = c.to_string();
        if f.yanked.contains(&c) {
            f.problems.push(format!("{c} is yanked by its repository"));
        }
        if f.deprecated.contains(&c) {
            f.problems
                .push(format!("{c} is deprecated by its repository"));
        }
    } else {
        f.problems.push("not resolved: no version in use".into());
    }
}

async fn remote_versions(
    dep: &Dependency,
    registry: &RegistryArgs,
) -> anyhow::Result<Vec<Offered>> {
    if dep.repository.starts_with("oci://") {
        let repo = format!("{}/{}", dep.repository.trim_end_matches('/'), dep.name);
        let tags = crate::oci::tags(&repo, registry).await?;
        return Ok(tags
            .iter()
            .filter_map(|t| semver::Version::parse(t.trim_start_matches('v')).ok())
            .map(|version| Offered {
                version,
                deprecated: false,
                yanked: false,
            })
            .collect());
    }
    let entries = crate::remote::index_entries_of(&dep.repository, &dep.name).await?;
    Ok(entries
        .iter()
        .filter_map(|e| {
            let version = semver::Version::parse(e["version"].as_str()?).ok()?;
            Some(Offered {
                version,
                deprecated: e["deprecated"] == json!(true),
                yanked: e["yanked"] == json!(true),
            })
        })
        .collect())
}

fn local_versions(pack: &Path, dep: &Dependency) -> anyhow::Result<Vec<Offered>> {
    Ok(crate::deps::candidates(pack, dep)?
        .into_iter()
        .filter_map(|c| {
            let version = semver::Version::parse(&c.version.to_string()).ok()?;
            let raw = std::fs::read_to_string(c.dir.join("Pack.yaml")).ok();
            let raw: Value = raw
                .and_then(|t| shared::yaml::from_str(&t).ok())
                .unwrap_or(Value::Null);
            Some(Offered {
                version,
                deprecated: raw["metadata"]["deprecated"] == json!(true),
                yanked: false,
            })
        })
        .collect())
}

/// `metadata.license` of the pack in `dir`.
fn license(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("Pack.yaml")).ok()?;
    let raw: Value = shared::yaml::from_str(&text).ok()?;
    raw["metadata"]["license"].as_str().map(str::to_string)
}

fn print(findings: &[Finding], format: &shared::output::Format) -> anyhow::Result<()> {
    use std::io::Write;
    if !format.is_text() {
        let mut out = std::io::stdout().lock();
        let names: Vec<String> = findings.iter().map(|f| f.name.clone()).collect();
        return shared::output::write_structured(
            &mut out,
            format,
            &json!({"dependencies": findings}),
            &names,
        );
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    let mut text = format!(
        "{:<16} {:<10} {:<12} {:<16} {:<16} {:<10} {}\n",
        "NAME", "VERSION", "CONSTRAINT", "NEWER-ALLOWED", "NEWER-EXCLUDED", "DIGEST", "LICENSE"
    );
    for f in findings {
        let digest = match (&f.digest, crate::remote::is_remote(&f.repository)) {
            (Some(d), _) => d
                .chars()
                .take(14)
                .collect::<String>()
                .replace("sha256:", ""),
            (None, true) => "none".into(),
            (None, false) => "local".into(),
        };
        text.push_str(&format!(
            "{:<16} {:<10} {:<12} {:<16} {:<16} {:<10} {}\n",
            f.name,
            f.version.as_deref().unwrap_or("-"),
            f.constraint,
            list(&f.newer_allowed),
            list(&f.newer_excluded),
            digest,
            f.license.as_deref().unwrap_or("(none declared)")
        ));
    }
    for f in findings {
        if !f.deprecated.is_empty() {
            text.push_str(&format!(
                "{}: deprecated by the repository: {}\n",
                f.name,
                f.deprecated.join(", ")
            ));
        }
        if !f.yanked.is_empty() {
            text.push_str(&format!(
                "{}: yanked by the repository: {}\n",
                f.name,
                f.yanked.join(", ")
            ));
        }
        for p in &f.problems {
            text.push_str(&format!("{}: {p}\n", f.name));
        }
    }
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
