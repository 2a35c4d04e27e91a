#!/usr/bin/env bash
# The test command: on a fresh machine installs what is missing (apt
# packages; kube-apiserver and kube-controller-manager of the newest and the
# oldest supported Kubernetes built once from Go modules and cached; Helm 4,
# Helm 3 and kubectl 1.35 as peers), then runs the format check, clippy with
# -D warnings, the unit tests and the end-to-end tests against a real local
# API server of the newest version (started and stopped by the test harness
# itself), then the end-to-end tests again on the oldest supported version.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { echo "==> $*" >&2; }

step "installing test dependencies (cached after the first run)"
# Read the whole list before picking (a `| head -n 1` under pipefail would
# fail the script whenever install.sh is still writing when head exits).
mapfile -t VERSIONS < <(bash tests/cluster/install.sh --versions)
[ "${#VERSIONS[@]}" -gt 0 ] || { echo "error: tests/cluster/install.sh --versions printed nothing" >&2; exit 1; }
NEWEST=${VERSIONS[0]}
OLDEST=${VERSIONS[${#VERSIONS[@]}-1]}
bash tests/providers/install.sh >/dev/null
bash tests/registry/install.sh >/dev/null
python3 scripts/peers.py all >/dev/null   # Helm 4, kubectl 1.35, Helm 3
bash tests/cluster/install.sh "$NEWEST" >/dev/null
bash tests/cluster/install.sh "$OLDEST" >/dev/null

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

step "unit and end-to-end tests (Kubernetes $NEWEST)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
PACK_KUBE_VERSION=$NEWEST cargo test --workspace --locked 2>&1 | tee "$log"

step "end-to-end tests on the oldest supported Kubernetes ($OLDEST)"
# The same feature set as above (--workspace): nothing is rebuilt.
PACK_KUBE_VERSION=$OLDEST cargo test --workspace --locked --test e2e 2>&1 | tee -a "$log"

# Provider tests use values starting with SENTINEL-: none may reach any output.
step "checking test output for leaked secret values"
if grep -n "SENTINEL-" "$log"; then
  echo "error: a secret value appeared in the test output (lines above)" >&2
  exit 1
fi
