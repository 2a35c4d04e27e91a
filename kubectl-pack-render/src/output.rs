//! Writing a render: a YAML stream (`---` before every document, each
//! preceded by `# Source: <pack>/templates/<file>`), a JSON List, or files
//! under `--output-dir`; NOTES on stderr or as a trailing comment; the
//! `--profile` and `--trace` reports.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::render::{Rendered, RenderedFile};

/// Keeps only the files `--show-only` names (matched as a path suffix).
pub fn select<'a>(
    rendered: &'a Rendered,
    show_only: &[String],
) -> Result<Vec<&'a RenderedFile>, crate::error::RenderError> {
    if show_only.is_empty() {
        return Ok(rendered.files.iter().collect());
    }
    let mut out = Vec::new();
    for want in show_only {
        let want_norm = want.trim_start_matches("./");
        let matched: Vec<&RenderedFile> = rendered
            .files
            .iter()
            .filter(|f| f.path == want_norm || f.path.ends_with(&format!("/{want_norm}")))
            .collect();
        if matched.is_empty() {
            return Err(crate::error::RenderError::ShowOnly {
                path: want.clone(),
                available: rendered
                    .files
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        for m in matched {
            if !out.iter().any(|o: &&RenderedFile| o.path == m.path) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// Writes the YAML stream, one write per template.
pub fn write_yaml(out: &mut impl Write, files: &[&RenderedFile]) -> std::io::Result<()> {
    let mut buf = Vec::new();
    for f in files {
        buf.clear();
        for d in &f.documents {
            for part in ["---\n# Source: ", &f.path, "\n", d.body(), "\n"] {
                buf.extend_from_slice(part.as_bytes());
            }
        }
        out.write_all(&buf)?;
    }
    Ok(())
}

/// Writes a JSON `List` of every object.
pub fn write_json(out: &mut impl Write, files: &[&RenderedFile]) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &list(files))?;
    writeln!(out)?;
    Ok(())
}

/// The rendered objects as a `v1` `List` (what `-o json` prints).
pub fn list(files: &[&RenderedFile]) -> serde_json::Value {
    let items: Vec<&serde_json::Value> = files
        .iter()
        .flat_map(|f| f.documents.iter().map(|d| d.object()))
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// Writes each template's documents to `dir/<path>`.
pub fn write_dir(dir: &Path, files: &[&RenderedFile]) -> anyhow::Result<()> {
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mut buf = Vec::new();
        write_yaml(&mut buf, &[*f])?;
        std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
        shared::output::info(&format!("wrote {}", path.display()));
    }
    Ok(())
}

/// NOTES as a trailing YAML comment.
pub fn notes_comment(notes: &str) -> String {
    let mut s = String::from("# NOTES:\n");
    for line in notes.trim_end().lines() {
        if line.is_empty() {
            s.push_str("#\n");
        } else {
            s.push_str(&format!("# {line}\n"));
        }
    }
    s
}

/// The `--profile` table (stderr).
pub fn profile_report(rendered: &Rendered) -> String {
    let mut s = String::from("TEMPLATE                                                     TIME\n");
    let mut files: Vec<&RenderedFile> = rendered.files.iter().collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.elapsed));
    for f in files {
        s.push_str(&format!(
            "{:<60} {:>8.3} ms\n",
            f.path,
            f.elapsed.as_secs_f64() * 1000.0
        ));
    }
    let totals = crate::engine::profile::totals();
    if !totals.is_empty() {
        s.push_str(
            "\nMACRO                                                        CALLS       TIME\n",
        );
        let mut rows: Vec<_> = totals.into_iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.1));
        for (name, (calls, total)) in rows {
            s.push_str(&format!(
                "{name:<60} {calls:>5} {:>8.3} ms\n",
                total.as_secs_f64() * 1000.0
            ));
        }
    }
    s
}

/// The `--trace` call tree (stderr).
pub fn trace_report() -> String {
    let mut s = String::new();
    for (template, events, values) in crate::engine::profile::trees() {
        s.push_str(&format!("{template}\n"));
        for e in events {
            s.push_str(&format!(
                "{}└ {} ({:.3} ms)\n",
                "  ".repeat(e.depth + 1),
                e.what,
                e.elapsed.as_secs_f64() * 1000.0
            ));
        }
        if !values.is_empty() {
            s.push_str(&format!("  values read: {}\n", values.join(", ")));
        }
    }
    s
}
