"""kube_api: reads through a kubeconfig, against a real TLS server that asks for the client's certificate."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from ansible_collections.baremetal.mlops.plugins.module_utils import kube_api
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.kubeadm_utils import issue

TOKEN = "t0ken-of-a-service-account"
DISCOVERY = {
    "resources": [
        {"name": "namespaces", "kind": "Namespace", "namespaced": False},
        {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
        {"name": "configmaps/status", "kind": "ConfigMap", "namespaced": True},
    ]
}


def pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = issue("lab-ca", ca=True)
    server = issue("kube-apiserver", ca, ip_address="127.0.0.1")
    client = issue("kubernetes-admin", ca)
    other_ca = issue("another-ca", ca=True)
    files = {
        "ca.crt": pem(ca[1]),
        "server.crt": pem(server[1]),
        "server.key": key_pem(server[0]),
        "client.crt": pem(client[1]),
        "client.key": key_pem(client[0]),
        "other-ca.crt": pem(other_ca[1]),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def api_server(pki):
    """An HTTPS server that wants a client certificate of the CA or the bearer token; records what it saw."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            peer = self.connection.getpeercert()
            seen.append(dict(path=self.path, client_cert=bool(peer), auth=self.headers.get("Authorization")))
            if not peer and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.reply(401, {"kind": "Status", "message": "Unauthorized"})
            bodies = {
                "/api/v1": DISCOVERY,
                "/api/v1/namespaces/team-a": {"kind": "Namespace", "metadata": {"name": "team-a"}},
                "/api/v1/namespaces/team-a/configmaps/c": {"kind": "ConfigMap", "metadata": {"name": "c"}},
            }
            if self.path == "/api/v1/secrets":
                return self.reply(403, {"kind": "Status", "message": 'secrets is forbidden: User "x" cannot list'})
            if self.path in bodies:
                return self.reply(200, bodies[self.path])
            return self.reply(404, {"kind": "Status", "message": "not found"})

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki / "server.crt", pki / "server.key")
    tls.load_verify_locations(pki / "ca.crt")
    tls.verify_mode = ssl.CERT_OPTIONAL
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def kubeconfig(path: Path, server: str, cluster: dict, user: dict) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": server, **cluster}}],
                "users": [{"name": "admin", "user": user}],
                "contexts": [{"name": "admin@lab", "context": {"cluster": "lab", "user": "admin"}}],
                "current-context": "admin@lab",
            }
        )
    )
    return path


def data(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_a_client_certificate_kubeconfig_reads_json_over_the_standard_library(tmp_path, pki, api_server):
    """kubeadm's admin.conf shape: CA, certificate and key inline. 404 is None; a refusal names the API's reason."""
    server, seen = api_server
    config = kubeconfig(
        tmp_path / "admin.conf",
        server,
        {"certificate-authority-data": data(pki / "ca.crt")},
        {"client-certificate-data": data(pki / "client.crt"), "client-key-data": data(pki / "client.key")},
    )
    api = kube_api.KubeApi(str(config))
    assert type(api.transport).__name__ == "_Direct"
    assert api.get("/api/v1/namespaces/team-a")["metadata"]["name"] == "team-a"
    assert api.get("/api/v1/namespaces/gone") is None
    with pytest.raises(kube_api.KubeApiError, match=r'GET /api/v1/secrets: HTTP 403 secrets is forbidden: User "x"'):
        api.get("/api/v1/secrets")
    assert seen[-1]["client_cert"] and seen[-1]["auth"] is None
    # discovery: the kind's resource, namespaced or not; a kind the server does not serve has no path
    assert api.object_path({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team-a"}}) == (
        "/api/v1/namespaces/team-a/configmaps/c"
    )
    assert api.object_path({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}) == (
        "/api/v1/namespaces/x"
    )
    assert api.object_path({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}) is None
    assert [s["path"] for s in seen].count("/api/v1") == 1  # discovery read once per group version


def test_a_token_kubeconfig_with_files_relative_to_it(tmp_path, pki, api_server):
    server, seen = api_server
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    (tmp_path / "token").write_text(TOKEN + "\n")
    config = kubeconfig(tmp_path / "sa.conf", server, {"certificate-authority": "certs/ca.crt"}, {"tokenFile": "token"})
    assert kube_api.KubeApi(str(config)).get("/api/v1/namespaces/team-a")["metadata"]["name"] == "team-a"
    assert seen[-1]["auth"] == f"Bearer {TOKEN}" and not seen[-1]["client_cert"]
    wrong = kubeconfig(tmp_path / "wrong.conf", server, {"certificate-authority": "certs/ca.crt"}, {"token": "nope"})
    with pytest.raises(kube_api.KubeApiError, match="HTTP 401 Unauthorized"):
        kube_api.KubeApi(str(wrong)).get("/api/v1")


def test_a_server_certificate_the_ca_did_not_sign_is_refused(tmp_path, pki, api_server):
    server, _seen = api_server
    config = kubeconfig(
        tmp_path / "other.conf", server, {"certificate-authority": str(pki / "other-ca.crt")}, {"token": TOKEN}
    )
    with pytest.raises(kube_api.KubeApiError, match=r"GET /api/v1: .*CERTIFICATE_VERIFY_FAILED"):
        kube_api.KubeApi(str(config)).get("/api/v1")
    unverified = kubeconfig(tmp_path / "insecure.conf", server, {"insecure-skip-tls-verify": True}, {"token": TOKEN})
    assert kube_api.KubeApi(str(unverified)).get("/api/v1") == DISCOVERY


def test_an_unreachable_server_and_a_missing_kubeconfig_are_named(tmp_path, pki):
    config = kubeconfig(tmp_path / "dead.conf", "https://127.0.0.1:1", {"insecure-skip-tls-verify": True}, {})
    with pytest.raises(kube_api.KubeApiError, match=r"GET /api/v1: .*Connection refused"):
        kube_api.KubeApi(str(config)).get("/api/v1")
    with pytest.raises(kube_api.KubeApiError, match=f"the kubeconfig {tmp_path}/absent does not exist"):
        kube_api.KubeApi(str(tmp_path / "absent"))


def test_a_direct_read_loads_no_kubernetes_library(tmp_path, pki, api_server):
    """What the lookups gain: the kubernetes package (half a second) stays unimported."""
    server, _seen = api_server
    config = kubeconfig(tmp_path / "sa.conf", server, {"certificate-authority": str(pki / "ca.crt")}, {"token": TOKEN})
    script = (
        "import sys\n"
        "from ansible_collections.baremetal.mlops.plugins.module_utils.kube_api import KubeApi\n"
        f"assert KubeApi({str(config)!r}).get('/api/v1')\n"
        "print(sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "cluster, user, context",
    [
        ({"server": "https://h:6443", "certificate-authority-data": "x"}, {"exec": {"command": "aws"}}, None),
        ({"server": "https://h:6443"}, {"auth-provider": {"name": "oidc"}}, None),
        ({"server": "https://h:6443"}, {"username": "a", "password": "b"}, None),
        ({"server": "https://h:6443", "proxy-url": "http://proxy:3128"}, {"token": "t"}, None),
        ({"server": "https://h:6443", "tls-server-name": "api"}, {"token": "t"}, None),
        ({"server": "http://h:8080"}, {"token": "t"}, None),
        ({"server": "https://h:6443"}, {"client-certificate-data": "x"}, None),
        ({"server": "https://h:6443"}, {"token": "t"}, "no-such-context"),
    ],
    ids=[
        "exec",
        "auth-provider",
        "basic-auth",
        "proxy",
        "tls-server-name",
        "plain-http",
        "cert-without-key",
        "context",
    ],
)
def test_what_the_standard_library_path_does_not_understand_goes_to_the_kubernetes_library(cluster, user, context):
    config = {
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    assert kube_api.direct_settings(config, context) is None


def test_the_named_context_is_the_one_read():
    config = {
        "clusters": [
            {"name": "a", "cluster": {"server": "https://a:6443"}},
            {"name": "b", "cluster": {"server": "https://b:6443"}},
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "ca", "context": {"cluster": "a", "user": "u"}},
            {"name": "cb", "context": {"cluster": "b", "user": "u"}},
        ],
        "current-context": "ca",
    }
    assert kube_api.direct_settings(config)["cluster"]["server"] == "https://a:6443"
    assert kube_api.direct_settings(config, "cb")["cluster"]["server"] == "https://b:6443"


def test_which_kubeconfig_file_is_read(monkeypatch, tmp_path):
    monkeypatch.delenv("K8S_AUTH_KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kube_api.kubeconfig_path() == f"{tmp_path}/.kube/config"
    monkeypatch.setenv("KUBECONFIG", "/etc/one")
    assert kube_api.kubeconfig_path() == "/etc/one"
    monkeypatch.setenv("KUBECONFIG", f"/etc/one{os.pathsep}/etc/two")
    assert kube_api.kubeconfig_path() is None  # merged by the kubernetes library
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", "/etc/k8s-auth")
    assert kube_api.kubeconfig_path() == "/etc/k8s-auth"
    assert kube_api.kubeconfig_path("/explicit") == "/explicit"


def test_a_kubeconfig_the_standard_library_cannot_use_is_handed_to_the_kubernetes_library(monkeypatch, tmp_path):
    chosen = []

    class Library:
        def __init__(self, path, context, timeout):
            chosen.append((path, context))

    monkeypatch.setattr(kube_api, "_Library", Library)
    config = kubeconfig(tmp_path / "exec.conf", "https://h:6443", {}, {"exec": {"command": "get-token"}})
    kube_api.KubeApi(str(config), "admin@lab")
    assert chosen == [(str(config), "admin@lab")]
