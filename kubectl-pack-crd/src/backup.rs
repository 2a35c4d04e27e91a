//! `backup` and `restore`: CRDs and every object of theirs (all
//! namespaces), stripped of what the server fills in, as one YAML stream —
//! in a file or in the release store (chunked when large) — and back:
//! CRDs first (waited for), then objects by server-side apply, then their
//! status through the status subresource; conflicts reported per object.

use std::io::Write;

use anyhow::{Context as _, Result, bail};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;
use shared::apply::{Applier, ApplyOptions};
use shared::kubeconfig::{Kube, KubeArgs};
use shared::output::exit;
use shared::release::{Release, Status};
use shared::stream::{Origin, SourcedObject};

use crate::cli::{BackupArgs, RestoreArgs};
use crate::crd::{self, Crd};

/// The first line of every backup.
const BACKUP_HEADER: &str = "# kubectl pack-crd backup of ";

/// Refuses (before any write) what is not a backup written by `backup`:
/// its first line, at least one CRD, and only custom resources of those
/// CRDs — a restore never creates anything else.
fn check_backup(
    what: &str,
    text: &str,
    crds: &[SourcedObject],
    objects: &[SourcedObject],
) -> Result<()> {
    if !text.starts_with(BACKUP_HEADER) || crds.is_empty() {
        bail!(
            "{what} is not a backup written by kubectl pack-crd backup (it starts with \"{}\" and holds the CRDs first); nothing restored",
            BACKUP_HEADER.trim()
        );
    }
    let defined: Vec<(&str, &str)> = crds
        .iter()
        .map(|c| {
            let spec = &c.object["spec"];
            (
                spec["group"].as_str().unwrap_or_default(),
                spec["names"]["kind"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let foreign: Vec<String> = objects
        .iter()
        .filter(|o| {
            let group = shared::identity::split_api_version(o.api_version()).0;
            !defined.contains(&(group, o.kind()))
        })
        .map(|o| format!("{}/{} at {}", o.kind(), o.name(), o.source))
        .collect();
    if !foreign.is_empty() {
        bail!(
            "{what}: {} object(s) are not custom resources of the backup's CRDs ({}); a backup holds only those; nothing restored",
            foreign.len(),
            foreign.join(", ")
        );
    }
    Ok(())
}

/// The backup stream of `crds` and their objects; returns (text, objects).
pub async fn backup_text(k: &Kube, names: &[String]) -> Result<(String, usize)> {
    let mut docs: Vec<Value> = Vec::new();
    let mut objects = Vec::new();
    for name in names {
        let live = crd::live(k, name).await?.with_context(|| {
            format!("CRD {name} does not exist in the cluster (kubectl get crd lists them)")
        })?;
        let mut c = shared::diff::without_server_metadata(live.obj.clone());
        if let Some(m) = c.as_object_mut() {
            m.remove("status");
        }
        docs.push(c);
        let version = crd::read_version(&live, None)
            .with_context(|| format!("CRD {name} serves no version: its objects cannot be read"))?;
        for o in crd::list_all(k, &live, &version).await? {
            objects.push(shared::diff::without_server_metadata(o));
        }
    }
    let count = objects.len();
    docs.extend(objects);
    let mut buf = format!(
        "{BACKUP_HEADER}{} at {}: {count} object(s)\n",
        names.join(", "),
        shared::release::now()
    )
    .into_bytes();
    shared::yaml::write_stream(&mut buf, docs.iter())?;
    Ok((String::from_utf8(buf).unwrap_or_default(), count))
}

fn store_name(crds: &[String]) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(crds.join(",").as_bytes());
    let hex: String = h.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("crd-backup-{hex}")
}

/// Runs `backup`.
pub async fn run_backup(kube: &KubeArgs, args: &BackupArgs) -> Result<u8> {
    let k = kube.connect().await?;
    let (text, count) = backup_text(&k, &args.crds).await?;
    if args.store {
        let store = shared::release::args::store(&k, &args.storage)?;
        let name = store_name(&args.crds);
        let revision = store
            .history(&name)
            .await?
            .last()
            .map_or(1, |r| r.revision + 1);
        let now = shared::release::now();
        let rel = Release {
            name: name.clone(),
            namespace: k.namespace.clone(),
            revision,
            status: Status::Backup,
            first_deployed: now.clone(),
            last_deployed: now,
            description: format!("backup of CRDs {}: {count} object(s)", args.crds.join(", ")),
            pack: Default::default(),
            values: Value::Null,
            manifest: text,
            objects: Vec::new(),
            hooks: Vec::new(),
            plan: Vec::new(),
            partial_wave: None,
            patches_stamped: false,
        };
        store.save(&rel).await?;
        writeln!(std::io::stdout().lock(), "{name}:{revision}")?;
        shared::output::info(&format!(
            "backed up {} CRD(s) and {count} object(s) into the release store in {}; restore with `kubectl pack-crd restore --from-store {name}:{revision}`",
            args.crds.len(),
            k.namespace
        ));
    } else if let Some(path) = &args.output {
        shared::files::write_atomic(path, text.as_bytes(), 0o600)?;
        shared::output::info(&format!(
            "backed up {} CRD(s) and {count} object(s) to {}",
            args.crds.len(),
            path.display()
        ));
    } else {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(exit::OK)
}

fn namespace_map(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_string(), b.to_string())),
            _ => bail!("--namespace-map {p}: expected FROM=TO"),
        })
        .collect()
}

/// Runs `restore`.
pub async fn run_restore(kube: &KubeArgs, args: &RestoreArgs) -> Result<u8> {
    let map = namespace_map(&args.namespace_map)?;
    let k = kube.connect().await?;
    let (text, origin) = match (&args.file, &args.from_store) {
        (_, Some(id)) => {
            let (name, rev) = match id.split_once(':') {
                Some((n, r)) => (
                    n,
                    Some(r.parse::<u32>().with_context(|| {
                        format!("--from-store {id}: the revision must be a number")
                    })?),
                ),
                None => (id.as_str(), None),
            };
            let store = shared::release::args::store(&k, &args.storage)?;
            let history = store.history(name).await?;
            let rel = match rev {
                Some(r) => history.into_iter().find(|h| h.revision == r),
                None => history.into_iter().last(),
            }
            .with_context(|| {
                format!(
                    "backup {id} not found in the release store of namespace {}",
                    k.namespace
                )
            })?;
            (rel.manifest, Origin::Stdin)
        }
        (Some(f), None) if f == "-" => (shared::yaml::read_input("-")?, Origin::Stdin),
        (Some(f), None) => (shared::yaml::read_input(f)?, Origin::File(f.into())),
        (None, None) => bail!("name a backup file or --from-store ID"),
    };
    let what = origin.to_string();
    let docs = shared::stream::parse_stream(&text, origin)?;
    let (crds, mut objects): (Vec<SourcedObject>, Vec<SourcedObject>) = docs
        .into_iter()
        .partition(|d| d.kind() == "CustomResourceDefinition");
    check_backup(&what, &text, &crds, &objects)?;
    for c in &crds {
        let c = Crd {
            obj: c.object.clone(),
            origin: c.source.to_string(),
        };
        c.check()?;
        crd::apply(&k, &c, true).await?;
        crd::wait_established(&k, c.name(), std::time::Duration::from_secs(60)).await?;
        writeln!(std::io::stdout().lock(), "CRD {} applied", c.name())?;
    }
    for o in objects.iter_mut() {
        if let Some(ns) = o.namespace().map(str::to_string)
            && let Some((_, to)) = map.iter().find(|(from, _)| *from == ns)
        {
            o.object["metadata"]["namespace"] = Value::String(to.clone());
        }
    }
    let resolver = shared::discovery::Resolver::new(k.client.clone());
    let applier = Applier::new(k.client.clone(), &resolver, &k.namespace);
    let mut namespaces: Vec<String> = objects
        .iter()
        .filter_map(|o| o.namespace().map(str::to_string))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    for ns in &namespaces {
        ensure_namespace(&k, ns).await?;
    }
    let (mut restored, mut conflicts) = (0, 0);
    let mut out = std::io::stdout().lock();
    for o in &objects {
        let mut spec = o.clone();
        let status = spec.object.as_object_mut().and_then(|m| m.remove("status"));
        let applied = applier
            .apply(
                &spec,
                ApplyOptions {
                    dry_run: false,
                    force_conflicts: args.force_conflicts,
                },
            )
            .await;
        let id = format!("{}/{}", o.kind(), crd::object_name(&o.object));
        match applied {
            Ok(a) => {
                if let Some(st) = status {
                    restore_status(&k, &resolver, &a.object, st).await?;
                }
                restored += 1;
                writeln!(out, "restored {id}")?;
            }
            Err(shared::Error::ApplyConflict {
                managers, fields, ..
            }) => {
                conflicts += 1;
                writeln!(
                    out,
                    "conflict {id}: {fields} owned by {managers} (--force-conflicts takes them over)"
                )?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    writeln!(
        out,
        "{restored} object(s) restored, {conflicts} conflict(s)"
    )?;
    Ok(if conflicts > 0 { exit::ERROR } else { exit::OK })
}

async fn ensure_namespace(k: &Kube, ns: &str) -> Result<()> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(k.client.clone());
    if api
        .get_opt(ns)
        .await
        .map_err(|e| shared::Error::api(format!("read namespace {ns}"), e))?
        .is_none()
    {
        let obj = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))?;
        api.create(&Default::default(), &obj)
            .await
            .map_err(|e| shared::Error::api(format!("create namespace {ns}"), e))?;
    }
    Ok(())
}

/// Puts `status` back through the status subresource.
async fn restore_status(
    k: &Kube,
    resolver: &shared::discovery::Resolver,
    obj: &Value,
    status: Value,
) -> Result<()> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let Some(rk) = resolver.resolve(api_version, kind).await? else {
        return Ok(());
    };
    if !rk.has_status {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(k.client.clone(), ns, &rk.resource),
        None => Api::all_with(k.client.clone(), &rk.resource),
    };
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": status})),
    )
    .await
    .map_err(|e| shared::Error::api(format!("restore the status of {kind}/{name}"), e))?;
    Ok(())
}
