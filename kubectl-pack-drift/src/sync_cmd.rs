//! `sync RELEASE`: show the server-side dry-run diff of putting every
//! drifted or deleted object back to its recorded state, then do it
//! (forced server-side apply) and record a "corrected" drift event.
//! Unexpected objects are listed, never deleted.

use std::io::Write;

use anyhow::Result;
use shared::kubeconfig::KubeArgs;
use shared::output::{Paint, Stream, exit};

use crate::cli::SyncArgs;
use crate::events::{Event, History, Kind};
use crate::report::State;
use crate::settings::Settings;

/// `--only`, checked against discovery and the release's objects: each
/// selector must pick one of them.
async fn selectors(
    k: &shared::kubeconfig::Kube,
    rel: &shared::release::Release,
    list: &[shared::select::Selector],
) -> Result<shared::select::Selectors> {
    let kinds: Vec<(&str, &str)> = rel
        .objects
        .iter()
        .map(|r| (r.api_version.as_str(), r.kind.as_str()))
        .collect();
    let served = shared::discovery::listable_resources(&k.client).await?;
    let only = shared::select::Selectors::resolve("--only", list, served, &kinds)
        .map_err(shared::error::Usage)?;
    for s in only.iter() {
        if !rel
            .objects
            .iter()
            .any(|r| only.picks(s, &r.api_version, &r.kind, &r.name))
        {
            anyhow::bail!("--only {}: release {} has no such object", s.text, rel.name);
        }
    }
    Ok(only)
}

/// Runs `sync`.
pub async fn run(kube: &KubeArgs, args: &SyncArgs) -> Result<u8> {
    let k = kube.connect().await?;
    let store = shared::release::args::store(&k, &args.check.storage)?;
    let rel = crate::check::load_release(&store, &args.release, &k.namespace).await?;
    let settings = Settings::new(&rel.pack.settings, &args.check.flags())?;
    let (mut report, snap) =
        crate::check::check(&k, &rel, &settings, !args.check.no_unexpected).await?;
    if !args.only.is_empty() {
        let only = selectors(&k, &rel, &args.only).await?;
        report
            .drifted
            .retain(|o| only.any(&o.api_version, &o.kind, &o.name));
    }
    let mut out = std::io::stdout().lock();
    let paint = Paint::for_stream(Stream::Stdout);
    let mut todo = Vec::new();
    for o in &report.drifted {
        if o.state == State::Unexpected {
            writeln!(
                out,
                "{} {} (not part of the release; sync leaves it alone — delete it yourself if it should go)",
                paint.bold("unexpected"),
                o.key()
            )?;
            continue;
        }
        let Some(rec) = rel
            .objects
            .iter()
            .find(|r| r.kind == o.kind && r.name == o.name && r.namespace == o.namespace)
        else {
            continue;
        };
        let of = crate::restore::For {
            release: &rel.name,
            namespace: &rel.namespace,
        };
        let dry = crate::restore::restore(&k.client, rec, of, true).await?;
        let after = shared::yaml::to_string(&shared::diff::clean(dry))?;
        let before = snap
            .live
            .get(&crate::check::key_of(rec))
            .map(|v| shared::yaml::to_string(&shared::diff::clean(v.clone())))
            .transpose()?
            .unwrap_or_default();
        let verb = if o.state == State::Deleted {
            "re-create"
        } else {
            "restore"
        };
        writeln!(out, "{}", paint.bold(&format!("{verb} {}", o.key())))?;
        shared::diff::write_unified(&mut out, &before, &after, &paint)?;
        todo.push((o.clone(), rec));
    }
    if todo.is_empty() {
        writeln!(out, "release {}: nothing to restore", rel.name)?;
        return Ok(exit::OK);
    }
    if args.dry_run {
        writeln!(out, "{} object(s) would be restored (dry run)", todo.len())?;
        return Ok(exit::DIFFERENCES);
    }
    let mut failed = Vec::new();
    let mut done = report.clone();
    done.drifted.clear();
    for (o, rec) in todo {
        let of = crate::restore::For {
            release: &rel.name,
            namespace: &rel.namespace,
        };
        match crate::restore::restore(&k.client, rec, of, false).await {
            Ok(_) => {
                writeln!(out, "restored {}", o.key())?;
                done.drifted.push(o);
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    if !done.drifted.is_empty() {
        done.finish();
        let history = History::new(k.client.clone(), &k.namespace, &rel.name);
        if let Err(e) = history
            .record(Event::from_report(Kind::Corrected, "sync", &done))
            .await
        {
            shared::output::warn(&format!("drift event not recorded: {e}"));
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("could not restore {}", failed.join("; "));
    }
    writeln!(
        out,
        "release {}: {} object(s) restored",
        rel.name,
        done.drifted.len()
    )?;
    Ok(exit::OK)
}
