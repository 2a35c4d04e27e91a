//! Pack dependencies: `Pack.yaml` `dependencies` with semver ranges,
//! resolved with the PubGrub solver over `charts/` and `file://`
//! repositories (a pack directory, a directory of packs, or an `index.yaml`
//! listing `name`/`version`/`path`). Strategies: `newest-compatible`
//! (default), `minimal`, `locked` (`Pack.lock.yaml`). Declared `conflicts:`
//! are checked on the result. `kubectl pack-render deps resolve|graph|why`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pubgrub::{
    DefaultStringReporter, DependencyProvider, OfflineDependencyProvider, PubGrubError, Ranges,
    Reporter, SemanticVersion,
};
use serde_json::Value;

use crate::cli::{DepsArgs, DepsCommand};
use crate::error::RenderError;
use crate::pack::{Dependency, PackFile, parse_yaml_file};

type Range = Ranges<SemanticVersion>;

/// One available version of a pack.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Pack name.
    pub name: String,
    /// Its version.
    pub version: SemanticVersion,
    /// Its directory.
    pub dir: PathBuf,
    /// Its Pack.yaml.
    pub file: PackFile,
}

fn semantic(v: &str) -> Option<SemanticVersion> {
    let v = semver::Version::parse(v.trim().trim_start_matches('v')).ok()?;
    Some(SemanticVersion::new(
        v.major as u32,
        v.minor as u32,
        v.patch as u32,
    ))
}

/// Converts a semver range (`^7.0.0`, `>=1.2, <2`, `~1.4`, `1.x`, `*`) to PubGrub ranges.
pub fn to_range(req: &str) -> Result<Range, String> {
    let req = req.trim();
    if req.is_empty() || req == "*" {
        return Ok(Range::full());
    }
    let parsed = semver::VersionReq::parse(req)
        .map_err(|e| format!("invalid version range {req:?}: {e}"))?;
    let mut range = Range::full();
    for c in &parsed.comparators {
        let (maj, min, pat) = (
            c.major as u32,
            c.minor.map(|m| m as u32),
            c.patch.map(|p| p as u32),
        );
        let low = SemanticVersion::new(maj, min.unwrap_or(0), pat.unwrap_or(0));
        let next_major = SemanticVersion::new(maj + 1, 0, 0);
        let next_minor = SemanticVersion::new(maj, min.unwrap_or(0) + 1, 0);
        let r = match c.op {
            semver::Op::Exact | semver::Op::Wildcard => match (min, pat) {
                (Some(_), Some(_)) => Range::singleton(low),
                (Some(_), None) => Range::between(low, next_minor),
                _ => Range::between(low, next_major),
            },
            semver::Op::Greater => match (min, pat) {
                (Some(_), Some(_)) => Range::strictly_higher_than(low),
                (Some(_), None) => Range::higher_than(next_minor),
                _ => Range::higher_than(next_major),
            },
            semver::Op::GreaterEq => Range::higher_than(low),
            semver::Op::Less => Range::strictly_lower_than(low),
            semver::Op::LessEq => match (min, pat) {
                (Some(_), Some(_)) => Range::lower_than(low),
                (Some(_), None) => Range::strictly_lower_than(next_minor),
                _ => Range::strictly_lower_than(next_major),
            },
            semver::Op::Tilde => match min {
                Some(_) => Range::between(low, next_minor),
                None => Range::between(low, next_major),
            },
            semver::Op::Caret => {
                let upper = if maj > 0 || min.is_none() {
                    next_major
                } else if min.unwrap_or(0) > 0 || pat.is_none() {
                    next_minor
                } else {
                    SemanticVersion::new(0, 0, pat.unwrap_or(0) + 1)
                };
                Range::between(low, upper)
            }
            _ => return Err(format!("unsupported operator in {req:?}")),
        };
        range = range.intersection(&r);
    }
    Ok(range)
}

/// `dir/Pack.yaml`, parsed.
pub fn load_pack_file(dir: &Path) -> Result<PackFile, RenderError> {
    let p = dir.join("Pack.yaml");
    let text = std::fs::read_to_string(&p).map_err(|e| RenderError::Io {
        path: p.clone(),
        message: e.to_string(),
    })?;
    serde_json::from_value(parse_yaml_file(&p, &text)?).map_err(|e| RenderError::PackFile {
        path: p,
        message: e.to_string(),
    })
}

/// Every candidate a dependency's repository offers, for its name.
pub fn candidates(owner_dir: &Path, dep: &Dependency) -> Result<Vec<Candidate>, RenderError> {
    let base = match dep.repository.strip_prefix("file://") {
        Some(rel) if !rel.is_empty() => owner_dir.join(rel),
        _ if dep.repository.is_empty() => owner_dir.join("charts").join(&dep.name),
        _ => {
            return Err(RenderError::Dependencies(format!(
                "dependency {}: repository {:?} is not supported (use file://PATH, charts/, oci://HOST/PATH or https://HOST/PATH)",
                dep.name, dep.repository
            )));
        }
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    if base.join("Pack.yaml").is_file() {
        dirs.push(base.clone());
    } else if base.join("index.yaml").is_file() {
        let p = base.join("index.yaml");
        let text = std::fs::read_to_string(&p).map_err(|e| RenderError::Io {
            path: p.clone(),
            message: e.to_string(),
        })?;
        let index = parse_yaml_file(&p, &text)?;
        let entries = index
            .get("entries")
            .or(index.get("packs"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for e in entries {
            if e["name"].as_str() == Some(dep.name.as_str())
                && let Some(path) = e["path"].as_str()
            {
                dirs.push(base.join(path));
            }
        }
    } else if base.is_dir() {
        let mut subs: Vec<PathBuf> = std::fs::read_dir(&base)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("Pack.yaml").is_file())
            .collect();
        subs.sort();
        dirs.extend(subs);
    }
    let mut out = Vec::new();
    for dir in dirs {
        let file = load_pack_file(&dir)?;
        if file.metadata.name != dep.name {
            continue;
        }
        let Some(version) = semantic(&file.metadata.version) else {
            return Err(RenderError::PackFile {
                path: dir.join("Pack.yaml"),
                message: format!("metadata.version {:?} is not semver", file.metadata.version),
            });
        };
        out.push(Candidate {
            name: dep.name.clone(),
            version,
            dir,
            file,
        });
    }
    Ok(out)
}

/// The result of a resolution.
pub struct Resolution {
    /// Root pack name and version.
    pub root: (String, SemanticVersion),
    /// Chosen version of every dependency.
    pub chosen: BTreeMap<String, Candidate>,
    /// Edges: (from, to, range text).
    pub edges: Vec<(String, String, String)>,
}

/// The offline provider, choosing the newest (or, for `minimal`, the
/// oldest) version in range.
struct Minimal(OfflineDependencyProvider<String, Range>, bool);

impl DependencyProvider for Minimal {
    type P = String;
    type V = SemanticVersion;
    type VS = Range;
    type M = String;
    type Err = std::convert::Infallible;
    type Priority = <OfflineDependencyProvider<String, Range> as DependencyProvider>::Priority;

    fn prioritize(
        &self,
        p: &String,
        r: &Range,
        s: &pubgrub::PackageResolutionStatistics,
    ) -> Self::Priority {
        self.0.prioritize(p, r, s)
    }
    fn choose_version(&self, p: &String, r: &Range) -> Result<Option<SemanticVersion>, Self::Err> {
        if !self.1 {
            return self.0.choose_version(p, r);
        }
        Ok(self
            .0
            .versions(p)
            .and_then(|vs| vs.filter(|v| r.contains(v)).min().cloned()))
    }
    fn get_dependencies(
        &self,
        p: &String,
        v: &SemanticVersion,
    ) -> Result<pubgrub::Dependencies<String, Range, String>, Self::Err> {
        self.0.get_dependencies(p, v)
    }
}

/// Resolves the dependencies of the pack in `dir`.
pub fn resolve(dir: &Path) -> Result<Resolution, RenderError> {
    let root_file = load_pack_file(dir)?;
    let root_name = root_file.metadata.name.clone();
    let root_version =
        semantic(&root_file.metadata.version).unwrap_or(SemanticVersion::new(0, 0, 0));
    let strategy = root_file.resolution.strategy.clone();
    let root_conflicts = root_file.conflicts.clone();
    let warn_on_conflict = root_file.resolution.conflict_resolution == "warn";
    let locked: BTreeMap<String, String> = if strategy == "locked" {
        if !dir.join("Pack.lock.yaml").is_file() {
            return Err(RenderError::Dependencies(format!(
                "{}: resolution.strategy is locked but Pack.lock.yaml is missing; run `kubectl pack-render deps resolve` once",
                dir.display()
            )));
        }
        crate::remote::lock_versions(dir)
            .map_err(|e| RenderError::Dependencies(format!("{e:#}")))?
    } else {
        BTreeMap::new()
    };

    let mut provider = OfflineDependencyProvider::<String, Range>::new();
    let mut all: BTreeMap<(String, SemanticVersion), Candidate> = BTreeMap::new();
    let mut edges = Vec::new();
    let mut queue: Vec<(String, SemanticVersion, PathBuf, PackFile)> = vec![(
        root_name.clone(),
        root_version,
        dir.to_path_buf(),
        root_file,
    )];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((name, version, pdir, file)) = queue.pop() {
        if !seen.insert((name.clone(), version)) {
            continue;
        }
        let mut deps = Vec::new();
        // Remote dependencies are fetched and pinned by `deps update`
        // (crate::remote), each with its own vendored dependencies.
        for dep in file
            .dependencies
            .iter()
            .filter(|d| d.enabled != Some(false) && !crate::remote::is_remote(&d.repository))
        {
            let mut range = to_range(&dep.version).map_err(|e| {
                RenderError::Dependencies(format!("{name} {version}: dependency {}: {e}", dep.name))
            })?;
            if let Some(v) = locked.get(&dep.name).and_then(|v| semantic(v)) {
                range = range.intersection(&Range::singleton(v));
            }
            deps.push((dep.name.clone(), range));
            if name == root_name || all.contains_key(&(name.clone(), version)) {
                edges.push((name.clone(), dep.name.clone(), dep.version.clone()));
            }
            for c in candidates(&pdir, dep)? {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    all.entry((c.name.clone(), c.version))
                {
                    queue.push((c.name.clone(), c.version, c.dir.clone(), c.file.clone()));
                    slot.insert(c);
                }
            }
        }
        provider.add_dependencies(name.clone(), version, deps);
    }
    let provider = Minimal(provider, strategy == "minimal");
    let selected = match pubgrub::resolve(&provider, root_name.clone(), root_version) {
        Ok(s) => s,
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            let text = DefaultStringReporter::report(&tree);
            return Err(RenderError::Dependencies(format!(
                "dependencies of {root_name} cannot be satisfied: {}",
                shared::error::one_line(&text)
            )));
        }
        Err(e) => {
            return Err(RenderError::Dependencies(format!(
                "dependency resolution failed: {e}"
            )));
        }
    };
    let mut chosen = BTreeMap::new();
    for (name, version) in selected {
        if name == root_name {
            continue;
        }
        if let Some(c) = all.get(&(name.clone(), version)) {
            chosen.insert(name, c.clone());
        }
    }
    // Edges of chosen packs (transitive).
    for c in chosen.values() {
        for d in c
            .file
            .dependencies
            .iter()
            .filter(|d| d.enabled != Some(false))
        {
            edges.push((c.name.clone(), d.name.clone(), d.version.clone()));
        }
    }
    edges.sort();
    edges.dedup();
    let res = Resolution {
        root: (root_name, root_version),
        chosen,
        edges,
    };
    match check_conflicts(&res, &root_conflicts) {
        Err(RenderError::Dependencies(why)) if warn_on_conflict => {
            shared::output::warn(&format!("{why} (resolution.conflictResolution: warn)"));
        }
        other => other?,
    }
    Ok(res)
}

fn chain_to(res: &Resolution, target: &str) -> Vec<String> {
    // Breadth-first from the root along edges.
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut frontier = vec![res.root.0.clone()];
    while let Some(n) = frontier.pop() {
        for (from, to, _) in res.edges.iter().filter(|(f, _, _)| *f == n) {
            if !prev.contains_key(to) && *to != res.root.0 {
                prev.insert(to.clone(), from.clone());
                frontier.push(to.clone());
            }
        }
    }
    let mut chain = vec![target.to_string()];
    let mut cur = target.to_string();
    while let Some(p) = prev.get(&cur) {
        chain.push(p.clone());
        cur = p.clone();
    }
    chain.reverse();
    chain
}

fn check_conflicts(res: &Resolution, root_conflicts: &[Dependency]) -> Result<(), RenderError> {
    let mut declared: Vec<(String, &Dependency)> = root_conflicts
        .iter()
        .map(|c| (res.root.0.clone(), c))
        .collect();
    for c in res.chosen.values() {
        declared.extend(c.file.conflicts.iter().map(|d| (c.name.clone(), d)));
    }
    for (owner, conflict) in declared {
        if let Some(other) = res.chosen.get(&conflict.name) {
            let range = to_range(&conflict.version).map_err(RenderError::Dependencies)?;
            if range.contains(&other.version) {
                return Err(RenderError::Dependencies(format!(
                    "{owner} ({}) declares a conflict with {} {} but {} {} is included ({})",
                    chain_to(res, &owner).join(" -> "),
                    conflict.name,
                    if conflict.version.is_empty() {
                        "*"
                    } else {
                        &conflict.version
                    },
                    other.name,
                    other.version,
                    chain_to(res, &other.name).join(" -> ")
                )));
            }
        }
    }
    Ok(())
}

/// Runs `deps`.
pub async fn run(args: &DepsArgs) -> anyhow::Result<u8> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match &args.command {
        DepsCommand::Update { pack, registry } => {
            drop(out);
            return crate::remote::update(Path::new(pack), registry).await;
        }
        DepsCommand::Audit {
            pack,
            format,
            registry,
        } => {
            drop(out);
            return crate::deps_audit::run(Path::new(pack), registry, format).await;
        }
        DepsCommand::Resolve { pack } => {
            let dir = Path::new(pack);
            let res = resolve(dir)?;
            for c in res.chosen.values() {
                writeln!(out, "{:<24} {:<10} {}", c.name, c.version, c.dir.display())?;
            }
            // Remote pins stay as `deps update` left them.
            let before = crate::remote::lock_versions(dir)?;
            let pinned: Vec<_> = crate::remote::locked(dir)?.into_values().collect();
            crate::remote::write_lock(dir, &pinned)?;
            let after = crate::remote::lock_versions(dir)?;
            for line in crate::remote::changes(&before, &after) {
                shared::output::info(&line);
            }
            shared::output::info(&format!("wrote {}", dir.join("Pack.lock.yaml").display()));
        }
        DepsCommand::Graph { pack } => {
            let res = resolve(Path::new(pack))?;
            writeln!(out, "{} {}", res.root.0, res.root.1)?;
            print_tree(
                &mut out,
                &res,
                &res.root.0,
                "",
                &mut vec![res.root.0.clone()],
            )?;
        }
        DepsCommand::Why { name, pack } => {
            let res = resolve(Path::new(pack))?;
            let Some(c) = res.chosen.get(name) else {
                anyhow::bail!(
                    "{name} is not a dependency of {} (dependencies: {})",
                    res.root.0,
                    res.chosen.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            };
            let chain = chain_to(&res, name);
            let mut parts = Vec::new();
            for w in chain.windows(2) {
                let range = res
                    .edges
                    .iter()
                    .find(|(f, t, _)| *f == w[0] && *t == w[1])
                    .map(|e| e.2.clone())
                    .unwrap_or_default();
                parts.push(format!(
                    "{} requires {} {}",
                    w[0],
                    w[1],
                    if range.is_empty() { "*".into() } else { range }
                ));
            }
            writeln!(
                out,
                "{name} {} is included because: {}",
                c.version,
                parts.join(", ")
            )?;
        }
    }
    Ok(shared::output::exit::OK)
}

fn print_tree(
    out: &mut impl std::io::Write,
    res: &Resolution,
    node: &str,
    indent: &str,
    path: &mut Vec<String>,
) -> std::io::Result<()> {
    let children: Vec<&(String, String, String)> =
        res.edges.iter().filter(|(f, _, _)| f == node).collect();
    for (i, (_, to, range)) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let version = res
            .chosen
            .get(to)
            .map(|c| c.version.to_string())
            .unwrap_or_else(|| "?".into());
        writeln!(
            out,
            "{indent}{} {to} {version} ({})",
            if last { "└──" } else { "├──" },
            if range.is_empty() { "*" } else { range }
        )?;
        if !path.contains(to) {
            path.push(to.clone());
            print_tree(
                out,
                res,
                to,
                &format!("{indent}{}", if last { "    " } else { "│   " }),
                path,
            )?;
            path.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_semver_operators() {
        let v = |s: &str| semantic(s).unwrap();
        let r = to_range("^7.0.0").unwrap();
        assert!(r.contains(&v("7.4.1")) && !r.contains(&v("8.0.0")) && !r.contains(&v("6.9.9")));
        let r = to_range("~1.4").unwrap();
        assert!(r.contains(&v("1.4.9")) && !r.contains(&v("1.5.0")));
        let r = to_range(">=1.2.0, <2").unwrap();
        assert!(r.contains(&v("1.9.0")) && !r.contains(&v("2.0.0")));
        let r = to_range("^0.2.3").unwrap();
        assert!(r.contains(&v("0.2.9")) && !r.contains(&v("0.3.0")));
        assert!(to_range("*").unwrap().contains(&v("99.0.0")));
    }
}
