#!/usr/bin/env python3
"""Benchmark of `kubectl pack-drift` against its peer on one private API server.

1,000 ConfigMaps applied by `kubectl pack-waves apply`, one of them changed
by `kubectl patch`; then, alternating, N runs of
  kubectl diff --server-side --force-conflicts -f STREAM   (the peer)
  kubectl pack-drift bench                                  (ours)
  kubectl pack-drift bench  with KUBECTL_PACK_DISCOVERY=classic
                            (the scan for unexpected objects discovering the
                            server the pre-1.26 way, one request per
                            group-version, instead of aggregated discovery)
Prints medians and the ratio (goal <= 0.1), checks both report exactly the
drifted ConfigMap. The peer is kubectl 1.35.2 and the server Kubernetes
1.37 (both as the project's scripts install them). Then `kubectl pack-drift watch bench` on the same 1,000
objects: time from a `kubectl patch` to the DRIFT line (goal <= 2 s) and the
watcher's RSS (goal <= 60 MB); the same for `watch -A --leader-elect`, the
controller mode deploy/ runs.

Usage: python3 bench/drift.py [--runs 5] [--objects 1000]
"""
import argparse
import json
import os
import statistics
import sys
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from peers import kubectl_binary  # noqa: E402


def timed(cmd, env, ok=(0,)):
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if p.returncode not in ok:
        raise SystemExit(f"{cmd[0]} exited {p.returncode}: {p.stderr}")
    return took, p.stdout


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def watch_latency(drift, kubectl, env, argv, first, objects):
    w = subprocess.Popen([drift, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:
        line = w.stderr.readline()
        if "watching release" in line or not line:
            break
    latencies = []
    for i in range(5):
        name = f"cm-{first + i}"
        t = time.perf_counter()
        subprocess.run([kubectl, "patch", "-n", "bench", "configmap", name, "-p", '{"data":{"index":"w"}}'], env=env, check=True, capture_output=True)
        while True:
            line = w.stdout.readline()
            if f"ConfigMap/{name}" in line and "DRIFT" in line:
                latencies.append(time.perf_counter() - t)
                break
    rss = rss_mb(w.pid)
    w.terminate()
    w.wait()
    print(f"pack-drift {' '.join(argv[:2])} on {objects} objects: patch -> DRIFT line median {statistics.median(latencies) * 1000:.0f} ms "
          f"(max {max(latencies) * 1000:.0f} ms, incl. kubectl start; goal <= 2 s), RSS {rss:.1f} MB (goal <= 60 MB)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--objects", type=int, default=1000)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "kubectl-pack-waves", "-p", "kubectl-pack-drift"], cwd=ROOT, check=True)
    waves = os.path.join(ROOT, "target/release/kubectl-pack_waves")
    drift = os.path.join(ROOT, "target/release/kubectl-pack_drift")
    kubectl = kubectl_binary()
    work = tempfile.mkdtemp()
    cdir = os.path.join(work, "cluster")
    subprocess.run(["bash", os.path.join(ROOT, "tests/cluster/cluster.sh"), "up", "--dir", cdir, "--watch-pid", str(os.getpid())], check=True, capture_output=True)
    env = dict(os.environ, KUBECONFIG=os.path.join(cdir, "kubeconfig"), NO_COLOR="1")
    try:
        stream = "".join(
            f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: bench\n  labels: {{app: bench}}\n"
            f"data:\n  index: \"{i}\"\n  payload: \"{i:064d}\"\n" for i in range(args.objects))
        path = os.path.join(work, "stream.yaml")
        open(path, "w").write(stream)
        subprocess.run([kubectl, "create", "namespace", "bench"], env=env, check=True, capture_output=True)
        subprocess.run([waves, "apply", "bench", "-n", "bench", "-f", path], env=env, check=True, capture_output=True)
        subprocess.run([kubectl, "patch", "-n", "bench", "configmap", "cm-7", "-p", '{"data":{"index":"changed"}}'], env=env, check=True, capture_output=True)
        peer, ours, classic = [], [], []
        env_classic = dict(env, KUBECTL_PACK_DISCOVERY="classic")
        for _ in range(args.runs):
            t, out = timed([kubectl, "diff", "--server-side", "--force-conflicts", "-f", path], env, ok=(1,))
            assert "cm-7" in out and out.count("kind: ConfigMap") <= 2, "kubectl diff must report cm-7 only"
            peer.append(t)
            t, out = timed([drift, "bench", "-n", "bench", "--read-only"], env, ok=(1,))
            assert "ConfigMap/cm-7" in out and "1 object(s) drifted" in out, out
            ours.append(t)
            t, out = timed([drift, "bench", "-n", "bench", "--read-only"], env_classic, ok=(1,))
            assert "ConfigMap/cm-7" in out and "1 object(s) drifted" in out, out
            classic.append(t)
        p, o, c = statistics.median(peer), statistics.median(ours), statistics.median(classic)
        server = subprocess.run([kubectl, "version", "-o", "json"], env=env, capture_output=True, text=True).stdout
        print(f"server {json.loads(server)['serverVersion']['gitVersion']}, peer kubectl "
              f"{json.loads(server)['clientVersion']['gitVersion']}")
        print(f"{args.objects} ConfigMaps, one drifted, median of {args.runs} alternating runs:")
        print(f"  kubectl diff --server-side --force-conflicts  {p:6.3f} s")
        print(f"  kubectl pack-drift                            {o:6.3f} s")
        print(f"  ratio {o / p:.3f} (goal <= 0.1)")
        print(f"  kubectl pack-drift, classic discovery walk    {c:6.3f} s  (aggregated saves {(c - o) * 1000:.0f} ms)")

        # watch: detection latency and memory, one release and then as
        # the controller deploy/ runs (-A, leader election).
        watch_latency(drift, kubectl, env, ["watch", "bench", "-n", "bench", "--interval", "10m"], 100, args.objects)
        watch_latency(drift, kubectl, env, ["watch", "-A", "--interval", "10m", "--leader-elect", "-n", "default"], 200, args.objects)
    finally:
        subprocess.run(["bash", os.path.join(ROOT, "tests/cluster/cluster.sh"), "down", "--dir", cdir], capture_output=True)


if __name__ == "__main__":
    main()
