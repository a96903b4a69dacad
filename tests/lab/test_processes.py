"""The lab's process manager on small real processes (no cluster needed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path

import pytest

from lab import processes as proc
from lab import toolchain
from lab.settings import Endpoint


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@pytest.fixture
def manager(tmp_path) -> proc.Manager:
    manager = proc.Manager(tmp_path / "run", tmp_path / "logs")
    yield manager
    for name in proc.records(manager.run_dir):
        manager.stop(name, grace=2)


def http_server(name: str, host: str = "127.0.0.1", **extra) -> proc.Spec:
    endpoint = Endpoint(host, free_port(host))
    argv = [sys.executable, "-m", "http.server", "--bind", host, str(endpoint.port)]
    return proc.Spec(name, argv, [endpoint], lambda: proc.http_ok(endpoint.url("/")), start_timeout=20, **extra)


def test_start_records_the_process_and_stop_ends_it(manager, monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_TEST_SECRET", "s3cr3t-in-the-callers-environment")
    secret_file = tmp_path / "secret"
    spec = http_server("web", env={"LAB_MARK": "1"}, private_files=lambda: {secret_file: "hush\n"})
    pid = manager.start(spec)
    record = json.loads((manager.run_dir / "web.pid").read_text())
    assert record["pid"] == pid
    assert record["exe"] == os.path.realpath(sys.executable)
    assert record["listens"] == [spec.listens[0].address]
    assert proc.is_ours(record)
    assert manager.state(spec) == "running"
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"LAB_MARK=1" in environ
    assert not any(entry.startswith(b"LAB_TEST_SECRET=") for entry in environ)
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert proc.listening_sockets([pid]) == [(pid, "127.0.0.1", spec.listens[0].port)]

    assert manager.stop("web") == "stopped"
    assert not proc.is_ours(record)
    assert manager.state(spec) == "stopped"
    assert not proc.port_open(spec.listens[0])


def test_a_recycled_pid_is_not_the_labs(manager):
    spec = http_server("web")
    manager.start(spec)
    record = manager.record("web")
    assert proc.is_ours(record)
    assert not proc.is_ours({**record, "start_time": record["start_time"] - 1})
    assert not proc.is_ours({**record, "exe": "/bin/true"})


def stubborn(**extra) -> proc.Spec:
    """A listener that ignores SIGTERM."""
    endpoint = Endpoint("127.0.0.1", free_port())
    code = (
        "import signal, socket, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"s = socket.socket(); s.bind(('127.0.0.1', {endpoint.port})); s.listen()\n"
        "time.sleep(600)\n"
    )
    return proc.Spec("stubborn", [sys.executable, "-c", code], [endpoint], lambda: proc.port_open(endpoint), **extra)


def test_stop_escalates_to_sigkill(manager):
    pid = manager.start(stubborn())
    assert manager.stop("stubborn", grace=1) == "killed after the stop signal timed out"
    assert proc.start_time(pid) is None


def test_stop_waits_as_long_as_the_spec_allows_before_sigkill(manager):
    pid = manager.start(stubborn(stop_timeout=1))
    assert manager.stop("stubborn") == "killed after the stop signal timed out"  # no grace given: the spec's 1 s
    assert proc.start_time(pid) is None


def test_a_changed_configuration_file_restarts_the_process(manager, tmp_path):
    config = tmp_path / "stages.yaml"
    config.write_text("first\n")
    spec = http_server("web", watch_files=(config,))
    assert manager.ensure(spec, log=lambda _: None)
    first = manager.record("web")["pid"]
    assert not manager.ensure(spec, log=lambda _: None)  # unchanged: left running
    assert manager.record("web")["pid"] == first

    config.write_text("second\n")
    said = []
    assert manager.ensure(spec, log=said.append)
    assert manager.record("web")["pid"] != first
    assert any("configuration changed" in line for line in said)
    assert proc.start_time(first) is None


def test_a_busy_address_is_refused(manager):
    spec = http_server("web")
    with socket.socket() as holder:
        holder.bind((spec.listens[0].host, spec.listens[0].port))
        holder.listen()
        with pytest.raises(proc.ProcessError) as refused:
            manager.start(spec)
    # the message names the address and who holds it (this test's own process)
    assert f"{spec.listens[0].address} (pid {os.getpid()}," in str(refused.value)
    assert "already in use by another process" in str(refused.value)
    assert manager.record("web") is None


def test_an_address_released_just_after_a_stop_is_waited_for(manager):
    spec = http_server("web")
    holder = socket.socket()
    holder.bind((spec.listens[0].host, spec.listens[0].port))
    holder.listen()
    threading.Timer(1.0, holder.close).start()
    assert manager.start(spec)
    assert manager.state(spec) == "running"


def test_a_process_listening_beyond_loopback_is_fenced(manager):
    port = free_port("0.0.0.0")
    wildcard = proc.Spec(
        "wide",
        [sys.executable, "-m", "http.server", "--bind", "0.0.0.0", str(port)],
        [Endpoint("127.0.0.1", port)],
        lambda: proc.http_ok(f"http://127.0.0.1:{port}/"),
        start_timeout=20,
    )
    with pytest.raises(proc.ProcessError, match=rf"wide listens beyond loopback: 0\.0\.0\.0:{port}"):
        manager.start(wildcard)
    assert manager.record("wide") is None
    assert not proc.port_open(Endpoint("127.0.0.1", port))


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.10.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
    ],
)
def test_loopback_addresses(address, loopback):
    assert proc.is_loopback(address) is loopback


def test_proc_net_parsing_reads_ipv6_listeners(tmp_path):
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert (os.getpid(), "::1", port) in proc.listening_sockets([os.getpid()])


def test_go_builds_take_one_lock(tmp_path, monkeypatch):
    import fcntl

    monkeypatch.setenv("BAREMETAL_CACHE", str(tmp_path))
    with toolchain.build_lock(), open(tmp_path / ".build.lock") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(tmp_path / ".build.lock") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_signals_reach_the_whole_process_group(manager):
    endpoint = Endpoint("127.0.0.1", free_port())
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"subprocess.Popen([sys.executable, '-m', 'http.server', '--bind', '127.0.0.1', '{endpoint.port}'])\n"
        "time.sleep(600)\n"
    )
    spec = proc.Spec("parent", [sys.executable, "-c", code], [endpoint], lambda: proc.port_open(endpoint))
    pid = manager.start(spec)
    children = [p for p in proc.descendants(pid) if p != pid]
    assert len(children) == 2
    assert any(port == endpoint.port for _, _, port in proc.listening_sockets(proc.descendants(pid)))
    manager.stop("parent", grace=5)
    assert [p for p in children if proc.start_time(p) is not None] == []
    assert proc.Spec("x", [], [], lambda: True).stop_signal == signal.SIGTERM


def test_ipv4_mapped_listeners_read_as_ipv4():
    with socket.socket(socket.AF_INET6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::ffff:127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert (os.getpid(), "127.0.0.1", port) in proc.listening_sockets([os.getpid()])
