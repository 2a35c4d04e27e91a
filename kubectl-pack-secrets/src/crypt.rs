//! `encrypt`, `decrypt`, `rotate`, `updatekeys` and `status`: whole-file
//! operations on SOPS files.

use std::io::Write;

use anyhow::{Context, Result, bail};
use shared::output::{exit, warn};
use shared::sops::tree::{self, Node};
use shared::sops::{self, DecryptOptions, EncryptSpec, Keys, Wrapped, keys};

use crate::cli::{DecryptArgs, EncryptArgs, FileArgs, IdentityArgs, RotateArgs, StatusArgs};
use crate::files::{self, load};
use crate::keyring;

/// Runs `encrypt`.
pub fn encrypt(args: &EncryptArgs) -> Result<u8> {
    let f = load(&args.file)?;
    let docs = sops::parse(&f.name, &f.text, f.format)?;
    if sops::is_encrypted(&docs) {
        return Err(sops::Error::AlreadyEncrypted { file: f.name }.into());
    }
    let plan = keyring::plan(&args.file, &args.recipients)?;
    let out = sops::encrypt_docs(&f.name, docs, plan.spec(), f.format)?;
    if args.in_place {
        files::write_atomic(&args.file, &out, 0o644)?;
        eprintln!("encrypted {}", f.name);
    } else {
        std::io::stdout().write_all(out.as_bytes())?;
    }
    Ok(exit::OK)
}

/// Loads and decrypts a file.
pub fn open(
    path: &std::path::Path,
    ids: &IdentityArgs,
    ignore_mac: bool,
) -> Result<(files::Loaded, sops::Decrypted)> {
    let f = load(path)?;
    let identities = keyring::identities(ids)?;
    let dec = sops::decrypt(
        &f.name,
        &f.text,
        f.format,
        &identities,
        DecryptOptions { ignore_mac },
    )?;
    if !dec.mac_ok {
        warn(&format!("{}: MAC mismatch ignored (--ignore-mac)", f.name));
    }
    Ok((f, dec))
}

/// Runs `decrypt`.
pub fn decrypt(args: &DecryptArgs, ids: &IdentityArgs) -> Result<u8> {
    let (f, dec) = open(&args.file, ids, args.ignore_mac)?;
    let text = match &args.extract {
        Some(expr) => {
            let path = files::parse_path(expr)?;
            let first = dec.docs.first().cloned().unwrap_or_else(Node::map);
            let node = files::get(&first, &path)
                .with_context(|| format!("{}: no value at {expr}", f.name))?;
            match node {
                Node::Scalar(s) => {
                    let mut t = match s {
                        tree::Scalar::Str(s) | tree::Scalar::Time(s) => s.clone(),
                        tree::Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                        other => tree::emit(&[Node::Scalar(other.clone())], f.format)
                            .trim_end()
                            .to_string(),
                    };
                    if !t.ends_with('\n') && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                        t.push('\n');
                    }
                    t
                }
                other => tree::emit(std::slice::from_ref(other), f.format),
            }
        }
        None => sops::render_plain(&dec, f.format),
    };
    match &args.output {
        Some(out) => {
            write_private(out, &text)?;
            eprintln!("wrote plaintext to {} (mode 0600)", out.display());
        }
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(exit::OK)
}

/// Writes a plaintext file readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Runs `rotate`: same recipients (plus/minus flags), new data key, every value re-encrypted.
pub fn rotate(args: &RotateArgs, ids: &IdentityArgs) -> Result<u8> {
    let (f, dec) = open(&args.file, ids, false)?;
    let meta = &dec.metadata;
    let mut groups: Vec<Vec<String>> = if meta.key_groups.len() > 1 {
        meta.key_groups
            .iter()
            .map(|g| g.age.iter().map(|a| a.recipient.clone()).collect())
            .collect()
    } else {
        vec![meta.recipients()]
    };
    for r in &args.rm_age {
        let before: usize = groups.iter().map(Vec::len).sum();
        for g in groups.iter_mut() {
            g.retain(|x| x != r);
        }
        if groups.iter().map(Vec::len).sum::<usize>() == before {
            bail!("{}: {r} is not a recipient of this file", f.name);
        }
    }
    if let Some(first) = groups.first_mut() {
        for r in &args.add_age {
            if !first.contains(r) {
                first.push(r.clone());
            }
        }
    }
    let keys = Keys {
        threshold: meta.shamir_threshold.unwrap_or(groups.len()),
        groups: groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|r| keys::parse_recipient(r))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let out = sops::encrypt_docs(
        &f.name,
        dec.docs.clone(),
        EncryptSpec {
            data_key: sops::new_data_key(),
            wrapped: None,
            keys: Some(&keys),
            rule: meta.rule.clone(),
            mac_only_encrypted: meta.mac_only_encrypted,
            stash: None,
        },
        f.format,
    )?;
    files::write_atomic(&args.file, &out, 0o644)?;
    eprintln!("rotated the data key of {}", f.name);
    Ok(exit::OK)
}

/// Runs `updatekeys`: the same data key wrapped for the recipients `.sops.yaml` lists now.
pub fn updatekeys(args: &FileArgs, ids: &IdentityArgs) -> Result<u8> {
    let (f, dec) = open(&args.file, ids, false)?;
    let creation = sops::config::creation_for(&args.file)?
        .with_context(|| format!("{}: no .sops.yaml creation rule matches this file", f.name))?;
    let old = dec.metadata.recipients();
    let new: Vec<String> = creation
        .keys
        .groups
        .iter()
        .flatten()
        .map(|r| r.to_string())
        .collect();
    let added: Vec<&String> = new.iter().filter(|r| !old.contains(r)).collect();
    let removed: Vec<&String> = old.iter().filter(|r| !new.contains(r)).collect();
    if added.is_empty()
        && removed.is_empty()
        && dec.metadata.key_groups.len().max(1) == creation.keys.groups.len().max(1)
    {
        eprintln!(
            "{}: recipients already match {}",
            f.name,
            creation.config.display()
        );
        return Ok(exit::OK);
    }
    for r in &added {
        eprintln!("+ {r}");
    }
    for r in &removed {
        eprintln!("- {r}");
    }
    if !removed.is_empty() {
        warn(&format!(
            "{}: removed recipients may have kept the data key; run `kubectl pack-secrets rotate {}` to lock them out",
            f.name,
            args.file.display()
        ));
    }
    let wrapped: Wrapped = creation.keys.wrap(&dec.data_key)?;
    let out = sops::encrypt_docs(
        &f.name,
        dec.docs.clone(),
        EncryptSpec {
            data_key: dec.data_key,
            wrapped: Some(wrapped),
            keys: None,
            rule: dec.metadata.rule.clone(),
            mac_only_encrypted: dec.metadata.mac_only_encrypted,
            stash: Some(&dec.stash),
        },
        f.format,
    )?;
    files::write_atomic(&args.file, &out, 0o644)?;
    eprintln!("updated the keys of {}", f.name);
    Ok(exit::OK)
}

/// Runs `status`.
pub fn status(args: &StatusArgs, ids: &IdentityArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let f = load(&args.file)?;
    let docs = sops::parse(&f.name, &f.text, f.format)?;
    let encrypted = sops::is_encrypted(&docs);
    let mut report = serde_json::json!({ "file": f.name, "encrypted": encrypted });
    if encrypted {
        let meta = sops::metadata(&f.name, &docs)?;
        let identities = keyring::identities(ids)?;
        let (mac, detail) = match sops::decrypt_docs(
            &f.name,
            docs,
            &identities,
            DecryptOptions { ignore_mac: true },
        ) {
            Ok(d) if d.mac_ok => ("valid", String::new()),
            Ok(_) => ("invalid", "values were changed outside sops".to_string()),
            Err(
                e @ (sops::Error::NoIdentities { .. } | sops::Error::NoMatchingIdentity { .. }),
            ) => (
                "unknown",
                format!(
                    "no key to check it: {}",
                    shared::error::one_line(&e.to_string())
                ),
            ),
            Err(e) => ("invalid", shared::error::one_line(&e.to_string())),
        };
        let (rule_key, rule_value) = meta.rule.field();
        report["recipients"] = serde_json::json!(meta.recipients());
        report["keyGroups"] = serde_json::json!(meta.key_groups.len().max(1));
        report["shamirThreshold"] = serde_json::json!(meta.shamir_threshold);
        report["lastmodified"] = serde_json::json!(meta.lastmodified);
        report["mac"] = serde_json::json!(mac);
        report["rule"] = serde_json::json!({ rule_key: rule_value });
        report["version"] = serde_json::json!(meta.version);
        if !detail.is_empty() {
            report["macDetail"] = serde_json::json!(detail);
        }
        if !meta.other_keys.is_empty() {
            report["otherKeyTypes"] = serde_json::json!(meta.other_keys);
        }
    }
    match &args.output.output {
        format if !format.is_text() => shared::output::write_structured(
            &mut out,
            format,
            &report,
            std::slice::from_ref(&f.name),
        )?,
        _ => {
            writeln!(out, "file:         {}", f.name)?;
            writeln!(
                out,
                "encrypted:    {}",
                if encrypted { "yes" } else { "no" }
            )?;
            if encrypted {
                for r in report["recipients"].as_array().into_iter().flatten() {
                    writeln!(out, "recipient:    {}", r.as_str().unwrap_or_default())?;
                }
                if let Some(t) = report["shamirThreshold"].as_u64() {
                    writeln!(out, "key groups:   {} (threshold {t})", report["keyGroups"])?;
                }
                writeln!(
                    out,
                    "lastmodified: {}",
                    report["lastmodified"].as_str().unwrap_or_default()
                )?;
                let mac = report["mac"].as_str().unwrap_or_default();
                match report["macDetail"].as_str() {
                    Some(d) => writeln!(out, "mac:          {mac} ({d})")?,
                    None => writeln!(out, "mac:          {mac}")?,
                }
                writeln!(
                    out,
                    "rule:         {rule_key}: {rule_value}",
                    rule_key = report["rule"]
                        .as_object()
                        .and_then(|o| o.keys().next().cloned())
                        .unwrap_or_default(),
                    rule_value = report["rule"]
                        .as_object()
                        .and_then(|o| o.values().next())
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                )?;
            }
        }
    }
    Ok(if report["mac"] == "invalid" {
        exit::ERROR
    } else {
        exit::OK
    })
}
