//! Age identities and recipients for SOPS files: where identities are found
//! (the same places as sops, plus the suite's own key file), which recipient
//! types are accepted, and wrapping/unwrapping the data key.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use super::Error;

/// The age identities found on this machine, and where they came from.
#[derive(Default)]
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    /// Human-readable places that were looked at (paths, variable names).
    pub looked: Vec<String>,
}

impl Identities {
    /// How many identities were found.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no identity was found.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds clones of another set's identities.
    pub fn extend_from(&mut self, other: &Identities) {
        self.keys.extend(other.keys.iter().cloned());
        self.looked.extend(other.looked.iter().cloned());
    }

    /// Identities parsed from key-file text (for tests and `SOPS_AGE_KEY`).
    pub fn from_text(origin: &str, text: &str) -> Result<Identities, Error> {
        let mut ids = Identities::default();
        ids.add_text(origin, text)?;
        Ok(ids)
    }

    fn add_text(&mut self, origin: &str, text: &str) -> Result<(), Error> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-PLUGIN-") {
                return Err(Error::KeyFile {
                    origin: origin.to_string(),
                    line: i + 1,
                    reason: "age plugin identities are not supported; use an X25519 key (AGE-SECRET-KEY-1...)".into(),
                });
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| Error::KeyFile {
                origin: origin.to_string(),
                line: i + 1,
                reason: "not an age X25519 identity (expected AGE-SECRET-KEY-1...)".into(),
            })?;
            self.keys.push(id);
        }
        self.looked.push(origin.to_string());
        Ok(())
    }

    fn add_file(&mut self, path: &Path, required: bool) -> Result<(), Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => self.add_text(&path.display().to_string(), &text),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                self.looked.push(format!("{} (absent)", path.display()));
                Ok(())
            }
            Err(e) => Err(Error::Io {
                path: path.display().to_string(),
                source: e,
            }),
        }
    }

    /// Finds identities, merged in this order: `--identity` files,
    /// `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`,
    /// `$XDG_CONFIG_HOME/sops/age/keys.txt` (default `~/.config`), and the
    /// suite's own key file (see [`own_key_file`]).
    pub fn discover(explicit: &[PathBuf]) -> Result<Identities, Error> {
        let mut ids = Identities::default();
        for p in explicit {
            ids.add_file(p, true)?;
        }
        if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
            ids.add_text("SOPS_AGE_KEY", &text)?;
        }
        if let Ok(file) = std::env::var("SOPS_AGE_KEY_FILE") {
            ids.add_file(Path::new(&file), true)?;
        }
        if let Ok(cmd) = std::env::var("SOPS_AGE_KEY_CMD") {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| Error::Io {
                    path: "SOPS_AGE_KEY_CMD".into(),
                    source: e,
                })?;
            if !out.status.success() {
                return Err(Error::KeyCommand(out.status.to_string()));
            }
            ids.add_text("SOPS_AGE_KEY_CMD", &String::from_utf8_lossy(&out.stdout))?;
        }
        if let Some(config) = config_dir() {
            ids.add_file(&config.join("sops/age/keys.txt"), false)?;
            let own = own_key_file_in(&config);
            ids.add_file(&own, false)?;
        }
        Ok(ids)
    }
}

/// `$XDG_CONFIG_HOME`, or `~/.config`.
fn config_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")),
    }
}

fn own_key_file_in(config: &Path) -> PathBuf {
    config.join("kubectl-pack/age/keys.txt")
}

/// The key file `kubectl pack-secrets init` writes by default:
/// `$XDG_CONFIG_HOME/kubectl-pack/age/keys.txt`.
pub fn own_key_file() -> Option<PathBuf> {
    config_dir().map(|c| own_key_file_in(&c))
}

/// A new identity as key-file text, and its recipient.
pub fn generate() -> (String, String) {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let created = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or(jiff::Timestamp::now());
    let text = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        id.to_string().expose_secret()
    );
    (text, recipient)
}

/// Parses an age recipient, refusing the types this build cannot encrypt to.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, Error> {
    let s = s.trim();
    let refuse = |reason: &str| Error::Recipient {
        recipient: s.to_string(),
        reason: reason.to_string(),
    };
    if s.starts_with("age1pq1") {
        return Err(refuse(
            "post-quantum (ML-KEM hybrid) recipients are not supported yet; use an X25519 recipient (age1...)",
        ));
    }
    if s.starts_with("ssh-") {
        return Err(refuse(
            "SSH recipients are not supported; use an age X25519 recipient (age1...)",
        ));
    }
    age::x25519::Recipient::from_str(s).map_err(|_| {
        if let Some(rest) = s.strip_prefix("age1")
            && let Some((plugin, _)) = rest.split_once('1')
            && !plugin.is_empty()
        {
            let on_path = which(&format!("age-plugin-{plugin}"));
            refuse(&format!(
                "age plugin recipients are not supported (age-plugin-{plugin} {}); use an X25519 recipient (age1...)",
                if on_path { "is on PATH" } else { "is not on PATH" }
            ))
        } else {
            refuse("not an age recipient (expected age1...)")
        }
    })
}

fn which(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// Encrypts `secret` (a data key or a share) to one recipient, armored.
pub fn wrap(secret: &[u8], recipient: &age::x25519::Recipient) -> Result<String, Error> {
    let fail = |e: String| Error::Wrap(e);
    let enc = age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
        .map_err(|e| fail(e.to_string()))?;
    let armor = age::armor::ArmoredWriter::wrap_output(Vec::new(), age::armor::Format::AsciiArmor)
        .map_err(|e| fail(e.to_string()))?;
    let mut w = enc.wrap_output(armor).map_err(|e| fail(e.to_string()))?;
    w.write_all(secret).map_err(|e| fail(e.to_string()))?;
    let armor = w.finish().map_err(|e| fail(e.to_string()))?;
    let out = armor.finish().map_err(|e| fail(e.to_string()))?;
    let mut text = String::from_utf8(out).map_err(|e| fail(e.to_string()))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Decrypts an armored (or binary) age payload with any of `ids`;
/// `Ok(None)` when none of them is a recipient.
pub fn unwrap(armored: &str, ids: &Identities) -> Result<Option<Vec<u8>>, String> {
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let dec = age::Decryptor::new(reader).map_err(|e| e.to_string())?;
    match dec.decrypt(ids.keys.iter().map(|k| k as &dyn age::Identity)) {
        Ok(mut r) => {
            let mut out = Vec::new();
            r.read_to_end(&mut out).map_err(|e| e.to_string())?;
            Ok(Some(out))
        }
        Err(age::DecryptError::NoMatchingKeys) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip() {
        let (text, recipient) = generate();
        let ids = Identities::from_text("test", &text).unwrap();
        let r = parse_recipient(&recipient).unwrap();
        let armored = wrap(&[9u8; 32], &r).unwrap();
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert_eq!(unwrap(&armored, &ids).unwrap(), Some(vec![9u8; 32]));
        let (other, _) = generate();
        let other = Identities::from_text("other", &other).unwrap();
        assert_eq!(unwrap(&armored, &other).unwrap(), None);
    }

    #[test]
    fn unsupported_recipients_are_refused_with_a_reason() {
        let e = parse_recipient("age1pq1qqqq").unwrap_err().to_string();
        assert!(e.contains("post-quantum"), "{e}");
        let e = parse_recipient("age1yubikey1qqqqqq")
            .unwrap_err()
            .to_string();
        assert!(e.contains("age-plugin-yubikey"), "{e}");
        let e = parse_recipient("ssh-ed25519 AAAA").unwrap_err().to_string();
        assert!(e.contains("SSH"), "{e}");
    }

    #[test]
    fn key_file_errors_name_the_line_not_the_secret() {
        let e = Identities::from_text("keys.txt", "# c\nAGE-SECRET-KEY-1NOTVALID\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("keys.txt:2"), "{e}");
        assert!(!e.contains("NOTVALID"), "{e}");
    }
}
