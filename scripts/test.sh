#!/usr/bin/env bash
# The test command: on a fresh machine installs what is missing (apt
# packages; kube-apiserver and kube-controller-manager built once from
# Debian's source package and cached), then runs the format check, clippy
# with -D warnings, the unit tests and the end-to-end tests against a real
# local API server (started and stopped by the test harness itself).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { echo "==> $*" >&2; }

step "installing test dependencies (cached after the first run)"
bash tests/cluster/install.sh >/dev/null
bash tests/providers/install.sh >/dev/null
python3 scripts/helm.py >/dev/null   # the Helm peer for the pack-drift --helm test

for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component" >&2
  fi
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "building the plugins"
cargo build --workspace --bins --locked

step "unit and end-to-end tests"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

# Provider tests use values starting with SENTINEL-: none may reach any output.
step "checking test output for leaked secret values"
if grep -n "SENTINEL-" "$log"; then
  echo "error: a secret value appeared in the test output (lines above)" >&2
  exit 1
fi
