//! `apply`: the pipeline step between render and waves. CRDs in the stream
//! are handled here by policy; every other document passes through to
//! stdout byte for byte.
//!
//! Policy, most specific first: `--mode`/`--strategy` flags, the CRD's
//! `sherpack.io/crd-policy` annotation (mode), the pack's `crdPolicy`
//! block from the stream header (`mode`, `upgradeStrategy`,
//! `backupBeforeUpgrade`, `validateBeforeApply`), then managed + safe.
//! Managed: every CRD is checked and diffed against live before anything is
//! applied; breaking changes are refused (safe), applied (force) or asked
//! about (interactive); then optional backup and validation, server-side
//! apply, wait for Established and NamesAccepted. If anything fails after a
//! CRD changed, the previous CRDs are put back.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use shared::kubeconfig::{Kube, KubeArgs};
use shared::output::exit;
use shared::release::PackInfo;

use crate::classify::{Level, classify};
use crate::cli::{ApplyArgs, Mode, Strategy};
use crate::crd::{self, Crd};

/// Per-CRD policy annotation.
pub const POLICY_ANNOTATION: &str = "sherpack.io/crd-policy";

/// The pack's `crdPolicy` block.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PackPolicy {
    mode: Option<Mode>,
    upgrade_strategy: Option<Strategy>,
    #[serde(default)]
    backup_before_upgrade: bool,
    #[serde(default)]
    validate_before_apply: bool,
}

fn pack_policy(pack: Option<&PackInfo>) -> Result<PackPolicy> {
    match pack.map(|p| &p.settings["crdPolicy"]) {
        None | Some(Value::Null) => Ok(PackPolicy::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            anyhow::anyhow!(
                "the pack's crdPolicy: {e} (mode: managed|ignore|external, upgradeStrategy: safe|force|interactive, backupBeforeUpgrade, validateBeforeApply)"
            )
        }),
    }
}

fn annotation_mode(c: &Crd) -> Result<Option<Mode>> {
    match c.obj["metadata"]["annotations"][POLICY_ANNOTATION].as_str() {
        None => Ok(None),
        Some("managed") | Some("shared") => Ok(Some(Mode::Managed)),
        Some("ignore") => Ok(Some(Mode::Ignore)),
        Some("external") => Ok(Some(Mode::External)),
        Some(other) => bail!(
            "CRD {}: annotation {POLICY_ANNOTATION}: '{other}' is not managed, shared, ignore or external",
            c.name()
        ),
    }
}

/// Runs `apply`.
pub async fn run(kube: &KubeArgs, args: &ApplyArgs) -> Result<u8> {
    shared::interrupt::watch();
    let text = shared::yaml::read_input(&args.input.filename)?;
    let timeout = args.timeout;
    let origin = if args.input.filename == "-" {
        "STDIN".to_string()
    } else {
        args.input.filename.clone()
    };
    // A rendered stream must be whole; what follows gets a new end line.
    let body_end = shared::seal::verify(&text)
        .map_err(|reason| shared::Error::BrokenStream {
            origin: origin.clone(),
            reason,
        })?
        .unwrap_or(text.len());
    let pack = PackInfo::from_stream(&text)
        .transpose()
        .map_err(|e| anyhow::anyhow!("the stream's pack header: {e}"))?;
    let policy = pack_policy(pack.as_ref())?;
    // Every document is read as pack-waves will read it (duplicate keys,
    // reading limits, not an object): a stream waves would refuse is
    // refused here, before any CRD changes.
    let stream_origin = if args.input.filename == "-" {
        shared::stream::Origin::Stdin
    } else {
        shared::stream::Origin::File(args.input.filename.clone().into())
    };
    shared::stream::parse_stream(&text[..body_end], stream_origin)?;

    // Cut the stream: CRD documents here, every other one kept as it is.
    let mut crds: Vec<(Crd, Mode)> = Vec::new();
    let mut keep = String::with_capacity(text.len());
    let mut last = 0;
    for doc in shared::yaml::split_documents(&text[..body_end]) {
        if doc.is_empty() {
            continue;
        }
        let head = shared::yaml::document_head(doc.text, doc.line)
            .map_err(|e| anyhow::anyhow!("{origin}: document {}: {}", doc.index, e.message))?;
        if head.kind.as_deref() != Some("CustomResourceDefinition") {
            continue;
        }
        let obj: Value = shared::yaml::parse_document(doc.text, doc.line)
            .map_err(|e| anyhow::anyhow!("{origin}: document {}: {}", doc.index, e.message))?;
        let c = Crd {
            obj,
            origin: format!("{origin} document {}", doc.index),
        };
        let mode = args
            .mode
            .or(annotation_mode(&c)?)
            .or(policy.mode)
            .unwrap_or(Mode::Managed);
        let start = doc.text.as_ptr() as usize - text.as_ptr() as usize;
        keep.push_str(&text[last..start]);
        last = start + doc.text.len();
        crds.push((c, mode));
    }
    keep.push_str(&text[last..body_end]);
    if let Some(p) = &pack {
        if !keep.contains(&p.header_line()) {
            keep.insert_str(0, &format!("{}\n", p.header_line()));
        }
        keep = shared::seal::seal(keep);
    }
    for (c, mode) in &crds {
        if *mode != Mode::Ignore {
            c.check()?;
        }
    }
    let strategy = args
        .strategy
        .or(policy.upgrade_strategy)
        .unwrap_or(Strategy::Safe);
    let backup_dir = args.backup_dir.clone().or_else(|| {
        policy.backup_before_upgrade.then(|| {
            std::env::var_os("HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_default()
                .join(".cache/kubectl-pack/crd-backups")
        })
    });
    let validate = args.validate || policy.validate_before_apply;
    if crds.iter().any(|(_, m)| *m != Mode::Ignore) {
        let k = kube.connect().await?;
        let managed: Vec<&Crd> = crds
            .iter()
            .filter(|(_, m)| *m == Mode::Managed)
            .map(|(c, _)| c)
            .collect();
        let external: Vec<&Crd> = crds
            .iter()
            .filter(|(_, m)| *m == Mode::External)
            .map(|(c, _)| c)
            .collect();
        check_external(&k, &external, &keep).await?;
        if let Some(code) = apply_managed(
            &k,
            &managed,
            strategy,
            backup_dir.as_deref(),
            validate,
            timeout,
        )
        .await?
        {
            return Ok(code);
        }
    }
    std::io::stdout().lock().write_all(keep.as_bytes())?;
    Ok(exit::OK)
}

/// External CRDs must exist, and the stream's objects of them must validate.
async fn check_external(k: &Kube, external: &[&Crd], stream: &str) -> Result<()> {
    if external.is_empty() {
        return Ok(());
    }
    let objects = shared::stream::parse_stream(stream, shared::stream::Origin::Stdin)?;
    for c in external {
        let live = crd::live(k, c.name()).await?.with_context(|| {
            format!(
                "CRD {} is external (someone else installs it) but does not exist in the cluster",
                c.name()
            )
        })?;
        for o in objects.iter().filter(|o| {
            shared::identity::split_api_version(o.api_version()).0 == live.group()
                && o.kind() == live.kind()
        }) {
            let version = shared::identity::split_api_version(o.api_version()).1;
            let schema = live.schema(version).with_context(|| {
                format!(
                    "{} {}/{}: CRD {} does not serve version {version}",
                    o.source,
                    o.kind(),
                    o.name(),
                    c.name()
                )
            })?;
            let out = crate::schema::validate(schema, &o.object);
            if let Some(v) = out.violations.first() {
                bail!(
                    "{} {}/{}: {}: {} (schema of the external CRD {})",
                    o.source,
                    o.kind(),
                    o.name(),
                    v.path,
                    v.message,
                    c.name()
                );
            }
        }
    }
    Ok(())
}

/// Applies managed CRDs; Some(code) when it refused (nothing changed).
async fn apply_managed(
    k: &Kube,
    managed: &[&Crd],
    strategy: Strategy,
    backup_dir: Option<&std::path::Path>,
    validate: bool,
    timeout: Duration,
) -> Result<Option<u8>> {
    // Everything is decided before anything changes.
    let mut previous: Vec<Option<Crd>> = Vec::new();
    let mut refused = Vec::new();
    for c in managed {
        let live = crd::live(k, c.name()).await?;
        if let Some(old) = &live {
            let breaking: Vec<_> = classify(old, c)
                .into_iter()
                .filter(|f| f.level == Level::Breaking)
                .collect();
            if !breaking.is_empty() {
                for f in &breaking {
                    eprintln!("{}", f.line());
                }
                let go = match strategy {
                    Strategy::Force => {
                        shared::output::warn(&format!(
                            "CRD {}: applying {} breaking change(s) (--strategy force)",
                            c.name(),
                            breaking.len()
                        ));
                        true
                    }
                    Strategy::Safe => false,
                    Strategy::Interactive => ask(c.name(), breaking.len())?,
                };
                if !go {
                    refused.push(c.name().to_string());
                }
            }
        }
        previous.push(live);
    }
    if !refused.is_empty() {
        eprintln!(
            "error: refused breaking change(s) to CRD {}; nothing was applied (--strategy force applies them, kubectl pack-crd diff explains them)",
            refused.join(", ")
        );
        return Ok(Some(exit::ERROR));
    }
    if validate {
        for c in managed {
            let r = crate::validate_cmd::check_crd(k, c).await?;
            if r.broken() > 0 {
                crate::validate_cmd::write_text(
                    &mut std::io::stderr().lock(),
                    std::slice::from_ref(&r),
                )?;
                eprintln!(
                    "error: stored objects of CRD {} would fail the new schema; nothing was applied",
                    c.name()
                );
                return Ok(Some(exit::ERROR));
            }
        }
    }
    if let Some(dir) = backup_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (c, live) in managed.iter().zip(&previous) {
            if live.is_none() {
                continue;
            }
            let (text, n) = crate::backup::backup_text(k, &[c.name().to_string()]).await?;
            let stamp = shared::release::now().replace(':', "");
            let path = dir.join(format!("{}-{stamp}.yaml", c.name()));
            shared::files::write_atomic(&path, text.as_bytes(), 0o600)?;
            shared::output::info(&format!(
                "backed up CRD {} and {n} object(s) to {}",
                c.name(),
                path.display()
            ));
        }
    }
    for (i, c) in managed.iter().enumerate() {
        let step = async {
            if shared::interrupt::requested() {
                bail!("CRD {}: {}", c.name(), shared::interrupt::STOPPED);
            }
            crd::apply(k, c, true).await?;
            crd::wait_established(k, c.name(), timeout).await
        };
        if let Err(e) = step.await {
            // Put back what this run changed, newest first.
            let mut restored = Vec::new();
            for j in (0..=i).rev() {
                match &previous[j] {
                    Some(old) if crd::apply(k, old, true).await.is_ok() => {
                        restored.push(old.name().to_string())
                    }
                    _ => {}
                }
            }
            let back = if restored.is_empty() {
                String::new()
            } else {
                format!("; put the previous spec of {} back", restored.join(", "))
            };
            bail!("{}{back}", shared::error::one_line(&e.to_string()));
        }
        let what = if previous[i].is_some() {
            "updated"
        } else {
            "created"
        };
        shared::output::info(&format!("CRD {} {what}, Established", c.name()));
    }
    Ok(None)
}

fn ask(name: &str, n: usize) -> Result<bool> {
    if !std::io::stderr().is_terminal() {
        return Err(shared::error::Usage(
            "--strategy interactive asks on a terminal, and there is none; use safe or force"
                .into(),
        )
        .into());
    }
    dialoguer::Confirm::new()
        .with_prompt(format!("Apply {n} breaking change(s) to CRD {name}?"))
        .default(false)
        .interact()
        .map_err(|e| anyhow::anyhow!("could not ask: {e}"))
}
