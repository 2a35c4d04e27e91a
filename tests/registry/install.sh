#!/usr/bin/env bash
# Installs what the registry tests run for real: Debian's docker-registry
# (CNCF distribution 2.8, the OCI registry) and htpasswd (apache2-utils,
# bcrypt password files for the registry's basic auth). The tests start
# their own registries on loopback with private configs (harness::registry).
set -euo pipefail
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "installing apt packages: ${need[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >&2
fi
