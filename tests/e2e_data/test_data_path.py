"""The spec's success criteria on the lab's data path, and verify naming the broken layer."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHECKS = [
    "MinIO endpoint answers",
    "buckets exist",
    "team keys scoped to team buckets",
    "experiment bare-metal-iris exists",
    "model iris-bare-metal has version 1",
    "alias champion names a version",
    "run has parameters, metrics, artifacts",
    "model artifacts in bucket",
    "predict returns a valid class",
    "Prometheus scrapes mlserver, minio",
    "predictor request-count and latency series",
    "p99 latency query returns data",
]


def summary_rows(output: str) -> dict[str, str]:
    """check name -> status, from the summary table's lines."""
    rows = {}
    for line in output.splitlines():
        for check in CHECKS:
            if f" {check} " in line and "|" in line:
                status = line.split(check)[0].split()[-1]
                rows[check] = status
    return rows


def verify(pipeline, *extra):
    return pipeline.verify(*extra)


def test_fifty_predictions_are_iris_classes(predictions):
    assert len(predictions) == 50
    assert set(predictions) <= {0, 1, 2}


def test_verify_passes_every_check(predictions, pipeline):
    result = verify(pipeline)
    assert result.returncode == 0, result.stdout[-6000:]
    rows = summary_rows(result.stdout)
    assert rows == dict.fromkeys(CHECKS, "passed"), result.stdout[-6000:]


def test_verify_blames_storage_when_minio_stops_then_passes_again(predictions, pipeline, data_services):
    data_services.down(["minio"])
    try:
        # Short metric waits: the point is the storage verdict, not patience.
        broken = verify(pipeline, "-e", "platform_verify_metrics_wait_seconds=10")
    finally:
        data_services.up(["minio"])
    assert broken.returncode != 0
    assert "Layer to look at first (in dependency order): storage" in broken.stdout, broken.stdout[-6000:]
    rows = summary_rows(broken.stdout)
    assert rows["MinIO endpoint answers"] == "failed"
    assert rows["predict returns a valid class"] == "passed"

    healed = verify(pipeline)
    assert healed.returncode == 0, healed.stdout[-6000:]
    assert set(summary_rows(healed.stdout).values()) == {"passed"}
