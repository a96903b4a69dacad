"""mlflow_model_version run in-process against an in-memory registry."""

from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.modules import mlflow_model_version
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import FakeRegistry, run_module

CONNECTION = dict(tracking_uri="http://127.0.0.1:15000")


@pytest.fixture
def registry(monkeypatch):
    fake = FakeRegistry()
    monkeypatch.setattr(mlflow_model_version.MlflowClient, "from_module", classmethod(lambda cls, module: fake))
    return fake


def run(args, **kwargs):
    return run_module(mlflow_model_version.main, dict(CONNECTION, **args), **kwargs)


def test_register_by_source_once(registry):
    registry.add_model("iris")
    args = dict(name="iris", source="s3://mlflow-artifacts/1/r/artifacts/model", run_id="r", aliases=["candidate"])
    predicted, failed = run(args, check_mode=True)
    assert not failed
    assert (predicted["changed"], predicted["steps"]) == (True, ["create", "aliases"])
    assert predicted["model_version"]["version"] is None
    assert registry.writes == []
    result, _failed = run(args)
    assert result["model_version"]["version"] == "1"
    assert result["model_version"]["aliases"] == ["candidate"]
    result, _failed = run(args)
    assert result["changed"] is False
    assert registry.writes == [("create_model_version", "iris"), ("set_alias", "candidate", "1")]


def test_promote_moves_the_alias(registry):
    registry.add_model("iris", versions=2, aliases=dict(champion="1", candidate="2"))
    args = dict(name="iris", version="2", aliases=["champion"], purge_aliases=True)
    result, failed = run(args, diff=True)
    assert not failed
    assert result["diff"]["before"]["aliases"] == ["candidate"]
    assert result["diff"]["after"]["aliases"] == ["champion"]
    assert registry.models["iris"]["aliases"] == dict(champion="2")
    result, _failed = run(args)
    assert result["changed"] is False


def test_archive_tags_description(registry):
    registry.add_model("iris", versions=1)
    args = dict(name="iris", version="1", stage="Archived", description="superseded", tags=dict(reason="drift"))
    result, _failed = run(args)
    assert result["steps"] == ["description", "tags", "stage"]
    assert result["model_version"]["stage"] == "Archived"
    assert result["model_version"]["tags"] == dict(reason="drift")
    result, _failed = run(args)
    assert result["changed"] is False


def test_delete(registry):
    registry.add_model("iris", versions=2, aliases=dict(champion="2"))
    result, _failed = run(dict(name="iris", version="2", state="absent"))
    assert (result["changed"], result["model_version"]) == (True, None)
    assert "2" not in registry.models["iris"]["versions"]
    result, _failed = run(dict(name="iris", version="2", state="absent"))
    assert result["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(name="iris"), "model iris: give version, or source to find or register the version"),
        (dict(name="nope", version="1"), "model nope: registered model nope does not exist"),
        (dict(name="iris", version="7"), "model iris: version 7 does not exist; give source (not version) to register"),
        (dict(name="iris", version="1", source="s3://x"), "parameters are mutually exclusive: version|source"),
    ],
)
def test_bad_input(registry, args, message):
    registry.add_model("iris", versions=1)
    result, failed = run(args)
    assert failed
    assert result["msg"].startswith(message)
