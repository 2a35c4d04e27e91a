//! `status`, `history` and `list`: read the release store (and, for status,
//! the live objects' readiness).

use std::io::Write;

use anyhow::{Result, bail};
use shared::kubeconfig::KubeArgs;
use shared::output::exit;

use crate::cli::{Format, ListArgs, ReleaseArgs};
use crate::readiness::{self, State};

fn print<T: serde::Serialize>(format: &Format, v: &T, names: &[String]) -> Result<()> {
    shared::output::write_structured(&mut std::io::stdout().lock(), format, v, names)
}

/// Runs `history`.
pub async fn history(kube: &KubeArgs, args: &ReleaseArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let k = kube.connect().await?;
    let store = crate::cli::store(&k, &args.storage)?;
    let h = store.history(&args.release).await?;
    if h.is_empty() {
        bail!("release {} not found in {}", args.release, k.namespace);
    }
    let format = &args.output.output;
    if !format.is_text() {
        let rows: Vec<serde_json::Value> = h
            .iter()
            .map(|r| serde_json::json!({"revision": r.revision, "updated": r.last_deployed, "status": r.status.to_string(), "objects": r.objects.len(), "pack": r.pack.name, "version": r.pack.version, "description": r.description}))
            .collect();
        let names: Vec<String> = h.iter().map(|r| r.revision.to_string()).collect();
        print(format, &rows, &names)?;
        return Ok(exit::OK);
    }
    let wide = *format == Format::Wide;
    write!(
        out,
        "{:<9} {:<21} {:<16} {:>7}  ",
        "REVISION", "UPDATED", "STATUS", "OBJECTS"
    )?;
    if wide {
        write!(out, "{:<30} ", "PACK")?;
    }
    writeln!(out, "DESCRIPTION")?;
    for r in &h {
        write!(
            out,
            "{:<9} {:<21} {:<16} {:>7}  ",
            r.revision,
            r.last_deployed,
            r.status.to_string(),
            r.objects.len(),
        )?;
        if wide {
            let pack = match r.pack.name.is_empty() {
                true => "-".to_string(),
                false => format!("{}-{}", r.pack.name, r.pack.version),
            };
            write!(out, "{pack:<30} ")?;
        }
        writeln!(out, "{}", r.description)?;
    }
    Ok(exit::OK)
}

/// Runs `status`: the latest revision and each object's live readiness.
pub async fn status(kube: &KubeArgs, args: &ReleaseArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let k = kube.connect().await?;
    let store = crate::cli::store(&k, &args.storage)?;
    let Some(rel) = store.latest(&args.release, &[]).await? else {
        bail!("release {} not found in {}", args.release, k.namespace);
    };
    let live = shared::live::fetch_records(&k.client, &rel.objects).await?;
    let mut rows = Vec::new();
    let mut all_ready = true;
    for r in &rel.objects {
        let state = match live.get(&shared::live::record_key(r)) {
            None => "missing".to_string(),
            Some(o) => match readiness::assess(o) {
                State::Ready => "ready".into(),
                State::InProgress(why) => format!("in progress: {why}"),
                State::Failed(why) => format!("failed: {why}"),
            },
        };
        all_ready &= state == "ready";
        rows.push((r.wave, format!("{}/{}", r.kind, r.name), state));
    }
    let format = &args.output.output;
    if !format.is_text() {
        let names: Vec<String> = rel
            .objects
            .iter()
            .map(|r| shared::identity::kubectl_name(&r.api_version, &r.kind, &r.name))
            .collect();
        let v = serde_json::json!({
            "release": rel.name, "namespace": rel.namespace, "revision": rel.revision, "status": rel.status.to_string(),
            "updated": rel.last_deployed, "description": rel.description,
            "objects": rows.iter().map(|(w, o, s)| serde_json::json!({"wave": w, "object": o, "state": s})).collect::<Vec<_>>(),
        });
        print(format, &v, &names)?;
    } else {
        writeln!(
            out,
            "RELEASE: {}  NAMESPACE: {}  REVISION: {}  STATUS: {}  UPDATED: {}",
            rel.name, rel.namespace, rel.revision, rel.status, rel.last_deployed
        )?;
        if !rel.description.is_empty() {
            writeln!(out, "DESCRIPTION: {}", rel.description)?;
        }
        writeln!(out, "{:>5}  {:<50} STATE", "WAVE", "OBJECT")?;
        for (w, o, s) in &rows {
            writeln!(out, "{w:>5}  {o:<50} {s}")?;
        }
    }
    Ok(if all_ready { exit::OK } else { exit::ERROR })
}

/// Runs `list`.
pub async fn list(kube: &KubeArgs, args: &ListArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let k = kube.connect().await?;
    let store = crate::cli::store(&k, &args.storage)?;
    let releases = store.releases(args.all_namespaces).await?;
    let format = &args.output.output;
    if !format.is_text() {
        let rows: Vec<serde_json::Value> = releases
            .iter()
            .map(|(ns, name, rev, status)| serde_json::json!({"name": name, "namespace": ns, "revision": rev, "status": status}))
            .collect();
        let names: Vec<String> = releases
            .iter()
            .map(|(_, name, _, _)| name.clone())
            .collect();
        print(format, &rows, &names)?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "{:<30} {:<20} {:>8}  STATUS",
        "NAME", "NAMESPACE", "REVISION"
    )?;
    for (ns, name, rev, status) in releases {
        writeln!(out, "{name:<30} {ns:<20} {rev:>8}  {status}")?;
    }
    Ok(exit::OK)
}
