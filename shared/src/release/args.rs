//! The `--storage` flag every plugin that reads or writes release records
//! takes, and the store it selects.

use std::path::PathBuf;

use clap::Args;

use super::store::{Storage, Store};

/// Release storage flags.
#[derive(Debug, Args, Clone)]
pub struct StorageArgs {
    /// Where release records live: secret, configmap, or file:DIR.
    #[arg(long, default_value = "secret", value_name = "KIND", value_parser = parse_storage)]
    pub storage: String,
}

/// The `--storage` value parser: the value as given, once it names a
/// storage (a usage error listing the accepted ones otherwise).
pub fn parse_storage(s: &str) -> Result<String, String> {
    Storage::parse(s, PathBuf::new()).map(|_| s.to_string())
}

/// Parses `--storage` (file storage defaults to ~/.cache/kubectl-pack/releases).
pub fn storage(args: &StorageArgs) -> anyhow::Result<Storage> {
    let default_dir = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/kubectl-pack/releases");
    Storage::parse(&args.storage, default_dir).map_err(|e| anyhow::anyhow!("--storage: {e}"))
}

/// The release store for `--storage` in the connection's namespace.
pub fn store(k: &crate::kubeconfig::Kube, args: &StorageArgs) -> anyhow::Result<Store> {
    Ok(Store::new(
        Some(k.client.clone()),
        &k.namespace,
        storage(args)?,
    ))
}
