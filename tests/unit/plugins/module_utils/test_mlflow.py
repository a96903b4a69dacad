"""module_utils/mlflow.py: the REST client's requests and error mapping, and the tag/alias plans."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError

from ansible_collections.baremetal.mlops.plugins.module_utils import mlflow as mu
from ansible_collections.baremetal.mlops.tests.unit.plugins.module_utils.mlflow_server import (
    TrackingData,
    TrackingServer,
)

PARAMS = dict(
    tracking_uri="http://mlflow:5000/", username=None, password=None, token=None, validate_certs=True, timeout=5
)


class Opener:
    """Stands in for open_url: records the call and answers with a canned body or error."""

    def __init__(self, answer=b"{}", error=None):
        self.answer = answer
        self.error = error
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append(dict(url=url, **kwargs))
        if self.error is not None:
            raise self.error
        return io.BytesIO(self.answer)


def http_error(code, body):
    return HTTPError("http://mlflow", code, "error", {}, io.BytesIO(json.dumps(body).encode()))


def test_get_registered_model_builds_the_request_and_shapes_the_answer():
    answer = {
        "registered_model": {
            "name": "iris",
            "description": "rf",
            "tags": [{"key": "team", "value": "a"}],
            "aliases": [{"alias": "champion", "version": "2"}],
        }
    }
    opener = Opener(json.dumps(answer).encode())
    model = mu.MlflowClient(PARAMS, opener).get_registered_model("iris bare")
    assert model == dict(name="iris", description="rf", tags={"team": "a"}, aliases={"champion": "2"})
    call = opener.calls[0]
    assert call["url"] == "http://mlflow:5000/api/2.0/mlflow/registered-models/get?name=iris+bare"
    assert call["method"] == "GET"
    assert call["data"] is None
    assert call["timeout"] == 5


def test_missing_resources_read_as_none():
    opener = Opener(error=http_error(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "nope"}))
    client = mu.MlflowClient(PARAMS, opener)
    assert client.get_registered_model("iris") is None
    assert client.get_model_version("iris", 3) is None


def test_errors_name_the_call_and_the_server_message():
    opener = Opener(error=http_error(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad alias"}))
    with pytest.raises(mu.MlflowError) as err:
        mu.MlflowClient(PARAMS, opener).set_alias("iris", "v1", 1)
    assert str(err.value) == "POST /registered-models/alias: HTTP 400 INVALID_PARAMETER_VALUE: bad alias"
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert json.loads(opener.calls[0]["data"]) == {"name": "iris", "alias": "v1", "version": "1"}
    assert opener.calls[0]["headers"]["Content-Type"] == "application/json"


def test_unreachable_server():
    opener = Opener(error=URLError("connection refused"))
    with pytest.raises(mu.MlflowError, match="cannot reach http://mlflow:5000/"):
        mu.MlflowClient(PARAMS, opener).get_registered_model("iris")


def test_non_json_answer():
    with pytest.raises(mu.MlflowError, match="the server did not answer JSON"):
        mu.MlflowClient(PARAMS, Opener(b"<html>")).get_registered_model("iris")


def test_auth_basic_and_token():
    opener = Opener()
    mu.MlflowClient(dict(PARAMS, username="u", password="p"), opener).delete_alias("iris", "champion")
    assert opener.calls[0]["url_username"] == "u"
    assert opener.calls[0]["force_basic_auth"] is True
    opener = Opener()
    mu.MlflowClient(dict(PARAMS, username="u", token="t"), opener).delete_alias("iris", "champion")
    assert opener.calls[0]["headers"]["Authorization"] == "Bearer t"
    assert "url_username" not in opener.calls[0]


def test_find_model_version_follows_pages_and_matches_source():
    pages = [
        {
            "model_versions": [
                {"name": "iris", "version": "1", "source": "s3://a"},
                {"name": "iris", "version": "2", "source": "s3://b"},
            ],
            "next_page_token": "t",
        },
        {"model_versions": [{"name": "iris", "version": "3", "source": "s3://a"}]},
    ]
    answers = iter(json.dumps(p).encode() for p in pages)
    calls = []

    def opener(url, **kwargs):
        calls.append(url)
        return io.BytesIO(next(answers))

    found = mu.MlflowClient(PARAMS, opener).find_model_version("iris", "s3://a", run_id="r1")
    assert found["version"] == "3"
    assert "page_token=t" in calls[1]
    assert "run_id%3D%27r1%27" in calls[0]


@pytest.mark.parametrize(
    ("current", "wanted", "purge", "expected"),
    [
        ({"a": "1"}, {"a": "1"}, False, ({}, [])),
        ({"a": "1"}, {"a": "2"}, False, ({"a": "2"}, [])),
        ({"a": "1", "b": "2"}, {"a": "1"}, False, ({}, [])),
        ({"a": "1", "b": "2"}, {"a": "1"}, True, ({}, ["b"])),
    ],
)
def test_plan_tags(current, wanted, purge, expected):
    assert mu.plan_tags(current, wanted, purge) == expected


@pytest.mark.parametrize(
    ("model_aliases", "version", "wanted", "purge", "expected"),
    [
        ({"champion": "1"}, "1", ["champion"], False, ([], [])),
        ({"champion": "1"}, "2", ["champion"], False, (["champion"], [])),
        ({"champion": "1", "candidate": "2"}, "2", ["champion"], True, (["champion"], ["candidate"])),
        ({"champion": "1", "candidate": "2"}, "2", [], False, ([], [])),
    ],
)
def test_plan_aliases(model_aliases, version, wanted, purge, expected):
    assert mu.plan_aliases(model_aliases, version, wanted, purge) == expected


def test_registry_reads_every_page_of_models_and_versions():
    pages = {
        "/registered-models/search": [
            {
                "registered_models": [{"name": "iris", "aliases": [{"alias": "champion", "version": "2"}]}],
                "next_page_token": "t",
            },
            {"registered_models": [{"name": "a-model"}]},
        ],
        "/model-versions/search": [
            {
                "model_versions": [{"version": "2", "source": "s3://b/2"}, {"version": "10", "source": "s3://b/10"}],
                "next_page_token": "v",
            },
            {"model_versions": [{"version": "1", "source": "s3://b/1", "storage_location": "s3://b/1/x"}]},
            {"model_versions": []},
        ],
    }
    calls = []

    class Answer:
        def __init__(self, body):
            self.body = body

        def read(self):
            return json.dumps(self.body).encode()

    def opener(url, **kwargs):
        path = url.split("/api/2.0/mlflow", 1)[1].split("?", 1)[0]
        calls.append(url)
        return Answer(pages[path].pop(0))

    client = mu.MlflowClient(dict(tracking_uri="http://m", validate_certs=True, timeout=5), opener=opener)
    models = client.registry()
    assert [m["name"] for m in models] == ["a-model", "iris"]
    iris = models[1]
    assert iris["aliases"] == {"champion": "2"}
    assert [v["version"] for v in iris["versions"]] == ["1", "2", "10"]
    assert iris["versions"][0]["storage_location"] == "s3://b/1/x"
    assert any("page_token=t" in url for url in calls) and any("page_token=v" in url for url in calls)
    assert models[0]["versions"] == [] and models[0]["aliases"] == {}


def test_registry_resolves_mlflow_3_logged_model_and_run_sources_to_their_artifact_location():
    answers = {
        "/registered-models/search": [{"registered_models": [{"name": "iris"}]}],
        "/model-versions/search": [
            {
                "model_versions": [
                    {"version": "1", "source": "models:/m-abc"},
                    {"version": "2", "source": "runs:/r1/model"},
                    {"version": "3", "source": "models:/m-gone"},
                ]
            }
        ],
        "/logged-models/m-abc": [{"model": {"info": {"artifact_uri": "s3://art/1/models/m-abc/artifacts"}}}],
        "/runs/get": [{"run": {"info": {"artifact_uri": "s3://art/1/r1/artifacts"}}}],
    }

    class Answer:
        def __init__(self, body):
            self.body = body

        def read(self):
            return json.dumps(self.body).encode()

    def opener(url, **kwargs):
        path = url.split("/api/2.0/mlflow", 1)[1].split("?", 1)[0]
        if path not in answers:
            raise HTTPError(url, 404, "Not Found", {}, io.BytesIO(b'{"error_code": "RESOURCE_DOES_NOT_EXIST"}'))
        return Answer(answers[path].pop(0))

    client = mu.MlflowClient(dict(tracking_uri="http://m", validate_certs=True, timeout=5), opener=opener)
    versions = client.registry()[0]["versions"]
    assert [v["storage_location"] for v in versions] == [
        "s3://art/1/models/m-abc/artifacts",
        "s3://art/1/r1/artifacts/model",
        "",
    ]


# ------------------------------------------------------------------ experiments and runs, over real HTTP


def tracking_client(server, timeout=10):
    return mu.MlflowClient(dict(tracking_uri=server.uri, validate_certs=True, timeout=timeout))


def test_thousands_of_runs_are_read_page_by_page_deleted_ones_included():
    data = TrackingData()
    data.add_experiment(1, "tabular")
    data.add_experiment(2, "vision", deleted=True)
    for number in range(2500):
        data.add_run(f"r{number:04d}", 1 + number % 2, start_time=10_000 - number, deleted=number % 7 == 0)
    with TrackingServer(data) as server:
        client = tracking_client(server)
        experiments = client.experiments(page_size=2)
        runs = client.runs([e["experiment_id"] for e in experiments], page_size=200)
    assert [(e["experiment_id"], e["name"], e["lifecycle_stage"]) for e in experiments] == [
        ("0", "Default", "active"),
        ("1", "tabular", "active"),
        ("2", "vision", "deleted"),
    ]
    assert experiments[2]["artifact_location"] == "s3://a/2"
    assert len(runs) == 2500 and len({r["run_id"] for r in runs}) == 2500
    assert sum(r["lifecycle_stage"] == "deleted" for r in runs) == len(range(0, 2500, 7))
    # by experiment, then oldest first
    assert [r["experiment_id"] for r in runs[:1250]] == ["1"] * 1250
    assert runs[0]["start_time"] == 10_000 - 2498 and runs[0]["run_id"] == "r2498"
    searches = [body for method, path, body in data.requests if path.endswith("/runs/search")]
    assert {request[0] for request in data.requests} == {"POST"}
    assert len(searches) == 13, "2500 runs in pages of 200"
    assert all(body["max_results"] == 200 and body["run_view_type"] == "ALL" for body in searches)
    assert [body.get("page_token") for body in searches[:3]] == [None, "200", "400"]
    experiment_searches = [body for method, path, body in data.requests if path.endswith("/experiments/search")]
    assert [body.get("page_token") for body in experiment_searches] == [None, "2"]
    assert all(body["view_type"] == "ALL" and body["max_results"] == 2 for body in experiment_searches)


def test_runs_search_names_at_most_100_experiments_and_a_run_is_recorded_once():
    data = TrackingData()
    for number in range(1, 251):
        data.add_experiment(number, f"e{number}")
        data.add_run(f"run{number}", number, start_time=number)
    with TrackingServer(data) as server:
        client = tracking_client(server)
        runs = client.runs([str(n) for n in range(1, 251)] + ["1"], page_size=1000)
    searches = [body["experiment_ids"] for method, path, body in data.requests if path.endswith("/runs/search")]
    assert [len(ids) for ids in searches] == [100, 100, 51]
    assert [r["run_id"] for r in runs] == [f"run{n}" for n in range(1, 251)]


def test_an_unreachable_server_fails_naming_the_search():
    data = TrackingData()
    with TrackingServer(data) as server:
        uri = server.uri
    with pytest.raises(mu.MlflowError, match=r"POST /experiments/search: cannot reach http://127\.0\.0\.1"):
        mu.MlflowClient(dict(tracking_uri=uri, validate_certs=True, timeout=2)).experiments()


def test_a_run_record_digests_its_data_as_sorted_hex_lines():
    raw = {
        "info": {
            "run_id": "abc",
            "run_name": "train",
            "experiment_id": 3,
            "status": "FINISHED",
            "start_time": "1000",
            "lifecycle_stage": "active",
            "artifact_uri": "s3://a/3/abc/artifacts",
        },
        "data": {
            "params": [{"key": "lr", "value": "0.1"}, {"key": "depth", "value": "4"}],
            "metrics": [{"key": "acc", "value": 0.5, "step": "2", "timestamp": 7}],
            "tags": [{"key": "t"}],
        },
    }
    record = mu.run_record(raw)
    assert {k: record[k] for k in ("run_id", "name", "experiment_id", "start_time", "end_time")} == {
        "run_id": "abc",
        "name": "train",
        "experiment_id": "3",
        "start_time": 1000,
        "end_time": None,
    }
    # "depth" < "lr" bytewise: 6465.. before 6c72..
    params = "6465707468:34\n6c72:302e31"
    assert record["params"] == {"count": 2, "sha256": hashlib.sha256(params.encode()).hexdigest()}
    assert record["metrics"] == {"count": 1, "sha256": hashlib.sha256(b"616363:3fe0000000000000:2:7").hexdigest()}
    assert record["tags"] == {"count": 1, "sha256": hashlib.sha256(b"74:").hexdigest()}
    empty = mu.run_record({"info": dict(raw["info"]), "data": {}})
    assert empty["params"] == {"count": 0, "sha256": hashlib.sha256(b"").hexdigest()}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, "3fe0000000000000"),
        (-0.0, "8000000000000000"),
        ("NaN", "nan"),
        (float("nan"), "nan"),
        # MLflow's SQL store keeps infinity as the largest finite double
        ("Infinity", "7fefffffffffffff"),
        (float("-inf"), "ffefffffffffffff"),
        (1, "3ff0000000000000"),
    ],
)
def test_metric_values_are_the_bytes_of_the_double_mlflow_stores(value, expected):
    assert mu.metric_value_hex(value) == expected


def test_a_changed_metric_value_changes_the_digest():
    def metrics(value):
        return mu.run_record(
            {
                "info": {"run_id": "r", "experiment_id": "1"},
                "data": {"metrics": [{"key": "acc", "value": value, "step": 0, "timestamp": 0}]},
            }
        )["metrics"]["sha256"]

    assert metrics(0.9) != metrics(0.9000000000000001)
    assert metrics(0.9) == metrics(0.9)
