//! `init`: generate an age identity, write it 0600 (never overwriting),
//! print the recipient, and offer to add it to `.sops.yaml` on a TTY.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use shared::output::{Stream, exit, is_terminal};
use shared::sops::keys;

use crate::cli::InitArgs;

/// Runs `init`.
pub fn run(args: &InitArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let path = match &args.output {
        Some(p) => p.clone(),
        None => keys::own_key_file().context("cannot find a home directory; pass --output FILE")?,
    };
    if path.exists() {
        bail!(
            "{} already exists; refusing to overwrite an identity (pass --output NEW_FILE)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let (text, recipient) = keys::generate();
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!("wrote identity to {} (mode 0600)", path.display());
    writeln!(out, "{recipient}")?;
    if is_terminal(Stream::Stdin) && is_terminal(Stream::Stderr) {
        offer_sops_yaml(&recipient)?;
    }
    Ok(exit::OK)
}

fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn offer_sops_yaml(recipient: &str) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let existing = shared::sops::config::find(&cwd);
    let (target, prompt): (PathBuf, String) = match &existing {
        Some(p) => (
            p.clone(),
            format!("Add {recipient} to the creation rules of {}?", p.display()),
        ),
        None => (
            cwd.join(".sops.yaml"),
            format!(
                "Create {} encrypting for {recipient}?",
                cwd.join(".sops.yaml").display()
            ),
        ),
    };
    let yes = dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .unwrap_or(false);
    if !yes {
        return Ok(());
    }
    let text = match &existing {
        None => format!(
            "creation_rules:\n  - path_regex: .*\\.(yaml|yml|json)$\n    age: {recipient}\n"
        ),
        Some(p) => add_recipient(&std::fs::read_to_string(p)?, recipient),
    };
    crate::files::write_atomic(&target, &text, 0o644)?;
    eprintln!("updated {}", target.display());
    Ok(())
}

/// Appends the recipient to every `age:` of the creation rules (comma list
/// form), or adds a catch-all rule when there is none.
fn add_recipient(text: &str, recipient: &str) -> String {
    let mut out = String::new();
    let mut added = false;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("age:").or_else(|| t.strip_prefix("- age:"))
            && !rest.trim().is_empty()
            && !rest.contains(recipient)
        {
            let value = rest.trim().trim_matches(['"', '\'']);
            let indent = &line[..line.len() - t.len()];
            let key = if t.starts_with("- ") {
                "- age:"
            } else {
                "age:"
            };
            out.push_str(&format!("{indent}{key} {value},{recipient}\n"));
            added = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !added {
        if !text.contains("creation_rules:") {
            out.push_str("creation_rules:\n");
        }
        out.push_str(&format!("  - path_regex: .*\n    age: {recipient}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_existing_rules() {
        let t = "creation_rules:\n  - path_regex: x\n    age: age1aaa\n";
        assert_eq!(
            add_recipient(t, "age1bbb"),
            "creation_rules:\n  - path_regex: x\n    age: age1aaa,age1bbb\n"
        );
    }
}
