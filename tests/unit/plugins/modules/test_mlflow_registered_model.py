"""mlflow_registered_model run in-process against an in-memory registry."""

from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.modules import mlflow_registered_model
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import FakeRegistry, run_module

CONNECTION = dict(tracking_uri="http://127.0.0.1:15000")


@pytest.fixture
def registry(monkeypatch):
    fake = FakeRegistry()
    monkeypatch.setattr(mlflow_registered_model.MlflowClient, "from_module", classmethod(lambda cls, module: fake))
    return fake


def run(args, **kwargs):
    return run_module(mlflow_registered_model.main, dict(CONNECTION, **args), **kwargs)


def test_create_then_idempotent(registry):
    args = dict(name="iris", description="rf", tags=dict(team="a", replicas=2))
    result, failed = run(args, diff=True)
    assert not failed
    assert result["changed"] is True
    assert result["model"] == dict(name="iris", description="rf", tags=dict(team="a", replicas="2"), aliases={})
    assert result["diff"]["before"] == {}
    result, failed = run(args)
    assert (failed, result["changed"]) == (False, False)
    assert registry.writes == [("create_registered_model", "iris")]


def test_check_mode_predicts_the_update(registry):
    registry.add_model("iris", versions=2, tags=dict(team="a", old="x"), aliases=dict(champion="1"))
    args = dict(name="iris", description="new", tags=dict(team="b"), purge_tags=True, aliases=dict(champion=2))
    predicted, failed = run(args, check_mode=True, diff=True)
    assert not failed
    assert predicted["steps"] == ["description", "tags", "aliases"]
    assert registry.writes == []
    result, _failed = run(args)
    assert (
        result["model"]
        == predicted["model"]
        == dict(name="iris", description="new", tags=dict(team="b"), aliases=dict(champion="2"))
    )
    assert ("delete_model_tag", "old") in registry.writes
    assert ("set_alias", "champion", "2") in registry.writes


def test_aliases_purged_only_when_asked(registry):
    registry.add_model("iris", versions=2, aliases=dict(champion="1", candidate="2"))
    result, _failed = run(dict(name="iris", aliases=dict(champion=1)))
    assert result["changed"] is False
    result, _failed = run(dict(name="iris", aliases=dict(champion=1), purge_aliases=True))
    assert result["model"]["aliases"] == dict(champion="1")


def test_absent(registry):
    registry.add_model("iris")
    result, _failed = run(dict(name="iris", state="absent"), diff=True)
    assert (result["changed"], result["model"], result["diff"]["after"]) == (True, None, {})
    result, _failed = run(dict(name="iris", state="absent"))
    assert result["changed"] is False


def test_alias_version_must_be_a_number(registry):
    registry.add_model("iris")
    result, failed = run(dict(name="iris", aliases=dict(champion="latest")))
    assert failed
    assert result["msg"] == "registered model iris: alias champion: version must be a number, got 'latest'"
