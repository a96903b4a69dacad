"""lab/fence.py: a fenced program listens on every interface of a namespace nobody can reach.

Real processes and sockets: a Python HTTP server bound to 0.0.0.0 runs
fenced; the host cannot connect to its port, the lab reaches it through the
exposed Unix socket, the listener check sees the socket and knows it is
fenced, and a program inside reaches a host service only through --reach.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from lab_support import ROOT

from lab import fence
from lab import processes as proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def fenced_server(tmp_path):
    port = free_port()
    sockets = tmp_path / "fence"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lab.fence",
            f"--dir={sockets}",
            f"--expose=web={port}",
            "--",
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            "0.0.0.0",
            str(port),
            "--directory",
            str(tmp_path),
        ],
        cwd=ROOT,
        start_new_session=True,
    )
    wait(lambda: fence.unix_http_ok(fence.expose_socket(sockets, "web"), "/"), "the fenced server")
    yield child, port, sockets
    child.terminate()
    child.wait(timeout=20)


def test_a_fenced_listener_is_reached_only_through_its_socket(fenced_server):
    _child, port, sockets = fenced_server
    assert fence.unix_http_ok(fence.expose_socket(sockets, "web"), "/")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_the_listener_check_sees_the_fenced_socket_and_exempts_it(fenced_server):
    child, port, _ = fenced_server
    pids = proc.descendants(child.pid)
    wildcard = [(pid, addr) for pid, addr, p in proc.listening_sockets(pids) if p == port]
    assert wildcard and all(addr == "0.0.0.0" for _, addr in wildcard), proc.listening_sockets(pids)
    assert all(proc.private_namespace(pid) for pid, _ in wildcard)
    assert proc.beyond_loopback(pids) == []


def test_an_unfenced_wildcard_listener_is_reported():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]

        assert f"0.0.0.0:{port} (pid {os.getpid()})" in proc.beyond_loopback([os.getpid()])


def test_a_fenced_program_reaches_a_host_service_only_through_reach(tmp_path):
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the host")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    client = (
        "import sys, urllib.request; "
        f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=5).read().decode())"
    )
    try:
        reached = subprocess.run(
            [
                sys.executable,
                "-m",
                "lab.fence",
                f"--dir={tmp_path / 'a'}",
                f"--reach=127.0.0.1:{port}",
                "--",
                sys.executable,
                "-c",
                client,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        unreached = subprocess.run(
            [sys.executable, "-m", "lab.fence", f"--dir={tmp_path / 'b'}", "--", sys.executable, "-c", client],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.shutdown()
    assert reached.returncode == 0 and reached.stdout == "from the host", reached.stderr
    assert unreached.returncode != 0 and "Connection refused" in unreached.stderr, unreached.stderr
