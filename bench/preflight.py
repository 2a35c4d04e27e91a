#!/usr/bin/env python3
"""What the checks before the first write cost: `kubectl pack-waves apply`
of this checkout against the same command built from an earlier revision
(by default e8e0868, the last one before the ownership and immutable-field
preflight; ede91d9 is the last before the whole-stream validation and
server-side dry-run), alternating on one private API server, 1,000
objects: an install into a fresh namespace, then an upgrade that changes
every object, the two builds taking turns to go first. Prints medians and
the slowdown.

--kind configmap (default) is what most releases hold most of, and what
pack-waves may check without a dry-run where no admission acts;
--kind serviceaccount is a kind every object of which goes through the
server-side dry-run.

The earlier revision is built in a git worktree under target/bench-REV.

Usage: python3 bench/preflight.py [--rev e8e0868] [--runs 5] [--objects 1000]
                                  [--kind configmap|serviceaccount]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from peers import kubectl_binary  # noqa: E402


def build(rev):
    """The release binary of `rev` (None: this checkout)."""
    if rev is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "kubectl-pack-waves"], cwd=ROOT, check=True)
        return os.path.join(ROOT, "target/release/kubectl-pack_waves")
    tree = os.path.join(ROOT, "target", f"bench-{rev}")
    if not os.path.exists(tree):
        subprocess.run(["git", "worktree", "add", "--detach", tree, rev], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "kubectl-pack-waves"], cwd=tree, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target", "bench-target")))
    return os.path.join(ROOT, "target", "bench-target", "release", "kubectl-pack_waves")


def stream(objects, rev, kind):
    if kind == "serviceaccount":
        return "".join(
            f"---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-{i}\n  labels: {{app: bench}}\n"
            f"  annotations: {{index: \"{i}\", rev: \"{rev}\"}}\n" for i in range(objects))
    return "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  labels: {{app: bench}}\n"
        f"data:\n  index: \"{i}\"\n  payload: \"{i:064d}\"\n  rev: \"{rev}\"\n" for i in range(objects))


def timed(cmd, env, text):
    t = time.perf_counter()
    subprocess.run(cmd, env=env, input=text.encode(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="e8e0868")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--kind", choices=["configmap", "serviceaccount"], default="configmap")
    args = ap.parse_args()
    binaries = {"before": build(args.rev), "now": build(None)}
    kubectl = kubectl_binary()
    work = tempfile.mkdtemp()
    cdir = os.path.join(work, "cluster")
    subprocess.run(["bash", os.path.join(ROOT, "tests/cluster/cluster.sh"), "up", "--dir", cdir,
                    "--watch-pid", str(os.getpid())], check=True, capture_output=True)
    env = dict(os.environ, KUBECONFIG=os.path.join(cdir, "kubeconfig"), NO_COLOR="1")
    v1, v2 = stream(args.objects, 1, args.kind), stream(args.objects, 2, args.kind)
    times = {name: {"install": [], "upgrade": []} for name in binaries}
    try:
        for run in range(args.runs):
            # Alternate which goes first: etcd grows with every run.
            order = list(binaries.items())
            if run % 2:
                order.reverse()
            for i, (name, binary) in enumerate(order):
                ns = f"p{run}-{i}"
                subprocess.run([kubectl, "create", "namespace", ns], env=env, check=True, capture_output=True)
                cmd = [binary, "apply", "bench", "-n", ns, "--concurrency", "64"]
                times[name]["install"].append(timed(cmd, env, v1))
                times[name]["upgrade"].append(timed(cmd, env, v2))
        print(f"{args.objects} {args.kind} objects, median of {args.runs} alternating runs, kubectl pack-waves apply:")
        for phase in ("install", "upgrade"):
            old = statistics.median(times["before"][phase])
            new = statistics.median(times["now"][phase])
            print(f"  {phase:8} {args.rev} {old:6.3f} s, this checkout {new:6.3f} s: "
                  f"{(new / old - 1) * 100:+.1f} %")
    finally:
        subprocess.run(["bash", os.path.join(ROOT, "tests/cluster/cluster.sh"), "down", "--dir", cdir], capture_output=True)


if __name__ == "__main__":
    main()
