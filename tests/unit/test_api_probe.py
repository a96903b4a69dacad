"""molecule/kubeadm_cluster/api_probe.py: what the upgrade's API probe reports, and that it stops when told."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("api_probe", ROOT / "molecule" / "kubeadm_cluster" / "api_probe.py")
api_probe = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(api_probe)


def samples(*errors):
    """One probe a second from 0 s (wall clock 1000 s = 00:16:40 UTC), each None (answered) or an error."""
    return [(float(i), 1000.0 + i, error) for i, error in enumerate(errors)]


def test_the_longest_gap_spans_failed_probes_between_answers():
    result = api_probe.summarise(samples(None, None, "refused", "timed out", None, None))
    assert result["probes"] == 6 and result["failures"] == 2 and result["answered"] == 4
    assert result["longest_gap_s"] == 3.0
    assert result["last_answered"] is True
    outage = {"at_s": 2.0, "at": "00:16:42", "probes": 2, "until_answer_s": 2.0, "error": "refused"}
    assert result["outages"] == [outage]


def test_each_run_of_failures_is_its_own_outage():
    result = api_probe.summarise(samples("refused", None, "HTTP 500", "HTTP 500", None))
    assert result["longest_outage_probes"] == 2
    assert [(o["at_s"], o["probes"], o["until_answer_s"], o["error"]) for o in result["outages"]] == [
        (0.0, 1, 1.0, "refused"),
        (2.0, 2, 2.0, "HTTP 500"),
    ]


def test_an_outage_at_the_end_is_not_hidden():
    result = api_probe.summarise(samples(None, None, "timed out"))
    assert result["last_answered"] is False
    assert result["longest_gap_s"] == 1.0  # no answer after the outage: the gap is unknown, last_answered says so
    assert result["outages"][0]["until_answer_s"] is None


def test_nothing_probed_is_reported_as_such():
    assert api_probe.summarise([]) == {
        "probes": 0,
        "failures": 0,
        "answered": 0,
        "seconds": 0.0,
        "longest_gap_s": 0.0,
        "last_answered": False,
        "longest_outage_probes": 0,
        "outages": [],
    }


def test_a_probe_run_against_a_server_that_fails_then_answers(tmp_path):
    """The endpoint's first probe gets a 503, its second an answer; the twin always answers. The run stops once
    both have answered after that 503, whatever order the two threads' requests arrive in."""
    answers = {"/readyz": iter([503, 200]), "/twin": iter([])}
    seen: dict[str, list[int]] = {"/readyz": [], "/twin": []}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            with lock:
                status = next(answers[self.path], 200)
                seen[self.path].append(status)
                if len(seen["/readyz"]) >= 2 and seen["/twin"]:
                    (tmp_path / "stop").touch()
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        out = tmp_path / "result.json"
        args = ["--url", f"{base}/readyz", "--stop", str(tmp_path / "stop"), "--out", str(out), "--interval", "0.05"]
        args += ["--also", f"twin={base}/twin"]
        assert api_probe.main(args) == 0
    finally:
        server.shutdown()
    result = json.loads(out.read_text())
    assert seen["/readyz"][:2] == [503, 200]
    twin = result["others"]["twin"]
    assert twin["url"] == f"{base}/twin" and twin["failures"] == 0 and twin["answered"] >= 1
    assert result["failures"] == 1 and result["last_answered"] is True
    (outage,) = result["outages"]
    assert outage["error"].startswith("HTTPError: HTTP Error 503") and outage["until_answer_s"] is not None


def server_certificate(folder: Path) -> tuple[Path, Path]:
    """An API server's own certificate, signed by no CA the probe knows: (certificate file, key file)."""
    from cryptography.hazmat.primitives import serialization

    from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.kubeadm_utils import self_signed

    key, cert = self_signed("kube-apiserver")
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_an_api_server_with_a_certificate_no_ca_signed_counts_as_answering(tmp_path):
    """Reachability only: the shared client context verifies nothing, so the cluster's own CA never fails a probe."""
    import ssl

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*server_certificate(tmp_path))
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/readyz"
        assert [api_probe.probe(url, timeout=5) for _ in range(3)] == [None, None, None]
    finally:
        server.shutdown()
    assert api_probe.CONTEXT.verify_mode == ssl.CERT_NONE
