//! `edit`, `set` and `unset`: change values of an encrypted file with the
//! same data key, reusing the IVs of unchanged values so diffs stay small.
//! `edit` is the only place plaintext reaches disk: a 0600 file in a 0700
//! temporary directory, removed on every exit path.

use anyhow::{Context, Result, bail};
use shared::output::exit;
use shared::sops;
use shared::sops::tree::Node;

use crate::cli::{FileArgs, IdentityArgs, SetArgs, UnsetArgs};
use crate::crypt::open;
use crate::files;

/// Runs `edit`.
pub fn edit(args: &FileArgs, ids: &IdentityArgs) -> Result<u8> {
    let (f, dec) = open(&args.file, ids, false)?;
    let plain = sops::render_plain(&dec, f.format);
    // tempfile's directory is 0700 and removed on drop, also on error and panic unwinding.
    let dir = tempfile::Builder::new()
        .prefix("pack-secrets-edit-")
        .tempdir()
        .context("cannot create a private temporary directory")?;
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "values.yaml".into());
    let tmp = dir.path().join(name);
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .context("cannot create the temporary file")?;
        w.write_all(plain.as_bytes())?;
    }
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.is_empty())
        .or_else(|| std::env::var("EDITOR").ok().filter(|e| !e.is_empty()))
        .unwrap_or_else(|| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&tmp)
        .status()
        .with_context(|| format!("cannot run the editor '{editor}'"))?;
    if !status.success() {
        bail!(
            "editor '{editor}' exited with {status}; {} left unchanged",
            f.name
        );
    }
    let edited = std::fs::read_to_string(&tmp).context("cannot read the edited file")?;
    drop(dir);
    if edited == plain {
        eprintln!("{}: no changes", f.name);
        return Ok(exit::OK);
    }
    let docs = sops::parse(&f.name, &edited, f.format).with_context(|| {
        format!(
            "the edited {} is invalid; the file was left unchanged",
            files::format_name(f.format)
        )
    })?;
    let out = sops::reencrypt(&f.name, &dec, docs, f.format)?;
    files::write_atomic(&args.file, &out, 0o644)?;
    eprintln!("{}: saved", f.name);
    Ok(exit::OK)
}

/// Runs `set`.
pub fn set(args: &SetArgs, ids: &IdentityArgs) -> Result<u8> {
    let (f, dec) = open(&args.file, ids, false)?;
    let path = files::parse_path(&args.path)?;
    let value = match serde_json::from_str::<serde_json::Value>(&args.value) {
        Ok(v) => Node::from_json(&v),
        Err(_) => Node::str(args.value.clone()),
    };
    let mut docs = dec.docs.clone();
    if docs.is_empty() {
        docs.push(Node::map());
    }
    files::set(&mut docs[0], &path, value)
        .with_context(|| format!("{}: cannot set {}", f.name, args.path))?;
    let out = sops::reencrypt(&f.name, &dec, docs, f.format)?;
    files::write_atomic(&args.file, &out, 0o644)?;
    eprintln!("{}: set {}", f.name, args.path);
    Ok(exit::OK)
}

/// Runs `unset`.
pub fn unset(args: &UnsetArgs, ids: &IdentityArgs) -> Result<u8> {
    let (f, dec) = open(&args.file, ids, false)?;
    let path = files::parse_path(&args.path)?;
    let mut docs = dec.docs.clone();
    if docs.is_empty() || !files::unset(&mut docs[0], &path) {
        bail!("{}: no value at {}", f.name, args.path);
    }
    let out = sops::reencrypt(&f.name, &dec, docs, f.format)?;
    files::write_atomic(&args.file, &out, 0o644)?;
    eprintln!("{}: removed {}", f.name, args.path);
    Ok(exit::OK)
}
