"""The lab data services themselves: health, loopback-only listeners, pid files."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_services_healthy_on_loopback(labdata, data_services):
    report = labdata.status()
    assert report == {
        "minio": {"address": "127.0.0.1:19000", "healthy": True},
        "postgresql": {"address": "127.0.0.1:15432", "healthy": True},
        "mlflow": {"address": "127.0.0.1:15000", "healthy": True},
    }
    assert data_services["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:15000"


def test_pid_files_name_the_running_programs(labdata, data_services):
    for name, marker in (("minio", "minio server"), ("mlflow", "mlflow server")):
        pid = labdata.read_pid(labdata.RUN / f"{name}.pid")
        assert pid is not None
        assert labdata.pid_alive(pid, marker)
    assert (labdata.DATA / "postgresql" / "postmaster.pid").is_file()


def test_up_again_starts_nothing(labdata, data_services):
    assert labdata.up() == []


def test_credentials_file_is_private(labdata, data_services):
    assert labdata.CREDENTIALS.stat().st_mode & 0o077 == 0
