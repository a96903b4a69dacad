"""The lab's cluster egress (lab/egress.py) and webhook certificates (lab/controllers.py), without a cluster.

The API server sends its cluster-network connections to the egress as HTTP
CONNECT requests; these tests speak that protocol over a real socket pair.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from lab import controllers, egress

KSERVE = controllers.webhook_stand_in("kserve", "kserve-webhook-server-service")


def test_the_api_server_is_told_to_send_cluster_traffic_to_the_socket(tmp_path):
    config = yaml.safe_load(egress.egress_config(tmp_path / "egress.sock"))
    assert config["kind"] == "EgressSelectorConfiguration"
    (selection,) = config["egressSelections"]
    assert selection["name"] == "cluster"
    assert selection["connection"] == {
        "proxyProtocol": "HTTPConnect",
        "transport": {"uds": {"udsName": str(tmp_path / "egress.sock")}},
    }


@pytest.mark.parametrize(
    ("header", "target"),
    [
        (b"CONNECT 10.96.0.12:443 HTTP/1.1\r\nHost: 127.0.0.1", ("10.96.0.12", 443)),
        (b"CONNECT [fd00::12]:10250 HTTP/1.1", ("fd00::12", 10250)),
    ],
)
def test_connect_requests_are_parsed(header, target):
    assert egress.parse_connect(header) == target


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"GET / HTTP/1.1", "not a CONNECT request"),
        (b"CONNECT 10.96.0.12 HTTP/1.1", "not host:port"),
    ],
)
def test_other_requests_are_refused(header, message):
    with pytest.raises(ValueError, match=message):
        egress.parse_connect(header)


def test_only_kserve_answers_for_its_webhook_service():
    assert KSERVE is not None and KSERVE.name == "kserve-controller"
    assert controllers.webhook_stand_in("kserve", "other") is None
    assert controllers.webhook_stand_in("cert-manager", "cert-manager-webhook") is None


def configuration(*services, bundle=None):
    hooks = []
    for namespace, name in services:
        client = {"service": {"namespace": namespace, "name": name, "path": "/validate"}}
        if bundle:
            client["caBundle"] = bundle
        hooks.append({"name": f"{name}.example", "clientConfig": client})
    return {"metadata": {"name": "c"}, "webhooks": hooks}


def test_the_ca_bundle_goes_only_to_webhooks_calling_the_stand_ins_service():
    found = configuration(
        ("kserve", "kserve-webhook-server-service"), ("other", "svc"), ("kserve", "kserve-webhook-server-service")
    )
    assert controllers.ca_bundle_patches(found, KSERVE.webhook, "Q0E=") == [
        {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "Q0E="},
        {"op": "add", "path": "/webhooks/2/clientConfig/caBundle", "value": "Q0E="},
    ]
    current = configuration(("kserve", "kserve-webhook-server-service"), bundle="Q0E=")
    assert controllers.ca_bundle_patches(current, KSERVE.webhook, "Q0E=") == []


def test_the_webhook_certificate_is_for_the_service_names_and_made_once(tmp_path):
    cluster = SimpleNamespace(state=tmp_path)
    ca = controllers.webhook_certificate(cluster, KSERVE)
    serving = controllers.webhook_dir(cluster, KSERVE) / "k8s-webhook-server" / "serving-certs"
    assert controllers.webhook_certificate(cluster, KSERVE) == ca  # kept, not made again
    assert (serving / "tls.key").stat().st_mode & 0o777 == 0o600
    # a TLS client trusting only the CA accepts the certificate for the name the API server checks
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(serving / "tls.crt", serving / "tls.key")
    client = ssl.create_default_context(cadata=ca.decode())
    for name, accepted in (("kserve-webhook-server-service.kserve.svc", True), ("kserve.example", False)):
        left, right = socket.socketpair()
        errors = []

        def serve(sock=left, errors=errors):
            try:
                with server.wrap_socket(sock, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError) as exc:
                errors.append(exc)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with client.wrap_socket(right, server_hostname=name) as tls:
                tls.sendall(b"x")
            assert accepted, f"{name} should have been refused"
        except ssl.SSLCertVerificationError:
            assert not accepted, f"{name} should have been accepted"
        finally:
            right.close()
            thread.join(5)
    assert base64.b64decode(base64.b64encode(ca)).startswith(b"-----BEGIN CERTIFICATE-----")


class FakeEgress:
    """Resolves one Service IP to a local echo server, refuses the others."""

    def __init__(self, echo: tuple[str, int]):
        self.echo = echo

    def connect(self, host: str, port: int) -> socket.socket:
        if (host, port) != ("10.96.0.12", 443):
            raise OSError("Service other/svc has no process behind it in the lab")
        return socket.create_connection(self.echo, timeout=5)


def echo_server() -> tuple[socket.socket, tuple[str, int]]:
    listener = socket.create_server(("127.0.0.1", 0))

    def loop():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data.upper())

    threading.Thread(target=loop, daemon=True).start()
    return listener, listener.getsockname()


def through_tunnel(request: bytes, payload: bytes, echo) -> bytes:
    api_side, egress_side = socket.socketpair()
    thread = threading.Thread(target=egress.tunnel, args=(FakeEgress(echo), egress_side), daemon=True)
    thread.start()
    api_side.sendall(request)
    api_side.settimeout(5)
    answer = api_side.recv(1024)
    if answer.startswith(b"HTTP/1.1 200"):
        api_side.sendall(payload)
        answer += api_side.recv(1024)
    api_side.close()
    thread.join(5)
    return answer


def test_a_tunnel_carries_bytes_both_ways_and_a_refusal_is_a_502():
    listener, echo = echo_server()
    try:
        opened = through_tunnel(b"CONNECT 10.96.0.12:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"hello", echo)
        assert opened == b"HTTP/1.1 200 Connection established\r\n\r\nHELLO"
        refused = through_tunnel(b"CONNECT 10.96.0.99:443 HTTP/1.1\r\n\r\n", b"", echo)
        assert refused.startswith(b"HTTP/1.1 502")
    finally:
        listener.close()


def test_egress_spec_restarts_when_the_lab_code_changes():
    cluster = SimpleNamespace(
        settings=SimpleNamespace(
            endpoint=lambda name: SimpleNamespace(address="127.0.0.1:1", url=lambda path="": "http://x" + path),
            run_dir=Path("/tmp/run"),
        ),
        conf=Path("/tmp/etc"),
        root=Path("."),
    )
    found = egress.spec(cluster)
    assert found.name == "cluster-egress"
    assert {p.name for p in found.watch_files} == {"egress.py", "controllers.py", "processes.py"}
    assert "--socket=/tmp/run/cluster-egress.sock" in found.argv
