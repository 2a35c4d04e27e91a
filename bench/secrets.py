#!/usr/bin/env python3
"""Decrypt benchmark: a 1,000-value SOPS file (age) decrypted by
`kubectl pack-secrets decrypt` (release build) and, in the same run, by the
peer: the npm package `sops-age` (an independent SOPS+age implementation;
the Go `sops` binary is not available from the registries this project can
reach). Both are timed as whole processes, median of --runs; the target is
under 50 ms for ours. Also checks that the peer decrypts our file to the same
values (interop).

Usage: python3 bench/secrets.py [--runs 21] [--values 1000]
"""
import argparse
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
PEER_DIR = os.path.join(CACHE, "npm-sops-age")


def timed(cmd, runs, env=None):
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--values", type=int, default=1000)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "kubectl-pack-secrets"], cwd=ROOT, check=True)
    ours = os.path.join(ROOT, "target/release/kubectl-pack_secrets")
    work = tempfile.mkdtemp()
    try:
        key = os.path.join(work, "key.txt")
        recipient = subprocess.run([ours, "init", "--output", key], capture_output=True, text=True, check=True).stdout.strip()
        # 1,000 values: 100 services x (10 mixed-type values).
        lines = []
        n = 0
        for s in range(args.values // 10 + 1):
            lines.append(f"service{s}:")
            for k in range(10):
                if n >= args.values:
                    break
                v = [f"password-{s}-{k}-Zq8", str(1000 + k), "true", f"{k}.5"][k % 4]
                lines.append(f"    key{k}: {v}")
                n += 1
        plain = os.path.join(work, "values.yaml")
        with open(plain, "w") as f:
            f.write("\n".join(lines) + "\n")
        enc = os.path.join(work, "values.enc.yaml")
        with open(enc, "w") as f:
            subprocess.run([ours, "encrypt", "--age", recipient, plain], stdout=f, check=True)
        env = dict(os.environ, SOPS_AGE_KEY_FILE=key)
        ms_ours = timed([ours, "decrypt", enc], args.runs, env)
        print(f"values: {n}   runs: {args.runs} (median, whole process)")
        print(f"kubectl pack-secrets decrypt: {ms_ours:7.1f} ms   (target < 50 ms: {'met' if ms_ours < 50 else 'NOT met'})")

        if not os.path.isdir(os.path.join(PEER_DIR, "node_modules/sops-age")) and shutil.which("npm"):
            os.makedirs(PEER_DIR, exist_ok=True)
            subprocess.run(["npm", "install", "--silent", "sops-age@4.0.2"], cwd=PEER_DIR, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not os.path.isdir(os.path.join(PEER_DIR, "node_modules/sops-age")):
            print("peer sops-age (npm) not available: skipped")
            return
        script = os.path.join(work, "peer.mjs")
        with open(script, "w") as f:
            f.write(
                "import { decryptSops } from '%s/node_modules/sops-age/dist/index.js';\n"
                "const out = await decryptSops({ path: process.argv[2], secretKey: process.env.AGE_KEY });\n"
                "process.stdout.write(JSON.stringify(out));\n" % PEER_DIR
            )
        secret = [l for l in open(key) if l.startswith("AGE-SECRET-KEY-")][0].strip()
        penv = dict(os.environ, AGE_KEY=secret)
        peer_out = subprocess.run(["node", script, enc], capture_output=True, text=True, env=penv)
        if peer_out.returncode != 0:
            print("peer failed:", peer_out.stderr.strip().splitlines()[-1:])
            return
        ours_json = subprocess.run([ours, "decrypt", enc], capture_output=True, text=True, env=env, check=True).stdout
        import yaml  # noqa: PLC0415 (only needed for the comparison)
        same = json.loads(peer_out.stdout) == yaml.safe_load(ours_json)
        ms_peer = timed(["node", script, enc], args.runs, penv)
        print(f"sops-age 4.0.2 (node):        {ms_peer:7.1f} ms")
        print(f"ratio peer/ours: {ms_peer / ms_ours:.1f}x   peer decrypts our file to the same values: {same}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
