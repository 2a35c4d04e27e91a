#!/usr/bin/env python3
"""Pod-annotation sync at scale on the local API server: 1,000 annotated Pods
(each asking for its own Secret from the Vault stand-in), then
`kubectl pack-secrets sync -A --watch` (release build). Reports the time to
sync all 1,000, the latency from creating one more Pod to its Secret
existing, and the watcher's memory (VmRSS / VmHWM). Targets: latency < 5 s,
RSS < 100 MB. There is no standalone peer to run (External Secrets needs an
in-cluster controller with a kubelet); the numbers stand alone.

Usage: python3 bench/sync_watch.py [--pods 1000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("PACK_CACHE_DIR", os.path.expanduser("~/.cache/kubectl-pack"))
PY = os.path.join(CACHE, "venv/bin/python")


def kubectl(kubeconfig, *args, stdin=None):
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True, check=True).stdout


def rss(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                vals[k] = int(v.split()[0]) / 1024
    return vals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=1000)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "kubectl-pack-secrets"], cwd=ROOT, check=True)
    ours = os.path.join(ROOT, "target/release/kubectl-pack_secrets")
    work = tempfile.mkdtemp()
    cdir = os.path.join(work, "cluster")
    subprocess.run(["bash", os.path.join(ROOT, "tests/cluster/cluster.sh"), "up", "--dir", cdir, "--watch-pid", str(os.getpid())], check=True, stdout=subprocess.DEVNULL)
    kc = os.path.join(cdir, "kubeconfig")
    state = {"vault_token": "t", "vault": {f"secret/app{i}": [{"password": f"pw-{i}"}] for i in range(args.pods + 1)}}
    sf = os.path.join(work, "state.json")
    json.dump(state, open(sf, "w"))
    fake = subprocess.Popen([PY, os.path.join(ROOT, "tests/providers/fake_providers.py"), sf], stdout=subprocess.PIPE, text=True)
    port = fake.stdout.readline().split()[1]
    env = dict(os.environ, KUBECONFIG=kc, VAULT_ADDR=f"http://127.0.0.1:{port}", VAULT_TOKEN="t", NO_COLOR="1")
    watcher = None
    try:
        kubectl(kc, "create", "namespace", "bench")
        pods = []
        for i in range(args.pods):
            ann = json.dumps({"provider": "vault", "path": f"secret/app{i}", "secretName": f"app{i}"})
            pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "bench", "annotations": {"secrets.sherpack.io/sync": ann}},
                         "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]}})
        kubectl(kc, "create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
        log = open(os.path.join(work, "watch.log"), "w")
        start = time.perf_counter()
        watcher = subprocess.Popen([ours, "sync", "-A", "--watch", "--refresh", "1h"], env=env, stdout=subprocess.DEVNULL, stderr=log)
        while True:
            n = int(kubectl(kc, "get", "secrets", "-n", "bench", "-o", "name").count("secret/app"))
            if n >= args.pods:
                break
            time.sleep(0.2)
        all_synced = time.perf_counter() - start
        time.sleep(1)
        ann = json.dumps({"provider": "vault", "path": f"secret/app{args.pods}", "secretName": "late"})
        late = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late", "namespace": "bench", "annotations": {"secrets.sherpack.io/sync": ann}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]}}
        t = time.perf_counter()
        kubectl(kc, "create", "-f", "-", stdin=json.dumps(late))
        while subprocess.run(["kubectl", "--kubeconfig", kc, "get", "secret", "late", "-n", "bench"], capture_output=True).returncode != 0:
            time.sleep(0.02)
        latency = time.perf_counter() - t
        mem = rss(watcher.pid)
        print(f"pods watched: {args.pods + 1}")
        print(f"initial sync of {args.pods} secrets: {all_synced:.2f} s")
        print(f"latency new pod -> secret: {latency * 1000:.0f} ms (target < 5 s: {'met' if latency < 5 else 'NOT met'}; includes kubectl polling)")
        print(f"watcher memory: VmRSS {mem['VmRSS']:.1f} MB, peak VmHWM {mem['VmHWM']:.1f} MB (target < 100 MB: {'met' if mem['VmHWM'] < 100 else 'NOT met'})")
    finally:
        if watcher:
            watcher.kill()
        fake.kill()
        subprocess.run(["bash", os.path.join(ROOT, "tests/cluster/cluster.sh"), "down", "--dir", cdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
