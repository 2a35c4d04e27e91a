//! `--helm RELEASE`: drift of a release installed by Helm. Helm keeps no
//! field set, so each object of its stored manifest (Secret
//! `sh.helm.release.v1.<name>.v<rev>`, data `release` = base64 of gzip of
//! JSON) is sent as a server-side apply dry-run (`dryRun=All`, `force`, our
//! field manager) and the server's answer — defaulted and normalized like
//! the live object — is compared with the live object.

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;
use shared::apply::{Applier, ApplyOptions};
use shared::kubeconfig::Kube;

use crate::cli::CheckArgs;
use crate::report::{ObjectDrift, Report, Severity, State};
use crate::settings::Settings;

/// The manifest and namespace of Helm's latest deployed revision.
async fn helm_release(k: &Kube, name: &str) -> Result<(u32, String, String)> {
    let api: Api<Secret> = Api::namespaced(k.client.clone(), &k.namespace);
    let list = api
        .list(&ListParams::default().labels(&format!("owner=helm,name={name}")))
        .await
        .map_err(|e| shared::Error::api(format!("list the Helm records of {name}"), e))?;
    let version = |s: &Secret| -> u32 {
        s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("version"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let status = |s: &Secret| {
        s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("status"))
            .cloned()
            .unwrap_or_default()
    };
    let latest = list
        .items
        .iter()
        .filter(|s| status(s) == "deployed")
        .max_by_key(|s| version(s))
        .or_else(|| list.items.iter().max_by_key(|s| version(s)))
        .with_context(|| {
            format!(
                "Helm release {name} not found in namespace {} (no Secret sh.helm.release.v1.{name}.v*; Helm's configmap/sql drivers are not read)",
                k.namespace
            )
        })?;
    let secret_name = latest.metadata.name.clone().unwrap_or_default();
    let raw = latest
        .data
        .as_ref()
        .and_then(|d| d.get("release"))
        .with_context(|| format!("Secret {secret_name} has no data.release"))?;
    let bad = |what: &str| format!("Secret {secret_name} is not a Helm release record ({what})");
    let gz = base64::engine::general_purpose::STANDARD
        .decode(raw.0.trim_ascii())
        .with_context(|| bad("data.release is not base64"))?;
    let json = if gz.starts_with(&[0x1f, 0x8b]) {
        shared::yaml::read_bounded(flate2::read::GzDecoder::new(&gz[..]))
            .with_context(|| bad("not gzip, or too large"))?
    } else {
        gz
    };
    let v: Value = serde_json::from_slice(&json).with_context(|| bad("not JSON"))?;
    let manifest = v["manifest"].as_str().unwrap_or_default().to_string();
    let ns = v["namespace"].as_str().unwrap_or(&k.namespace).to_string();
    Ok((version(latest), manifest, ns))
}

/// Checks a Helm release.
pub async fn check(k: &Kube, name: &str, args: &CheckArgs) -> Result<Report> {
    let started = std::time::Instant::now();
    let settings = Settings::new(&Value::Null, &args.flags())?;
    let (revision, manifest, ns) = helm_release(k, name).await?;
    let objects = shared::stream::parse_stream(&manifest, shared::stream::Origin::Stdin)
        .with_context(|| format!("the manifest of Helm release {name}"))?;
    if objects.is_empty() {
        bail!("Helm release {name} has no objects in its manifest");
    }
    let resolver = shared::discovery::Resolver::new(k.client.clone());
    let applier = Applier::new(k.client.clone(), &resolver, &ns);
    let mut report = Report {
        release: name.to_string(),
        namespace: ns.clone(),
        revision,
        method: "ssa-dry-run".into(),
        checked: objects.len(),
        severity: None,
        drifted: Vec::new(),
        info: vec!["Helm records no field set: compared by server-side dry-run of its manifest against the live objects".into()],
        ignored: 0,
        duration_ms: 0,
    };
    for obj in &objects {
        let (kind, id, _) = applier.prepare(obj).await?;
        let api: Api<DynamicObject> = match &id.namespace {
            Some(n) => Api::namespaced_with(k.client.clone(), n, &kind.resource),
            None => Api::all_with(k.client.clone(), &kind.resource),
        };
        let mut drift = ObjectDrift {
            api_version: obj.api_version().to_string(),
            kind: obj.kind().to_string(),
            namespace: id.namespace.clone(),
            name: id.name.clone(),
            state: State::Deleted,
            severity: Severity::Critical,
            fields: Vec::new(),
        };
        let Some(live) = api
            .get_opt(&id.name)
            .await
            .map_err(|e| shared::Error::api(format!("read {id}"), e))?
        else {
            report.drifted.push(drift);
            continue;
        };
        let live = serde_json::to_value(live).unwrap_or_default();
        let dry = applier
            .apply(
                obj,
                ApplyOptions {
                    dry_run: true,
                    force_conflicts: true,
                },
            )
            .await?;
        let changes = crate::compare::diff_values(
            &shared::diff::clean(dry.object),
            &shared::diff::clean(live.clone()),
        );
        drift.fields = crate::check::judge(
            &drift.kind,
            changes,
            &live,
            &settings,
            &|_| false,
            &mut report.ignored,
        );
        report.drifted.extend(drift.modified());
    }
    report.finish();
    report.duration_ms = started.elapsed().as_millis();
    Ok(report)
}
