//! The per-release lock: a coordination.k8s.io/v1 Lease
//! `sh.sherpack.lock.<name>` in the release namespace, held (and renewed)
//! for the duration of an apply, rollback or uninstall. A second holder
//! fails at once naming who holds it and since when, or waits.
//!
//! A lock is never permanent: a lease not renewed within its duration
//! (the holder was killed, or lost the API server) is taken over with a
//! warning, and so is one held by a process of this host that no longer
//! runs. [`release_all_now`] gives back every lock this process holds
//! (the second Ctrl-C, see [`crate::interrupt`]).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::{DeleteParams, PostParams};

/// Leases this process holds: (API, lease name).
static HELD: std::sync::Mutex<Vec<(Api<Lease>, String)>> = std::sync::Mutex::new(Vec::new());

/// Gives back every lock this process holds (best effort, for a process
/// about to exit).
pub async fn release_all_now() {
    let held: Vec<(Api<Lease>, String)> = match HELD.lock() {
        Ok(mut h) => std::mem::take(&mut *h),
        Err(_) => return,
    };
    for (api, name) in held {
        if let Err(e) = api.delete(&name, &DeleteParams::default()).await {
            crate::output::warn(&format!(
                "the release lock {name} was not released: {}; the next command takes it over once it expires ({LEASE_SECONDS}s)",
                crate::Error::api("delete", e)
            ));
        }
    }
}

/// Seconds a lease stays valid without renewal.
pub const LEASE_SECONDS: i32 = 30;

/// Errors of locking.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds the lock.
    #[error(
        "release {release} is locked by {holder} since {since} (an apply, rollback or uninstall is running); retry later or pass --wait-for-lock"
    )]
    Held {
        /// Release.
        release: String,
        /// Holder identity.
        holder: String,
        /// Acquire time.
        since: String,
    },
    /// The API call failed.
    #[error("release lock {name}: {source}")]
    Api {
        /// Lease name.
        name: String,
        /// Error.
        source: kube::Error,
    },
}

/// A held lock; renews itself until [`Lock::release`] (or drop, which stops renewing).
pub struct Lock {
    api: Api<Lease>,
    name: String,
    renewer: tokio::task::JoinHandle<()>,
}

/// Who we are, for the holder field.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("{user}@{host} pid {}", std::process::id())
}

/// The host and pid of a holder identity written by [`identity`].
fn holder_host_pid(holder: &str) -> Option<(&str, u32)> {
    let (who, pid) = holder.rsplit_once(" pid ")?;
    let host = who.rsplit_once('@')?.1;
    Some((host, pid.trim().parse().ok()?))
}

/// The holder is a process of this host that no longer runs (its pid is
/// gone, or is now another program).
fn holder_is_gone(holder: &str) -> bool {
    let Some((host, pid)) = holder_host_pid(holder) else {
        return false;
    };
    let ours = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    if host != ours || pid == std::process::id() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/cmdline")) {
        Ok(cmd) => !cmd.contains("kubectl-pack"),
        Err(_) => true,
    }
}

fn lease_name(release: &str) -> String {
    format!("sh.sherpack.lock.{release}")
}

impl Lock {
    /// Takes the lock, failing at once if held, or waiting up to `wait`.
    pub async fn acquire(
        client: kube::Client,
        namespace: &str,
        release: &str,
        wait: Option<Duration>,
    ) -> Result<Lock, LockError> {
        let api: Api<Lease> = Api::namespaced(client, namespace);
        let name = lease_name(release);
        let deadline = wait.map(|w| std::time::Instant::now() + w);
        let me = identity();
        loop {
            match Self::try_take(&api, &name, release, &me).await {
                Ok(()) => break,
                Err(LockError::Held { .. })
                    if deadline.is_some_and(|d| std::time::Instant::now() < d) =>
                {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
        if let Ok(mut h) = HELD.lock() {
            h.push((api.clone(), name.clone()));
        }
        let (api2, name2) = (api.clone(), name.clone());
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs((LEASE_SECONDS / 3) as u64)).await;
                if let Ok(mut l) = api2.get(&name2).await
                    && let Some(spec) = l.spec.as_mut()
                {
                    spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
                    let _ = api2.replace(&name2, &PostParams::default(), &l).await;
                }
            }
        });
        Ok(Lock { api, name, renewer })
    }

    async fn try_take(
        api: &Api<Lease>,
        name: &str,
        release: &str,
        me: &str,
    ) -> Result<(), LockError> {
        let err = |source| LockError::Api {
            name: name.to_string(),
            source,
        };
        let now = jiff::Timestamp::now();
        let spec = LeaseSpec {
            holder_identity: Some(me.to_string()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        };
        match api.get_opt(name).await.map_err(err)? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        labels: Some(
                            [(
                                "app.kubernetes.io/managed-by".to_string(),
                                "kubectl-pack".to_string(),
                            )]
                            .into(),
                        ),
                        ..Default::default()
                    },
                    spec: Some(spec),
                };
                match api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(()),
                    // Someone created it between our get and create.
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        Box::pin(Self::try_take(api, name, release, me)).await
                    }
                    Err(e) => Err(err(e)),
                }
            }
            Some(mut existing) => {
                let s = existing.spec.clone().unwrap_or_default();
                let renewed = s
                    .renew_time
                    .as_ref()
                    .map(|t| t.0)
                    .or(s.acquire_time.as_ref().map(|t| t.0));
                let duration = s.lease_duration_seconds.unwrap_or(LEASE_SECONDS) as i64;
                let expired = renewed.is_none_or(|t| t.as_second() + duration < now.as_second());
                let holder = s.holder_identity.clone().unwrap_or_default();
                let gone = !expired && holder_is_gone(&holder);
                if !expired && !gone && s.holder_identity.is_some() {
                    return Err(LockError::Held {
                        release: release.to_string(),
                        holder: s.holder_identity.unwrap_or_default(),
                        since: s
                            .acquire_time
                            .map(|t| {
                                t.0.round(jiff::Unit::Second)
                                    .map(|x| x.to_string())
                                    .unwrap_or_default()
                            })
                            .unwrap_or_default(),
                    });
                }
                existing.spec = Some(spec);
                // resourceVersion makes this a compare-and-swap.
                api.replace(name, &PostParams::default(), &existing)
                    .await
                    .map_err(err)?;
                if !holder.is_empty() {
                    crate::output::warn(&format!(
                        "took over the lock of release {release} from {holder}: {}",
                        if gone {
                            "that process no longer runs"
                        } else {
                            "its lease expired (the process holding it stopped or lost the API server)"
                        }
                    ));
                }
                Ok(())
            }
        }
    }

    /// Gives the lock back (a failure is a warning: the lease expires).
    pub async fn release(self) {
        self.renewer.abort();
        if let Ok(mut h) = HELD.lock() {
            h.retain(|(_, n)| *n != self.name);
        }
        match self.api.delete(&self.name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => crate::output::warn(&format!(
                "the release lock {} was not released: {}; the next command takes it over once it expires ({LEASE_SECONDS}s)",
                self.name,
                crate::Error::api("delete", e)
            )),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_identity_reads_back() {
        assert_eq!(holder_host_pid("ann@box-1 pid 4242"), Some(("box-1", 4242)));
        assert_eq!(holder_host_pid("someone else"), None);
        assert!(!holder_is_gone(&identity()), "we run");
        assert!(!holder_is_gone("ann@another-host pid 1"));
    }
}
