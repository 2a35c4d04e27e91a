#!/usr/bin/env bash
# The demo: builds the five plugins, starts a real local Kubernetes API
# server (etcd + kube-apiserver + kube-controller-manager, built once from
# Debian's source package), and shows kubectl discovering and running the
# plugins against it: pack tests, diff-env, --explain, and the rendered
# stream applied with kubectl. Stops the server and removes its data at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

bash tests/cluster/install.sh >/dev/null
cargo build --workspace --bins --locked >&2

WORK=$(mktemp -d)
CLUSTER=$WORK/cluster
cleanup() { bash tests/cluster/cluster.sh down --dir "$CLUSTER" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
eval "$(bash tests/cluster/cluster.sh up --dir "$CLUSTER")"

# Install the plugins the way krew lays them out: kubectl-pack_<name> on PATH.
mkdir -p "$WORK/bin"
for p in render drift crd secrets waves; do
  ln -s "$ROOT/target/debug/kubectl-pack_$p" "$WORK/bin/kubectl-pack_$p"
done
export PATH="$WORK/bin:$PATH"

say "kubectl version   # a real API server on loopback"
kubectl version 2>/dev/null | grep -i server
say "kubectl plugin list"
kubectl plugin list 2>/dev/null | grep kubectl-pack_ || true
for p in render drift crd secrets waves; do
  say "kubectl pack-$p --version"
  kubectl "pack-$p" --version
done
say "kubectl pack-render test examples/webapp"
kubectl pack-render test examples/webapp
say "kubectl pack-render diff-env staging production examples/webapp   # exit 1 = they differ"
kubectl pack-render diff-env staging production examples/webapp || true
say "kubectl pack-render webapp examples/webapp -n demo -e production --explain replicas"
kubectl pack-render webapp examples/webapp -n demo -e production --explain replicas
say "kubectl pack-render webapp examples/webapp -n demo -e production | kubectl apply --server-side -f -"
kubectl create namespace demo >/dev/null
kubectl pack-render webapp examples/webapp -n demo -e production | kubectl apply --server-side -f -
say "kubectl get deploy,svc,cm,secret,ingress -n demo"
kubectl get deploy,svc,cm,secret,ingress -n demo
