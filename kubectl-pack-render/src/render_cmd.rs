//! `kubectl pack-render [RELEASE] PACK`: the render command itself.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::ArgMatches;
use shared::kubeconfig::KubeArgs;

use crate::cli::ValuesArgs;
use crate::engine::LookupFn;
use crate::render::{self, Request};
use shared::output::Format;

/// Builds a render request from the shared values flags. Connects to the
/// cluster only for `--values-from` and `--cluster-lookup`.
pub async fn request(
    kube: &KubeArgs,
    values: &ValuesArgs,
    matches: &ArgMatches,
    pack: &str,
    release: &str,
) -> anyhow::Result<Request> {
    crate::sops_values::set_identity_files(&values.identity);
    let namespace = kube
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let mut req = Request {
        pack_dir: PathBuf::from(pack),
        release: release.to_string(),
        namespace: namespace.clone(),
        environment: values.environment.clone(),
        values_files: values.values_files.clone(),
        sets: crate::cli::ordered_sets(matches),
        kube_version: values.kube_version.clone(),
        api_versions: values.api_versions.clone(),
        no_schema: values.no_schema,
        env_subst: values.env_subst,
        ..Default::default()
    };
    if !values.values_from.is_empty() || values.cluster_lookup {
        let k = kube.connect().await?;
        if !values.values_from.is_empty() {
            req.extra_layers =
                crate::values_from::fetch(&k.client, &k.namespace, &values.values_from).await?;
        }
        if values.cluster_lookup {
            req.lookup = Some(cluster_lookup(k.client.clone()));
        }
    }
    Ok(req)
}

fn cluster_lookup(client: kube::Client) -> LookupFn {
    let handle = tokio::runtime::Handle::current();
    let resolver = Arc::new(shared::discovery::Resolver::new(client.clone()));
    Arc::new(
        move |api_version: &str, kind: &str, namespace: &str, name: &str| {
            let client = client.clone();
            let resolver = resolver.clone();
            let (api_version, kind, namespace, name) = (
                api_version.to_string(),
                kind.to_string(),
                namespace.to_string(),
                name.to_string(),
            );
            handle.block_on(async move {
                let Some(rk) = resolver
                    .resolve(&api_version, &kind)
                    .await
                    .map_err(|e| e.to_string())?
                else {
                    return Ok(serde_json::json!({}));
                };
                let api: kube::Api<kube::api::DynamicObject> =
                    if rk.namespaced() && !namespace.is_empty() {
                        kube::Api::namespaced_with(client, &namespace, &rk.resource)
                    } else {
                        kube::Api::all_with(client, &rk.resource)
                    };
                if name.is_empty() {
                    let list = api
                        .list(&Default::default())
                        .await
                        .map_err(|e| e.to_string())?;
                    let items: Vec<serde_json::Value> = list
                        .items
                        .into_iter()
                        .filter_map(|o| serde_json::to_value(o).ok())
                        .collect();
                    Ok(serde_json::json!({"items": items}))
                } else {
                    match api.get_opt(&name).await.map_err(|e| e.to_string())? {
                        Some(o) => serde_json::to_value(o).map_err(|e| e.to_string()),
                        None => Ok(serde_json::json!({})),
                    }
                }
            })
        },
    )
}

/// Runs the render command.
pub async fn run(cli: &crate::cli::Cli, matches: &ArgMatches) -> anyhow::Result<u8> {
    let (kube, values, output, args) = (&cli.kube, &cli.values, &cli.output, cli.args.as_slice());
    let (release, pack) = match args {
        [pack] => (String::new(), pack.clone()),
        [release, pack] => (release.clone(), pack.clone()),
        _ => anyhow::bail!("expected [RELEASE] PACK"),
    };
    if !release.is_empty()
        && let Err(e) = shared::release::parse_name(&release)
    {
        shared::output::error(&format!("invalid value '{release}' for RELEASE: {e}"));
        return Ok(shared::output::exit::USAGE);
    }
    // A local archive is unpacked (checked) into a folder that lives
    // until the render is done.
    let (_unpacked, pack) = if pack.starts_with("oci://") {
        let version = cli.version.clone().flatten();
        let r = crate::oci::reference(&pack, version.as_deref())?;
        let fetched = crate::oci::fetch(&r, &cli.registry).await?;
        let (dir, inner) = crate::archive::unpack(&pack, &fetched.archive)?;
        (Some(dir), inner.display().to_string())
    } else if cli.version.as_ref().is_some_and(Option::is_some) {
        anyhow::bail!(
            "--version VERSION picks a pack version in a registry; {pack} is not an oci:// reference"
        );
    } else if crate::archive::is_archive(&pack) {
        let (dir, inner) = crate::archive::unpack_file(std::path::Path::new(&pack))?;
        (Some(dir), inner.display().to_string())
    } else {
        (None, pack)
    };
    let mut req = request(kube, values, matches, &pack, &release).await?;
    req.profile = output.profile || output.trace;
    req.trace = output.trace;

    if let Some(path) = &output.explain {
        let req2 = req.clone();
        let (layers, merged) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let p = crate::pack::Pack::load(&req2.pack_dir)?;
            let (layers, _) = render::build_layers(&p, &req2)?;
            let merged = crate::values::merge_layers(&layers);
            Ok((layers, merged))
        })
        .await??;
        if !crate::values::is_set_by_a_layer(path, &layers) {
            anyhow::bail!(
                "--explain {path}: no layer of values sets it (values.yaml, environment, -f files, --set); check the path, for example --explain image.tag"
            );
        }
        let text = crate::values::explain(path, &layers, &merged);
        std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
        return Ok(shared::output::exit::OK);
    }

    let (pack, rendered) = tokio::task::spawn_blocking(move || {
        // The templates render while the rest of their files are read.
        let pack = crate::pack::Pack::load_with(&req.pack_dir, crate::pack::Reading::Background)?;
        let rendered = render::render_pack(&pack, &req)?;
        // Every file was read, even those no template needed.
        pack.finish_reading()?;
        Ok::<_, crate::error::RenderError>((pack, rendered))
    })
    .await
    .context("render thread")??;
    let files = crate::output::select(&rendered, &output.show_only)?;
    if let Some(dir) = &output.output_dir {
        crate::output::write_dir(dir, &files)?;
    } else {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        match &output.format {
            Format::Yaml | Format::Text | Format::Wide => {
                // Hashed as it is written, then sealed with the end line
                // (shared::seal): a stream cut short is refused downstream.
                let mut sealed = shared::seal::Sealer::new(&mut out, &rendered.pack.header_line())?;
                crate::output::write_yaml(&mut sealed, &files)?;
                if output.notes
                    && let Some(n) = &rendered.notes
                {
                    sealed.write_all(crate::output::notes_comment(n).as_bytes())?;
                }
                let documents = files.iter().map(|f| f.documents.len()).sum();
                sealed.finish(documents)?;
            }
            Format::Json => crate::output::write_json(&mut out, &files)?,
            other => {
                let list = crate::output::list(&files);
                let names: Vec<String> = files
                    .iter()
                    .flat_map(|f| f.documents.iter().map(|d| d.object()))
                    .map(|o| {
                        let s = |k: &str| o[k].as_str().unwrap_or_default().to_string();
                        shared::identity::kubectl_name(
                            &s("apiVersion"),
                            &s("kind"),
                            o["metadata"]["name"].as_str().unwrap_or_default(),
                        )
                    })
                    .collect();
                shared::output::write_structured(&mut out, other, &list, &names)?
            }
        }
        out.flush()?;
    }
    if !output.notes
        && let Some(n) = &rendered.notes
    {
        eprint!("{}", n.trim_end());
        eprintln!();
    }
    if output.profile {
        eprint!("{}", crate::output::profile_report(&rendered));
    }
    if output.trace {
        eprint!("{}", crate::output::trace_report());
    }
    // The command is done: the pack and the render are freed off the way out.
    crate::parallel::drop_in_background((pack, rendered));
    Ok(shared::output::exit::OK)
}
