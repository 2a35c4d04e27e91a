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
mod decrypt;
mod encrypt;
mod error;
pub mod keys;
pub mod metadata;
pub mod shamir;
pub mod tree;
mod walk;
mod yaml_in;
mod yaml_out;

pub use decrypt::{DecryptOptions, Decrypted, data_key, decrypt, decrypt_docs};
pub use encrypt::{
    EncryptSpec, Keys, Wrapped, encrypt_docs, new_data_key, reencrypt, render_plain,
};
pub use error::Error;

use metadata::Metadata;
use tree::{Format, Node};

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

#[cfg(test)]
mod tests;
