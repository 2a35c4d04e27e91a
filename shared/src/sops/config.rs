//! `.sops.yaml`: found by searching upward from the working directory; the
//! first `creation_rules` entry whose `path_regex` matches the file decides
//! recipients, key groups and the selection rule.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

use super::metadata::Rule;
use super::{Error, Keys, keys};

/// What a creation rule says for one file.
#[derive(Debug, Clone)]
pub struct Creation {
    /// Recipients (and key groups).
    pub keys: Keys,
    /// Selection rule, if the rule sets one.
    pub rule: Option<Rule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// The config file it came from.
    pub config: PathBuf,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    creation_rules: Vec<RawRule>,
}

#[derive(Deserialize)]
struct RawRule {
    path_regex: Option<String>,
    #[serde(default)]
    age: Option<StrOrList>,
    #[serde(default)]
    key_groups: Vec<RawGroup>,
    shamir_threshold: Option<usize>,
    #[serde(default)]
    mac_only_encrypted: bool,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct RawGroup {
    #[serde(default)]
    age: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrList {
    Str(String),
    List(Vec<String>),
}

impl StrOrList {
    fn items(&self) -> Vec<String> {
        match self {
            StrOrList::Str(s) => s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
            StrOrList::List(l) => l.clone(),
        }
    }
}

/// The nearest `.sops.yaml` from `start` upward.
pub fn find(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let candidate = d.join(".sops.yaml");
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

/// The creation rule of the nearest `.sops.yaml` that matches `file`
/// (matched against the path relative to the config's directory and the
/// path as given). `Ok(None)` when there is no config or no rule matches.
pub fn creation_for(file: &Path) -> Result<Option<Creation>, Error> {
    let cwd = std::env::current_dir().map_err(|e| Error::Io {
        path: ".".into(),
        source: e,
    })?;
    let Some(config) = find(&cwd) else {
        return Ok(None);
    };
    let cfg_err = |reason: String| Error::Config {
        path: config.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&config).map_err(|e| Error::Io {
        path: config.display().to_string(),
        source: e,
    })?;
    let cfg: Config = crate::yaml::from_str(&text).map_err(|e| cfg_err(e.message))?;
    let abs = if file.is_absolute() {
        file.to_path_buf()
    } else {
        cwd.join(file)
    };
    let base = config.parent().unwrap_or(Path::new("/"));
    let relative = abs
        .strip_prefix(base)
        .unwrap_or(&abs)
        .to_string_lossy()
        .into_owned();
    let given = file.to_string_lossy().into_owned();
    for (i, r) in cfg.creation_rules.iter().enumerate() {
        let matches = match &r.path_regex {
            None => true,
            Some(re) => {
                let re = Regex::new(re).map_err(|e| {
                    cfg_err(format!(
                        "creation_rules[{i}].path_regex: {}",
                        crate::error::one_line(&e.to_string())
                    ))
                })?;
                re.is_match(&relative) || re.is_match(&given)
            }
        };
        if !matches {
            continue;
        }
        let parse_all = |list: Vec<String>| -> Result<Vec<age::x25519::Recipient>, Error> {
            list.iter().map(|s| keys::parse_recipient(s)).collect()
        };
        let keys = if r.key_groups.is_empty() {
            Keys::single(parse_all(
                r.age.as_ref().map(StrOrList::items).unwrap_or_default(),
            )?)
        } else {
            let groups = r
                .key_groups
                .iter()
                .map(|g| parse_all(g.age.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let n = groups.len();
            Keys {
                groups,
                threshold: r.shamir_threshold.unwrap_or(n),
            }
        };
        let mut rule = None;
        for k in Rule::KEYS {
            if let Some(v) = r.rest.get(k).and_then(|v| v.as_str()) {
                rule = Rule::from_field(k, v).map_err(cfg_err)?;
            }
        }
        return Ok(Some(Creation {
            keys,
            rule,
            mac_only_encrypted: r.mac_only_encrypted,
            config: config.clone(),
        }));
    }
    Ok(None)
}
