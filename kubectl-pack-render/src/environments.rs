//! Environments: `environments/<name>.yaml` with `_inherit: <parent>`
//! chains (root first; a cycle is an error listing it), an optional
//! `environments/_base.yaml` applied under every environment, and
//! `_templates: {include: [globs], exclude: [globs]}` limiting what renders
//! (a glob may name templates with or without their `templates/` prefix;
//! one that matches no template is a warning naming the file).

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde_json::Value;

use crate::error::RenderError;
use crate::pack::{Pack, parse_yaml_file};
use crate::values::Layer;

/// Which templates an environment renders.
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    /// Every glob as written, with its matcher, and the file it is in.
    globs: Vec<(String, globset::GlobMatcher)>,
    file: String,
}

impl TemplateFilter {
    /// True when the template (path under `templates/`) renders.
    pub fn allows(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(name))
            && !self.exclude.as_ref().is_some_and(|g| g.is_match(name))
    }

    /// One warning per glob that matches none of `names`.
    pub fn unmatched<'a>(&self, names: impl Iterator<Item = &'a str> + Clone) -> Vec<String> {
        self.globs
            .iter()
            .filter(|(_, m)| !names.clone().any(|n| m.is_match(n)))
            .map(|(pat, _)| {
                format!(
                    "{}: _templates glob {pat:?} matches no template of the pack",
                    self.file
                )
            })
            .collect()
    }
}

/// A glob as written in `_templates`, relative to `templates/`.
fn template_glob(pattern: &str) -> &str {
    let p = pattern.strip_prefix("./").unwrap_or(pattern);
    p.strip_prefix("templates/").unwrap_or(p)
}

/// An environment resolved to its value layers and template filter.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `_base`, the inherit chain root first, then the environment itself.
    pub layers: Vec<Layer>,
    /// From the nearest `_templates` in the chain.
    pub templates: TemplateFilter,
    /// The environment and the ones it inherits from, nearest first.
    pub chain: Vec<String>,
}

/// Names of the environments a pack defines.
pub fn available(pack_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(pack_dir.join("environments"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let p = e.path();
                    let stem = p.file_stem()?.to_string_lossy().to_string();
                    let ext = p.extension()?.to_string_lossy().to_string();
                    (matches!(ext.as_str(), "yaml" | "yml") && !stem.starts_with('_'))
                        .then_some(stem)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The file of environment `name` (`environments/NAME.yaml`, else `.yml`).
pub fn file(pack_dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    ["yaml", "yml"]
        .iter()
        .map(|ext| pack_dir.join("environments").join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
}

fn load_file(
    pack: &Pack,
    name: &str,
) -> Result<Option<(String, String, Value, bool)>, RenderError> {
    let Some(path) = file(&pack.dir, name) else {
        return Ok(None);
    };
    let rel = format!(
        "environments/{}",
        path.file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default()
    );
    let text = std::fs::read_to_string(&path).map_err(|e| RenderError::Io {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let (text, sensitive) =
        crate::sops_values::decrypt_if_encrypted(&path.display().to_string(), text)?;
    let value = parse_yaml_file(&path, &text)?;
    Ok(Some((rel, text, value, sensitive)))
}

fn globset(
    file: &str,
    v: Option<&Value>,
    globs: &mut Vec<(String, globset::GlobMatcher)>,
) -> Result<Option<GlobSet>, RenderError> {
    let Some(list) = v.and_then(Value::as_array) else {
        return Ok(None);
    };
    let mut b = GlobSetBuilder::new();
    for g in list {
        let Some(pat) = g.as_str() else {
            return Err(RenderError::PackFile {
                path: file.into(),
                message: format!("_templates: {g} is not a glob string"),
            });
        };
        let glob = Glob::new(template_glob(pat)).map_err(|e| RenderError::PackFile {
            path: file.into(),
            message: format!("_templates glob {pat:?}: {e}"),
        })?;
        globs.push((pat.to_string(), glob.compile_matcher()));
        b.add(glob);
    }
    Ok(Some(b.build().map_err(|e| RenderError::PackFile {
        path: file.into(),
        message: e.to_string(),
    })?))
}

/// Resolves environment `name` of `pack`.
pub fn resolve(pack: &Pack, name: &str) -> Result<Environment, RenderError> {
    let mut chain: Vec<(String, String, Value, bool)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut current = name.to_string();
    loop {
        if let Some(pos) = seen.iter().position(|s| *s == current) {
            let mut cycle = seen[pos..].to_vec();
            cycle.push(current);
            return Err(RenderError::InheritCycle {
                cycle: cycle.join(" -> "),
            });
        }
        seen.push(current.clone());
        let Some((rel, text, value, sensitive)) = load_file(pack, &current)? else {
            let avail = available(&pack.dir);
            return Err(RenderError::UnknownEnvironment {
                name: current,
                available: if avail.is_empty() {
                    "none".into()
                } else {
                    avail.join(", ")
                },
            });
        };
        let parent = value
            .get("_inherit")
            .and_then(Value::as_str)
            .map(str::to_string);
        chain.push((rel, text, value, sensitive));
        match parent {
            Some(p) => current = p,
            None => break,
        }
    }
    let mut env = Environment {
        chain: seen,
        ..Default::default()
    };
    // The nearest _templates wins.
    if let Some((rel, _, v, _)) = chain
        .iter()
        .find(|(_, _, v, _)| v.get("_templates").is_some())
    {
        let t = v.get("_templates");
        let mut globs = Vec::new();
        env.templates = TemplateFilter {
            include: globset(rel, t.and_then(|t| t.get("include")), &mut globs)?,
            exclude: globset(rel, t.and_then(|t| t.get("exclude")), &mut globs)?,
            globs,
            file: rel.clone(),
        };
    }
    let base = load_file(pack, "_base")?;
    for (rel, text, value, sensitive) in base.into_iter().chain(chain.into_iter().rev()) {
        let mut layer = Layer::new(rel, strip_meta(value), Some(text));
        layer.sensitive = sensitive;
        env.layers.push(layer);
    }
    Ok(env)
}

fn strip_meta(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("_inherit");
        m.remove("_templates");
    }
    v
}
