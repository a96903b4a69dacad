"""s3_access_probe run in-process against an in-memory S3 that enforces per-key grants."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from minio.error import S3Error

from ansible_collections.baremetal.mlops.plugins.modules import s3_access_probe
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import run_module

ENDPOINT = "http://127.0.0.1:19000"
OWNER = dict(endpoint=ENDPOINT, access_key="vision", secret_key="vision-secret-key")
STRANGER = dict(endpoint=ENDPOINT, access_key="tabular", secret_key="tabular-secret-key")


def s3_error(code):
    return S3Error(None, code, code, None, None, None)


class GrantedS3:
    """minio.Minio over a dict of buckets; `grants` maps access key -> buckets it may use."""

    def __init__(self, access_key, buckets, grants, fail_with=None):
        self.access_key = access_key
        self.buckets = buckets
        self.grants = grants
        self.fail_with = fail_with
        self.calls = []

    def _check(self, bucket, call):
        self.calls.append(call)
        if self.fail_with:
            raise s3_error(self.fail_with)
        if self.access_key not in self.grants:
            raise s3_error("InvalidAccessKeyId")
        if bucket not in self.grants[self.access_key]:
            raise s3_error("AccessDenied")
        if bucket not in self.buckets:
            raise s3_error("NoSuchBucket")

    def bucket_exists(self, bucket):
        try:
            self._check(bucket, "bucket_exists")
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                return False
            raise
        return True

    def put_object(self, bucket, key, data, length, content_type=None):
        self._check(bucket, "put_object")
        self.buckets[bucket][key] = data.read(length)

    def get_object(self, bucket, key):
        self._check(bucket, "get_object")
        if key not in self.buckets[bucket]:
            raise s3_error("NoSuchKey")
        body = io.BytesIO(self.buckets[bucket][key])
        body.release_conn = lambda: None
        return body

    def remove_object(self, bucket, key):
        self._check(bucket, "remove_object")
        self.buckets[bucket].pop(key, None)

    def list_objects(self, bucket, prefix=None, recursive=False):
        self._check(bucket, "list_objects")
        return [
            SimpleNamespace(object_name=name) for name in sorted(self.buckets[bucket]) if name.startswith(prefix or "")
        ]


@pytest.fixture
def store():
    return {"vision-models": {}, "mlflow-artifacts": {"1/models/m-1/artifacts/MLmodel": b"x"}}


@pytest.fixture
def server(monkeypatch, store):
    """Patch connect() so each call gets a client bound to the keys it was given."""
    grants = {"vision": ["vision-models", "vision-data"], "tabular": ["tabular-models"], "admin": list(store)}
    clients = []

    def connect(params):
        client = GrantedS3(params["access_key"], store, grants)
        clients.append(client)
        return client, None

    monkeypatch.setattr(s3_access_probe, "connect", connect)
    return clients


def run(args, **kwargs):
    return run_module(s3_access_probe.main, args, **kwargs)


def test_owner_may_put_get_delete_and_leaves_nothing(server, store):
    result, failed = run(dict(OWNER, bucket="vision-models"))
    assert not failed
    assert result["outcomes"] == {"put": "allowed", "get": "allowed", "delete": "allowed"}
    assert (result["allowed"], result["denied"], result["changed"]) == (True, False, False)
    assert result["errors"] == {}
    assert store["vision-models"] == {}


def test_other_team_is_denied_everything(server, store):
    result, failed = run(dict(STRANGER, bucket="vision-models"))
    assert not failed
    assert result["outcomes"] == {"put": "denied", "get": "denied", "delete": "denied"}
    assert (result["allowed"], result["denied"], result["changed"]) == (False, True, False)
    assert result["errors"]["put"] == "AccessDenied"


def test_unknown_key_counts_as_denied(server):
    result, failed = run(dict(OWNER, access_key="nobody", bucket="vision-models", operations=["get"]))
    assert not failed
    assert result["outcomes"] == {"get": "denied"}
    assert result["errors"] == {"get": "InvalidAccessKeyId"}


def test_missing_bucket_is_reported_not_failed(server):
    result, failed = run(dict(OWNER, bucket="vision-data", operations=["bucket", "put"]))
    assert not failed
    assert result["outcomes"] == {"bucket": "no_bucket", "put": "no_bucket"}
    assert (result["allowed"], result["denied"]) == (False, False)


def test_check_mode_skips_writes_and_a_missing_object_proves_read_access(server, store):
    result, failed = run(dict(OWNER, bucket="vision-models"), check_mode=True)
    assert not failed
    assert result["outcomes"] == {"put": "skipped", "get": "not_found", "delete": "skipped"}
    assert (result["allowed"], result["changed"]) == (True, False)
    assert [c for client in server for c in client.calls] == ["get_object"]


def test_list_returns_names_under_prefix(server):
    args = dict(OWNER, access_key="admin", bucket="mlflow-artifacts", operations=["list"], prefix="1/models/")
    result, failed = run(args)
    assert not failed
    assert result["objects"] == ["1/models/m-1/artifacts/MLmodel"]


def test_put_without_delete_reports_changed(server, store):
    result, failed = run(dict(OWNER, bucket="vision-models", operations=["put", "get"], content="hello"))
    assert not failed
    assert result["changed"] is True
    assert store["vision-models"]["platform-verify/probe.txt"] == b"hello"


def test_other_server_errors_fail_with_the_operation(monkeypatch, store):
    monkeypatch.setattr(
        s3_access_probe, "connect", lambda params: (GrantedS3("vision", store, {}, fail_with="SlowDown"), None)
    )
    result, failed = run(dict(OWNER, bucket="vision-models"))
    assert failed
    assert result["msg"] == "S3 probe of bucket vision-models: put vision-models: SlowDown: SlowDown"


def test_secret_key_is_not_returned(server):
    result, _failed = run(dict(OWNER, bucket="vision-models"))
    assert "vision-secret-key" not in repr(result)


@pytest.mark.parametrize(
    ("code", "operation", "expected"),
    [
        ("AccessDenied", "put", "denied"),
        ("SignatureDoesNotMatch", "get", "denied"),
        ("NoSuchBucket", "list", "no_bucket"),
        ("NoSuchKey", "get", "not_found"),
        ("NoSuchKey", "delete", None),
        ("InternalError", "put", None),
    ],
)
def test_classify(code, operation, expected):
    assert s3_access_probe.classify(code, operation) == expected


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ({"put": "allowed", "get": "not_found"}, (True, False)),
        ({"put": "denied", "get": "denied"}, (False, True)),
        ({"put": "allowed", "get": "denied"}, (False, False)),
        ({"put": "skipped"}, (False, False)),
        ({"get": "mismatch"}, (False, False)),
    ],
)
def test_summarize(outcomes, expected):
    assert s3_access_probe.summarize(outcomes) == expected
