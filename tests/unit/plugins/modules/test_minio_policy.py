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


# ------------------------------------------------------------ list form


def test_list_form_converges_every_policy_over_one_connection(monkeypatch):
    fake, opened = FakeAdmin(), []
    monkeypatch.setattr(minio_policy, "connect", lambda params: opened.append(1) or (FakeS3(), fake))
    fake.policies["old"] = bucket_policy(["old"], "read-only")
    fake.policies["same"] = bucket_policy(["s"], "read-only")
    policies = [
        dict(name="team-a-rw", buckets=["team-a", "team-a-models"]),
        dict(name="same", buckets=["s"], access="read-only"),
        dict(name="doc", policy='{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'),
        dict(name="old", state="absent"),
    ]
    result, failed = run(dict(policies=policies), diff=True)
    assert not failed, result
    assert opened == [1]
    assert [(r["name"], r["changed"]) for r in result["results"]] == [
        ("team-a-rw", True),
        ("same", False),
        ("doc", True),
        ("old", True),
    ]
    assert result["results"][0]["policy"] == bucket_policy(["team-a", "team-a-models"], "read-write")
    assert result["results"][3]["policy"] is None
    assert [d["after_header"] for d in result["diff"]] == ["policy team-a-rw", "policy doc", "policy old"]
    assert sorted(fake.policies) == ["doc", "same", "team-a-rw"]

    writes = list(fake.writes)
    result, failed = run(dict(policies=policies))
    assert (failed, result["changed"]) == (False, False)
    assert fake.writes == writes


def test_list_form_check_mode_predicts_each_policy_without_writing(admin):
    admin.policies["p"] = bucket_policy(["a"], "read-only")
    policies = [dict(name="p", buckets=["a"]), dict(name="q", buckets=["b"]), dict(name="p2", state="absent")]
    result, failed = run(dict(policies=policies), check_mode=True, diff=True)
    assert not failed, result
    assert [(r["name"], r["changed"]) for r in result["results"]] == [("p", True), ("q", True), ("p2", False)]
    assert result["results"][0]["diff"]["before"] == bucket_policy(["a"], "read-only")
    assert result["results"][0]["diff"]["after"] == bucket_policy(["a"], "read-write")
    assert admin.writes == []


def test_list_form_failure_names_the_policy(admin):
    result, failed = run(dict(policies=[dict(name="ok", buckets=["a"]), dict(name="bad", policy="{not json")]))
    assert failed
    assert result["msg"].startswith("policy bad: policy is not valid JSON")
    assert [(r["name"], r["changed"]) for r in result["results"]] == [("ok", True)]
    assert result["changed"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(policies=[dict(name="p")]), "state is present but any of the following are missing: policy, buckets"),
        (
            dict(policies=[dict(name="p", policy={"Statement": []}, buckets=["a"])]),
            "parameters are mutually exclusive: policy|buckets found in policies",
        ),
        (dict(name="p", policies=[dict(name="q", buckets=["a"])]), "parameters are mutually exclusive: policies|name"),
        (dict(buckets=["a"], policies=[]), "parameters are mutually exclusive: policies|buckets"),
        (dict(), "one of the following is required: name, policies"),
    ],
)
def test_list_form_bad_input(admin, args, message):
    result, failed = run(args)
    assert failed
    assert result["msg"].startswith(message), result["msg"]
