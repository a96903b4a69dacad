"""minio_bucket run in-process against an in-memory S3."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils import minio as minio_utils
from ansible_collections.baremetal.mlops.plugins.modules import minio_bucket
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import FakeAdmin, FakeS3, run_module

CONNECTION = dict(endpoint="http://127.0.0.1:19000", access_key="admin", secret_key="admin-secret")


@pytest.fixture
def s3(monkeypatch):
    fake = FakeS3()
    monkeypatch.setattr(minio_bucket, "connect", lambda params: (fake, FakeAdmin()))
    return fake


def run(args, **kwargs):
    return run_module(minio_bucket.main, dict(CONNECTION, **args), **kwargs)


def test_create_then_idempotent(s3):
    args = dict(name="artifacts", versioning="enabled", lifecycle_rules=[dict(id="tmp", expiration_days=3)])
    result, failed = run(args, diff=True)
    assert not failed
    assert result["changed"] is True
    assert result["steps"] == ["create", "versioning", "lifecycle"]
    assert result["diff"]["before"] == {}
    assert result["bucket"]["versioning"] == "enabled"
    assert result["bucket"]["lifecycle_rules"][0]["expiration_days"] == 3

    writes = list(s3.writes)
    result, failed = run(args)
    assert (failed, result["changed"]) == (False, False)
    assert s3.writes == writes


def test_lifecycle_change_is_predicted_then_applied_then_removed(s3):
    rules = [dict(id="expire-scratch", prefix="scratch/", expiration_days=7)]
    run(dict(name="runs", lifecycle_rules=rules))
    shorter = [dict(rules[0], expiration_days=1)]

    writes = list(s3.writes)
    result, failed = run(dict(name="runs", lifecycle_rules=shorter), check_mode=True, diff=True)
    assert (failed, result["changed"], result["steps"]) == (False, True, ["lifecycle"])
    assert result["diff"]["before"]["lifecycle_rules"][0]["expiration_days"] == 7
    assert result["diff"]["after"]["lifecycle_rules"][0]["expiration_days"] == 1
    assert s3.writes == writes

    result, failed = run(dict(name="runs", lifecycle_rules=shorter))
    assert (failed, result["changed"]) == (False, True)
    assert s3.writes[-1] == ("set_bucket_lifecycle", "runs")
    assert [(r.rule_id, r.rule_filter.prefix, r.expiration.days) for r in s3.buckets["runs"]["lifecycle"].rules] == [
        ("expire-scratch", "scratch/", 1)
    ]
    assert run(dict(name="runs", lifecycle_rules=shorter))[0]["changed"] is False

    result, failed = run(dict(name="runs", lifecycle_rules=[]))
    assert (failed, result["changed"], result["bucket"]["lifecycle_rules"]) == (False, True, [])
    assert s3.writes[-1] == ("delete_bucket_lifecycle", "runs")
    # Unset: the lifecycle configuration is not managed.
    assert run(dict(name="runs"))[0]["changed"] is False


class StoreWithoutObjectLock(FakeS3):
    """An S3-compatible store that does not implement object lock at all."""

    def get_object_lock_config(self, name):
        raise self._error("NotImplemented")


def test_store_without_object_lock_reads_as_unlocked(monkeypatch):
    fake = StoreWithoutObjectLock()
    monkeypatch.setattr(minio_bucket, "connect", lambda params: (fake, FakeAdmin()))
    args = dict(name="artifacts", versioning="enabled", lifecycle_rules=[dict(id="tmp", expiration_days=3)])
    result, failed = run(args)
    assert (failed, result["changed"], result["bucket"]["object_lock"]) == (False, True, False)
    assert run(args)[0]["changed"] is False


def test_check_mode_predicts_without_writing(s3):
    result, failed = run(dict(name="artifacts", versioning="enabled"), check_mode=True, diff=True)
    assert not failed
    assert result["changed"] is True
    assert result["diff"]["after"]["versioning"] == "enabled"
    assert s3.writes == []
    assert "artifacts" not in s3.buckets


def test_absent_force_empties_first(s3):
    run(dict(name="scratch"))
    s3.buckets["scratch"]["objects"] = [SimpleNamespace(object_name="x", version_id="v1")]
    result, failed = run(dict(name="scratch", state="absent"))
    assert failed
    assert result["msg"].startswith("bucket scratch: BucketNotEmpty")
    result, failed = run(dict(name="scratch", state="absent", force=True))
    assert (failed, result["changed"], result["bucket"]) == (False, True, None)
    assert "scratch" not in s3.buckets


def test_refusal_is_one_clean_failure(s3):
    run(dict(name="plain"))
    result, failed = run(dict(name="plain", object_lock=True))
    assert failed
    assert result["msg"] == (
        "bucket plain: object lock of bucket 'plain' can only be chosen when the bucket is created (it is off)"
    )
    assert "Traceback" in result["exception"]


def test_secret_key_is_no_log():
    spec = minio_bucket.argument_spec()
    assert spec["secret_key"]["no_log"] is True


def test_missing_minio_library(monkeypatch):
    monkeypatch.setattr(minio_utils, "HAS_MINIO", False)
    result, failed = run(dict(name="artifacts"))
    assert failed
    assert "Failed to import the required Python library (minio)" in result["msg"]


# ------------------------------------------------------------ list form


@pytest.fixture
def connections(monkeypatch):
    """The in-memory S3, and a count of the connections the module opened."""
    fake, opened = FakeS3(), []

    def connect(params):
        opened.append(params["endpoint"])
        return fake, FakeAdmin()

    monkeypatch.setattr(minio_bucket, "connect", connect)
    return fake, opened


def test_list_form_converges_every_bucket_over_one_connection(connections):
    s3, opened = connections
    s3.make_bucket("kept")
    s3.buckets["kept"]["versioning"] = "Enabled"
    buckets = [
        dict(
            name="artifacts", versioning="enabled", lifecycle_rules=[dict(id="tmp", prefix="tmp/", expiration_days=3)]
        ),
        dict(name="kept", versioning="enabled"),
        dict(name="scratch"),
    ]
    result, failed = run(dict(buckets=buckets), diff=True)
    assert not failed, result
    assert opened == [CONNECTION["endpoint"]]
    assert result["changed"] is True
    assert [(r["name"], r["changed"], r["steps"]) for r in result["results"]] == [
        ("artifacts", True, ["create", "versioning", "lifecycle"]),
        ("kept", False, []),
        ("scratch", True, ["create"]),
    ]
    assert result["results"][0]["bucket"]["lifecycle_rules"][0]["expiration_days"] == 3
    assert result["results"][1]["diff"]["before"] == result["results"][1]["diff"]["after"]
    # The task's diff: the changed buckets, each under its own header.
    assert [(d["before_header"], d["before"]) for d in result["diff"]] == [
        ("bucket artifacts", {}),
        ("bucket scratch", {}),
    ]
    assert "bucket" not in result and "steps" not in result

    writes = list(s3.writes)
    result, failed = run(dict(buckets=buckets))
    assert (failed, result["changed"]) == (False, False)
    assert [r["changed"] for r in result["results"]] == [False, False, False]
    assert s3.writes == writes


def test_list_form_check_mode_predicts_each_bucket_without_writing(connections):
    s3, _opened = connections
    run(dict(buckets=[dict(name="runs", lifecycle_rules=[dict(id="tmp", expiration_days=7)])]))
    writes = list(s3.writes)
    buckets = [
        dict(name="runs", lifecycle_rules=[dict(id="tmp", expiration_days=1)]),
        dict(name="new", versioning="enabled"),
        dict(name="gone", state="absent"),
    ]
    result, failed = run(dict(buckets=buckets), check_mode=True, diff=True)
    assert not failed, result
    assert [(r["name"], r["changed"], r["steps"]) for r in result["results"]] == [
        ("runs", True, ["lifecycle"]),
        ("new", True, ["create", "versioning"]),
        ("gone", False, []),
    ]
    assert result["results"][0]["diff"]["after"]["lifecycle_rules"][0]["expiration_days"] == 1
    assert result["results"][1]["bucket"]["versioning"] == "enabled"
    assert s3.writes == writes
    assert "new" not in s3.buckets


def test_list_form_failure_names_the_bucket_and_keeps_earlier_results(connections):
    s3, _opened = connections
    s3.make_bucket("plain")
    buckets = [dict(name="first"), dict(name="plain", object_lock=True), dict(name="never")]
    result, failed = run(dict(buckets=buckets))
    assert failed
    assert result["msg"] == (
        "bucket plain: object lock of bucket 'plain' can only be chosen when the bucket is created (it is off)"
    )
    assert "Traceback" in result["exception"]
    # The first bucket was made before the failure, and the result says so; the third was not tried.
    assert result["changed"] is True
    assert [(r["name"], r["changed"]) for r in result["results"]] == [("first", True)]
    assert "first" in s3.buckets and "never" not in s3.buckets


def test_list_form_empty_list_changes_nothing(connections):
    result, failed = run(dict(buckets=[]), diff=True)
    assert (failed, result["changed"], result["results"], result["diff"]) == (False, False, [], [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(name="a", buckets=[dict(name="b")]), "parameters are mutually exclusive: buckets|name"),
        (dict(buckets=[dict(name="b")], versioning="enabled"), "parameters are mutually exclusive: buckets|versioning"),
        (dict(buckets=[dict(name="b")], state="absent"), "parameters are mutually exclusive: buckets|state"),
        (dict(), "one of the following is required: name, buckets"),
        (dict(buckets=[dict(versioning="enabled")]), "missing required arguments: name found in buckets"),
        (
            dict(buckets=[dict(name="b", versioning="off")]),
            "value of versioning must be one of: enabled, suspended, disabled, got: off found in buckets",
        ),
    ],
)
def test_list_form_bad_input(connections, args, message):
    result, failed = run(args)
    assert failed
    assert result["msg"] == message


def test_list_items_take_the_single_form_options():
    spec = minio_bucket.argument_spec()
    assert spec["buckets"]["options"] == minio_utils.bucket_options()
    single = {key: value for key, value in spec.items() if key in minio_utils.bucket_options()}
    assert single == dict(minio_utils.bucket_options(), name=dict(type="str"))
