#!/usr/bin/env bash
# Installs what the local test cluster needs and builds kube-apiserver and
# kube-controller-manager of one Kubernetes release from the Go module proxy,
# once per machine. The binaries are cached outside the checkout, keyed by
# version:
#   ${PACK_CACHE_DIR:-$HOME/.cache/kubectl-pack}/kube-<version>/bin/
#
#   tests/cluster/install.sh [VERSION]      VERSION: 1.37.2 (newest, default),
#                                           1.30.14 (oldest supported), or
#                                           $PACK_KUBE_VERSION
#   tests/cluster/install.sh --versions     prints the supported versions,
#                                           newest first
#
# How: a scratch module that requires k8s.io/kubernetes vX.Y.Z and replaces
# every staging module (k8s.io/api, apimachinery, apiserver, client-go, ...,
# which kubernetes' own go.mod pins at v0.0.0 and points at local folders) by
# its published v0.Y.Z; then `go build` of cmd/kube-apiserver and
# cmd/kube-controller-manager with the version stamped in. etcd is Debian's
# etcd-server (3.4), which these releases accept.
#
# Prints the bin directory on stdout; progress goes to stderr, the Go build's
# own output to kube-<version>/build.log (kept out of the test log).
# Idempotent: with the binaries cached it does nothing but print.
set -euo pipefail

NEWEST=1.37.2
OLDEST=1.30.14
if [ "${1:-}" = "--versions" ]; then
  echo "$NEWEST"
  echo "$OLDEST"
  exit 0
fi
KUBE_VERSION=${1:-${PACK_KUBE_VERSION:-$NEWEST}}
KUBE_VERSION=${KUBE_VERSION#v}
case "$KUBE_VERSION" in
  1.[0-9]*.[0-9]*) ;;
  *) echo "install.sh: '$KUBE_VERSION' is not a Kubernetes release such as $NEWEST" >&2; exit 2 ;;
esac
MINOR=$(echo "$KUBE_VERSION" | cut -d. -f2)
if [ "$MINOR" -lt 30 ]; then
  echo "install.sh: Kubernetes $KUBE_VERSION is older than the oldest supported minor (1.30)" >&2
  exit 2
fi

CACHE=${PACK_CACHE_DIR:-$HOME/.cache/kubectl-pack}
BIN="$CACHE/kube-$KUBE_VERSION/bin"

log() { echo "[cluster/install] $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

need_apt=()
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need_apt+=(etcd-client)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing apt packages: ${need_apt[*]}"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}" >&2
fi

built() { [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]; }
if built; then
  echo "$BIN"
  exit 0
fi
# One build per version at a time (parallel test runs on a fresh machine).
mkdir -p "$CACHE"
exec 9>"$CACHE/kube-$KUBE_VERSION.lock"
flock 9
if built; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || {
  log "no Go toolchain on PATH: Kubernetes $KUBE_VERSION is built from Go modules (Go 1.26 or newer)"
  exit 1
}

WORK="$CACHE/kube-$KUBE_VERSION/build"
LOGFILE="$CACHE/kube-$KUBE_VERSION/build.log"
rm -rf "$WORK"
mkdir -p "$WORK"
: > "$LOGFILE"
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$WORK/gocache" GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
export GOPROXY=${GOPROXY:-https://proxy.golang.org}

started=$(date +%s)
log "building Kubernetes $KUBE_VERSION from Go modules (once per machine, about 6 minutes on 2 cores; log: $LOGFILE)"
cd "$WORK"
if ! curl -sSf "$GOPROXY/k8s.io/kubernetes/@v/v$KUBE_VERSION.mod" -o kubernetes.mod 2>>"$LOGFILE"; then
  log "the Go module proxy does not serve k8s.io/kubernetes v$KUBE_VERSION (see $LOGFILE)"
  exit 1
fi
go_directive=$(awk '$1 == "go" { print $2; exit }' kubernetes.mod)
{
  echo "module kubectl-pack.local/kube-build"
  echo
  echo "go $go_directive"
  echo
  echo "require k8s.io/kubernetes v$KUBE_VERSION"
  echo
  echo "replace ("
  # kubernetes' own go.mod: `k8s.io/api => ./staging/src/k8s.io/api`, ...
  awk -v v="v0.${KUBE_VERSION#1.}" '$2 == "=>" && $3 ~ /^\.\/staging\/src\// { print "\t" $1 " => " $1 " " v }' kubernetes.mod
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

// Package tools pins the two commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
if ! go mod tidy >>"$LOGFILE" 2>&1; then
  log "go mod tidy failed for Kubernetes $KUBE_VERSION; last lines of $LOGFILE:"
  tail -n 15 "$LOGFILE" >&2
  exit 1
fi
pkgs=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  pkgs="$pkgs -X $p.gitVersion=v$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
mkdir -p out
if ! go build -trimpath -ldflags "-s -w $pkgs" -o out/ \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager >>"$LOGFILE" 2>&1; then
  log "go build of Kubernetes $KUBE_VERSION failed; last lines of $LOGFILE:"
  tail -n 15 "$LOGFILE" >&2
  exit 1
fi
got=$(out/kube-apiserver --version 2>&1)
[ "$got" = "Kubernetes v$KUBE_VERSION" ] || { log "built kube-apiserver reports '$got', expected v$KUBE_VERSION"; exit 1; }
mkdir -p "$BIN"
for b in kube-apiserver kube-controller-manager; do
  cp "out/$b" "$BIN/$b.tmp"
  mv "$BIN/$b.tmp" "$BIN/$b"
done
cd "$CACHE"
rm -rf "$WORK"
log "Kubernetes $KUBE_VERSION built in $(( $(date +%s) - started )) s; binaries cached in $BIN"
echo "$BIN"
