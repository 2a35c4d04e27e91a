//! SOPS-compatible encryption of YAML and JSON files with age recipients,
//! byte-compatible with files written by `sops` (see
//! `docs/ARCHITECTURE.md` and the reference `secrets.md`).
//!
//! - [`tree`]: the document model (order, types, comments) and its YAML/JSON I/O;
//! - [`cipher`]: per-value AES-256-GCM and the MAC;
//! - [`metadata`]: the `sops:` block and selection rules;
//! - [`keys`]: age identities/recipients, data-key wrapping;
//! - [`shamir`]: key-group shares;
//! - [`config`]: `.sops.yaml` creation rules.
//!
//! Plaintext only ever lives in memory here; errors never include it.

pub mod cipher;
pub mod config;
pub mod keys;
pub mod metadata;
pub mod shamir;
pub mod tree;

use cipher::{IvStash, Mac, ValueError, ValueType};
use keys::Identities;
use metadata::{AgeEntry, KeyGroup, Metadata, Rule};
use tree::{Elem, Format, Node, Scalar};

/// Errors of SOPS file handling; each names the file and, where relevant,
/// the value path — never a plaintext value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not valid YAML/JSON.
    #[error("{file}: cannot parse: {message}")]
    Parse {
        /// The file.
        file: String,
        /// Parser message.
        message: String,
    },
    /// The file has no `sops` metadata.
    #[error(
        "{file}: not encrypted (no sops metadata); encrypt it with `kubectl pack-secrets encrypt`"
    )]
    NotEncrypted {
        /// The file.
        file: String,
    },
    /// The file is already encrypted.
    #[error("{file}: already encrypted; use `kubectl pack-secrets edit` or `rotate`")]
    AlreadyEncrypted {
        /// The file.
        file: String,
    },
    /// The `sops` block cannot be read.
    #[error("{file}: invalid sops metadata: {reason}")]
    Metadata {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// No age identity was found at all.
    #[error(
        "{file}: no age identity found (looked in {looked}); the file is encrypted for {recipients}; set SOPS_AGE_KEY_FILE or pass --identity FILE"
    )]
    NoIdentities {
        /// The file.
        file: String,
        /// Its recipients.
        recipients: String,
        /// Where we looked.
        looked: String,
    },
    /// Identities exist, but none of them is a recipient of the file.
    #[error(
        "{file}: none of your {count} age identities can decrypt it; it is encrypted for {recipients}; ask a holder of one of those keys to run `kubectl pack-secrets updatekeys`"
    )]
    NoMatchingIdentity {
        /// The file.
        file: String,
        /// Its recipients.
        recipients: String,
        /// How many identities were tried.
        count: usize,
    },
    /// A value failed authentication.
    #[error(
        "{file}: value at {path} failed authentication: it was modified, moved, or encrypted with another data key"
    )]
    Tampered {
        /// The file.
        file: String,
        /// The value's path (`db:password:`).
        path: String,
    },
    /// A value is not a well-formed `ENC[...]`.
    #[error("{file}: value at {path} is not a valid sops value: {reason}")]
    Malformed {
        /// The file.
        file: String,
        /// The value's path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The MAC does not match the values.
    #[error(
        "{file}: MAC mismatch: values were added, removed or changed outside sops (decrypt with --ignore-mac to inspect)"
    )]
    MacMismatch {
        /// The file.
        file: String,
    },
    /// A data-key payload or share is unusable.
    #[error("{file}: cannot recover the data key: {reason}")]
    DataKey {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A recipient cannot be used.
    #[error("recipient {recipient}: {reason}")]
    Recipient {
        /// The recipient as given.
        recipient: String,
        /// Why it is refused.
        reason: String,
    },
    /// No recipients to encrypt for.
    #[error(
        "{file}: no recipients: pass --age age1..., or add a creation rule matching this path to .sops.yaml"
    )]
    NoRecipients {
        /// The file.
        file: String,
    },
    /// A key file line is not an identity (the line is never echoed).
    #[error("{origin}:{line}: {reason}")]
    KeyFile {
        /// File or variable.
        origin: String,
        /// 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
    /// `SOPS_AGE_KEY_CMD` failed.
    #[error("SOPS_AGE_KEY_CMD failed: {0}")]
    KeyCommand(String),
    /// Wrapping the data key failed.
    #[error("cannot encrypt the data key: {0}")]
    Wrap(String),
    /// `.sops.yaml` is invalid.
    #[error("{path}: {reason}")]
    Config {
        /// The config file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// True when a parsed file carries sops metadata.
pub fn is_encrypted(docs: &[Node]) -> bool {
    docs.first()
        .and_then(|d| d.get("sops"))
        .is_some_and(|s| s.get("mac").is_some() || s.get("lastmodified").is_some())
}

/// True when the text of a YAML/JSON file looks like a sops file (cheap check).
pub fn looks_encrypted(text: &str) -> bool {
    text.contains("ENC[AES256_GCM,") && text.contains("sops")
}

/// A decrypted file: plaintext documents plus what is needed to write it
/// back with the same data key.
pub struct Decrypted {
    /// The documents without their `sops` block.
    pub docs: Vec<Node>,
    /// The metadata read.
    pub metadata: Metadata,
    /// The data key.
    pub data_key: [u8; 32],
    /// IVs of the values, for minimal diffs on re-encrypt.
    pub stash: IvStash,
    /// Whether the MAC verified (false only with `ignore_mac`).
    pub mac_ok: bool,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("docs", &self.docs.len())
            .finish_non_exhaustive()
    }
}

/// Parses a file.
pub fn parse(file: &str, text: &str, format: Format) -> Result<Vec<Node>, Error> {
    tree::parse(text, format).map_err(|message| Error::Parse {
        file: file.to_string(),
        message,
    })
}

/// Reads the metadata of a parsed encrypted file.
pub fn metadata(file: &str, docs: &[Node]) -> Result<Metadata, Error> {
    let node = docs
        .first()
        .and_then(|d| d.get("sops"))
        .ok_or_else(|| Error::NotEncrypted {
            file: file.to_string(),
        })?;
    Metadata::from_node(node).map_err(|reason| Error::Metadata {
        file: file.to_string(),
        reason,
    })
}

/// Recovers the data key from the metadata with the given identities.
pub fn data_key(file: &str, meta: &Metadata, ids: &Identities) -> Result<[u8; 32], Error> {
    let recipients = meta.recipients();
    let rlist = if recipients.is_empty() {
        format!("no age recipient (only {})", meta.other_keys.join(", "))
    } else {
        recipients.join(", ")
    };
    if ids.is_empty() {
        return Err(Error::NoIdentities {
            file: file.into(),
            recipients: rlist,
            looked: ids.looked.join(", "),
        });
    }
    let unwrap_any = |entries: &[AgeEntry]| -> Result<Option<Vec<u8>>, Error> {
        for e in entries {
            match keys::unwrap(&e.enc, ids) {
                Ok(Some(k)) => return Ok(Some(k)),
                Ok(None) => {}
                Err(reason) => {
                    return Err(Error::DataKey {
                        file: file.into(),
                        reason: format!("payload for {}: {reason}", e.recipient),
                    });
                }
            }
        }
        Ok(None)
    };
    let key = if meta.key_groups.len() > 1 {
        let threshold = meta.shamir_threshold.unwrap_or(meta.key_groups.len());
        let mut shares = Vec::new();
        for g in &meta.key_groups {
            if let Some(s) = unwrap_any(&g.age)? {
                shares.push(s);
            }
            if shares.len() == threshold {
                break;
            }
        }
        if shares.len() < threshold {
            return Err(if shares.is_empty() {
                Error::NoMatchingIdentity {
                    file: file.into(),
                    recipients: rlist,
                    count: ids.len(),
                }
            } else {
                Error::DataKey {
                    file: file.into(),
                    reason: format!(
                        "your keys open {} of the {threshold} key groups needed; it is encrypted for {rlist}",
                        shares.len()
                    ),
                }
            });
        }
        shamir::combine(&shares).map_err(|reason| Error::DataKey {
            file: file.into(),
            reason,
        })?
    } else {
        let entries: Vec<AgeEntry> = meta
            .age
            .iter()
            .chain(meta.key_groups.iter().flat_map(|g| g.age.iter()))
            .cloned()
            .collect();
        unwrap_any(&entries)?.ok_or_else(|| Error::NoMatchingIdentity {
            file: file.into(),
            recipients: rlist,
            count: ids.len(),
        })?
    };
    key.try_into().map_err(|_| Error::DataKey {
        file: file.into(),
        reason: "the data key is not 32 bytes".into(),
    })
}

/// The visitor [`walk`] calls per leaf: the leaf, its path, whether a
/// marking comment precedes it.
type Visit<'f, E> = dyn FnMut(Leaf<'_>, &[String], bool) -> Result<(), E> + 'f;

/// The data key wrapped for every recipient: one group, or Shamir key groups.
#[derive(Debug, Clone, Default)]
pub struct Wrapped {
    /// Recipients of a single group.
    pub age: Vec<AgeEntry>,
    /// Key groups (Shamir), when there are several.
    pub key_groups: Vec<KeyGroup>,
    /// Shares needed with key groups.
    pub threshold: Option<usize>,
}

/// A leaf visited by [`walk`].
enum Leaf<'a> {
    Value(&'a mut Scalar),
    Comment(&'a mut String),
}

/// Visits every leaf with its path (map keys only) and whether a marking
/// comment precedes it (for the comment rules).
fn walk<E>(
    node: &mut Node,
    path: &mut Vec<String>,
    marked: bool,
    rule: &Rule,
    f: &mut Visit<'_, E>,
) -> Result<(), E> {
    match node {
        Node::Scalar(s) => f(Leaf::Value(s), path, marked),
        Node::Map(entries) => {
            let mut mark_next = false;
            for e in entries.iter_mut() {
                match e {
                    Elem::Comment(c) => {
                        let m = rule.marks(c);
                        f(Leaf::Comment(c), path, m)?;
                        mark_next = mark_next || m;
                    }
                    Elem::Value((k, v)) => {
                        path.push(k.clone());
                        walk(v, path, marked || mark_next, rule, f)?;
                        path.pop();
                        mark_next = false;
                    }
                }
            }
            Ok(())
        }
        Node::Seq(items) => {
            let mut mark_next = false;
            for e in items.iter_mut() {
                match e {
                    Elem::Comment(c) => {
                        let m = rule.marks(c);
                        f(Leaf::Comment(c), path, m)?;
                        mark_next = mark_next || m;
                    }
                    Elem::Value(v) => {
                        walk(v, path, marked || mark_next, rule, f)?;
                        mark_next = false;
                    }
                }
            }
            Ok(())
        }
    }
}

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

/// Options of [`decrypt`].
#[derive(Debug, Default, Clone, Copy)]
pub struct DecryptOptions {
    /// Do not fail on a MAC mismatch (report it in [`Decrypted::mac_ok`]).
    pub ignore_mac: bool,
}

/// Decrypts a parsed file in memory.
pub fn decrypt_docs(
    file: &str,
    mut docs: Vec<Node>,
    ids: &Identities,
    opts: DecryptOptions,
) -> Result<Decrypted, Error> {
    let meta = metadata(file, &docs)?;
    let key = data_key(file, &meta, ids)?;
    for d in docs.iter_mut() {
        d.remove("sops");
    }
    let mut stash = IvStash::default();
    let mut mac = Mac::new(meta.mac_only_encrypted);
    let rule = meta.rule.clone();
    for d in docs.iter_mut() {
        walk(
            &mut *d,
            &mut Vec::new(),
            false,
            &rule,
            &mut |leaf, path, marked| {
                let at = aad(path);
                let fail = |e: ValueError| match e {
                    ValueError::Authentication => Error::Tampered {
                        file: file.into(),
                        path: at.clone(),
                    },
                    ValueError::Malformed(reason) => Error::Malformed {
                        file: file.into(),
                        path: at.clone(),
                        reason,
                    },
                };
                match leaf {
                    Leaf::Comment(c) => {
                        if cipher::is_encrypted_value(c) {
                            let (plain, _) =
                                cipher::decrypt(&key, c, &at, Some(&mut stash)).map_err(fail)?;
                            *c = String::from_utf8_lossy(&plain).into_owned();
                        }
                    }
                    Leaf::Value(s) => {
                        let encrypted = rule.encrypts(path, marked)
                            && matches!(s, Scalar::Str(v) if cipher::is_encrypted_value(v));
                        if encrypted {
                            let Scalar::Str(v) = &*s else { return Ok(()) };
                            let (plain, t) =
                                cipher::decrypt(&key, v, &at, Some(&mut stash)).map_err(fail)?;
                            mac.add(&plain);
                            *s = cipher::restore(plain, t).map_err(fail)?;
                        } else if !meta.mac_only_encrypted {
                            mac.add(&cipher::render(s).0);
                        }
                    }
                }
                Ok(())
            },
        )?;
    }
    let computed = mac.finish();
    let stored = if meta.mac.is_empty() {
        None
    } else {
        match cipher::decrypt(&key, &meta.mac, &meta.lastmodified, None) {
            Ok((m, _)) => Some(m),
            Err(ValueError::Authentication) => None,
            Err(ValueError::Malformed(reason)) => {
                return Err(Error::Malformed {
                    file: file.into(),
                    path: "sops.mac".into(),
                    reason,
                });
            }
        }
    };
    let mac_ok = stored.as_deref() == Some(computed.as_bytes());
    if !mac_ok && !opts.ignore_mac {
        return Err(Error::MacMismatch { file: file.into() });
    }
    Ok(Decrypted {
        docs,
        metadata: meta,
        data_key: key,
        stash,
        mac_ok,
    })
}

/// Parses and decrypts a file's text.
pub fn decrypt(
    file: &str,
    text: &str,
    format: Format,
    ids: &Identities,
    opts: DecryptOptions,
) -> Result<Decrypted, Error> {
    let docs = parse(file, text, format)?;
    if !is_encrypted(&docs) {
        return Err(Error::NotEncrypted { file: file.into() });
    }
    decrypt_docs(file, docs, ids, opts)
}

/// Who a file is encrypted for and how.
#[derive(Debug, Clone)]
pub struct Keys {
    /// Recipients of one group (no Shamir), or one list per key group.
    pub groups: Vec<Vec<age::x25519::Recipient>>,
    /// Shares needed when there are several groups.
    pub threshold: usize,
}

impl Keys {
    /// One group of recipients.
    pub fn single(recipients: Vec<age::x25519::Recipient>) -> Keys {
        Keys {
            groups: vec![recipients],
            threshold: 1,
        }
    }

    fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.is_empty())
    }

    /// Wraps `data_key` for every recipient (Shamir shares for key groups).
    pub fn wrap(&self, data_key: &[u8; 32]) -> Result<Wrapped, Error> {
        let entries =
            |secret: &[u8], rs: &[age::x25519::Recipient]| -> Result<Vec<AgeEntry>, Error> {
                rs.iter()
                    .map(|r| {
                        Ok(AgeEntry {
                            recipient: r.to_string(),
                            enc: keys::wrap(secret, r)?,
                        })
                    })
                    .collect()
            };
        if self.groups.len() <= 1 {
            let rs = self.groups.first().map(Vec::as_slice).unwrap_or(&[]);
            return Ok(Wrapped {
                age: entries(data_key, rs)?,
                ..Wrapped::default()
            });
        }
        let shares =
            shamir::split(data_key, self.groups.len(), self.threshold).map_err(Error::Wrap)?;
        let groups = self
            .groups
            .iter()
            .zip(shares)
            .map(|(rs, share)| {
                Ok(KeyGroup {
                    age: entries(&share, rs)?,
                    other: Default::default(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Wrapped {
            age: Vec::new(),
            key_groups: groups,
            threshold: Some(self.threshold),
        })
    }
}

/// Settings for writing an encrypted file.
pub struct EncryptSpec<'a> {
    /// The data key (new random for a new file or a rotation).
    pub data_key: [u8; 32],
    /// Wrapped keys to store; computed from `keys` when `None`.
    pub wrapped: Option<Wrapped>,
    /// Recipients (used when `wrapped` is `None`).
    pub keys: Option<&'a Keys>,
    /// Selection rule.
    pub rule: Rule,
    /// sops's `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// IVs to reuse for unchanged values.
    pub stash: Option<&'a IvStash>,
}

/// A new random data key.
pub fn new_data_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    cipher::fill_random(&mut k);
    k
}

/// Encrypts plaintext documents and renders the file.
pub fn encrypt_docs(
    file: &str,
    mut docs: Vec<Node>,
    spec: EncryptSpec<'_>,
    format: Format,
) -> Result<String, Error> {
    let Wrapped {
        age,
        key_groups,
        threshold: shamir_threshold,
    } = match spec.wrapped {
        Some(w) => w,
        None => {
            let keys = spec
                .keys
                .filter(|k| !k.is_empty())
                .ok_or_else(|| Error::NoRecipients { file: file.into() })?;
            keys.wrap(&spec.data_key)?
        }
    };
    if docs.is_empty() {
        docs.push(Node::map());
    }
    let key = spec.data_key;
    let mut mac = Mac::new(spec.mac_only_encrypted);
    for d in docs.iter_mut() {
        if !matches!(d, Node::Map(_)) {
            return Err(Error::Parse {
                file: file.into(),
                message: "every document must be a map to be encrypted".into(),
            });
        }
        d.remove("sops");
        walk::<Error>(
            &mut *d,
            &mut Vec::new(),
            false,
            &spec.rule,
            &mut |leaf, path, marked| {
                let at = aad(path);
                match leaf {
                    Leaf::Comment(c) => {
                        let keep_plain =
                            spec.rule.marks(c) || !path_encrypts_comments(&spec.rule, path);
                        if !keep_plain && !c.is_empty() {
                            *c = cipher::encrypt(
                                &key,
                                c.as_bytes(),
                                ValueType::Comment,
                                &at,
                                spec.stash,
                            );
                        }
                    }
                    Leaf::Value(s) => {
                        let (plain, t) = cipher::render(s);
                        let encrypted = spec.rule.encrypts(path, marked);
                        if encrypted || !spec.mac_only_encrypted {
                            mac.add(&plain);
                        }
                        if encrypted && !plain.is_empty() && !matches!(s, Scalar::Null) {
                            *s = Scalar::Str(cipher::encrypt(&key, &plain, t, &at, spec.stash));
                        }
                    }
                }
                Ok(())
            },
        )?;
    }
    let lastmodified = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string();
    let mac_plain = mac.finish();
    let meta = Metadata {
        age,
        key_groups,
        shamir_threshold,
        mac: cipher::encrypt(
            &key,
            mac_plain.as_bytes(),
            ValueType::Str,
            &lastmodified,
            None,
        ),
        lastmodified,
        rule: spec.rule,
        mac_only_encrypted: spec.mac_only_encrypted,
        version: metadata::VERSION.into(),
        other_keys: Vec::new(),
    };
    let meta_node = meta.to_node();
    for d in docs.iter_mut() {
        d.insert("sops", meta_node.clone());
    }
    Ok(tree::emit(&docs, format))
}

/// Comments follow the path rules (suffix/regex) like values; comment
/// rules keep only the marking comments readable.
fn path_encrypts_comments(rule: &Rule, path: &[String]) -> bool {
    match rule {
        Rule::UnencryptedCommentRegex(_) | Rule::EncryptedCommentRegex(_) => true,
        other => other.encrypts(path, false),
    }
}

/// Re-encrypts a decrypted file with the same data key and recipients,
/// reusing IVs of unchanged values (for `edit`, `set`, `unset`).
pub fn reencrypt(
    file: &str,
    dec: &Decrypted,
    docs: Vec<Node>,
    format: Format,
) -> Result<String, Error> {
    encrypt_docs(
        file,
        docs,
        EncryptSpec {
            data_key: dec.data_key,
            wrapped: Some(Wrapped {
                age: dec.metadata.age.clone(),
                key_groups: dec.metadata.key_groups.clone(),
                threshold: dec.metadata.shamir_threshold,
            }),
            keys: None,
            rule: dec.metadata.rule.clone(),
            mac_only_encrypted: dec.metadata.mac_only_encrypted,
            stash: Some(&dec.stash),
        },
        format,
    )
}

/// The plaintext of a decrypted file in its format.
pub fn render_plain(dec: &Decrypted, format: Format) -> String {
    tree::emit(&dec.docs, format)
}

#[cfg(test)]
mod tests;
