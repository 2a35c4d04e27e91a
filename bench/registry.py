#!/usr/bin/env python3
"""Registry benchmark: kubectl pack-render package/push/pull against Helm 4.1.4's
package/push/pull, same machine, same run, same local registry.

Usage: python3 bench/registry.py [--runs N]

Builds our release binary, fetches Helm 4.1.4 (scripts/peers.py), starts Debian's
docker-registry on loopback (tests/registry/install.sh installs it), makes a pack
and a Helm chart of the same size (N ConfigMap templates), then alternates, per
run: package, push (a new tag each run), and pull by tag into a fresh cache/home.
Prints the median wall time of each step per tool and the ratios ours/Helm.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from peers import helm_binary  # noqa: E402

OURS = os.path.join(ROOT, "target", "release", "kubectl-pack_render")


def timed(cmd, env=None, cwd=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {proc.stderr}")
    return elapsed, proc.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_registry(work):
    port = free_port()
    config = os.path.join(work, "registry.yml")
    with open(config, "w") as f:
        f.write(f"version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {work}/data}}\n"
                f"http:\n  addr: 127.0.0.1:{port}\n  secret: bench\n")
    proc = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    sys.exit("docker-registry did not start")


def make_sources(work, templates):
    pack = os.path.join(work, "benchpack")
    chart = os.path.join(work, "benchchart")
    for d in (pack, chart):
        os.makedirs(os.path.join(d, "templates"))
    with open(os.path.join(pack, "Pack.yaml"), "w") as f:
        f.write("apiVersion: sherpack/v1\nkind: application\nmetadata: {name: benchpack, version: 1.0.0}\n")
    with open(os.path.join(chart, "Chart.yaml"), "w") as f:
        f.write("apiVersion: v2\nname: benchchart\nversion: 1.0.0\n")
    for d in (pack, chart):
        open(os.path.join(d, "values.yaml"), "w").write("greeting: hello\n")
        for i in range(templates):
            with open(os.path.join(d, "templates", f"cm-{i}.yaml"), "w") as f:
                f.write(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n"
                        + "".join(f"  key{k}: value-{i}-{k}\n" for k in range(20)))
    return pack, chart


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--templates", type=int, default=200)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "kubectl-pack-render"], cwd=ROOT, check=True)
    subprocess.run(["bash", os.path.join(ROOT, "tests/registry/install.sh")], check=True)
    helm = helm_binary()
    work = tempfile.mkdtemp(prefix="registry-bench-")
    registry, host = start_registry(work)
    try:
        pack, chart = make_sources(work, args.templates)
        steps = {(tool, step): [] for tool in ("ours", "helm") for step in ("package", "push", "pull")}
        for run in range(args.runs):
            version = f"1.0.{run}"
            r = os.path.join(work, f"run-{run}")
            os.makedirs(r)
            # Ours: package (version from Pack.yaml; the tag names the run), push, pull on a clean cache.
            env = dict(os.environ, KUBECTL_PACK_CACHE=os.path.join(r, "cache"), DOCKER_CONFIG=os.path.join(r, "docker"))
            t, out = timed([OURS, "package", pack, "-d", r], env)
            steps[("ours", "package")].append(t)
            t, _ = timed([OURS, "push", out.strip(), f"oci://{host}/packs/benchpack:{version}", "--plain-http"], env)
            steps[("ours", "push")].append(t)
            t, _ = timed([OURS, "pull", f"oci://{host}/packs/benchpack:{version}", "-d", os.path.join(r, "ours-pulled"), "--plain-http"], env)
            steps[("ours", "pull")].append(t)
            # Helm 4: package with the run's version, push, pull with fresh homes.
            henv = dict(os.environ, HELM_CONFIG_HOME=os.path.join(r, "hc"), HELM_CACHE_HOME=os.path.join(r, "hk"), HELM_DATA_HOME=os.path.join(r, "hd"))
            t, _ = timed([helm, "package", chart, "--version", version, "-d", r], henv)
            steps[("helm", "package")].append(t)
            t, _ = timed([helm, "push", os.path.join(r, f"benchchart-{version}.tgz"), f"oci://{host}/charts", "--plain-http"], henv)
            steps[("helm", "push")].append(t)
            os.makedirs(os.path.join(r, "helm-pulled"))
            t, _ = timed([helm, "pull", f"oci://{host}/charts/benchchart", "--version", version, "-d", os.path.join(r, "helm-pulled"), "--plain-http"], henv)
            steps[("helm", "pull")].append(t)
        print(f"{args.templates} templates, {args.runs} runs, median ms")
        print(f"{'step':<10} {'kubectl pack-render':>20} {'helm 4.1.4':>12} {'ratio':>7}")
        for step in ("package", "push", "pull"):
            ours = statistics.median(steps[("ours", step)]) * 1000
            theirs = statistics.median(steps[("helm", step)]) * 1000
            print(f"{step:<10} {ours:>20.1f} {theirs:>12.1f} {ours / theirs:>7.2f}")
    finally:
        registry.kill()
        registry.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
