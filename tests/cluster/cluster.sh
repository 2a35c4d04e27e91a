#!/usr/bin/env bash
# A real local Kubernetes API server for tests and demos: etcd +
# kube-apiserver + kube-controller-manager on free loopback ports, with a
# fresh data directory, an admin user and an unprivileged user.
#
# The Kubernetes version is $PACK_KUBE_VERSION, default the newest one
# install.sh builds (`tests/cluster/install.sh --versions` lists them).
#
#   tests/cluster/cluster.sh up   [--dir DIR] [--watch-pid PID]
#       builds the binaries once (install.sh), starts everything, waits for
#       /readyz and prints `export KUBECONFIG=DIR/kubeconfig` on stdout.
#       With --watch-pid the cluster stops by itself (and DIR is removed)
#       once process PID has exited: the test harness uses this so that a
#       failing or killed test run never leaves servers behind.
#   tests/cluster/cluster.sh down [--dir DIR]
#   tests/cluster/cluster.sh stop-apiserver|start-apiserver [--dir DIR]
#       Stop or restart only kube-apiserver (etcd keeps the data), for tests
#       of what happens when the API server goes away in the middle of work.
#       stops everything by PID and removes DIR.
#
# DIR defaults to ${TMPDIR:-/tmp}/kubectl-pack-cluster. Files in DIR:
#   kubeconfig   contexts `admin` (current; system:masters) and `developer`
#                (no RBAC bindings at all), both with namespace `default`
#   env          ADMIN_TOKEN, DEVELOPER_TOKEN, SERVER, ETCD (shell syntax)
#   *.log        server logs, kept until `down`
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:-}
shift || true
DIR=${TMPDIR:-/tmp}/kubectl-pack-cluster
WATCH_PID=
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --watch-pid) WATCH_PID=$2; shift 2 ;;
    *) echo "cluster.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

log() { echo "[cluster] $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

stop_all() {
  local d=$1 pid
  [ -d "$d" ] || return 0
  d=$(cd "$d" && pwd)
  # The watchdog first (unless it is the one asking: it ends by itself).
  if [ -f "$d/watchdog.pid" ] && [ "$(cat "$d/watchdog.pid")" != "$PPID" ]; then
    kill "$(cat "$d/watchdog.pid")" 2>/dev/null || true
  fi
  for name in kube-controller-manager kube-apiserver etcd; do
    [ -f "$d/$name.pid" ] || continue
    pid=$(cat "$d/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # Anything else still using the directory (a server restarted by hand).
  pkill -9 -f -- "$d/" 2>/dev/null || true
  rm -rf "$d"
}

case "$cmd" in
  down)
    stop_all "$DIR"
    log "stopped; removed $DIR"
    exit 0
    ;;
  up) ;;
  stop-apiserver)
    pid=$(cat "$DIR/kube-apiserver.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    exit 0
    ;;
  start-apiserver)
    # shellcheck disable=SC1091
    . "$DIR/env"
    eval "setsid $(cat "$DIR/kube-apiserver.cmd") >>\"$DIR/kube-apiserver.log\" 2>&1 < /dev/null &"
    echo $! > "$DIR/kube-apiserver.pid"
    for _ in $(seq 1 240); do
      if [ "$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" "$SERVER/readyz")" = 200 ]; then exit 0; fi
      sleep 0.25
    done
    log "kube-apiserver not ready after restart; see $DIR/kube-apiserver.log"; exit 1
    ;;
  *)
    echo "usage: cluster.sh up [--dir DIR] [--watch-pid PID] | down | stop-apiserver | start-apiserver [--dir DIR]" >&2
    exit 2
    ;;
esac

if [ -f "$DIR/kube-apiserver.pid" ] && kill -0 "$(cat "$DIR/kube-apiserver.pid")" 2>/dev/null; then
  log "already running in $DIR"
  echo "export KUBECONFIG=$DIR/kubeconfig"
  exit 0
fi

BIN=$("$HERE/install.sh" "${PACK_KUBE_VERSION:-}")
rm -rf "$DIR"
mkdir -p "$DIR/certs"
DIR=$(cd "$DIR" && pwd)
# If anything below fails, leave nothing running.
trap 'stop_all "$DIR"' ERR

ETCD_PORT=$(free_port); ETCD_PEER=$(free_port); API_PORT=$(free_port); KCM_PORT=$(free_port)
ADMIN_TOKEN=$(openssl rand -hex 24)
DEVELOPER_TOKEN=$(openssl rand -hex 24)
SERVER=https://127.0.0.1:$API_PORT

openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null
cat > "$DIR/tokens.csv" <<TOK
$ADMIN_TOKEN,admin,admin,system:masters
$DEVELOPER_TOKEN,developer,developer
TOK
chmod 600 "$DIR/tokens.csv" "$DIR/sa.key"

start() { # name logfile args...
  local name=$1; shift
  printf '%q ' "$@" > "$DIR/$name.cmd"
  setsid "$@" >"$DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$DIR/$name.pid"
}

start etcd etcd --name pack-test --data-dir "$DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "pack-test=http://127.0.0.1:$ETCD_PEER"

start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --cert-dir="$DIR/certs" \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$DIR/sa.pub" \
  --service-account-signing-key-file="$DIR/sa.key" \
  --token-auth-file="$DIR/tokens.csv" \
  --authorization-mode=RBAC \
  --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=none \
  --disable-admission-plugins=ServiceAccount \
  --allow-privileged=true

ready=0
for _ in $(seq 1 240); do
  if ! kill -0 "$(cat "$DIR/kube-apiserver.pid")" 2>/dev/null; then
    log "kube-apiserver exited; last lines of its log:"; tail -n 20 "$DIR/kube-apiserver.log" >&2; false
  fi
  if [ "$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" "$SERVER/readyz")" = 200 ]; then
    ready=1; break
  fi
  sleep 0.25
done
[ "$ready" = 1 ] || { log "kube-apiserver not ready after 60 s; see $DIR/kube-apiserver.log"; false; }

cat > "$DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $SERVER
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $ADMIN_TOKEN
- name: developer
  user:
    token: $DEVELOPER_TOKEN
contexts:
- name: admin
  context:
    cluster: local
    user: admin
    namespace: default
- name: developer
  context:
    cluster: local
    user: developer
    namespace: default
current-context: admin
KC
chmod 600 "$DIR/kubeconfig"
cat > "$DIR/env" <<ENV
SERVER=$SERVER
ADMIN_TOKEN=$ADMIN_TOKEN
DEVELOPER_TOKEN=$DEVELOPER_TOKEN
ETCD=http://127.0.0.1:$ETCD_PORT
KUBE_VERSION=$("$BIN/kube-apiserver" --version | sed 's/^Kubernetes v//')
ENV

start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig="$DIR/kubeconfig" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
  --service-account-private-key-file="$DIR/sa.key" \
  --use-service-account-credentials=false \
  --controllers='*,-serviceaccount-token-controller'

trap - ERR
if [ -n "$WATCH_PID" ]; then
  # Watchdog: outlives this script, stops the cluster when WATCH_PID is gone.
  setsid bash -c "while kill -0 $WATCH_PID 2>/dev/null && [ -d '$DIR' ]; do sleep 0.5; done; '$HERE/cluster.sh' down --dir '$DIR' >/dev/null 2>&1" \
    >/dev/null 2>&1 < /dev/null &
  echo $! > "$DIR/watchdog.pid"
fi
log "ready at $SERVER (data in $DIR)"
echo "export KUBECONFIG=$DIR/kubeconfig"
