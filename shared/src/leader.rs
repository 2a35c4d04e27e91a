//! Leader election for the long-running modes: one replica acts, the
//! others wait and take over when the leader is gone.
//!
//! Built on a `coordination.k8s.io/v1` Lease through `kube-lease-manager`
//! (server-side apply of the Lease, renewal before expiry, tolerated clock
//! skew): [`Leadership::acquire`] returns once this process holds the
//! Lease; [`Leadership::lost`] resolves if it ever stops holding it (the
//! API server unreachable past the Lease's duration, or taken over), and
//! the command then stops rather than act beside a new leader.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

/// `--leader-elect` and its settings.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Leader election")]
pub struct LeaderArgs {
    /// Act only while holding a Lease: several replicas, one leader; a
    /// standby takes over within the Lease duration when the leader dies.
    #[arg(long)]
    pub leader_elect: bool,
    /// The Lease's name (default: per command and release).
    #[arg(long, value_name = "NAME", requires = "leader_elect")]
    pub leader_elect_lease: Option<String>,
    /// The Lease's namespace (default: the command's namespace; in a Pod,
    /// its own).
    #[arg(long, value_name = "NAME", requires = "leader_elect")]
    pub leader_elect_namespace: Option<String>,
    /// How long a leader's Lease lasts without renewal (e.g. 15s).
    #[arg(long, value_name = "DURATION", default_value = "15s",
          value_parser = crate::kubeconfig::positive_duration)]
    pub leader_elect_duration: Duration,
}

/// This process holds the Lease.
pub struct Leadership {
    state: watch::Receiver<bool>,
    lease: String,
}

impl LeaderArgs {
    /// With `--leader-elect`: waits for the Lease (`--leader-elect-lease`,
    /// else `default_name`) in `--leader-elect-namespace`, else
    /// `namespace`. Without it: `None` at once.
    pub async fn lead(
        &self,
        client: &kube::Client,
        namespace: &str,
        default_name: &str,
    ) -> anyhow::Result<Option<Leadership>> {
        if !self.leader_elect {
            return Ok(None);
        }
        let ns = self.leader_elect_namespace.as_deref().unwrap_or(namespace);
        let name = self.leader_elect_lease.as_deref().unwrap_or(default_name);
        Leadership::acquire(client.clone(), ns, name, self.leader_elect_duration)
            .await
            .map(Some)
    }
}

impl Leadership {
    /// Waits until this process holds Lease `name` in `namespace`.
    pub async fn acquire(
        client: kube::Client,
        namespace: &str,
        name: &str,
        duration: Duration,
    ) -> anyhow::Result<Leadership> {
        let secs = duration.as_secs().max(3);
        let lease = format!("{namespace}/{name}");
        let manager = LeaseManagerBuilder::new(client, name)
            .with_namespace(namespace)
            .with_identity(crate::release::lock::identity())
            .with_duration(secs)
            .with_grace((secs / 3).max(1))
            .with_field_manager(crate::FIELD_MANAGER)
            .build()
            .await
            .with_context(|| format!("cannot use the Lease {lease}"))?;
        let (mut state, _task) = manager.watch().await;
        if !*state.borrow_and_update() {
            crate::output::info(&format!(
                "waiting for the Lease {lease} (another replica leads)"
            ));
        }
        while !*state.borrow_and_update() {
            state
                .changed()
                .await
                .with_context(|| format!("the Lease {lease} manager stopped"))?;
        }
        crate::output::info(&format!("leading (Lease {lease})"));
        Ok(Leadership { state, lease })
    }

    /// Resolves when this process no longer holds the Lease.
    pub async fn lost(&mut self) -> String {
        loop {
            if self.state.changed().await.is_err() || !*self.state.borrow_and_update() {
                return format!(
                    "lost the Lease {}; stopping so that the new leader acts alone",
                    self.lease
                );
            }
        }
    }
}
