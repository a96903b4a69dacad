"""lab-up / lab-down / lab-status: idempotent start, exact stop, crash reporting.

Runs after the other lab tests (file order) because it stops and restarts
the lab; it always leaves the lab up, as the session fixture expects.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from lab_support import labctl

from lab import cluster
from lab import processes as proc

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab_cluster(lab_settings):
    return cluster.Cluster(lab_settings)


def pids(c: cluster.Cluster) -> dict[str, int]:
    names = {spec.name for spec in cluster.specs(c)}
    return {name: r["pid"] for name, r in proc.records(c.settings.run_dir).items() if name in names}


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie awaiting its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_pid_files_record_the_process_the_lab_started(lab, lab_cluster):
    for spec in cluster.specs(lab_cluster):
        record = proc.read_record(lab_cluster.settings.run_dir, spec.name)
        if record is None:  # a chart mirror someone else serves
            assert spec.name == "chart-mirror" and cluster.component_state(lab_cluster, spec) == "external"
            continue
        assert proc.is_ours(record), spec.name
        assert record["exe"] == os.path.realpath(os.readlink(f"/proc/{record['pid']}/exe"))
        assert record["listens"] == [e.address for e in spec.listens]


def test_lab_up_twice_is_a_no_op(lab, lab_cluster):
    before = pids(lab_cluster)
    nodes_before = {n["metadata"]["name"]: n["metadata"]["uid"] for n in lab.get("nodes")["items"]}
    result = labctl("up")
    assert "already up, nothing changed" in result.stdout
    assert pids(lab_cluster) == before
    assert {n["metadata"]["name"]: n["metadata"]["uid"] for n in lab.get("nodes")["items"]} == nodes_before


def test_status_reports_a_crashed_component(lab, lab_cluster):
    assert labctl("status", check=False).returncode == 0
    scheduler = pids(lab_cluster)["kube-scheduler"]
    os.kill(scheduler, signal.SIGKILL)
    lab.wait_until(lambda: not alive(scheduler), "the scheduler to die")
    status = labctl("status", check=False)
    assert status.returncode == 1
    assert any(line.startswith("kube-scheduler") and "crashed" in line for line in status.stdout.splitlines())
    labctl("up")
    assert labctl("status", check=False).returncode == 0


def test_lab_down_stops_its_processes_and_frees_its_ports(lab, lab_cluster):
    started = pids(lab_cluster)
    assert set(started) >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    ours = [spec for spec in cluster.specs(lab_cluster) if spec.name in started]
    labctl("down")
    try:
        assert not any(alive(pid) for pid in started.values())
        assert set(pids(lab_cluster)) == set()
        assert [e.address for spec in ours for e in spec.listens if proc.port_open(e)] == []
        assert labctl("status", check=False).returncode == 1
    finally:
        labctl("up")
    assert labctl("status", check=False).returncode == 0
