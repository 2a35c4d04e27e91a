//! Typed errors of the SOPS module.

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
