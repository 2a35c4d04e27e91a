//! The suite's own pipeline, run as the shell runs it: the operator never
//! calls into another plugin's code, it starts the plugins' binaries
//! (found next to this one, else on PATH) and hands YAML streams from one
//! to the next: `pack-render pull`, `pack-render RELEASE ARCHIVE`,
//! `pack-crd apply`, `pack-waves apply`, `pack-drift`, `pack-drift sync`.
//!
//! Each step runs to its end before the next starts, so a failed render
//! never reaches `apply` (not even as an empty stream). Children inherit
//! the operator's connection (in-cluster ServiceAccount or the kubeconfig
//! flags, passed on) and never receive a token on their command line.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, Result, bail};
use shared::kubeconfig::KubeArgs;
use tokio::io::AsyncWriteExt;

/// What one step printed.
pub struct Output {
    /// Its exit code (`-1` if killed by a signal).
    pub code: i32,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr (what the plugins print for people; never secret).
    pub stderr: String,
}

impl Output {
    /// The last line of stderr that says something: the reason a step
    /// failed, for conditions and Events.
    pub fn reason(&self) -> String {
        let line = self
            .stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message");
        line.strip_prefix("error: ").unwrap_or(line).to_string()
    }
}

/// The plugin binaries and how to reach the cluster.
pub struct Tools {
    render: PathBuf,
    crd: PathBuf,
    waves: PathBuf,
    drift: PathBuf,
    kube_flags: Vec<String>,
}

impl Tools {
    /// Finds the binaries and turns the operator's connection flags into
    /// the children's.
    pub fn new(kube: &KubeArgs) -> Result<Tools> {
        if kube.token.is_some() {
            bail!(
                "operator run: --token would be passed to every plugin on its command line; use a kubeconfig or the in-cluster ServiceAccount"
            );
        }
        let here = std::env::current_exe().context("cannot find this program's own path")?;
        let dir = here.parent().map(Path::to_path_buf).unwrap_or_default();
        let find = |name: &str| {
            let sibling = dir.join(name);
            if sibling.is_file() {
                sibling
            } else {
                PathBuf::from(name)
            }
        };
        Ok(Tools {
            render: find("kubectl-pack_render"),
            crd: find("kubectl-pack_crd"),
            waves: here.clone(),
            drift: find("kubectl-pack_drift"),
            kube_flags: kube_flags(kube),
        })
    }

    /// `kubectl pack-render ARGS`.
    pub async fn render(&self, args: &[String], env: &[(&str, &Path)]) -> Result<Output> {
        self.run(&self.render, args, None, env).await
    }

    /// `kubectl pack-crd ARGS` with `stdin`.
    pub async fn crd(&self, args: &[String], stdin: Vec<u8>) -> Result<Output> {
        self.run(&self.crd, args, Some(stdin), &[]).await
    }

    /// `kubectl pack-waves ARGS` (this binary) with `stdin`.
    pub async fn waves(&self, args: &[String], stdin: Option<Vec<u8>>) -> Result<Output> {
        self.run(&self.waves, args, stdin, &[]).await
    }

    /// `kubectl pack-drift ARGS`.
    pub async fn drift(&self, args: &[String]) -> Result<Output> {
        self.run(&self.drift, args, None, &[]).await
    }

    async fn run(
        &self,
        bin: &Path,
        args: &[String],
        stdin: Option<Vec<u8>>,
        env: &[(&str, &Path)],
    ) -> Result<Output> {
        let mut cmd = tokio::process::Command::new(bin);
        cmd.args(&self.kube_flags)
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A child that exits without reading says why on stderr.
            tokio::spawn(async move {
                if pipe.write_all(&input).await.is_ok() {
                    pipe.shutdown().await.ok();
                }
            });
        }
        let out = child
            .wait_with_output()
            .await
            .with_context(|| format!("{} did not finish", bin.display()))?;
        Ok(Output {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// The connection flags a child needs to reach the same cluster as the
/// operator (not `-n`: each step names its namespace).
fn kube_flags(k: &KubeArgs) -> Vec<String> {
    let mut out = Vec::new();
    let mut flag = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            out.push(format!("--{name}={v}"));
        }
    };
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    flag("kubeconfig", path(&k.kubeconfig));
    flag("context", k.context.clone());
    flag("cluster", k.cluster.clone());
    flag("user", k.user.clone());
    flag("server", k.server.clone());
    flag("as", k.as_user.clone());
    flag("as-uid", k.as_uid.clone());
    flag("certificate-authority", path(&k.certificate_authority));
    flag("client-certificate", path(&k.client_certificate));
    flag("client-key", path(&k.client_key));
    flag("tls-server-name", k.tls_server_name.clone());
    flag("request-timeout", k.request_timeout.clone());
    for g in &k.as_group {
        out.push(format!("--as-group={g}"));
    }
    if k.insecure_skip_tls_verify {
        out.push("--insecure-skip-tls-verify".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_get_the_connection_flags_and_never_a_token() {
        let k = KubeArgs {
            kubeconfig: Some("/k".into()),
            context: Some("c".into()),
            as_group: vec!["g".into()],
            ..Default::default()
        };
        assert_eq!(
            kube_flags(&k),
            ["--kubeconfig=/k", "--context=c", "--as-group=g"]
        );
        let with_token = KubeArgs {
            token: Some("secret".into()),
            ..Default::default()
        };
        let err = Tools::new(&with_token).err().unwrap().to_string();
        assert!(err.contains("--token") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn the_reason_is_the_last_line_without_its_prefix() {
        let o = Output {
            code: 1,
            stdout: Vec::new(),
            stderr: "warning: x\nerror: nothing applied: 1 object(s)\n\n".into(),
        };
        assert_eq!(o.reason(), "nothing applied: 1 object(s)");
    }
}
