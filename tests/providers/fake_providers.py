#!/usr/bin/env python3
"""Local stand-ins for HashiCorp Vault KV v2, GCP Secret Manager and Azure Key
Vault (+ its Entra ID token endpoint), serving exactly the documented request
and response shapes, status codes and error bodies (see
docs: secrets.md). Used by the end-to-end tests; loopback only.

Usage: fake_providers.py STATE.json   (prints "PORT <n>" when listening)

STATE.json: {"vault_token": "...", "gcp_token": "...", "azure_client": {...},
             "vault": {"secret/app": [{"k": "v"}, ...versions]},
             "gcp": {"projects/p/secrets/s": ["payload v1", ...]},
             "azure": {"name": ["v1", ...]}}
Workload identity: GET /computeMetadata/v1/instance/service-accounts/default/token
(GCP metadata server, needs "Metadata-Flavor: Google"; answers "gcp_token"),
POST /v1/auth/kubernetes/login (Vault's Kubernetes auth: the JWT is checked
with a TokenReview on the real API server in STATE "kube" {"server", "token"},
its ServiceAccount must be STATE "vault_k8s" {"role", "subject"}; answers
"vault_token"), and Azure's token endpoint with a client assertion (checked
the same way against "azure_client" {"subject"}).
Admin (tests only): POST /_admin/state (replace a provider's data),
POST /_admin/fail {"prefix": "/v1/...", "status": 429, "times": 1},
GET /_admin/requests (method, path, selected headers of every request).
"""
import base64
import json
import ssl
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
STATE = {}
FAILS = []
REQUESTS = []


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def token_review(jwt):
    """The ServiceAccount a token belongs to, asked of the real API server
    (what Vault's Kubernetes auth and Entra's federation check do)."""
    kube = STATE.get("kube") or {}
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                       "spec": {"token": jwt}}).encode()
    req = urllib.request.Request(f"{kube.get('server')}/apis/authentication.k8s.io/v1/tokenreviews",
                                 data=body, method="POST",
                                 headers={"Authorization": f"Bearer {kube.get('token')}",
                                          "Content-Type": "application/json"})
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # loopback test server, self-signed
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        status = json.load(resp).get("status", {})
    return status.get("user", {}).get("username") if status.get("authenticated") else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean (and value-free)
        pass

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def record(self):
        with LOCK:
            REQUESTS.append({
                "method": self.command,
                "path": self.path,
                "vaultToken": self.headers.get("X-Vault-Token") is not None,
                "vaultNamespace": self.headers.get("X-Vault-Namespace"),
                "authorization": (self.headers.get("Authorization") or "").split(" ")[0],
            })

    def injected(self):
        with LOCK:
            for f in FAILS:
                if self.path.startswith(f["prefix"]) and f["times"] > 0:
                    f["times"] -= 1
                    return f
        return None

    def do_POST(self):
        path = urlparse(self.path).path
        raw = self.body()
        if path == "/_admin/state":
            with LOCK:
                STATE.update(json.loads(raw))
            return self.reply(200, {})
        if path == "/_admin/fail":
            with LOCK:
                FAILS.append(json.loads(raw))
            return self.reply(200, {})
        self.record()
        if path == "/v1/auth/kubernetes/login":
            want = STATE.get("vault_k8s", {})
            req = json.loads(raw or b"{}")
            if req.get("role") != want.get("role"):
                return self.reply(400, {"errors": [f"invalid role name \"{req.get('role')}\""]})
            if token_review(req.get("jwt", "")) != want.get("subject"):
                return self.reply(403, {"errors": ["permission denied"]})
            return self.reply(200, {"auth": {"client_token": STATE.get("vault_token"), "lease_duration": 3600,
                                             "renewable": True, "policies": ["default"]}})
        if path.endswith("/oauth2/v2.0/token"):
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            want = STATE.get("azure_client", {})
            if form.get("grant_type") != "client_credentials" or form.get("scope") != "https://vault.azure.net/.default":
                return self.reply(400, {"error": "invalid_request", "error_description": "AADSTS900144: bad request"})
            if "client_assertion" in form:
                if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
                    return self.reply(400, {"error": "invalid_request", "error_description": "AADSTS50027: invalid client_assertion_type"})
                if form.get("client_id") != want.get("id") or token_review(form["client_assertion"]) != want.get("subject"):
                    return self.reply(401, {"error": "invalid_client", "error_description": "AADSTS70021: No matching federated identity record found for presented assertion."})
                return self.reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": want.get("token")})
            if form.get("client_id") != want.get("id") or form.get("client_secret") != want.get("secret"):
                return self.reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
            return self.reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": want.get("token")})
        return self.reply(404, {"errors": []})

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_admin/requests":
            with LOCK:
                return self.reply(200, REQUESTS)
        self.record()
        fail = self.injected()
        if fail:
            headers = {"Retry-After": "1"} if fail["status"] == 429 else {}
            return self.reply(fail["status"], fail.get("body", {"errors": ["injected failure"]}), headers)
        query = parse_qs(url.query)
        if url.path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.reply(403, {"error": "Missing required header: Metadata-Flavor"})
            return self.reply(200, {"access_token": STATE.get("gcp_token"), "expires_in": 3599, "token_type": "Bearer"})
        if url.path.startswith("/v1/projects/"):
            return self.gcp(url.path)
        if url.path.startswith("/v1/"):
            return self.vault(url.path, query)
        if url.path.startswith("/secrets/"):
            return self.azure(url.path, query)
        return self.reply(404, {"errors": []})

    def vault(self, path, query):
        if self.headers.get("X-Vault-Token") != STATE.get("vault_token"):
            return self.reply(403, {"errors": ["permission denied"]})
        rest = path[len("/v1/"):]
        mount, _, sub = rest.partition("/data/")
        versions = STATE.get("vault", {}).get(f"{mount}/{sub}")
        if not versions:
            return self.reply(404, {"errors": []})
        n = int(query.get("version", [len(versions)])[0])
        if n < 1 or n > len(versions):
            return self.reply(404, {"errors": []})
        return self.reply(200, {
            "request_id": "6b7a8c4e-0000-4000-8000-000000000001", "lease_id": "", "renewable": False,
            "lease_duration": 0, "wrap_info": None, "warnings": None, "auth": None,
            "data": {"data": versions[n - 1], "metadata": {
                "created_time": "2026-11-23T00:00:00.000000Z", "custom_metadata": None,
                "deletion_time": "", "destroyed": False, "version": n}},
        })

    def gcp(self, path):
        if self.headers.get("Authorization") != f"Bearer {STATE.get('gcp_token')}":
            return self.reply(403, {"error": {"code": 403, "message": "Permission 'secretmanager.versions.access' denied for resource (or it may not exist).", "status": "PERMISSION_DENIED"}})
        name, _, verb = path[len("/v1/"):].partition(":")
        secret, _, version = name.partition("/versions/")
        versions = STATE.get("gcp", {}).get(secret)
        if verb != "access" or not versions:
            return self.reply(404, {"error": {"code": 404, "message": f"Secret [{secret}] not found or has no versions.", "status": "NOT_FOUND"}})
        n = len(versions) if version == "latest" else int(version)
        if n < 1 or n > len(versions):
            return self.reply(404, {"error": {"code": 404, "message": f"Secret Version [{name}] not found.", "status": "NOT_FOUND"}})
        data = versions[n - 1].encode()
        return self.reply(200, {"name": f"{secret}/versions/{n}", "payload": {
            "data": base64.b64encode(data).decode(), "dataCrc32c": str(crc32c(data))}})

    def azure(self, path, query):
        if query.get("api-version") != ["7.4"]:
            return self.reply(400, {"error": {"code": "BadParameter", "message": "The specified version is not recognized."}})
        auth = self.headers.get("Authorization")
        if not auth:
            return self.reply(401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})
        if auth != f"Bearer {STATE.get('azure_client', {}).get('token')}":
            return self.reply(403, {"error": {"code": "Forbidden", "message": "Caller is not authorized to perform action on resource.", "innererror": {"code": "ForbiddenByRbac"}}})
        parts = path[len("/secrets/"):].split("/")
        versions = STATE.get("azure", {}).get(parts[0])
        if not versions:
            return self.reply(404, {"error": {"code": "SecretNotFound", "message": f"A secret with (name/id) {parts[0]} was not found in this key vault."}})
        idx = len(versions) - 1 if len(parts) < 2 else int(parts[1]) - 1
        if idx < 0 or idx >= len(versions):
            return self.reply(404, {"error": {"code": "SecretNotFound", "message": f"A secret with (name/id) {'/'.join(parts)} was not found in this key vault."}})
        return self.reply(200, {"value": versions[idx], "id": f"https://fake.vault.azure.net/secrets/{parts[0]}/{idx + 1}",
                                "attributes": {"enabled": True, "created": 1763856000, "updated": 1763856000, "recoveryLevel": "Recoverable+Purgeable"}})


def main():
    with open(sys.argv[1]) as f:
        STATE.update(json.load(f))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
