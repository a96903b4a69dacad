"""module_utils/mlflow.py: the REST client's requests and error mapping, and the tag/alias plans."""

from __future__ import annotations

import io
import json

import pytest
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError

from ansible_collections.baremetal.mlops.plugins.module_utils import mlflow as mu

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
