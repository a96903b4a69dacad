"""minio_policy run in-process against an in-memory admin API."""

from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import bucket_policy
from ansible_collections.baremetal.mlops.plugins.modules import minio_policy
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import FakeAdmin, FakeS3, run_module

CONNECTION = dict(endpoint="http://127.0.0.1:19000", access_key="admin", secret_key="admin-secret")


@pytest.fixture
def admin(monkeypatch):
    fake = FakeAdmin()
    monkeypatch.setattr(minio_policy, "connect", lambda params: (FakeS3(), fake))
    return fake


def run(args, **kwargs):
    return run_module(minio_policy.main, dict(CONNECTION, **args), **kwargs)


def test_bucket_scoped_policy_created_once(admin):
    args = dict(name="team-a-rw", buckets=["team-a"])
    result, failed = run(args, diff=True)
    assert not failed
    assert result["changed"] is True
    assert result["policy"] == bucket_policy(["team-a"], "read-write")
    assert result["diff"]["before"] == {}
    result, failed = run(args)
    assert (failed, result["changed"]) == (False, False)
    assert admin.writes == [("policy_add", "team-a-rw")]


def test_same_document_in_another_order_is_no_change(admin):
    admin.policies["p"] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}],
    }
    document = '{"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["*"]}]}'
    result, failed = run(dict(name="p", policy=document))
    assert (failed, result["changed"]) == (False, False)


def test_check_mode_and_absent(admin):
    admin.policies["p"] = bucket_policy(["a"], "read-only")
    result, failed = run(dict(name="p", buckets=["a"], access="read-write"), check_mode=True)
    assert (failed, result["changed"]) == (False, True)
    assert admin.writes == []
    result, failed = run(dict(name="p", state="absent"))
    assert (failed, result["changed"], result["policy"]) == (False, True, None)
    assert "p" not in admin.policies


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(name="p", policy="{not json"), "policy p: policy is not valid JSON"),
        (dict(name="p", policy={"Version": "2012-10-17"}), "policy p: policy must be a mapping with a Statement list"),
        (dict(name="p"), "state is present but any of the following are missing: policy, buckets"),
        (dict(name="p", policy={"Statement": []}, buckets=["a"]), "parameters are mutually exclusive: policy|buckets"),
    ],
)
def test_bad_input(admin, args, message):
    result, failed = run(args)
    assert failed
    assert result["msg"].startswith(message)
