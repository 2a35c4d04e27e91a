//! End-to-end tests of the kubectl pack suite: the built plugin binaries and
//! the shared crate against a real kube-apiserver + etcd (see
//! `tests/harness`). One test binary, one cluster per run.
// Tests state their expectations with unwrap: a failure is the report.
#![allow(clippy::unwrap_used)]

mod apply;
mod authoring;
mod crd;
mod drift;
mod golden;
mod hostile;
mod interrupt;
mod krew;
mod kubeconfig;
mod operator;
mod ownership;
mod pipes;
mod plugins;
mod real_charts;
mod registry;
mod render;
mod secrets;
mod secrets_providers;
mod server;
mod waves;
