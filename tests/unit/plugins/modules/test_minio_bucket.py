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
