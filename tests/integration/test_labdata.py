"""The lab data services themselves: health, pid files, credentials kept in private files."""

from __future__ import annotations

import pytest

from lab import processes as proc
from lab.data import SERVICES

pytestmark = pytest.mark.integration


def test_services_run_where_the_inventory_says(labdata, data_services, lab_settings):
    report = labdata.status()
    assert report == {name: {"address": lab_settings.endpoint(name).address, "state": "running"} for name in SERVICES}
    assert data_services["MLFLOW_TRACKING_URI"] == lab_settings.var("lab_mlflow_tracking_uri")


def test_pid_files_name_the_running_programs(labdata, data_services):
    for name in SERVICES:
        record = labdata.manager.record(name)
        assert proc.is_ours(record), name
        assert record["listens"] == [e.address for e in labdata.spec(name).listens]


def test_up_again_starts_nothing(labdata, data_services):
    assert labdata.up() == []


def test_credential_files_are_private(labdata, data_services):
    files = sorted(p for p in labdata.secrets_dir.iterdir() if p.is_file())
    assert {p.name for p in files} >= {"aws-credentials", "mlflow.pgpass", "minio-root-user", "minio-root-password"}
    assert [p.name for p in files if p.stat().st_mode & 0o077] == []
