#!/usr/bin/env python3
"""Render benchmark: kubectl pack-render against Sherpack 0.4.0, same machine, same run.

Usage: python3 bench/render.py [--runs N]

Builds our release binary, installs Sherpack 0.4.0 from crates.io once (cached in
~/.cache/kubectl-pack/sherpack-0.4.0), generates the synthetic packs with
bench/gen-synthetic-pack.sh (200 x 5 and 1000 x 5 documents), then alternates runs of
both tools and prints median wall time, peak RSS and the ratio. Goal: at most half
Sherpack's time, memory no higher.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "kubectl-pack", "sherpack-0.4.0")
SHERPACK = os.path.join(CACHE, "bin", "sherpack")
OURS = os.path.join(ROOT, "target", "release", "kubectl-pack_render")


def run_once(cmd):
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {err}")
    return elapsed, usage.ru_maxrss / 1024.0  # MB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "kubectl-pack-render"], cwd=ROOT, check=True)
    if not os.path.exists(SHERPACK):
        subprocess.run(["cargo", "install", "sherpack", "--version", "0.4.0", "--root", CACHE], check=True)
    work = tempfile.mkdtemp(prefix="render-bench-")
    print(f"{'pack':<12} {'tool':<20} {'median ms':>10} {'peak MB':>8}")
    for n in (200, 1000):
        pack = os.path.join(work, f"synthetic-{n}")
        subprocess.run(["bash", os.path.join(ROOT, "bench", "gen-synthetic-pack.sh"), pack, str(n), "5"], check=True, stdout=subprocess.DEVNULL)
        tools = {
            "sherpack 0.4.0": [SHERPACK, "template", "myrel", pack],
            "kubectl pack-render": [OURS, "myrel", pack],
        }
        # Warm the page cache, then alternate.
        for cmd in tools.values():
            run_once(cmd)
        times = {k: [] for k in tools}
        mem = {k: [] for k in tools}
        for _ in range(args.runs):
            for name, cmd in tools.items():
                t, m = run_once(cmd)
                times[name].append(t)
                mem[name].append(m)
        for name in tools:
            print(f"{n}x5{'':<7} {name:<20} {statistics.median(times[name]) * 1000:>10.1f} {max(mem[name]):>8.1f}")
        ratio = statistics.median(times["kubectl pack-render"]) / statistics.median(times["sherpack 0.4.0"])
        mem_ratio = max(mem["kubectl pack-render"]) / max(mem["sherpack 0.4.0"])
        print(f"{n}x5{'':<7} ratio ours/sherpack: time {ratio:.2f} (goal <= 0.50), memory {mem_ratio:.2f} (goal <= 1.00)")


if __name__ == "__main__":
    main()
