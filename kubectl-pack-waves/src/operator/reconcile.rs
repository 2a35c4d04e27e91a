//! One reconcile of one PackRelease, in phases: decide whether to act
//! (suspended, stalled, `sync-now`), poll the registry, fetch and render,
//! deploy when the rendered result changed, check drift (and correct it
//! with `autoSync`), write the status. Every phase runs the suite's own
//! binaries through [`Tools`]; the status is the operator's only memory,
//! so a new leader carries on where the old one stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::metrics::Metrics;
use super::pipeline::{Output, Tools};
use super::spec::{self, Spec, Status};

/// How polls back off and when they give up.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The delays after failed polls.
    pub backoff: shared::retry::Backoff,
    /// Failed polls in a row before `Stalled`.
    pub stall_after: u32,
    /// `--timeout` of each deploy.
    pub timeout: Duration,
    /// `--allow-cross-namespace`.
    pub cross_namespace: bool,
}

/// What reconciles share.
pub struct Reconciler {
    /// The operator's client.
    pub client: kube::Client,
    /// The plugins.
    pub tools: Tools,
    /// Events on PackReleases.
    pub recorder: Recorder,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Poll policy.
    pub retry: Retry,
}

/// One PackRelease being reconciled.
struct Job<'a> {
    r: &'a Reconciler,
    obj: &'a DynamicObject,
    namespace: String,
    name: String,
    generation: i64,
    status: Status,
    dir: tempfile::TempDir,
}

/// What a reconcile decided, for metrics and the next run.
pub struct Outcome {
    /// When to look again (`None`: only when the object changes).
    pub again: Option<Duration>,
    /// The object as written (status included), when written.
    pub written: Option<DynamicObject>,
}

impl Reconciler {
    /// Reconciles `obj`; errors are in its status, never returned.
    pub async fn reconcile(&self, obj: &DynamicObject) -> Outcome {
        let started = Instant::now();
        let (result, outcome) = match self.reconcile_inner(obj).await {
            Ok(x) => x,
            Err(e) => {
                let msg = shared::error::one_line(&format!("{e:#}"));
                shared::output::warn(&format!("{}: {msg}", identity(obj)));
                (
                    "failed",
                    Outcome {
                        again: Some(self.retry.backoff.delay(0)),
                        written: None,
                    },
                )
            }
        };
        self.metrics
            .reconciled(result, started.elapsed().as_secs_f64());
        outcome
    }

    async fn reconcile_inner(&self, obj: &DynamicObject) -> Result<(&'static str, Outcome)> {
        let mut job = Job {
            r: self,
            obj,
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            name: obj.metadata.name.clone().unwrap_or_default(),
            generation: obj.metadata.generation.unwrap_or(0),
            status: Status::of(&obj.data),
            dir: tempfile::Builder::new()
                .prefix("kubectl-pack-operator-")
                .tempdir()
                .context("cannot create a work directory")?,
        };
        let spec = match Spec::of(&obj.data).and_then(|s| s.interval().map(|i| (s, i))) {
            Ok(x) => x,
            Err(e) => {
                job.status
                    .set("Stalled", true, "InvalidSpec", &e, job.generation);
                job.status
                    .set("Ready", false, "InvalidSpec", &e, job.generation);
                return job.finish("stalled", None).await;
            }
        };
        job.run(&spec.0, spec.1).await
    }
}

fn identity(obj: &DynamicObject) -> String {
    format!(
        "PackRelease {}/{}",
        obj.metadata.namespace.as_deref().unwrap_or(""),
        obj.metadata.name.as_deref().unwrap_or("")
    )
}

impl Job<'_> {
    async fn run(&mut self, spec: &Spec, interval: Duration) -> Result<(&'static str, Outcome)> {
        let sync_now = self
            .obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(spec::SYNC_NOW))
            .cloned();
        let forced = sync_now.is_some() && sync_now != self.status.last_handled_sync_now;
        let changed = self.status.observed_generation != Some(self.generation);
        if forced || changed {
            self.status.last_handled_sync_now = sync_now;
            self.status.consecutive_failures = 0;
            self.status.last_failed_fingerprint = None;
            self.status
                .set("Stalled", false, "Retrying", "", self.generation);
        }
        if spec.suspend {
            self.status.set(
                "Reconciling",
                false,
                "Suspended",
                "spec.suspend is true: no polls, deploys or corrections",
                self.generation,
            );
            self.status.next_poll_time = None;
            return self.finish("suspended", None).await;
        }
        if self.status.is("Stalled") {
            // Given up: only a change of the spec or `sync-now` retries.
            return Ok((
                "stalled",
                Outcome {
                    again: None,
                    written: None,
                },
            ));
        }
        let target = spec
            .target_namespace
            .clone()
            .unwrap_or_else(|| self.namespace.clone());
        if target != self.namespace && !self.r.retry.cross_namespace {
            let msg = format!(
                "spec.targetNamespace {target} is not this PackRelease's namespace {}; the operator runs without --allow-cross-namespace",
                self.namespace
            );
            return self.refuse("CrossNamespaceRefused", &msg).await;
        }
        let access = match self.registry_access(spec).await {
            Ok(a) => a,
            Err(reason) => {
                self.status.set(
                    "Ready",
                    false,
                    "RegistryAccessInvalid",
                    &reason,
                    self.generation,
                );
                return self.finish("failed", Some(interval)).await;
            }
        };
        let reference = match self.poll(spec, &access).await {
            Ok(Some(r)) => r,
            Ok(None) => return self.finish("failed", Some(interval)).await,
            Err(reason) => return self.poll_failed(&reason).await,
        };
        let fetched = match self.fetch(spec, &reference, &target, &access).await? {
            Ok(f) => f,
            Err(reason) => {
                self.status
                    .set("Ready", false, "RenderFailed", &reason, self.generation);
                return self.finish("failed", Some(interval)).await;
            }
        };
        if !self.r.retry.cross_namespace
            && let Some(msg) = foreign_namespace(&fetched.stream, &target)
        {
            return self.refuse("CrossNamespaceRefused", &msg).await;
        }
        let mut result = "unchanged";
        if Some(&fetched.fingerprint) != self.status.last_applied_fingerprint.as_ref()
            && Some(&fetched.fingerprint) != self.status.last_failed_fingerprint.as_ref()
        {
            result = self.deploy(spec, &target, &fetched).await?;
        }
        if self.status.last_applied_fingerprint.is_some() {
            self.drift(spec, &target).await?;
        }
        self.status
            .set("Reconciling", false, "Succeeded", "", self.generation);
        Ok((result, self.finish(result, Some(interval)).await?.1))
    }

    /// Refused for good (until the spec changes): `Stalled`, nothing done.
    async fn refuse(&mut self, reason: &str, msg: &str) -> Result<(&'static str, Outcome)> {
        self.status
            .set("Stalled", true, reason, msg, self.generation);
        self.status
            .set("Ready", false, reason, msg, self.generation);
        self.event(EventType::Warning, reason, msg).await;
        self.finish("stalled", None).await
    }

    /// Which reference to deploy: the pinned digest, or the newest tag the
    /// constraint admits. `Err`: the registry could not be asked.
    async fn poll(&mut self, spec: &Spec, access: &Access) -> Result<Option<String>, String> {
        let src = &spec.source;
        if let Some(d) = &src.digest {
            return Ok(Some(format!("{}@{d}", src.oci)));
        }
        let mut args = vec!["versions".to_string(), src.oci.clone()];
        args.push(format!(
            "--constraint={}",
            src.constraint.as_deref().unwrap_or("*")
        ));
        if src.prerelease {
            args.push("--devel".into());
        }
        args.extend(access.flags.iter().cloned());
        let out = self
            .r
            .tools
            .render(&args, &access.env())
            .await
            .map_err(|e| format!("{e:#}"))?;
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.code != 0 && listed.trim().is_empty() && out.stderr.contains(" 0 matching") {
            self.r.metrics.polled("no-match");
            let msg = format!(
                "no version of {} matches '{}'",
                src.oci,
                src.constraint.as_deref().unwrap_or("*")
            );
            self.status
                .set("Ready", false, "NoMatchingVersion", &msg, self.generation);
            self.status.consecutive_failures = 0;
            return Ok(None);
        }
        if out.code != 0 {
            self.r.metrics.polled("error");
            return Err(out.reason());
        }
        self.r.metrics.polled("ok");
        self.status.consecutive_failures = 0;
        self.status.registry_e_tag =
            Some(format!("sha256:{:x}", Sha256::digest(listed.as_bytes())));
        let pick = listed.lines().next().unwrap_or("").trim().to_string();
        Ok(Some(format!("{}:{pick}", src.oci)))
    }

    /// A failed poll: back off, or give up as `Stalled` after N in a row.
    async fn poll_failed(&mut self, reason: &str) -> Result<(&'static str, Outcome)> {
        self.status.consecutive_failures += 1;
        let n = self.status.consecutive_failures;
        if n >= self.r.retry.stall_after {
            let msg = format!(
                "gave up after {n} failed registry polls: {reason}; `kubectl pack-waves operator sync-now {}` tries again",
                self.name
            );
            self.status.set(
                "Stalled",
                true,
                "RegistryUnavailable",
                &msg,
                self.generation,
            );
            self.status
                .set("Ready", false, "RegistryUnavailable", &msg, self.generation);
            self.event(EventType::Warning, "Stalled", &msg).await;
            self.status.next_poll_time = None;
            return self.finish("stalled", None).await;
        }
        let delay = self.r.retry.backoff.delay(n - 1);
        let msg = format!(
            "registry poll {n} failed: {reason}; retrying in {}s",
            delay.as_secs()
        );
        self.status
            .set("Ready", false, "RegistryUnavailable", &msg, self.generation);
        self.finish("failed", Some(delay)).await
    }

    /// How the render steps reach the registry: `--plain-http`, the CA of
    /// `certSecretRef` as `--ca-file`, the credentials of `secretRef` as a
    /// private Docker config directory (0600 files in the work directory,
    /// gone with it). `Err`: a one-line reason for the status.
    async fn registry_access(&self, spec: &Spec) -> Result<Access, String> {
        let src = &spec.source;
        let mut access = Access::default();
        if src.insecure {
            access.flags.push("--plain-http".into());
        }
        if let Some(r) = &src.cert_secret_ref {
            let data = self
                .secret_data("spec.source.certSecretRef", &r.name)
                .await?;
            let Some(ca) = data.get("ca.crt") else {
                return Err(format!(
                    "spec.source.certSecretRef: Secret {}/{} has no ca.crt key",
                    self.namespace, r.name
                ));
            };
            let path = self.dir.path().join("registry-ca.pem");
            shared::files::write_atomic(&path, ca, 0o600).map_err(|e| e.to_string())?;
            access.flags.push(format!("--ca-file={}", path.display()));
        }
        let Some(r) = &src.secret_ref else {
            return Ok(access);
        };
        let data = self.secret_data("spec.source.secretRef", &r.name).await?;
        let get = |k: &str| data.get(k).map(|b| String::from_utf8_lossy(b).into_owned());
        let config = match (get(".dockerconfigjson"), get("username"), get("password")) {
            (Some(c), _, _) => c,
            (None, Some(u), Some(p)) => {
                let host = registry_host(&src.oci);
                let auth = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                json!({"auths": {host: {"auth": auth}}}).to_string()
            }
            _ => {
                return Err(format!(
                    "spec.source.secretRef: Secret {}/{} has neither .dockerconfigjson nor username and password keys",
                    self.namespace, r.name
                ));
            }
        };
        let dir = self.dir.path().join("docker");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        shared::files::write_atomic(&dir.join("config.json"), config.as_bytes(), 0o600)
            .map_err(|e| e.to_string())?;
        access.docker = Some(dir);
        Ok(access)
    }

    /// The data of Secret `name` in the PackRelease's namespace.
    async fn secret_data(
        &self,
        field: &str,
        name: &str,
    ) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
        self.data_of("Secret", name)
            .await
            .map_err(|e| format!("{field}: {e}"))?
            .ok_or_else(|| format!("{field}: Secret {}/{name} not found", self.namespace))
    }
}

/// How the render steps reach the registry.
#[derive(Default)]
struct Access {
    /// `--plain-http`, `--ca-file=...`.
    flags: Vec<String>,
    /// A Docker config directory with the credentials.
    docker: Option<PathBuf>,
}

impl Access {
    /// `DOCKER_CONFIG` for the children, when there are credentials.
    fn env(&self) -> Vec<(&'static str, &Path)> {
        self.docker
            .as_deref()
            .map(|d| ("DOCKER_CONFIG", d))
            .into_iter()
            .collect()
    }
}

/// `HOST[:PORT]` of `oci://HOST[:PORT]/REPO`.
fn registry_host(oci: &str) -> String {
    let rest = oci.strip_prefix("oci://").unwrap_or(oci);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// A pulled, rendered version.
struct Fetched {
    version: String,
    digest: String,
    stream: Vec<u8>,
    /// Digest, stream and deploy settings, hashed: what "changed" means.
    fingerprint: String,
}

impl Job<'_> {
    /// Pulls `reference` and renders it with the values. The outer error is
    /// the operator's own; the inner one a step that failed.
    async fn fetch(
        &mut self,
        spec: &Spec,
        reference: &str,
        target: &str,
        access: &Access,
    ) -> Result<Result<Fetched, String>> {
        let mut args = vec!["pull".to_string(), reference.to_string(), "-d".into()];
        args.push(self.dir.path().display().to_string());
        args.extend(access.flags.iter().cloned());
        let pulled = self.r.tools.render(&args, &access.env()).await?;
        if pulled.code != 0 {
            return Ok(Err(pulled.reason()));
        }
        let archive = String::from_utf8_lossy(&pulled.stdout).trim().to_string();
        let Some(digest) = pulled_digest(&pulled.stderr) else {
            return Ok(Err(format!("pull of {reference} named no digest")));
        };
        let version = archive_version(&archive);
        let mut args = vec![self.name.clone(), archive, "-n".into(), target.to_string()];
        if let Some(e) = &spec.environment {
            args.push(format!("--environment={e}"));
        }
        match self.values_files(spec).await {
            Ok(files) => args.extend(
                files
                    .into_iter()
                    .map(|f| format!("--values={}", f.display())),
            ),
            Err(reason) => return Ok(Err(reason)),
        }
        let rendered = self.r.tools.render(&args, &[]).await?;
        if rendered.code != 0 {
            return Ok(Err(rendered.reason()));
        }
        let mut h = Sha256::new();
        h.update(digest.as_bytes());
        h.update(&rendered.stdout);
        h.update(format!("{target}|{:?}|{}", spec.prune, spec.rollback_on_failure).as_bytes());
        Ok(Ok(Fetched {
            version,
            digest,
            stream: rendered.stdout,
            fingerprint: format!("sha256:{:x}", h.finalize()),
        }))
    }

    /// The values files, in order: each `valuesFrom`, then the inline
    /// values (0600 files in the private work directory).
    async fn values_files(&self, spec: &Spec) -> Result<Vec<PathBuf>, String> {
        let mut files = Vec::new();
        for (i, v) in spec.values_from.iter().enumerate() {
            let key = v.key.as_deref().unwrap_or("values.yaml");
            let text = match self.values_from(&v.kind, &v.name, key).await? {
                Some(t) => t,
                None if v.optional => continue,
                None => {
                    return Err(format!(
                        "valuesFrom[{i}]: {} {}/{} has no key {key} (mark it optional: true if it may be missing)",
                        v.kind, self.namespace, v.name
                    ));
                }
            };
            files.push(self.write_values(&format!("from-{i}.yaml"), &text)?);
        }
        if let Some(values) = &spec.values {
            let text = shared::yaml::to_string(values).map_err(|e| format!("spec.values: {e}"))?;
            files.push(self.write_values("inline.yaml", &text)?);
        }
        Ok(files)
    }

    async fn values_from(
        &self,
        kind: &str,
        name: &str,
        key: &str,
    ) -> Result<Option<String>, String> {
        Ok(self
            .data_of(kind, name)
            .await?
            .and_then(|d| d.get(key).map(|b| String::from_utf8_lossy(b).into_owned())))
    }

    /// The data of ConfigMap or Secret `name` in the PackRelease's
    /// namespace (`None`: it does not exist).
    async fn data_of(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, Vec<u8>>>, String> {
        let (client, ns) = (self.r.client.clone(), &self.namespace);
        let got = if kind == "Secret" {
            Api::<Secret>::namespaced(client, ns)
                .get_opt(name)
                .await
                .map(|s| {
                    s.map(|s| {
                        s.data
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k, v.0))
                            .collect()
                    })
                })
        } else {
            Api::<ConfigMap>::namespaced(client, ns)
                .get_opt(name)
                .await
                .map(|c| {
                    c.map(|c| {
                        let text = c
                            .data
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k, v.into_bytes()));
                        let binary = c.binary_data.into_iter().flatten().map(|(k, v)| (k, v.0));
                        text.chain(binary).collect()
                    })
                })
        };
        got.map_err(|e| {
            format!(
                "cannot read {kind} {ns}/{name}: {}",
                shared::error::one_line(&e.to_string())
            )
        })
    }

    fn write_values(&self, file: &str, text: &str) -> Result<PathBuf, String> {
        let path = self.dir.path().join(file);
        shared::files::write_atomic(&path, text.as_bytes(), 0o600).map_err(|e| e.to_string())?;
        Ok(path)
    }
}

/// The first object of `stream` that names a namespace other than
/// `target`, as a refusal message.
fn foreign_namespace(stream: &[u8], target: &str) -> Option<String> {
    let text = String::from_utf8_lossy(stream);
    let objects = shared::stream::parse_stream(&text, shared::stream::Origin::Stdin).ok()?;
    objects.iter().find_map(|o| {
        let ns = o.object["metadata"]["namespace"].as_str()?;
        (ns != target).then(|| {
            format!(
                "{}/{} names namespace {ns}, outside the PackRelease's {target}; the operator runs without --allow-cross-namespace",
                o.object["kind"].as_str().unwrap_or("object"),
                o.object["metadata"]["name"].as_str().unwrap_or("")
            )
        })
    })
}

/// The manifest digest in `pull`'s "pulled REF@sha256:... to PATH" line.
fn pulled_digest(stderr: &str) -> Option<String> {
    let at = stderr.find("@sha256:")?;
    let hex: String = stderr[at + 8..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| format!("sha256:{hex}"))
}

/// `1.2.0` of `.../webapp-1.2.0.tgz`.
fn archive_version(path: &str) -> String {
    let file = Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file.strip_suffix(".tgz").unwrap_or(&file);
    // Names may hold dashes; versions start with a digit after the last
    // dash that is followed by one.
    let mut at = None;
    for (i, c) in stem.char_indices() {
        if c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()) {
            at = Some(i + 1);
            break;
        }
    }
    at.map_or_else(String::new, |i| stem[i..].to_string())
}

impl Job<'_> {
    /// `pack-crd apply | pack-waves apply`; on success the new state is
    /// recorded, on failure the fingerprint is, so the same broken input
    /// is not deployed again every interval.
    async fn deploy(&mut self, spec: &Spec, target: &str, f: &Fetched) -> Result<&'static str> {
        self.status.set(
            "Reconciling",
            true,
            "Deploying",
            &format!("deploying version {}", f.version),
            self.generation,
        );
        self.patch_status().await?;
        let crds = self
            .r
            .tools
            .crd(&["apply".into()], f.stream.clone())
            .await?;
        let applied = if crds.code != 0 {
            crds
        } else {
            let mut args = vec![
                "apply".to_string(),
                self.name.clone(),
                "-n".into(),
                target.to_string(),
            ];
            args.push(format!("--timeout={}s", self.r.retry.timeout.as_secs()));
            if spec.prune == Some(false) {
                args.push("--no-prune".into());
            }
            if spec.rollback_on_failure {
                args.push("--rollback-on-failure".into());
            }
            self.r.tools.waves(&args, Some(crds.stdout)).await?
        };
        if applied.code != 0 {
            return Ok(self.deploy_failed(spec, f, &applied).await);
        }
        self.status.last_applied_version = Some(f.version.clone());
        self.status.last_applied_digest = Some(f.digest.clone());
        self.status.last_applied_fingerprint = Some(f.fingerprint.clone());
        self.status.last_failed_fingerprint = None;
        self.status.revision = self.revision(target).await;
        let msg = format!(
            "version {} ({}) deployed as revision {}",
            f.version,
            f.digest,
            self.status.revision.unwrap_or(0)
        );
        self.status
            .set("Ready", true, "Deployed", &msg, self.generation);
        self.event(EventType::Normal, "Deployed", &msg).await;
        Ok("deployed")
    }

    async fn deploy_failed(&mut self, spec: &Spec, f: &Fetched, out: &Output) -> &'static str {
        self.status.last_failed_fingerprint = Some(f.fingerprint.clone());
        let (reason, msg) = if spec.rollback_on_failure {
            (
                "RolledBack",
                format!(
                    "version {} failed and was rolled back: {}",
                    f.version,
                    out.reason()
                ),
            )
        } else {
            (
                "DeployFailed",
                format!("version {} failed: {}", f.version, out.reason()),
            )
        };
        self.status
            .set("Ready", false, reason, &msg, self.generation);
        self.event(EventType::Warning, reason, &msg).await;
        "failed"
    }

    /// The release's newest revision, from `pack-waves history -o json`.
    async fn revision(&self, target: &str) -> Option<i64> {
        let args = ["history", &self.name, "-n", target, "-o", "json"].map(String::from);
        let out = self.r.tools.waves(&args, None).await.ok()?;
        let rows: Value = serde_json::from_slice(&out.stdout).ok()?;
        rows.as_array()?
            .iter()
            .filter_map(|r| r["revision"].as_i64())
            .max()
    }

    /// `pack-drift RELEASE` (exit 1: drift), and `pack-drift sync` with
    /// `autoSync`.
    async fn drift(&mut self, spec: &Spec, target: &str) -> Result<()> {
        let args = [&self.name, "-n", target].map(String::from);
        let out = self.r.tools.drift(&args).await?;
        let was = self.status.is("DriftDetected");
        match out.code {
            0 => self
                .status
                .set("DriftDetected", false, "NoDrift", "", self.generation),
            1 if spec.auto_sync => {
                let sync = ["sync", &self.name, "-n", target].map(String::from);
                let fixed = self.r.tools.drift(&sync).await?;
                if fixed.code == 0 {
                    let msg = "drift corrected (autoSync)";
                    self.status.set(
                        "DriftDetected",
                        false,
                        "DriftCorrected",
                        msg,
                        self.generation,
                    );
                    self.event(EventType::Normal, "DriftCorrected", msg).await;
                } else {
                    let msg = format!("drift found; correction failed: {}", fixed.reason());
                    self.status.set(
                        "DriftDetected",
                        true,
                        "CorrectionFailed",
                        &msg,
                        self.generation,
                    );
                    self.event(EventType::Warning, "CorrectionFailed", &msg)
                        .await;
                }
            }
            1 => {
                let msg = format!("{}; autoSync is off", drift_summary(&out));
                self.status.set(
                    "DriftDetected",
                    true,
                    "DriftDetected",
                    &msg,
                    self.generation,
                );
                if !was {
                    self.event(EventType::Warning, "DriftDetected", &msg).await;
                }
            }
            _ => shared::output::warn(&format!(
                "PackRelease {}/{}: drift check failed: {}",
                self.namespace,
                self.name,
                out.reason()
            )),
        }
        self.r
            .metrics
            .drift(&self.namespace, &self.name, self.status.is("DriftDetected"));
        Ok(())
    }

    /// Writes the status; the returned object is the operator's new view.
    async fn finish(
        &mut self,
        result: &'static str,
        again: Option<Duration>,
    ) -> Result<(&'static str, Outcome)> {
        self.status.observed_generation = Some(self.generation);
        self.status.next_poll_time = again.map(|d| {
            let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(d.as_secs() as i64);
            at.round(jiff::Unit::Second).unwrap_or(at).to_string()
        });
        let written = self.patch_status().await?;
        Ok((
            result,
            Outcome {
                again,
                written: Some(written),
            },
        ))
    }

    async fn patch_status(&self) -> Result<DynamicObject> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.r.client.clone(), &self.namespace, &spec::resource());
        api.patch_status(
            &self.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": self.status})),
        )
        .await
        .with_context(|| {
            format!(
                "cannot write the status of PackRelease {}/{}",
                self.namespace, self.name
            )
        })
    }

    /// Logs and records an Event on the PackRelease (notes come from the
    /// plugins' one-line messages, which never hold a secret value).
    async fn event(&self, type_: EventType, reason: &str, note: &str) {
        shared::output::info(&format!(
            "PackRelease {}/{}: {reason}: {note}",
            self.namespace, self.name
        ));
        let reference = ObjectReference {
            api_version: Some(spec::resource().api_version),
            kind: Some("PackRelease".into()),
            name: Some(self.name.clone()),
            namespace: Some(self.namespace.clone()),
            uid: self.obj.metadata.uid.clone(),
            resource_version: self.obj.metadata.resource_version.clone(),
            ..Default::default()
        };
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.r.recorder.publish(&ev, &reference).await {
            shared::output::warn(&format!(
                "PackRelease {}/{}: cannot record the event {reason}: {}",
                self.namespace,
                self.name,
                shared::error::one_line(&e.to_string())
            ));
        }
    }
}

/// "N object(s) drifted" from `pack-drift`'s report.
fn drift_summary(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let n = text.lines().filter(|l| l.starts_with("DRIFT")).count();
    if n == 0 {
        "drift found".into()
    } else {
        format!("{n} object(s) drifted")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pulled_digest_and_version_are_read_from_pull() {
        let d = "a".repeat(64);
        assert_eq!(
            pulled_digest(&format!(
                "pulled 127.0.0.1:5000/packs/web@sha256:{d} to /t/web-app-1.2.0.tgz\n"
            )),
            Some(format!("sha256:{d}"))
        );
        assert_eq!(pulled_digest("pulled x@sha256:abc to y"), None);
        assert_eq!(archive_version("/t/web-app-1.2.0.tgz"), "1.2.0");
        assert_eq!(archive_version("/t/web-1.3.0-rc.1.tgz"), "1.3.0-rc.1");
        assert_eq!(
            registry_host("oci://127.0.0.1:5000/packs/web"),
            "127.0.0.1:5000"
        );
    }

    #[test]
    fn objects_in_another_namespace_are_found() {
        let stream = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: kube-system}\n";
        let msg = foreign_namespace(stream, "apps").unwrap();
        assert!(
            msg.starts_with("ConfigMap/b names namespace kube-system"),
            "{msg}"
        );
        let own = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: apps}\n";
        assert_eq!(foreign_namespace(own, "apps"), None);
    }
}
