//! The standard kubectl flags and the client they build.
//!
//! [`KubeArgs`] is flattened into every plugin, so each flag is defined once.
//! Loading follows kubectl: `--kubeconfig FILE`, else every file listed in
//! `KUBECONFIG` (missing ones skipped, the first file to set a value wins),
//! else `~/.kube/config`. The flags then override the selected context,
//! cluster and user exactly where kubectl's would, and the default namespace
//! comes from `-n`, else the context, else `default`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use kube::{Client, Config};

use crate::error::{Error, Result, one_line};

/// Name given to the context/cluster/user made up when only `--server` is given.
const SYNTHETIC: &str = "kubectl-pack";

/// The standard kubectl connection flags (`kubectl options`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Kubernetes connection")]
pub struct KubeArgs {
    /// Path to the kubeconfig file to use.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The name of the kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The name of the kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The name of the kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// The namespace scope for this request.
    #[arg(short = 'n', long, global = true, value_name = "NAME")]
    pub namespace: Option<String>,
    /// The address and port of the Kubernetes API server.
    #[arg(short = 's', long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token for authentication to the API server.
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Username to impersonate for the operation.
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Group to impersonate for the operation (repeatable).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// UID to impersonate for the operation.
    #[arg(long = "as-uid", global = true, value_name = "UID")]
    pub as_uid: Option<String>,
    /// Path to a cert file for the certificate authority.
    #[arg(long, global = true, value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    /// Path to a client certificate file for TLS.
    #[arg(long, global = true, value_name = "FILE")]
    pub client_certificate: Option<PathBuf>,
    /// Path to a client key file for TLS.
    #[arg(long, global = true, value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// Do not check the server's certificate (makes HTTPS insecure).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
    /// Server name to use for server certificate validation.
    #[arg(long, global = true, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Time to wait for a single request ("0" = no limit), e.g. 30s, 1m.
    #[arg(long, global = true, value_name = "DURATION", value_parser = request_timeout)]
    pub request_timeout: Option<String>,
}

/// Where kubeconfig files are looked for when `--kubeconfig` is not given:
/// the `KUBECONFIG` list, then `$HOME/.kube/config`; inside a Pod, the
/// ServiceAccount.
#[derive(Debug, Clone, Default)]
pub struct KubeconfigSources {
    /// The value of `KUBECONFIG` (`:`-separated list), if set.
    pub env: Option<std::ffi::OsString>,
    /// The home directory, if known.
    pub home: Option<PathBuf>,
    /// In a Pod (`KUBERNETES_SERVICE_HOST` set): the API server and the
    /// ServiceAccount folder.
    pub in_cluster: Option<InCluster>,
}

/// What a Pod is given to reach its API server.
#[derive(Debug, Clone)]
pub struct InCluster {
    /// `https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT`.
    pub server: String,
    /// The folder of `token`, `ca.crt` and `namespace`
    /// (`/var/run/secrets/kubernetes.io/serviceaccount`, or
    /// [`SERVICE_ACCOUNT_DIR_ENV`]).
    pub dir: PathBuf,
}

/// Where the ServiceAccount files are when not at the standard place (a
/// sidecar layout, the tests).
pub const SERVICE_ACCOUNT_DIR_ENV: &str = "KUBECTL_PACK_SERVICEACCOUNT_DIR";

impl KubeconfigSources {
    /// The sources of this process: `$KUBECONFIG`, `$HOME` and the Pod's
    /// `KUBERNETES_SERVICE_HOST`/`_PORT`.
    pub fn from_process() -> Self {
        let in_cluster = std::env::var("KUBERNETES_SERVICE_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .map(|host| {
                let port =
                    std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".to_string());
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                InCluster {
                    server: format!("https://{host}:{port}"),
                    dir: std::env::var_os(SERVICE_ACCOUNT_DIR_ENV)
                        .map(PathBuf::from)
                        .unwrap_or_else(|| "/var/run/secrets/kubernetes.io/serviceaccount".into()),
                }
            });
        KubeconfigSources {
            env: std::env::var_os("KUBECONFIG"),
            home: std::env::var_os("HOME").map(PathBuf::from),
            in_cluster,
        }
    }
}

impl InCluster {
    /// A kubeconfig of one context: the server, its CA file, the token
    /// file (kube re-reads it, so a rotated token is picked up) and the
    /// Pod's namespace.
    fn kubeconfig(&self) -> Result<Kubeconfig> {
        let file = |name: &str| self.dir.join(name);
        if !file("token").is_file() {
            return Err(Error::Kubeconfig(format!(
                "KUBERNETES_SERVICE_HOST is set but {} does not exist; is a ServiceAccount token mounted?",
                file("token").display()
            )));
        }
        let namespace = std::fs::read_to_string(file("namespace"))
            .ok()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        Ok(Kubeconfig {
            clusters: vec![NamedCluster {
                name: "in-cluster".into(),
                cluster: Some(Cluster {
                    server: Some(self.server.clone()),
                    certificate_authority: Some(file("ca.crt").display().to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            auth_infos: vec![NamedAuthInfo {
                name: "in-cluster".into(),
                auth_info: Some(AuthInfo {
                    token_file: Some(file("token").display().to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            contexts: vec![NamedContext {
                name: "in-cluster".into(),
                context: Some(Context {
                    cluster: "in-cluster".into(),
                    user: Some("in-cluster".into()),
                    namespace,
                    ..Default::default()
                }),
                ..Default::default()
            }],
            current_context: Some("in-cluster".into()),
            ..Default::default()
        })
    }
}

/// A connected client plus the namespace objects default to.
#[derive(Clone)]
pub struct Kube {
    /// The API client.
    pub client: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
}

impl KubeArgs {
    /// Builds the client configuration from kubeconfig and flags (reads
    /// certificate files; makes no network request).
    pub async fn config(&self) -> Result<Config> {
        self.config_with(&KubeconfigSources::from_process()).await
    }

    /// [`Self::config`] with explicit kubeconfig sources instead of the
    /// process environment.
    pub async fn config_with(&self, sources: &KubeconfigSources) -> Result<Config> {
        let (kubeconfig, options) = self.resolved_kubeconfig(sources)?;
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| Error::Kubeconfig(one_line(&crate::error::chain(&e))))?;
        if let Some(ns) = &self.namespace {
            config.default_namespace = ns.clone();
        }
        if let Some(timeout) = &self.request_timeout {
            let d = parse_duration(timeout).map_err(|reason| Error::Flag {
                flag: "--request-timeout",
                value: timeout.clone(),
                reason,
            })?;
            config.read_timeout = d;
            config.write_timeout = d;
            if d.is_some() {
                config.connect_timeout = d;
            }
        }
        Ok(config)
    }

    /// Builds the client. Makes no network request.
    pub async fn connect(&self) -> Result<Kube> {
        self.connect_with(&KubeconfigSources::from_process()).await
    }

    /// [`Self::connect`] with explicit kubeconfig sources.
    pub async fn connect_with(&self, sources: &KubeconfigSources) -> Result<Kube> {
        let config = self.config_with(sources).await?;
        let namespace = config.default_namespace.clone();
        let client =
            Client::try_from(config).map_err(|e| Error::Kubeconfig(one_line(&e.to_string())))?;
        Ok(Kube { client, namespace })
    }

    /// Loads the kubeconfig and applies every flag to the selected context,
    /// cluster and user, returning the names to select.
    fn resolved_kubeconfig(
        &self,
        sources: &KubeconfigSources,
    ) -> Result<(Kubeconfig, KubeConfigOptions)> {
        let mut kc = match load_kubeconfig(self.kubeconfig.as_deref(), sources)? {
            Some(kc) => kc,
            // In a Pod without a kubeconfig: its ServiceAccount.
            None if self.kubeconfig.is_none() && sources.in_cluster.is_some() => sources
                .in_cluster
                .as_ref()
                .map(InCluster::kubeconfig)
                .transpose()?
                .unwrap_or_default(),
            None if self.server.is_some() => Kubeconfig::default(),
            None => {
                return Err(Error::NoKubeconfig {
                    detail: "KUBECONFIG is unset or lists no existing file, and ~/.kube/config does not exist".into(),
                });
            }
        };

        let context_name = match self.context.clone().or_else(|| kc.current_context.clone()) {
            Some(name) => name,
            None if self.server.is_some() => {
                kc.contexts.push(NamedContext {
                    name: SYNTHETIC.into(),
                    context: Some(Context {
                        cluster: SYNTHETIC.into(),
                        user: Some(SYNTHETIC.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                SYNTHETIC.into()
            }
            None => {
                return Err(Error::Kubeconfig(
                    "no current-context is set; pass --context NAME".into(),
                ));
            }
        };
        let Some(ctx_entry) = kc.contexts.iter_mut().find(|c| c.name == context_name) else {
            let known: Vec<_> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::Kubeconfig(format!(
                "context \"{context_name}\" not found (available: {}); pass --context with one of them",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        let ctx = ctx_entry.context.get_or_insert_with(Default::default);
        if let Some(cluster) = &self.cluster {
            ctx.cluster = cluster.clone();
        }
        if let Some(user) = &self.user {
            ctx.user = Some(user.clone());
        }
        let cluster_name = ctx.cluster.clone();
        let user_name = ctx.user.clone().unwrap_or_else(|| SYNTHETIC.into());
        ctx.user = Some(user_name.clone());

        // Cluster overrides.
        if !kc.clusters.iter().any(|c| c.name == cluster_name) {
            if self.server.is_none() {
                return Err(Error::Kubeconfig(format!(
                    "cluster \"{cluster_name}\" (of context \"{context_name}\") not found; pass --cluster or --server"
                )));
            }
            kc.clusters.push(NamedCluster {
                name: cluster_name.clone(),
                cluster: Some(Cluster::default()),
                ..Default::default()
            });
        }
        if let Some(entry) = kc.clusters.iter_mut().find(|c| c.name == cluster_name) {
            let cluster = entry.cluster.get_or_insert_with(Default::default);
            if let Some(server) = &self.server {
                cluster.server = Some(server.clone());
            }
            if let Some(ca) = &self.certificate_authority {
                cluster.certificate_authority = Some(absolute(ca));
                cluster.certificate_authority_data = None;
            }
            if self.insecure_skip_tls_verify {
                cluster.insecure_skip_tls_verify = Some(true);
            }
            if let Some(name) = &self.tls_server_name {
                cluster.tls_server_name = Some(name.clone());
            }
        }

        // User overrides.
        if !kc.auth_infos.iter().any(|u| u.name == user_name) {
            kc.auth_infos.push(NamedAuthInfo {
                name: user_name.clone(),
                auth_info: Some(AuthInfo::default()),
                ..Default::default()
            });
        }
        if let Some(entry) = kc.auth_infos.iter_mut().find(|u| u.name == user_name) {
            let user = entry.auth_info.get_or_insert_with(Default::default);
            if let Some(token) = &self.token {
                *user = AuthInfo {
                    token: Some(token.clone().into()),
                    ..Default::default()
                };
            }
            if let Some(cert) = &self.client_certificate {
                user.client_certificate = Some(absolute(cert));
                user.client_certificate_data = None;
            }
            if let Some(key) = &self.client_key {
                user.client_key = Some(absolute(key));
                user.client_key_data = None;
            }
            if let Some(as_user) = &self.as_user {
                user.impersonate = Some(as_user.clone());
            }
            if !self.as_group.is_empty() {
                user.impersonate_groups = Some(self.as_group.clone());
            }
            if let Some(uid) = &self.as_uid {
                user.impersonate_uid = Some(uid.clone());
            }
        }

        let options = KubeConfigOptions {
            context: Some(context_name),
            cluster: Some(cluster_name),
            user: Some(user_name),
        };
        Ok((kc, options))
    }
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Loads the kubeconfig the way kubectl does; `Ok(None)` when there is none.
pub fn load_kubeconfig(
    explicit: Option<&Path>,
    sources: &KubeconfigSources,
) -> Result<Option<Kubeconfig>> {
    let read = |p: &Path| {
        Kubeconfig::read_from(p).map_err(|e| {
            Error::Kubeconfig(format!(
                "{}: {}",
                p.display(),
                one_line(&crate::error::chain(&e))
            ))
        })
    };
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(Error::Kubeconfig(format!(
                "{}: file given with --kubeconfig does not exist",
                path.display()
            )));
        }
        return read(path).map(Some);
    }
    if let Some(value) = &sources.env {
        let mut merged: Option<Kubeconfig> = None;
        for path in std::env::split_paths(value) {
            if path.as_os_str().is_empty() || !path.exists() {
                continue;
            }
            let next = read(&path)?;
            merged = Some(match merged {
                None => next,
                Some(m) => m.merge(next).map_err(|e| {
                    Error::Kubeconfig(format!("{}: {}", path.display(), one_line(&e.to_string())))
                })?,
            });
        }
        if merged.is_some() {
            return Ok(merged);
        }
    }
    match sources
        .home
        .as_ref()
        .map(|h| h.join(".kube").join("config"))
    {
        Some(p) if p.exists() => read(&p).map(Some),
        _ => Ok(None),
    }
}

/// The `--request-timeout` value parser: a duration or `0` (no limit),
/// checked when the command line is parsed, kept as typed.
pub fn request_timeout(text: &str) -> std::result::Result<String, String> {
    parse_duration(text).map(|_| text.to_string())
}

/// A duration over zero (`30s`, `5m`, `1h30m`; a bare number is seconds),
/// the value parser of every duration flag but `--request-timeout`.
pub fn positive_duration(text: &str) -> std::result::Result<Duration, String> {
    parse_duration(text)?.ok_or_else(|| "must be more than 0, e.g. 30s or 5m".to_string())
}

/// Parses a kubectl duration: `0` (no limit), a bare number of seconds, or
/// Go's `1h2m3s`, `500ms` form. `Ok(None)` means no limit.
pub fn parse_duration(text: &str) -> std::result::Result<Option<Duration>, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok((secs > 0).then(|| Duration::from_secs(secs)));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err("expected a duration such as 30s, 1m or 0".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: f64 = num
            .parse()
            .map_err(|_| "expected a duration such as 30s, 1m or 0".to_string())?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("unknown unit '{unit}' (use ms, s, m or h)")),
        };
        total += Duration::from_secs_f64(n * scale);
        rest = tail;
    }
    Ok((!total.is_zero()).then_some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubectl() {
        assert_eq!(parse_duration("0"), Ok(None));
        assert_eq!(parse_duration("5"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(parse_duration("1m30s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(
            parse_duration("250ms"),
            Ok(Some(Duration::from_millis(250)))
        );
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }
}
