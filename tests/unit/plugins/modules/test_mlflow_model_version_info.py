"""mlflow_model_version_info run in-process against an in-memory registry."""

from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.modules import mlflow_model_version_info
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import FakeRegistry, run_module

CONNECTION = dict(tracking_uri="http://127.0.0.1:15000")


@pytest.fixture
def registry(monkeypatch):
    fake = FakeRegistry()
    monkeypatch.setattr(mlflow_model_version_info.MlflowClient, "from_module", classmethod(lambda cls, module: fake))
    fake.add_model("iris", versions=3, aliases=dict(champion="2"))
    return fake


def run(args, **kwargs):
    return run_module(mlflow_model_version_info.main, dict(CONNECTION, **args), **kwargs)


@pytest.mark.parametrize(
    ("args", "version", "aliases"),
    [
        (dict(version="3"), "3", []),
        (dict(alias="champion"), "2", ["champion"]),
    ],
)
def test_reads_a_version_by_number_or_alias_and_changes_nothing(registry, args, version, aliases):
    for check_mode in (True, False):
        result, failed = run(dict(name="iris", **args), check_mode=check_mode)
        assert not failed
        assert result["changed"] is False
        assert result["model_version"]["version"] == version
        assert result["model_version"]["source"] == f"s3://bucket/{version}/model"
        assert result["model_version"]["aliases"] == aliases
    assert registry.writes == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(name="nope", version="1"), "model nope: registered model nope does not exist"),
        (dict(name="iris", version="7"), "model iris: version 7 does not exist"),
        (dict(name="iris", alias="prod"), "model iris: alias prod does not exist (aliases: champion)"),
        (dict(name="iris"), "one of the following is required: version, alias"),
        (dict(name="iris", version="1", alias="champion"), "parameters are mutually exclusive: version|alias"),
    ],
)
def test_unknown_models_versions_and_aliases_fail_by_name(registry, args, message):
    result, failed = run(args)
    assert failed
    assert result["msg"] == message
