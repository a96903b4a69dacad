"""mlflow_registry_info run in-process against a tiny MLflow server on loopback (real HTTP)."""

from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.modules import mlflow_registry_info
from ansible_collections.baremetal.mlops.tests.unit.plugins.module_utils.mlflow_server import (
    TrackingData,
    TrackingServer,
)
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import run_module


@pytest.fixture
def server():
    data = TrackingData()
    data.add_experiment(1, "iris")
    data.add_experiment(2, "old", deleted=True)
    data.add_run("a", 1, start_time=2, params=[{"key": "lr", "value": "0.1"}])
    data.add_run("b", 1, start_time=1)
    data.add_run("c", 2, start_time=3, deleted=True)
    data.models.append({"name": "iris", "aliases": [{"alias": "champion", "version": "1"}]})
    with TrackingServer(data) as running:
        running.data = data
        yield running


def test_lists_models_experiments_and_runs_and_changes_nothing(server):
    for check_mode in (True, False):
        result, failed = run_module(
            mlflow_registry_info.main, dict(tracking_uri=server.uri, page_size=1), check_mode=check_mode
        )
        assert not failed, result
        assert result["changed"] is False
        assert [m["name"] for m in result["registered_models"]] == ["iris"]
        assert [(e["name"], e["lifecycle_stage"]) for e in result["experiments"]] == [
            ("Default", "active"),
            ("iris", "active"),
            ("old", "deleted"),
        ]
        assert [(r["run_id"], r["lifecycle_stage"]) for r in result["runs"]] == [
            ("b", "active"),
            ("a", "active"),
            ("c", "deleted"),
        ]
        assert result["runs"][1]["params"]["count"] == 1
    assert {method for method, _path, _body in server.data.requests} == {"GET", "POST"}
    assert all(path.endswith("/search") for _method, path, _body in server.data.requests)
    assert all(int(body["max_results"]) == 1 for _method, _path, body in server.data.requests if "max_results" in body)


def test_without_tracking_only_the_registry_is_read(server):
    result, failed = run_module(mlflow_registry_info.main, dict(tracking_uri=server.uri, tracking=False))
    assert not failed, result
    assert (result["experiments"], result["runs"]) == ([], [])
    assert not [path for _method, path, _body in server.data.requests if "runs" in path or "experiments" in path]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(page_size=0), "page_size must be a positive number of items per request, got 0"),
        (dict(tracking_uri="http://127.0.0.1:9"), "POST /experiments/search: cannot reach http://127.0.0.1:9"),
    ],
)
def test_failures_name_the_server_and_the_cause(server, args, message):
    result, failed = run_module(mlflow_registry_info.main, dict(dict(tracking_uri=server.uri, timeout=3), **args))
    assert failed
    assert result["msg"].startswith(f"registry of {args.get('tracking_uri', server.uri)}: {message}")
