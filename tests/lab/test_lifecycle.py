"""lab-up / lab-down / lab-status: idempotent start, exact stop, crash reporting.

Runs after the other lab tests (file order) because it stops and restarts
the lab; it always leaves the lab up, as the session fixture expects.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest
from lab_support import ROOT, labctl

pytestmark = pytest.mark.lab

RUN = ROOT / ".lab" / "cluster" / "run"
LISTENERS = [
    ("127.0.10.10", 2379),
    ("127.0.10.10", 2380),
    ("127.0.10.10", 6443),
    ("127.0.10.10", 10257),
    ("127.0.10.10", 10259),
    ("127.0.10.10", 10247),
    ("127.0.0.1", 8879),
]


def pids() -> dict[str, int]:
    return {p.stem: json.loads(p.read_text())["pid"] for p in sorted(RUN.glob("*.pid"))}


def listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie awaiting its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_lab_up_twice_is_a_no_op(lab):
    before = pids()
    nodes_before = {n["metadata"]["name"]: n["metadata"]["uid"] for n in lab.get("nodes")["items"]}
    result = labctl("up")
    assert "already up, nothing changed" in result.stdout
    assert pids() == before
    assert {n["metadata"]["name"]: n["metadata"]["uid"] for n in lab.get("nodes")["items"]} == nodes_before


def test_status_reports_a_crashed_component(lab):
    assert labctl("status", check=False).returncode == 0
    scheduler = pids()["kube-scheduler"]
    os.kill(scheduler, signal.SIGKILL)
    lab.wait_until(lambda: not alive(scheduler), "the scheduler to die")
    status = labctl("status", check=False)
    assert status.returncode == 1
    assert any(line.startswith("kube-scheduler") and "crashed" in line for line in status.stdout.splitlines())
    labctl("up")
    assert labctl("status", check=False).returncode == 0


def test_lab_down_stops_its_processes_and_frees_its_ports(lab):
    started = pids()
    assert set(started) >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    labctl("down")
    try:
        assert not any(alive(pid) for pid in started.values())
        assert list(RUN.glob("*.pid")) == []
        assert [f"{h}:{p}" for h, p in LISTENERS if listening(h, p)] == []
        assert labctl("status", check=False).returncode == 1
    finally:
        labctl("up")
    assert labctl("status", check=False).returncode == 0
