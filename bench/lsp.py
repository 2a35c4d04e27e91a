#!/usr/bin/env python3
"""Language server latency: time from a didChange to its publishDiagnostics.

Usage: python3 bench/lsp.py [--changes N] [--binary PATH]

Starts `kubectl-pack_render lsp` (the release build unless --binary is
given) on a copy of examples/webapp, opens templates/deployment.yaml and
alternates N edits between a misspelt value (one diagnostic) and the
original text (none), timing each round trip from this client. Goal: under
50 ms (the server waits 15 ms of quiet before it computes).
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


class Client:
    def __init__(self, binary):
        self.proc = subprocess.Popen([binary, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 1

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self):
        length = 0
        while True:
            line = self.proc.stdout.readline()
            if not line:
                sys.exit("the server closed its output")
            line = line.strip()
            if not line:
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.proc.stdout.read(length))

    def request(self, method, params):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            m = self.read()
            if m.get("id") == rid:
                return m.get("result")

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, uri):
        while True:
            m = self.read()
            if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri:
                return m["params"]["diagnostics"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "kubectl-pack_render"))
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "kubectl-pack-render"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="lsp-bench-")
    pack = os.path.join(work, "webapp")
    shutil.copytree(os.path.join(ROOT, "examples", "webapp"), pack)
    path = os.path.join(pack, "templates", "deployment.yaml")
    uri = "file://" + path
    original = open(path).read()
    edited = original.replace("{{ values.replicas }}", "{{ values.replicaz }}")
    c = Client(args.binary)
    c.request("initialize", {"processId": None, "rootUri": "file://" + pack, "capabilities": {}})
    c.notify("initialized", {})
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "jinja", "version": 1, "text": original}})
    c.diagnostics(uri)
    times = []
    for i in range(args.changes):
        text = edited if i % 2 == 0 else original
        start = time.perf_counter()
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": i + 2}, "contentChanges": [{"text": text}]})
        d = c.diagnostics(uri)
        times.append(time.perf_counter() - start)
        if (len(d) == 1) != (i % 2 == 0):
            sys.exit(f"change {i}: unexpected diagnostics {d}")
    c.request("shutdown", None)
    c.notify("exit", None)
    c.proc.wait(timeout=10)
    shutil.rmtree(work)
    times.sort()
    ms = lambda t: t * 1000
    print(f"{len(times)} changes: median {ms(statistics.median(times)):.1f} ms, p95 {ms(times[int(len(times) * 0.95)]):.1f} ms, max {ms(times[-1]):.1f} ms (goal < 50 ms)")


if __name__ == "__main__":
    main()
