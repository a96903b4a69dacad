"""Every lab process, read from the outside once the cluster, the data services and serving are up.

- its real listening sockets (/proc/net/tcp{,6} mapped to the socket inodes
  of the process and its children) are all on 127.0.0.0/8 or ::1, and
  include every address the lab inventory gives it;
- no credential of the lab inventory appears in its command line or its
  environment (/proc/<pid>/cmdline, /proc/<pid>/environ).
"""

from __future__ import annotations

from pathlib import Path

import lab_support
import pytest

from lab import cluster
from lab import processes as proc
from lab.data import SERVICES as DATA_SERVICES
from lab.serving import SERVICES as SERVING_SERVICES

pytestmark = [pytest.mark.lab, pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def cluster_up(lab_settings):
    """The lab cluster (lab-up), stopped at the end only when this module started it."""
    was_up = lab_support.labctl("status", check=False).returncode == 0
    if not was_up:
        lab_support.labctl("up")
    yield cluster.Cluster(lab_settings)
    if not was_up:
        lab_support.labctl("down")


@pytest.fixture(scope="module")
def lab_processes(cluster_up, serving, predictions, lab_settings) -> dict[str, list[int]]:
    """name -> pids of the process and its children, for every pid file of the lab."""
    found = {}
    for name, record in proc.records(lab_settings.run_dir).items():
        assert proc.is_ours(record), f"{name}: pid file {record['pid']} names no running lab process"
        found[name] = proc.descendants(record["pid"])
    expected = {
        spec.name for spec in cluster.specs(cluster_up) if cluster.component_state(cluster_up, spec) != "external"
    }
    assert set(found) >= expected | set(DATA_SERVICES) | set(SERVING_SERVICES)
    return found


def read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:  # a child that exited meanwhile
        return b""


def test_every_lab_process_listens_on_loopback_only(lab_processes, cluster_up, serving, lab_settings):
    specs = {s.name: s for s in cluster.specs(cluster_up)}
    specs |= {name: serving.data.spec(name) for name in DATA_SERVICES}
    specs |= {name: serving.spec(name) for name in SERVING_SERVICES}
    beyond, missing = [], []
    for name, pids in lab_processes.items():
        sockets = proc.listening_sockets(pids)
        beyond += [
            f"{name}: {address}:{port} (pid {pid})"
            for pid, address, port in sockets
            if not proc.is_loopback(address) and not proc.private_namespace(pid)  # a fence's: reachable from nowhere
        ]
        seen = {(address, port) for _, address, port in sockets}
        missing += (
            [f"{name}: {e.address}" for e in specs[name].listens if (e.host, e.port) not in seen]
            if name in specs
            else []
        )
    assert beyond == [], "lab processes listen beyond loopback"
    # the sockets were really read: each process listens where the inventory says
    assert missing == []


def test_no_secret_in_any_lab_process_command_line_or_environment(lab_processes, lab_settings):
    secrets = [s.encode() for s in lab_settings.secret_values()]
    assert len(secrets) >= 5 and all(len(s) >= 16 for s in secrets)
    leaks = []
    for name, pids in lab_processes.items():
        for pid in pids:
            for part in ("cmdline", "environ"):
                blob = read(f"/proc/{pid}/{part}")
                leaks += [f"{name} (pid {pid}) {part}: secret number {i}" for i, s in enumerate(secrets) if s in blob]
    assert leaks == []
