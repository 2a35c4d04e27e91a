//! Decryption: recovering the data key (directly or from Shamir shares)
//! with the user's identities, then every value, checking the MAC.

use super::cipher::{self, IvStash, Mac, ValueError};
use super::keys::{self, Identities};
use super::metadata::{AgeEntry, Metadata};
use super::tree::{Format, Node, Scalar};
use super::walk::{Leaf, aad, walk};
use super::{Error, is_encrypted, metadata, parse, shamir};

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
