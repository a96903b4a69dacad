"""mlflow_registered_model and mlflow_model_version against a real MLflow tracking server."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytestmark = pytest.mark.integration


def registry_get(env, path, **query):
    url = f"{env['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def aliases_of(env, name):
    model = registry_get(env, "registered-models/get", name=name)["registered_model"]
    return {a["alias"]: a["version"] for a in model.get("aliases", [])}


def test_registered_model_lifecycle(run_task, data_services, unique):
    name = f"iris-{unique}"
    args = dict(name=name, description="Random forest on iris", tags=dict(team="team-a", tier="gold"))

    predicted = run_task("mlflow_registered_model", args, check=True, diff=True)
    assert predicted["changed"] is True
    assert predicted["steps"] == ["create"]
    with pytest.raises(urllib.error.HTTPError):
        registry_get(data_services, "registered-models/get", name=name)

    created = run_task("mlflow_registered_model", args, diff=True)
    assert created["changed"] is True
    assert created["model"] == {
        "name": name,
        "description": "Random forest on iris",
        "tags": {"team": "team-a", "tier": "gold"},
        "aliases": {},
    }
    assert created["model"] == predicted["model"]
    assert run_task("mlflow_registered_model", args)["changed"] is False

    # Tags merge unless purged; description changes in place.
    merged = run_task("mlflow_registered_model", dict(name=name, tags=dict(owner="ml-platform")))
    assert merged["changed"] is True
    assert merged["model"]["tags"] == {"team": "team-a", "tier": "gold", "owner": "ml-platform"}
    purged = dict(name=name, description="v2", tags=dict(team="team-b"), purge_tags=True)
    predicted = run_task("mlflow_registered_model", purged, check=True, diff=True)
    assert predicted["steps"] == ["description", "tags"]
    assert predicted["diff"]["after"]["tags"] == {"team": "team-b"}
    assert registry_get(data_services, "registered-models/get", name=name)["registered_model"]["description"] == (
        "Random forest on iris"
    )
    done = run_task("mlflow_registered_model", purged)
    assert done["model"] == dict(predicted["model"])
    assert run_task("mlflow_registered_model", purged)["changed"] is False

    removed = run_task("mlflow_registered_model", dict(name=name, state="absent"))
    assert removed["changed"] is True
    assert run_task("mlflow_registered_model", dict(name=name, state="absent"))["changed"] is False


def test_model_versions_aliases_and_archive(run_task, data_services, unique):
    name = f"iris-{unique}"
    assert run_task("mlflow_registered_model", dict(name=name))["changed"] is True

    sources = [f"s3://mlflow-artifacts/0/{unique}-{n}/artifacts/model" for n in (1, 2)]
    v1 = dict(name=name, source=sources[0], aliases=["champion"], tags=dict(accuracy="0.93"))
    predicted = run_task("mlflow_model_version", v1, check=True, diff=True)
    assert predicted["changed"] is True
    assert predicted["steps"] == ["create", "aliases"]
    assert predicted["model_version"]["version"] is None
    assert "champion" not in aliases_of(data_services, name)

    first = run_task("mlflow_model_version", v1)
    assert first["changed"] is True
    assert first["model_version"]["version"] == "1"
    assert first["model_version"]["aliases"] == ["champion"]
    assert first["model_version"]["tags"] == {"accuracy": "0.93"}
    again = run_task("mlflow_model_version", v1)
    assert again["changed"] is False, "the version is found again by its source"
    assert again["model_version"]["version"] == "1"

    second = run_task("mlflow_model_version", dict(name=name, source=sources[1], aliases=["candidate"]))
    assert second["model_version"]["version"] == "2"
    assert aliases_of(data_services, name) == {"champion": "1", "candidate": "2"}

    # Promotion: champion moves to version 2, which loses candidate.
    promote = dict(name=name, version="2", aliases=["champion"], purge_aliases=True, description="promoted")
    predicted = run_task("mlflow_model_version", promote, check=True, diff=True)
    assert predicted["steps"] == ["description", "aliases"]
    assert predicted["diff"]["before"]["aliases"] == ["candidate"]
    assert predicted["diff"]["after"]["aliases"] == ["champion"]
    assert aliases_of(data_services, name) == {"champion": "1", "candidate": "2"}
    promoted = run_task("mlflow_model_version", promote)
    assert promoted["changed"] is True
    assert aliases_of(data_services, name) == {"champion": "2"}
    assert run_task("mlflow_model_version", promote)["changed"] is False

    # The old champion is archived, not deleted.
    archive = dict(name=name, version="1", stage="Archived")
    archived = run_task("mlflow_model_version", archive)
    assert archived["changed"] is True
    assert archived["model_version"]["stage"] == "Archived"
    assert run_task("mlflow_model_version", archive)["changed"] is False

    # The model-level view of the same aliases.
    moved = run_task("mlflow_registered_model", dict(name=name, aliases=dict(candidate=1)))
    assert moved["changed"] is True
    assert moved["model"]["aliases"] == {"champion": "2", "candidate": "1"}
    purge = dict(name=name, aliases=dict(champion=2), purge_aliases=True)
    assert run_task("mlflow_registered_model", purge)["model"]["aliases"] == {"champion": "2"}
    assert run_task("mlflow_registered_model", purge)["changed"] is False

    missing = run_task("mlflow_model_version", dict(name=name, version="9", aliases=["x"]))
    assert missing.get("failed") is True
    assert "version 9 does not exist" in missing["msg"]

    deleted = run_task("mlflow_model_version", dict(name=name, version="1", state="absent"))
    assert deleted["changed"] is True
    assert run_task("mlflow_model_version", dict(name=name, version="1", state="absent"))["changed"] is False
    assert run_task("mlflow_registered_model", dict(name=name, state="absent"))["changed"] is True
