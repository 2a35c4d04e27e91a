//! The library shared by the five kubectl pack plugins.
//!
//! Everything that more than one plugin needs lives here, and nothing that
//! only one plugin needs: the standard kubectl flags and the client they
//! build ([`kubeconfig`]), YAML streams in and out ([`yaml`], [`stream`]),
//! object identity and kind resolution ([`identity`], [`discovery`]), when
//! a CRD is ready ([`crd`]),
//! server-side apply ([`apply`]), terminal output, the one `-o` flag and
//! exit codes ([`output`], [`jsonpath`]), the process entry point every
//! `main` calls ([`cli`]), completion through kubectl ([`complete`]),
//! `--only/--except` selectors ([`select`]), atomic file writes
//! ([`files`]), backoff and conditional fetches ([`retry`], [`poll`]),
//! leader election ([`leader`]) and
//! the typed errors they share ([`error`]).

pub mod apply;
pub mod cli;
pub mod complete;
pub mod crd;
pub mod diff;
pub mod discovery;
pub mod error;
pub mod files;
pub mod identity;
pub mod interrupt;
pub mod jsonpath;
pub mod kubeconfig;
pub mod leader;
pub mod live;
pub mod output;
pub mod poll;
pub mod probe;
pub mod release;
pub mod retry;
pub mod seal;
pub mod select;
pub mod sops;
pub mod stream;
pub mod takeover;
pub mod yaml;
mod yaml_scan;
mod yaml_values;

pub use error::{Error, Result};

/// The field manager every plugin uses for server-side apply, so that the
/// plugins see each other's fields as their own (`kubectl get -o yaml
/// --show-managed-fields` shows this name).
pub const FIELD_MANAGER: &str = "kubectl-pack";
