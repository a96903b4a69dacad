"""The training entry point against the real MLflow and MinIO: the spec's success criteria.

- the run is logged with its parameters, its metric and its artifacts;
- the artifacts are objects in the MinIO bucket (the MLflow artifact root);
- the model is registered with version 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import urllib.request
from urllib.parse import urlsplit

import pytest
from minio import Minio

pytestmark = pytest.mark.integration


def api(env, endpoint, **query):
    url = f"{env['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_training_logs_a_run_and_registers_version_1(labdata, data_services, unique):
    python = labdata.mlflow_env.bin("python")
    model_name = f"iris-bare-metal-{unique}"
    env = dict(os.environ, **data_services, IRIS_MODEL_NAME=model_name)
    proc = subprocess.run(
        [python, str(labdata.settings.root / "lab" / "train_iris.py")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["model_version"] == "1"

    run = api(data_services, "runs/get", run_id=summary["run_id"])["run"]
    assert run["info"]["status"] == "FINISHED"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params == {"n_estimators": "120", "max_depth": "5"}
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["accuracy"] >= 0.9
    assert run["info"]["artifact_uri"].startswith(f"s3://{labdata.bucket}/")

    listing = api(data_services, "artifacts/list", run_id=summary["run_id"], path="evaluation")
    assert [f["path"] for f in listing["files"]] == ["evaluation/classification_report.json"]

    version = api(data_services, "model-versions/get", name=model_name, version="1")["model_version"]
    assert version["status"] == "READY"
    assert version["run_id"] == summary["run_id"]

    # The bytes are in MinIO: the run's report and the logged model's files.
    s3 = Minio(
        urlsplit(data_services["MINIO_ENDPOINT"]).netloc,
        access_key=data_services["MINIO_ACCESS_KEY"],
        secret_key=data_services["MINIO_SECRET_KEY"],
        secure=False,
    )
    keys = {o.object_name for o in s3.list_objects(labdata.bucket, recursive=True)}
    experiment_id = run["info"]["experiment_id"]
    run_prefix = f"{experiment_id}/{summary['run_id']}/artifacts/"
    assert f"{run_prefix}evaluation/classification_report.json" in keys
    model_id = summary["model_uri"].removeprefix("models:/")
    model_files = {k.rsplit("/", 1)[-1] for k in keys if k.startswith(f"{experiment_id}/models/{model_id}/")}
    assert {"MLmodel", "requirements.txt"} <= model_files
