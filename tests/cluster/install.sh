#!/usr/bin/env bash
# Installs what the local test cluster needs and builds kube-apiserver and
# kube-controller-manager from Debian's kubernetes source package, once per
# machine. The binaries are cached outside the checkout, keyed by version:
#   ${PACK_CACHE_DIR:-$HOME/.cache/kubectl-pack}/kube-<version>/bin/
# Prints the bin directory on stdout; everything else goes to stderr.
# Idempotent: a second run with the cache present does nothing but print.
set -euo pipefail

KUBE_VERSION=1.20.2
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
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)
built=1
for b in kube-apiserver kube-controller-manager; do
  [ -x "$BIN/$b" ] || built=0
done
if [ "$built" -eq 0 ]; then
  command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
  command -v rsync >/dev/null 2>&1 || need_apt+=(rsync)
  command -v make >/dev/null 2>&1 || need_apt+=(make)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_apt+=(golang-github-modern-go-reflect2-dev)
fi

if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing apt packages: ${need_apt[*]}"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}" >&2
fi

if [ "$built" -eq 1 ]; then
  echo "$BIN"
  exit 0
fi

# Debian source entry (the machines list only binary suites).
if ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "adding a bookworm deb-src entry"
  as_root tee /etc/apt/sources.list.d/bookworm-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  as_root apt-get update -qq >&2
fi

WORK="$CACHE/build-$KUBE_VERSION"
mkdir -p "$WORK"
cd "$WORK"
if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
  log "downloading the kubernetes source package"
  apt-get source --download-only kubernetes >&2
fi
SRCDIR="$WORK/kubernetes-$KUBE_VERSION"
if [ ! -d "$SRCDIR" ]; then
  log "unpacking"
  tar xzf kubernetes_*.orig.tar.gz
  [ -d "$SRCDIR" ] || { log "unexpected layout: no $SRCDIR after unpacking"; exit 1; }
  # kubernetes 1.20 vendors reflect2 v1.0.1, which crashes on Go >= 1.18 the
  # first time a custom resource is created; use Debian's v1.0.2 instead.
  R="$SRCDIR/vendor/github.com/modern-go/reflect2"
  rm -f "$R"/*.go "$R"/*.s
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$R"/
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$R"/ 2>/dev/null || true
  rm -f "$R"/*_test.go
fi

cd "$SRCDIR"
export GOPATH="$SRCDIR/.go" CGO_ENABLED=0
mkdir -p .go/src/k8s.io
[ -e .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
export HOME="$WORK/home"
mkdir -p "$HOME"
for b in kube-apiserver kube-controller-manager; do
  if [ ! -x "_output/local/bin/linux/amd64/$b" ]; then
    log "building $b (several minutes)"
    if ! make WHAT="cmd/$b" >&2; then
      rm -rf _output
      log "build of $b failed"
      exit 1
    fi
  fi
done
mkdir -p "$BIN"
cp _output/local/bin/linux/amd64/kube-apiserver _output/local/bin/linux/amd64/kube-controller-manager "$BIN"/
cd "$CACHE"
rm -rf "$WORK"
log "binaries cached in $BIN"
echo "$BIN"
