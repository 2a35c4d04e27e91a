//! `history RELEASE`: the release's drift events, newest last.

use std::io::Write;

use anyhow::Result;
use shared::kubeconfig::KubeArgs;
use shared::output::exit;

use crate::cli::HistoryArgs;
use crate::events::History;

/// Runs `history`.
pub async fn run(kube: &KubeArgs, args: &HistoryArgs) -> Result<u8> {
    let k = kube.connect().await?;
    let store = shared::release::args::store(&k, &args.storage)?;
    if store.latest(&args.release, &[]).await?.is_none() {
        anyhow::bail!(
            "release {} not found in namespace {}; list releases with `kubectl pack-waves list -A`",
            args.release,
            k.namespace
        );
    }
    let mut events = History::new(k.client.clone(), &k.namespace, &args.release)
        .read()
        .await?;
    if events.len() > args.limit {
        events.drain(..events.len() - args.limit);
    }
    let mut out = std::io::stdout().lock();
    match &args.output.output {
        f if !f.is_text() => {
            let mut names: Vec<String> = events
                .iter()
                .flat_map(|e| e.objects.iter().map(|o| o.object.clone()))
                .collect();
            names.sort();
            names.dedup();
            shared::output::write_structured(&mut out, f, &events, &names)?
        }
        _ => {
            if events.is_empty() {
                writeln!(out, "no drift events recorded for release {}", args.release)?;
            }
            for e in &events {
                let kind = serde_json::to_value(e.kind)?;
                writeln!(
                    out,
                    "{}  {:<9} {:<9} by {:<9} {}",
                    e.time,
                    kind.as_str().unwrap_or_default(),
                    e.severity,
                    e.by,
                    e.message
                )?;
                for o in &e.objects {
                    writeln!(out, "    {} {} [{}]", o.state, o.object, o.severity)?;
                    for p in &o.paths {
                        writeln!(out, "      {}", p.describe())?;
                    }
                }
            }
        }
    }
    Ok(exit::OK)
}
