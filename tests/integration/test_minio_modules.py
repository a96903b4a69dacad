"""minio_bucket, minio_policy and minio_user against a real MinIO server."""

from __future__ import annotations

import io

import pytest
from minio.error import S3Error
from s3_support import s3_client

pytestmark = pytest.mark.integration


def test_bucket_versioning_lifecycle_idempotent_and_check_mode(run_task, data_services, unique):
    name = f"artifacts-{unique}"
    args = dict(
        name=name,
        versioning="enabled",
        lifecycle_rules=[
            dict(id="scratch-30d", prefix="scratch/", expiration_days=30),
            dict(id="old-versions", noncurrent_expiration_days=90),
        ],
    )

    predicted = run_task("minio_bucket", args, check=True, diff=True)
    assert predicted["changed"] is True
    assert predicted["steps"] == ["create", "versioning", "lifecycle"]
    assert predicted["diff"]["before"] == {}
    s3 = s3_client(data_services)
    assert not s3.bucket_exists(name), "check mode must not create the bucket"

    created = run_task("minio_bucket", args, diff=True)
    assert created["changed"] is True
    assert created["bucket"] == predicted["bucket"]
    assert s3.get_bucket_versioning(name).status == "Enabled"
    rules = {r.rule_id: r for r in s3.get_bucket_lifecycle(name).rules}
    assert rules["scratch-30d"].expiration.days == 30
    assert rules["old-versions"].noncurrent_version_expiration.noncurrent_days == 90

    again = run_task("minio_bucket", args)
    assert again["changed"] is False
    assert again["steps"] == []

    # Dropping a rule is a change; check mode only predicts it.
    fewer = dict(args, lifecycle_rules=args["lifecycle_rules"][:1])
    predicted = run_task("minio_bucket", fewer, check=True, diff=True)
    assert predicted["changed"] is True
    assert predicted["steps"] == ["lifecycle"]
    assert [r["id"] for r in predicted["diff"]["after"]["lifecycle_rules"]] == ["scratch-30d"]
    assert len(s3.get_bucket_lifecycle(name).rules) == 2

    suspended = run_task("minio_bucket", dict(name=name, versioning="suspended"))
    assert suspended["changed"] is True
    assert s3.get_bucket_versioning(name).status == "Suspended"

    refused = run_task("minio_bucket", dict(name=name, versioning="disabled"))
    assert refused.get("failed") is True
    assert "cannot go back to disabled" in refused["msg"]

    s3.put_object(name, "scratch/a.txt", io.BytesIO(b"a"), 1)
    not_empty = run_task("minio_bucket", dict(name=name, state="absent"))
    assert not_empty.get("failed") is True
    assert "BucketNotEmpty" in not_empty["msg"]
    removed = run_task("minio_bucket", dict(name=name, state="absent", force=True))
    assert removed["changed"] is True
    assert not s3.bucket_exists(name)
    assert run_task("minio_bucket", dict(name=name, state="absent"))["changed"] is False


def test_bucket_object_lock(run_task, data_services, unique):
    name = f"models-{unique}"
    args = dict(name=name, object_lock=True, object_lock_retention=dict(mode="GOVERNANCE", days=30))
    created = run_task("minio_bucket", args)
    assert created["changed"] is True, created.get("msg")
    assert created["bucket"]["object_lock"] is True
    assert created["bucket"]["versioning"] == "enabled"
    assert created["bucket"]["object_lock_retention"] == {"mode": "GOVERNANCE", "days": 30}
    assert run_task("minio_bucket", args)["changed"] is False

    lock = s3_client(data_services).get_object_lock_config(name)
    assert (lock.mode, lock.duration) == ("GOVERNANCE", 30)

    refused = run_task("minio_bucket", dict(name=name, object_lock=False))
    assert refused.get("failed") is True
    assert "only be chosen when the bucket is created" in refused["msg"]


def test_team_users_are_confined_to_their_buckets(run_task, data_services, unique):
    teams = {f"team-a-{unique}": "secret-a-" + unique, f"team-b-{unique}": "secret-b-" + unique}
    for team, secret in teams.items():
        assert run_task("minio_bucket", dict(name=team))["changed"] is True
        policy = dict(name=f"{team}-rw", buckets=[team], access="read-write")
        predicted = run_task("minio_policy", policy, check=True, diff=True)
        assert predicted["changed"] is True
        assert predicted["diff"]["before"] == {}
        assert run_task("minio_policy", policy)["changed"] is True
        assert run_task("minio_policy", policy)["changed"] is False

        user = dict(name=team, secret=secret, policies=[f"{team}-rw"])
        predicted = run_task("minio_user", user, check=True, diff=True)
        assert predicted["changed"] is True
        assert predicted["steps"] == ["create", "policies"]
        created = run_task("minio_user", user, diff=True)
        assert created["changed"] is True
        assert created["user"] == {"name": team, "status": "enabled", "policies": [f"{team}-rw"]}
        assert secret not in str(created), "the secret must never be returned"
        assert run_task("minio_user", user)["changed"] is False

    team_a, team_b = list(teams)
    as_a = s3_client(data_services, team_a, teams[team_a])
    as_a.put_object(team_a, "model.pkl", io.BytesIO(b"weights"), 7)
    assert as_a.get_object(team_a, "model.pkl").read() == b"weights"
    with pytest.raises(S3Error) as denied:
        as_a.put_object(team_b, "model.pkl", io.BytesIO(b"weights"), 7)
    assert denied.value.code == "AccessDenied"
    with pytest.raises(S3Error) as denied:
        as_a.list_objects(team_b).__next__()
    assert denied.value.code == "AccessDenied"

    # A new secret is detected (the old one no longer signs) and set.
    rotated = run_task("minio_user", dict(name=team_a, secret="rotated-" + unique))
    assert rotated["changed"] is True
    assert rotated["steps"] == ["secret"]
    assert s3_client(data_services, team_a, "rotated-" + unique).get_object(team_a, "model.pkl").read() == b"weights"
    kept = run_task("minio_user", dict(name=team_a, secret="another-" + unique, update_secret="on_create"))
    assert kept["changed"] is False

    # Read-only narrows the grant: writes are then denied.
    assert run_task("minio_policy", dict(name=f"{team_a}-rw", buckets=[team_a], access="read-only"))["changed"]
    with pytest.raises(S3Error) as denied:
        s3_client(data_services, team_a, "rotated-" + unique).put_object(team_a, "x", io.BytesIO(b"x"), 1)
    assert denied.value.code == "AccessDenied"

    disabled = run_task("minio_user", dict(name=team_b, status="disabled"), diff=True)
    assert disabled["changed"] is True
    assert disabled["diff"]["after"]["status"] == "disabled"
    assert run_task("minio_user", dict(name=team_b, status="disabled"))["changed"] is False

    for team in teams:
        assert run_task("minio_user", dict(name=team, state="absent"))["changed"] is True
        assert run_task("minio_user", dict(name=team, state="absent"))["changed"] is False
        assert run_task("minio_policy", dict(name=f"{team}-rw", state="absent"))["changed"] is True
        assert run_task("minio_bucket", dict(name=team, state="absent", force=True))["changed"] is True


def test_list_forms_converge_buckets_policies_and_users_in_one_run_each(run_task, data_services, unique):
    teams = {f"la-{unique}": f"secret-la-{unique}", f"lb-{unique}": f"secret-lb-{unique}"}
    buckets = dict(
        buckets=[
            dict(
                name=f"shared-{unique}",
                versioning="enabled",
                lifecycle_rules=[dict(id="tmp", prefix="tmp/", expiration_days=2)],
            ),
            *[dict(name=team) for team in teams],
        ]
    )
    policies = dict(policies=[dict(name=f"{team}-rw", buckets=[team]) for team in teams])
    users = dict(users=[dict(name=team, secret=secret, policies=[f"{team}-rw"]) for team, secret in teams.items()])
    s3 = s3_client(data_services)

    # Check mode predicts every item and makes none.
    for module, args in (("minio_bucket", buckets), ("minio_policy", policies), ("minio_user", users)):
        predicted = run_task(module, args, check=True, diff=True)
        assert predicted["changed"] is True, predicted
        assert [r["changed"] for r in predicted["results"]] == [True] * len(predicted["results"])
        assert [d["before"] for d in predicted["diff"]] == [{}] * len(predicted["results"])
    assert not any(s3.bucket_exists(b["name"]) for b in buckets["buckets"])

    made = run_task("minio_bucket", buckets, diff=True)
    assert [(r["name"], r["steps"]) for r in made["results"]] == [
        (f"shared-{unique}", ["create", "versioning", "lifecycle"]),
        *[(team, ["create"]) for team in teams],
    ]
    assert s3.get_bucket_versioning(f"shared-{unique}").status == "Enabled"
    assert s3.get_bucket_lifecycle(f"shared-{unique}").rules[0].expiration.days == 2
    assert run_task("minio_policy", policies)["changed"] is True
    made = run_task("minio_user", users, diff=True)
    assert [(r["name"], r["user"]["policies"]) for r in made["results"]] == [(t, [f"{t}-rw"]) for t in teams]
    assert not any(secret in str(made) for secret in teams.values()), "a secret in the list must never be returned"

    # A second run changes nothing, item by item.
    for module, args in (("minio_bucket", buckets), ("minio_policy", policies), ("minio_user", users)):
        again = run_task(module, args)
        assert again["changed"] is False, again
        assert not any(r["changed"] for r in again["results"])

    # Each team reaches its own bucket only.
    team_a, team_b = list(teams)
    as_a = s3_client(data_services, team_a, teams[team_a])
    as_a.put_object(team_a, "model.pkl", io.BytesIO(b"weights"), 7)
    with pytest.raises(S3Error) as denied:
        as_a.put_object(team_b, "model.pkl", io.BytesIO(b"weights"), 7)
    assert denied.value.code == "AccessDenied"

    # The failing item is named; the items before it are converged and reported.
    shared = f"shared-{unique}"
    refused = run_task(
        "minio_bucket", dict(buckets=[dict(name=f"extra-{unique}"), dict(name=shared, versioning="disabled")])
    )
    assert refused.get("failed") is True
    assert (
        refused["msg"]
        == f"bucket {shared}: versioning of bucket '{shared}' cannot go back to disabled once on; use suspended"
    )
    assert [(r["name"], r["changed"]) for r in refused["results"]] == [(f"extra-{unique}", True)]

    gone = run_task("minio_user", dict(users=[dict(name=team, state="absent") for team in teams]))
    assert [r["steps"] for r in gone["results"]] == [["delete"], ["delete"]]
    gone = run_task("minio_policy", dict(policies=[dict(name=f"{team}-rw", state="absent") for team in teams]))
    assert gone["changed"] is True
    everything = [*buckets["buckets"], dict(name=f"extra-{unique}")]
    gone = run_task(
        "minio_bucket", dict(buckets=[dict(name=b["name"], state="absent", force=True) for b in everything])
    )
    assert [r["changed"] for r in gone["results"]] == [True] * 4
    assert not any(s3.bucket_exists(b["name"]) for b in everything)
