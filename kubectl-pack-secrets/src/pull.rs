//! `pull`: fetch one provider secret into an encrypted values file (merged
//! into an existing one, never plaintext on disk) or into a Kubernetes
//! Secret applied with SSA.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use shared::kubeconfig::KubeArgs;
use shared::output::exit;
use shared::sops::tree::{Format, Node};
use shared::sops::{self, DecryptOptions};

use crate::cli::{IdentityArgs, PullArgs};
use crate::providers::{Providers, SecretRef};
use crate::{files, keyring, target};

/// Runs `pull`.
pub async fn run(kube: &KubeArgs, ids: &IdentityArgs, args: &PullArgs) -> Result<u8> {
    let r = SecretRef::parse(&args.source).map_err(anyhow::Error::msg)?;
    let providers = Providers::new(&args.provider)?;
    let data = providers.fetch(&r).await?;
    if let Some(name) = &args.to_secret {
        let k = kube.connect().await?;
        let api: kube::Api<Secret> = kube::Api::namespaced(k.client, &k.namespace);
        let outcome =
            target::write(&api, name, &data, target::Policy::Owner, &r.to_string()).await?;
        eprintln!(
            "secret/{name} {outcome} in {} ({} keys from {r})",
            k.namespace,
            data.len()
        );
        return Ok(exit::OK);
    }
    // Values: strings (a values file cannot hold raw bytes).
    let mut values = Node::map();
    for (k, v) in &data {
        let s = String::from_utf8(v.clone()).map_err(|_| {
            anyhow::anyhow!("{r}: key '{k}' is binary; pull it with --to-secret instead")
        })?;
        values.insert(k, Node::str(s));
    }
    let into = args.into.as_deref().map(files::parse_path).transpose()?;
    match &args.output {
        Some(path) if path.exists() => merge_into(path, ids, into.as_deref(), values, &r),
        Some(path) => {
            let text = encrypt_new(path, args, into.as_deref(), values)?;
            files::write_atomic(path, &text, 0o644)?;
            eprintln!(
                "wrote {} encrypted values from {r} to {}",
                data.len(),
                path.display()
            );
            Ok(exit::OK)
        }
        None => {
            let text = encrypt_new(Path::new("values.yaml"), args, into.as_deref(), values)?;
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(exit::OK)
        }
    }
}

fn place(into: Option<&[files::PathPart]>, values: Node) -> Result<Node> {
    match into {
        None => Ok(values),
        Some(path) => {
            let mut root = Node::map();
            files::set(&mut root, path, values)?;
            Ok(root)
        }
    }
}

fn encrypt_new(
    path: &Path,
    args: &PullArgs,
    into: Option<&[files::PathPart]>,
    values: Node,
) -> Result<String> {
    let plan = keyring::plan(path, &args.recipients)?;
    Ok(sops::encrypt_docs(
        &path.display().to_string(),
        vec![place(into, values)?],
        plan.spec(),
        Format::from_path(path),
    )?)
}

fn merge_into(
    path: &Path,
    ids: &IdentityArgs,
    into: Option<&[files::PathPart]>,
    values: Node,
    r: &SecretRef,
) -> Result<u8> {
    let f = files::load(path)?;
    let docs = sops::parse(&f.name, &f.text, f.format)?;
    if !sops::is_encrypted(&docs) {
        bail!(
            "{}: exists and is not encrypted; refusing to add secrets to a plaintext file (encrypt it first, or choose another -o)",
            f.name
        );
    }
    let identities = keyring::identities(ids)?;
    let dec = sops::decrypt_docs(&f.name, docs, &identities, DecryptOptions::default())?;
    let mut new_docs = dec.docs.clone();
    if new_docs.is_empty() {
        new_docs.push(Node::map());
    }
    let Node::Map(entries) = values else {
        bail!("internal: pulled values are not a map")
    };
    for e in entries {
        if let shared::sops::tree::Elem::Value((k, v)) = e {
            let mut p = into.map(<[_]>::to_vec).unwrap_or_default();
            p.push(files::PathPart::Key(k));
            files::set(&mut new_docs[0], &p, v)
                .with_context(|| format!("{}: cannot merge {r}", f.name))?;
        }
    }
    let out = sops::reencrypt(&f.name, &dec, new_docs, f.format)?;
    files::write_atomic(path, &out, 0o644)?;
    eprintln!("merged values from {r} into {}", f.name);
    Ok(exit::OK)
}
