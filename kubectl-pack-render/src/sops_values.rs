//! Encrypted values: files (and `--values-from` content) written by sops or
//! `kubectl pack-secrets` are decrypted in memory, never on disk, with the
//! same identity discovery as `kubectl pack-secrets` (`--identity`,
//! `SOPS_AGE_KEY*`, `~/.config/sops/age/keys.txt`).

use std::path::PathBuf;
use std::sync::Mutex;

use shared::sops::keys::Identities;
use shared::sops::tree::{Format, emit};
use shared::sops::{self, DecryptOptions};

use crate::error::RenderError;

/// Identities, looked up once per process on first use.
static IDENTITIES: Mutex<Option<std::sync::Arc<Identities>>> = Mutex::new(None);

/// Extra identity files from `--identity` (call before rendering).
static EXPLICIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Registers `--identity` files.
pub fn set_identity_files(files: &[PathBuf]) {
    if let Ok(mut e) = EXPLICIT.lock() {
        e.clear();
        e.extend_from_slice(files);
    }
}

fn identities(label: &str) -> Result<std::sync::Arc<Identities>, RenderError> {
    let mut guard = IDENTITIES.lock().map_err(|_| RenderError::Secret {
        source_ref: label.into(),
        message: "identity cache poisoned".into(),
    })?;
    if let Some(ids) = guard.as_ref() {
        return Ok(ids.clone());
    }
    let explicit = EXPLICIT.lock().map(|e| e.clone()).unwrap_or_default();
    let ids =
        std::sync::Arc::new(
            Identities::discover(&explicit).map_err(|e| RenderError::Secret {
                source_ref: label.into(),
                message: e.to_string(),
            })?,
        );
    *guard = Some(ids.clone());
    Ok(ids)
}

/// Strips helm-secrets' `secrets://` prefix from a `-f` argument.
pub fn strip_scheme(arg: &str) -> &str {
    arg.strip_prefix("secrets://").unwrap_or(arg)
}

/// When `text` is a SOPS file, its plaintext (YAML, in memory) and `true`;
/// otherwise the text unchanged and `false`. `name` names the file in errors.
pub fn decrypt_if_encrypted(name: &str, text: String) -> Result<(String, bool), RenderError> {
    if !sops::looks_encrypted(&text) {
        return Ok((text, false));
    }
    let format = if name.ends_with(".json") {
        Format::Json
    } else {
        Format::Yaml
    };
    let docs = sops::parse(name, &text, format).map_err(|e| RenderError::Secret {
        source_ref: name.into(),
        message: strip_name(name, &e.to_string()),
    })?;
    if !sops::is_encrypted(&docs) {
        return Ok((text, false));
    }
    let ids = identities(name)?;
    let dec = sops::decrypt_docs(name, docs, &ids, DecryptOptions::default()).map_err(|e| {
        RenderError::Secret {
            source_ref: name.into(),
            message: strip_name(name, &e.to_string()),
        }
    })?;
    Ok((emit(&dec.docs, Format::Yaml), true))
}

/// sops errors start with the file name; the render error adds it once.
fn strip_name(name: &str, msg: &str) -> String {
    msg.strip_prefix(&format!("{name}: "))
        .unwrap_or(msg)
        .to_string()
}
