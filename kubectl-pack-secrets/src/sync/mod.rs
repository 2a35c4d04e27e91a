//! `sync`: make Kubernetes Secrets from provider secrets, from spec files
//! or from Pod annotations; one-shot, or `--watch` with periodic refresh.

mod events;
mod metrics;
mod pods;
pub mod spec;

use std::collections::HashMap;

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use shared::kubeconfig::KubeArgs;
use shared::output::exit;

use crate::cli::SyncArgs;
use crate::providers::{Fetched, ProviderError, Providers, SecretRef};
use crate::target::{self, Outcome};
use spec::Job;

/// Runs `sync`.
pub async fn run(kube: &KubeArgs, args: &SyncArgs) -> Result<u8> {
    let refresh = args.refresh;
    let k = kube.connect().await?;
    let providers = Providers::new(&args.provider)?;
    let metrics = std::sync::Arc::new(metrics::Metrics::default());
    // Ready once connected, leading or standing by (a standby must not
    // hold up a PodDisruptionBudget).
    metrics.ready();
    if let Some(addr) = args.metrics_addr {
        let listener = shared::probe::bind("--metrics-addr", addr).await?;
        tokio::spawn(shared::probe::serve(
            listener,
            metrics::routes(metrics.clone()),
        ));
        shared::output::info(&format!("health and metrics on http://{addr}/"));
    }
    let lease = if args.all_namespaces {
        "kubectl-pack-secrets-sync-all".to_string()
    } else {
        format!("kubectl-pack-secrets-sync-{}", k.namespace)
    };
    let mut leadership = args.leader.lead(&k.client, &k.namespace, &lease).await?;
    let work = async {
        if args.filename.is_empty() {
            let opts = pods::Options {
                all: args.all_namespaces,
                watch: args.watch,
                refresh,
            };
            return pods::run(k.clone(), &providers, opts, metrics.clone()).await;
        }
        files(&k, &providers, args).await
    };
    match &mut leadership {
        None => work.await,
        Some(l) => tokio::select! {
            done = work => done,
            why = l.lost() => Err(anyhow::anyhow!(why)),
        },
    }
}

/// Sync from spec files (`-f`), once or every `--refresh`.
async fn files(k: &shared::kubeconfig::Kube, providers: &Providers, args: &SyncArgs) -> Result<u8> {
    let refresh = args.refresh;
    let jobs = load_specs(&args.filename, &k.namespace)?;
    let mut failed = false;
    loop {
        let cache = Cache::default();
        let results: Vec<(&Job, Result<Outcome>)> = futures::stream::iter(&jobs)
            .map(|job| {
                let (client, providers, cache) = (&k.client, providers, &cache);
                async move { (job, sync_job(client, providers, job, cache).await) }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        for (job, result) in results {
            match result {
                Ok(outcome) => eprintln!(
                    "{}/{}: {outcome} from {}",
                    job.namespace,
                    job.secret,
                    job.sources()
                ),
                Err(e) => {
                    failed = true;
                    eprintln!(
                        "{}/{}: {}",
                        job.namespace,
                        job.secret,
                        shared::error::one_line(&format!("{e:#}"))
                    );
                }
            }
        }
        if !args.watch {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(refresh) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(if failed { exit::ERROR } else { exit::OK })
}

fn load_specs(files: &[std::path::PathBuf], default_ns: &str) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        for doc in shared::yaml::split_documents(&text) {
            if doc.is_empty() {
                continue;
            }
            let origin = format!("{} (document {})", f.display(), doc.index);
            let value: serde_json::Value = shared::yaml::parse_document(doc.text, doc.line)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{}:{}: invalid YAML: {}",
                        f.display(),
                        e.line.unwrap_or(doc.line),
                        e.message
                    )
                })?;
            jobs.push(spec::parse_spec(value, default_ns, &origin).map_err(anyhow::Error::msg)?);
        }
    }
    if jobs.is_empty() {
        anyhow::bail!(
            "{}: no SecretSync documents",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(jobs)
}

/// Provider answers shared by the jobs of one pass (several Secrets may
/// read the same provider secret).
pub type Cache = std::sync::Mutex<HashMap<SecretRef, Result<Fetched, ProviderError>>>;

/// How many Secrets are synced at once.
pub const CONCURRENCY: usize = 16;

/// Fetches (through a per-pass cache) and writes one job's Secret.
pub async fn sync_job(
    client: &kube::Client,
    providers: &Providers,
    job: &Job,
    cache: &Cache,
) -> Result<Outcome> {
    let mut data = Fetched::new();
    for r in &job.data_from {
        data.extend(fetch_cached(providers, r, cache).await?);
    }
    for (secret_key, r) in &job.data {
        let got = fetch_cached(providers, r, cache).await?;
        let value = if got.len() == 1 {
            got.into_values().next().unwrap_or_default()
        } else {
            // A whole multi-key secret under one key: its JSON.
            let m: serde_json::Map<String, serde_json::Value> = got
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        serde_json::Value::String(String::from_utf8_lossy(&v).into_owned()),
                    )
                })
                .collect();
            serde_json::Value::Object(m).to_string().into_bytes()
        };
        data.insert(secret_key.clone(), value);
    }
    let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), &job.namespace);
    target::write(&api, &job.secret, &data, job.policy, &job.sources()).await
}

async fn fetch_cached(
    providers: &Providers,
    r: &SecretRef,
    cache: &Cache,
) -> Result<Fetched, ProviderError> {
    if let Some(v) = cache.lock().ok().and_then(|c| c.get(r).cloned()) {
        return v;
    }
    let v = providers.fetch(r).await;
    if let Ok(mut c) = cache.lock() {
        c.insert(r.clone(), v.clone());
    }
    v
}
