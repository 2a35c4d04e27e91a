//! `kubectl pack-render promote FROM TO PACK`: copy the effective values of
//! environment FROM that differ from TO's (or only `--only` paths) into
//! TO's file, keeping its comments and key order.
//!
//! Effective values are `values.yaml` under each environment's `_base` and
//! `_inherit` chain. The change is shown as a unified diff of TO's file and
//! written (atomically) only after a yes on stdin or `--yes`. Refused:
//! values that come from an encrypted file (they would land in plain text),
//! an encrypted TO file, and a copy that TO's inheritance from FROM already
//! makes (a no-op).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use shared::output::exit;

use crate::cli::PromoteArgs;
use crate::environments;
use crate::pack::Pack;
use crate::values::{self, Layer};

/// One value to copy.
struct Change {
    path: Vec<String>,
    from: Value,
    to: Option<Value>,
}

/// Runs `promote`.
pub fn run(args: &PromoteArgs) -> anyhow::Result<u8> {
    if args.from == args.to {
        anyhow::bail!(
            "promote: FROM and TO are both {}; name two environments",
            args.from
        );
    }
    let pack = Pack::load(Path::new(&args.pack))?;
    let from = environments::resolve(&pack, &args.from)?;
    let to = environments::resolve(&pack, &args.to)?;
    let file = env_file(&pack.dir, &args.to)?;
    let rel = format!("environments/{}", file_name(&file));
    if to.layers.last().is_some_and(|l| l.sensitive) {
        anyhow::bail!(
            "{rel} is SOPS-encrypted: promote edits plain files only; use `kubectl pack-secrets edit {}`",
            file.display()
        );
    }
    let to_chain = to.chain.clone();
    let base = Layer::new("values.yaml", pack.values.clone(), None);
    let from_layers: Vec<Layer> = std::iter::once(base.clone()).chain(from.layers).collect();
    let to_layers: Vec<Layer> = std::iter::once(base).chain(to.layers).collect();
    let (from_values, to_values) = (
        values::merge_layers(&from_layers),
        values::merge_layers(&to_layers),
    );
    let changes = changes(args, &from_values, &to_values)?;
    refuse_secrets(&changes, &from_layers, &args.from)?;
    let inherits = to_chain.iter().skip(1).any(|e| *e == args.from);
    if changes.is_empty() {
        if inherits {
            anyhow::bail!(
                "nothing to promote: {} inherits from {} (_inherit), so {}'s values already reach it",
                args.to,
                args.from,
                args.from
            );
        }
        eprintln!(
            "nothing to promote: {} already has {}'s values",
            args.to, args.from
        );
        return Ok(exit::OK);
    }
    let before = std::fs::read_to_string(&file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let mut after = before.clone();
    for c in &changes {
        after = crate::yaml_edit::set(&after, &c.path, &c.from)
            .map_err(|e| anyhow::anyhow!("{rel}: cannot set {}: {e}", c.path.join(".")))?;
    }
    show(args, &rel, &changes, &before, &after)?;
    if !args.yes && !confirm(&rel)? {
        eprintln!("not confirmed: {rel} unchanged");
        return Ok(exit::ERROR);
    }
    shared::files::write_atomic(&file, after.as_bytes(), 0o644)?;
    check_written(&pack.dir, &args.to, &changes)?;
    eprintln!(
        "promoted {} value(s) from {} to {} ({rel})",
        changes.len(),
        args.from,
        args.to
    );
    Ok(exit::OK)
}

/// The paths to copy: `--only` ones, else every leaf (lists are leaves)
/// whose effective value differs.
fn changes(args: &PromoteArgs, from: &Value, to: &Value) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    if args.only.is_empty() {
        leaf_diffs(&mut Vec::new(), from, Some(to), &mut out);
        return Ok(out);
    }
    for only in &args.only {
        let path = values::split_path(only);
        let Some(value) = values::get_path(from, &path) else {
            anyhow::bail!("--only {only}: {} does not set it", args.from);
        };
        if path.iter().any(|s| s.parse::<usize>().is_ok()) {
            anyhow::bail!("--only {only}: promote copies map keys; name the list itself");
        }
        let current = values::get_path(to, &path);
        if current == Some(value) {
            eprintln!("{only}: {} already has {}'s value", args.to, args.from);
            continue;
        }
        out.push(Change {
            path,
            from: value.clone(),
            to: current.cloned(),
        });
    }
    Ok(out)
}

fn leaf_diffs(prefix: &mut Vec<String>, from: &Value, to: Option<&Value>, out: &mut Vec<Change>) {
    match from {
        Value::Object(f) if !f.is_empty() => {
            for (k, v) in f {
                prefix.push(k.clone());
                leaf_diffs(prefix, v, to.and_then(|t| t.get(k)), out);
                prefix.pop();
            }
        }
        _ if to != Some(from) => out.push(Change {
            path: prefix.clone(),
            from: from.clone(),
            to: to.cloned(),
        }),
        _ => {}
    }
}

/// A value FROM takes from an encrypted file is never copied into a plain one.
fn refuse_secrets(changes: &[Change], layers: &[Layer], from: &str) -> anyhow::Result<()> {
    for c in changes {
        let source = layers
            .iter()
            .rev()
            .find(|l| values::get_path(&l.value, &c.path).is_some());
        if let Some(l) = source.filter(|l| l.sensitive) {
            anyhow::bail!(
                "{}: {from}'s value comes from the encrypted {}; promote does not copy secrets into a plain file (use --only to leave it out)",
                c.path.join("."),
                l.label
            );
        }
    }
    Ok(())
}

fn env_file(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    environments::file(dir, name).ok_or_else(|| {
        anyhow::anyhow!(
            "environment {name}: no environments/{name}.yaml in {}",
            dir.display()
        )
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The summary and the unified diff of TO's file, on stdout.
fn show(
    args: &PromoteArgs,
    rel: &str,
    changes: &[Change],
    before: &str,
    after: &str,
) -> anyhow::Result<()> {
    let mut text = String::new();
    for c in changes {
        let old =
            c.to.as_ref()
                .map_or("(unset)".to_string(), |v| v.to_string());
        text.push_str(&format!(
            "{}: {old} -> {} (from {})\n",
            c.path.join("."),
            c.from,
            args.from
        ));
    }
    let diff = similar::TextDiff::from_lines(before, after);
    text.push_str(
        &diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{rel}"), &format!("b/{rel}"))
            .to_string(),
    );
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// Asks on stderr, reads the answer from stdin (EOF = no).
fn confirm(rel: &str) -> anyhow::Result<bool> {
    eprint!("write these changes to {rel}? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// After writing, TO's effective values hold every promoted value.
fn check_written(dir: &Path, to: &str, changes: &[Change]) -> anyhow::Result<()> {
    let pack = Pack::load(dir)?;
    let env = environments::resolve(&pack, to)?;
    let layers: Vec<Layer> = std::iter::once(Layer::new("values.yaml", pack.values.clone(), None))
        .chain(env.layers)
        .collect();
    let merged = values::merge_layers(&layers);
    for c in changes {
        if values::get_path(&merged, &c.path) != Some(&c.from) {
            anyhow::bail!(
                "written, but {to}'s effective {} is not the promoted value: check environments/{to}",
                c.path.join(".")
            );
        }
    }
    Ok(())
}
