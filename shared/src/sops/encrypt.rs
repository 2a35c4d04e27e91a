//! Encryption: wrapping the data key for recipients (Shamir shares for key
//! groups), encrypting every selected value and comment, the MAC and the
//! metadata block; re-encryption that keeps unchanged values identical.

use super::cipher::{self, IvStash, Mac, ValueType};
use super::decrypt::Decrypted;
use super::keys;
use super::metadata::{self, AgeEntry, KeyGroup, Metadata, Rule};
use super::tree::{self, Format, Node, Scalar};
use super::walk::{Leaf, aad, walk};
use super::{Error, shamir};

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
