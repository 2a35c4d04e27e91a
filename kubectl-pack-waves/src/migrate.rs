//! `migrate RELEASE`: rewrite every stored revision of a release in another
//! storage (secret, configmap, file:DIR) and/or compression, under the
//! release lock; the old records are deleted only after all new ones are
//! written and read back.

use anyhow::{Result, bail};
use shared::kubeconfig::KubeArgs;
use shared::output::exit;
use shared::release::lock::Lock;
use shared::release::store::{Compression, Store};

use crate::cli::{MigrateArgs, StorageArgs};

/// Runs `migrate`.
pub async fn run(kube: &KubeArgs, args: &MigrateArgs) -> Result<u8> {
    shared::interrupt::watch();
    let from = crate::cli::storage(&StorageArgs {
        storage: args.from_storage.clone(),
    })?;
    let to = match &args.to_storage {
        Some(s) => crate::cli::storage(&StorageArgs { storage: s.clone() })?,
        None => from.clone(),
    };
    let compression =
        Compression::parse(&args.compression).map_err(|e| anyhow::anyhow!("--compression: {e}"))?;
    let k = kube.connect().await?;
    let source = Store::new(Some(k.client.clone()), &k.namespace, from.clone());
    let mut dest = Store::new(Some(k.client.clone()), &k.namespace, to.clone());
    dest.compression = compression;
    let lock = Lock::acquire(k.client.clone(), &k.namespace, &args.release, None).await?;
    let result = async {
        let history = source.history(&args.release).await?;
        if history.is_empty() {
            bail!(
                "release {} has no revisions in {} storage",
                args.release,
                args.from_storage
            );
        }
        for (i, rel) in history.iter().enumerate() {
            if shared::interrupt::requested() {
                bail!(
                    "interrupted after writing {i} of {} revisions of {}; the old ones are kept; run the same command again",
                    history.len(),
                    args.release
                );
            }
            dest.save(rel).await?;
        }
        let written = dest.history(&args.release).await?;
        if written.len() < history.len()
            || written
                .iter()
                .zip(&history)
                .any(|(a, b)| a.revision != b.revision || a.manifest != b.manifest)
        {
            bail!(
                "the rewritten revisions of {} do not read back the same; the old ones are kept",
                args.release
            );
        }
        if from != to {
            for rel in &history {
                if shared::interrupt::requested() {
                    bail!(
                        "interrupted while removing the old copies of {}'s revisions (the new ones are complete); run the same command again",
                        args.release
                    );
                }
                source.delete_revision(&args.release, rel.revision).await?;
            }
        }
        eprintln!(
            "migrated {} revisions of {} to {} storage ({} compression)",
            history.len(),
            args.release,
            args.to_storage.as_deref().unwrap_or(&args.from_storage),
            args.compression
        );
        Ok(exit::OK)
    }
    .await;
    lock.release().await;
    result
}
