//! Who can decrypt and who a file is encrypted for: identities from the
//! usual places, recipients and selection rule from flags or `.sops.yaml`.

use std::path::Path;

use anyhow::{Context, Result};
use shared::sops::keys::{self, Identities};
use shared::sops::metadata::Rule;
use shared::sops::{EncryptSpec, Keys, config};

use crate::cli::{IdentityArgs, RecipientArgs};

/// Every identity this user has (see `Identities::discover`).
pub fn identities(args: &IdentityArgs) -> Result<Identities> {
    Ok(Identities::discover(&args.identity)?)
}

/// Recipients, rule and MAC mode for encrypting `file`.
pub struct Plan {
    /// Recipients / key groups.
    pub keys: Keys,
    /// Selection rule.
    pub rule: Rule,
    /// MAC only encrypted values.
    pub mac_only_encrypted: bool,
}

impl Plan {
    /// The settings for encrypting a new file under this plan (new data key).
    pub fn spec(&self) -> EncryptSpec<'_> {
        EncryptSpec {
            data_key: shared::sops::new_data_key(),
            wrapped: None,
            keys: Some(&self.keys),
            rule: self.rule.clone(),
            mac_only_encrypted: self.mac_only_encrypted,
            stash: None,
        }
    }
}

/// `--age` wins; otherwise the first `.sops.yaml` creation rule matching the
/// file. A rule flag overrides the config's rule.
pub fn plan(file: &Path, args: &RecipientArgs) -> Result<Plan> {
    let creation = if args.age.is_empty() {
        config::creation_for(file)?
    } else {
        None
    };
    let keys = if !args.age.is_empty() {
        Keys::single(
            args.age
                .iter()
                .map(|r| keys::parse_recipient(r))
                .collect::<Result<Vec<_>, _>>()?,
        )
    } else if let Some(c) = &creation {
        c.keys.clone()
    } else {
        return Err(shared::sops::Error::NoRecipients {
            file: file.display().to_string(),
        }
        .into());
    };
    let flag_rule = rule_from_flags(args)?;
    let rule = flag_rule
        .or_else(|| creation.as_ref().and_then(|c| c.rule.clone()))
        .unwrap_or_default();
    Ok(Plan {
        keys,
        rule,
        mac_only_encrypted: args.mac_only_encrypted
            || creation.as_ref().is_some_and(|c| c.mac_only_encrypted),
    })
}

fn rule_from_flags(args: &RecipientArgs) -> Result<Option<Rule>> {
    let pairs = [
        ("encrypted_regex", &args.encrypted_regex),
        ("unencrypted_regex", &args.unencrypted_regex),
        ("encrypted_suffix", &args.encrypted_suffix),
        ("unencrypted_suffix", &args.unencrypted_suffix),
        ("encrypted_comment_regex", &args.encrypted_comment_regex),
        ("unencrypted_comment_regex", &args.unencrypted_comment_regex),
    ];
    for (key, value) in pairs {
        if let Some(v) = value {
            let flag = format!("--{}", key.replace('_', "-"));
            return Rule::from_field(key, v)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("invalid {flag}"));
        }
    }
    Ok(None)
}
