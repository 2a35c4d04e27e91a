#!/usr/bin/env bash
# Builds the krew release archives for the platforms buildable here
# (linux/amd64) and writes krew manifests with their sha256 filled in.
#
#   scripts/release.sh [--out DIR] [--bin-dir DIR]
#
# --out      where archives and filled manifests go (default: dist/);
#            manifests land in DIR/krew/, the templates in krew/ are untouched
# --bin-dir  package binaries already built there instead of running
#            `cargo build --release` (the tests use target/debug)
#
# Each archive holds the plugin binary, its kubectl completion helper
# (krew/complete/kubectl_complete-pack_<x>) and LICENSE, as the manifests'
# `files` entries expect.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/dist
BIN_DIR=
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --bin-dir) BIN_DIR=$2; shift 2 ;;
    *) echo "release.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
VERSION=v$(sed -n 's/^version = "\(.*\)"/\1/p;T;q' Cargo.toml)
if [ -z "$BIN_DIR" ]; then
  cargo build --release --locked --workspace --bins >&2
  BIN_DIR=$ROOT/target/release
fi
mkdir -p "$OUT/krew"
OS=linux ARCH=amd64
for plugin in render drift crd secrets waves; do
  bin=kubectl-pack_$plugin
  [ -x "$BIN_DIR/$bin" ] || { echo "release.sh: $BIN_DIR/$bin not built" >&2; exit 1; }
  stage=$(mktemp -d)
  cp "$BIN_DIR/$bin" "$stage/$bin"
  helper=kubectl_complete-pack_$plugin
  cp "krew/complete/$helper" "$stage/$helper"
  chmod 0755 "$stage/$helper"
  cp LICENSE "$stage/LICENSE"
  archive=$OUT/$bin-$VERSION-$OS-$ARCH.tar.gz
  tar -C "$stage" -czf "$archive" "$bin" "$helper" LICENSE
  rm -rf "$stage"
  sha=$(sha256sum "$archive" | cut -d' ' -f1)
  python3 - "$ROOT/krew/pack-$plugin.yaml" "$OUT/krew/pack-$plugin.yaml" "$OS" "$ARCH" "$sha" <<'PY'
import re, sys
src, dst, os_, arch, sha = sys.argv[1:]
text = open(src).read()
# Platform entries start with "  - selector:"; fill the one for os/arch.
parts = re.split(r'(?m)^(?=  - selector:)', text)
done = False
for i, part in enumerate(parts):
    if re.search(rf'(?m)^\s+os: {os_}$', part) and re.search(rf'(?m)^\s+arch: {arch}$', part):
        parts[i] = re.sub(r'(?m)^(\s+sha256: )"[0-9a-f]{64}"$', rf'\g<1>"{sha}"', part)
        done = True
if not done:
    sys.exit(f"{src}: no {os_}/{arch} platform entry")
open(dst, 'w').write(''.join(parts))
PY
  echo "$archive $sha"
done
