//! The `sops:` metadata block: recipients with their wrapped data key (or
//! key groups with Shamir shares), `lastmodified`, the encrypted MAC, the
//! selection rule and the format version.

use regex::Regex;
use serde::Deserialize;

use super::tree::{Elem, Node, Scalar};

/// The format version written into files (the sops release whose layout we write).
pub const VERSION: &str = "3.9.4";

/// One age recipient and the data key (or share) wrapped for it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AgeEntry {
    /// `age1...`.
    pub recipient: String,
    /// The armored age payload.
    pub enc: String,
}

/// A key group: all its recipients hold the same share.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct KeyGroup {
    /// Age recipients of this group.
    #[serde(default)]
    pub age: Vec<AgeEntry>,
    /// Master keys of other types (PGP, KMS...): kept, not usable here.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Which values are encrypted (sops allows one rule per file).
#[derive(Debug, Clone)]
pub enum Rule {
    /// Values under a key ending with this suffix stay plain (default `_unencrypted`).
    UnencryptedSuffix(String),
    /// Only values under a key ending with this suffix are encrypted.
    EncryptedSuffix(String),
    /// Values under a key matching this regex stay plain.
    UnencryptedRegex(Regex),
    /// Only values under a key matching this regex are encrypted.
    EncryptedRegex(Regex),
    /// Values after a comment matching this regex stay plain.
    UnencryptedCommentRegex(Regex),
    /// Only values after a comment matching this regex are encrypted.
    EncryptedCommentRegex(Regex),
}

impl Default for Rule {
    fn default() -> Self {
        Rule::UnencryptedSuffix("_unencrypted".into())
    }
}

impl Rule {
    /// The metadata key and value of this rule.
    pub fn field(&self) -> (&'static str, String) {
        match self {
            Rule::UnencryptedSuffix(s) => ("unencrypted_suffix", s.clone()),
            Rule::EncryptedSuffix(s) => ("encrypted_suffix", s.clone()),
            Rule::UnencryptedRegex(r) => ("unencrypted_regex", r.as_str().into()),
            Rule::EncryptedRegex(r) => ("encrypted_regex", r.as_str().into()),
            Rule::UnencryptedCommentRegex(r) => ("unencrypted_comment_regex", r.as_str().into()),
            Rule::EncryptedCommentRegex(r) => ("encrypted_comment_regex", r.as_str().into()),
        }
    }

    /// Builds a rule from its metadata (or `.sops.yaml`) key and value.
    pub fn from_field(key: &str, value: &str) -> Result<Option<Rule>, String> {
        let re = |v: &str| {
            Regex::new(v).map_err(|e| {
                format!(
                    "{key}: invalid regex: {}",
                    crate::error::one_line(&e.to_string())
                )
            })
        };
        Ok(Some(match key {
            "unencrypted_suffix" => Rule::UnencryptedSuffix(value.into()),
            "encrypted_suffix" => Rule::EncryptedSuffix(value.into()),
            "unencrypted_regex" => Rule::UnencryptedRegex(re(value)?),
            "encrypted_regex" => Rule::EncryptedRegex(re(value)?),
            "unencrypted_comment_regex" => Rule::UnencryptedCommentRegex(re(value)?),
            "encrypted_comment_regex" => Rule::EncryptedCommentRegex(re(value)?),
            _ => return Ok(None),
        }))
    }

    /// The rule keys, for reading configs.
    pub const KEYS: [&'static str; 6] = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];

    /// Whether a value at `path` (map keys), after a marked comment or not, is encrypted.
    pub fn encrypts(&self, path: &[String], marked: bool) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            Rule::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
            Rule::UnencryptedCommentRegex(_) => !marked,
            Rule::EncryptedCommentRegex(_) => marked,
        }
    }

    /// Whether a comment marks the values after it (comment rules only).
    pub fn marks(&self, comment: &str) -> bool {
        match self {
            Rule::UnencryptedCommentRegex(r) | Rule::EncryptedCommentRegex(r) => {
                r.is_match(comment)
            }
            _ => false,
        }
    }
}

/// The parsed `sops:` block.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Recipients of the data key (one key group).
    pub age: Vec<AgeEntry>,
    /// Key groups (Shamir) when there are several.
    pub key_groups: Vec<KeyGroup>,
    /// Shares needed with key groups.
    pub shamir_threshold: Option<usize>,
    /// RFC 3339 time of the last write; the MAC's additional data.
    pub lastmodified: String,
    /// The encrypted MAC.
    pub mac: String,
    /// The selection rule.
    pub rule: Rule,
    /// sops's `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// The `version` field.
    pub version: String,
    /// Non-age master keys present (`pgp`, `kms`, ...), by type.
    pub other_keys: Vec<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    age: Vec<AgeEntry>,
    #[serde(default)]
    key_groups: Vec<KeyGroup>,
    shamir_threshold: Option<usize>,
    #[serde(default)]
    lastmodified: String,
    #[serde(default)]
    mac: String,
    #[serde(default)]
    mac_only_encrypted: bool,
    #[serde(default)]
    version: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Metadata {
    /// Reads the `sops:` node.
    pub fn from_node(node: &Node) -> Result<Metadata, String> {
        let json = node.to_json();
        let raw: Raw = serde_json::from_value(json).map_err(|e| e.to_string())?;
        let mut rule = None;
        let mut other_keys = Vec::new();
        for (k, v) in &raw.rest {
            if let Some(s) = v.as_str()
                && !s.is_empty()
                && let Some(r) = Rule::from_field(k, s)?
            {
                if rule.is_some() {
                    return Err("more than one selection rule (sops allows one)".into());
                }
                rule = Some(r);
            }
            if matches!(
                k.as_str(),
                "pgp" | "kms" | "gcp_kms" | "azure_kv" | "hc_vault"
            ) && v.as_array().is_some_and(|a| !a.is_empty())
            {
                other_keys.push(k.clone());
            }
        }
        Ok(Metadata {
            age: raw.age,
            key_groups: raw.key_groups,
            shamir_threshold: raw.shamir_threshold,
            lastmodified: raw.lastmodified,
            mac: raw.mac,
            rule: rule.unwrap_or_default(),
            mac_only_encrypted: raw.mac_only_encrypted,
            version: raw.version,
            other_keys,
        })
    }

    /// Every age recipient named in the file.
    pub fn recipients(&self) -> Vec<String> {
        let mut out: Vec<String> = self.age.iter().map(|a| a.recipient.clone()).collect();
        for g in &self.key_groups {
            out.extend(g.age.iter().map(|a| a.recipient.clone()));
        }
        out
    }

    /// The `sops:` node as sops writes it.
    pub fn to_node(&self) -> Node {
        let entries_node = |entries: &[AgeEntry]| {
            Node::Seq(
                entries
                    .iter()
                    .map(|a| {
                        Elem::Value(Node::Map(vec![
                            Elem::Value(("recipient".into(), Node::str(a.recipient.clone()))),
                            Elem::Value(("enc".into(), Node::str(a.enc.clone()))),
                        ]))
                    })
                    .collect(),
            )
        };
        let mut m = Node::map();
        if self.key_groups.is_empty() {
            m.insert("age", entries_node(&self.age));
        } else {
            let groups = self
                .key_groups
                .iter()
                .map(|g| {
                    let mut gm = Node::map();
                    for (k, v) in &g.other {
                        gm.insert(k, Node::from_json(v));
                    }
                    gm.insert("age", entries_node(&g.age));
                    Elem::Value(gm)
                })
                .collect();
            m.insert("key_groups", Node::Seq(groups));
            if let Some(t) = self.shamir_threshold {
                m.insert("shamir_threshold", Node::Scalar(Scalar::Int(t as i64)));
            }
        }
        m.insert("lastmodified", Node::str(self.lastmodified.clone()));
        m.insert("mac", Node::str(self.mac.clone()));
        let (k, v) = self.rule.field();
        m.insert(k, Node::str(v));
        if self.mac_only_encrypted {
            m.insert("mac_only_encrypted", Node::Scalar(Scalar::Bool(true)));
        }
        m.insert("version", Node::str(self.version.clone()));
        m
    }
}
