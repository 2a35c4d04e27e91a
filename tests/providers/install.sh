#!/usr/bin/env bash
# Installs what the secrets tests need besides the API server: Debian's
# `age` CLI (the Go reference implementation, for interop checks) and a
# Python venv with moto[server] (AWS emulator), cryptography and PyYAML.
# Idempotent; the venv is cached in ${PACK_CACHE_DIR:-~/.cache/kubectl-pack}/venv.
set -euo pipefail
CACHE="${PACK_CACHE_DIR:-$HOME/.cache/kubectl-pack}"
if ! command -v age >/dev/null || ! command -v age-keygen >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq age >/dev/null
fi
VENV="$CACHE/venv"
if [ ! -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/python" -c 'import cryptography, yaml, boto3' 2>/dev/null; then
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check 'moto[server]>=5,<6' 'cryptography>=42' 'PyYAML>=6' 'boto3>=1.34'
fi
echo "secrets test tools ready: $(command -v age), $VENV"
