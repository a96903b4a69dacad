"""s3_backup: mirror, restore, verify and the backup listing, against an in-memory versioned S3."""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils import s3_backup
from ansible_collections.baremetal.mlops.plugins.module_utils.minio import MinioModuleError
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.s3_versioned import VersionedS3, _Reader


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(s3, bucket, key, data):
    s3.put_object(bucket, key, _Reader(data), len(data))


@pytest.fixture
def primary():
    s3 = VersionedS3()
    s3.make_bucket("artifacts")
    s3.buckets["artifacts"]["versioning"] = "Enabled"
    put(s3, "artifacts", "run/model.bin", b"one")
    put(s3, "artifacts", "run/model.bin", b"two")
    put(s3, "artifacts", "run/gone.txt", b"deleted later")
    s3.remove_object("artifacts", "run/gone.txt")
    s3.make_bucket("datasets")
    put(s3, "datasets", "iris.csv", b"5.1,3.5")
    return s3


def test_backup_key_layout():
    assert s3_backup.backup_key("20260101T000000Z", "b", "v1", "a/b.txt") == "20260101T000000Z/buckets/b/v1/a/b.txt"
    assert s3_backup.backup_key("/x/", "b", None, "k") == "x/buckets/b/null/k"


def test_mirror_copies_every_version_with_its_sha256(primary):
    site = VersionedS3()
    report = s3_backup.mirror_buckets(primary, site, ["artifacts", "datasets"], "backups", "B1", check_mode=False)
    artifacts = report["artifacts"]
    assert artifacts["versioning"] == "enabled"
    assert artifacts["object_count"] == 3
    model = [e for e in artifacts["objects"] if e["key"] == "run/model.bin"]
    assert [e["sha256"] for e in model] == [sha(b"one"), sha(b"two")]
    assert [e["sequence"] for e in model] == [0, 1] and [e["latest"] for e in model] == [False, True]
    gone = [e for e in artifacts["objects"] if e["key"] == "run/gone.txt"]
    assert [e["delete_marker"] for e in gone] == [False, True] and gone[1]["backup_key"] is None
    assert report["datasets"] == {
        "versioning": "disabled",
        "object_count": 1,
        "objects": [
            dict(
                key="iris.csv",
                version_id=None,
                latest=True,
                delete_marker=False,
                size=7,
                last_modified=report["datasets"]["objects"][0]["last_modified"],
                sequence=0,
                backup_key="B1/buckets/datasets/null/iris.csv",
                sha256=sha(b"5.1,3.5"),
            )
        ],
    }
    assert site.get_object("backups", model[0]["backup_key"]).data == b"one"


def test_mirror_in_check_mode_writes_nothing(primary):
    site = VersionedS3()
    report = s3_backup.mirror_buckets(primary, site, ["artifacts"], "backups", "B1", check_mode=True)
    assert report["artifacts"]["object_count"] == 3
    assert all(e["sha256"] is None for e in report["artifacts"]["objects"])
    assert site.writes == []


def test_mirror_names_a_missing_bucket(primary):
    with pytest.raises(MinioModuleError, match=r"^bucket nope does not exist$"):
        s3_backup.mirror_buckets(primary, VersionedS3(), ["nope"], "backups", "B1", check_mode=False)


@pytest.fixture
def backed_up(primary):
    site = VersionedS3()
    return site, s3_backup.mirror_buckets(primary, site, ["artifacts", "datasets"], "backups", "B1", False)


def test_restore_replays_versions_and_verifies(backed_up):
    site, buckets = backed_up
    target = VersionedS3()
    written = s3_backup.restore_buckets(site, "backups", target, buckets, "r-", replace=False, check_mode=False)
    assert written == {"r-artifacts": 3, "r-datasets": 1}
    assert [v["data"] for v in target.buckets["r-artifacts"]["keys"]["run/model.bin"]] == [b"one", b"two"]
    assert target.buckets["r-artifacts"]["keys"]["run/gone.txt"][-1]["data"] is None
    assert s3_backup.verify_buckets(target, buckets, "r-") == []


def test_restore_in_check_mode_counts_and_writes_nothing(backed_up):
    site, buckets = backed_up
    target = VersionedS3()
    assert s3_backup.restore_buckets(site, "backups", target, buckets, "", False, True) == {
        "artifacts": 3,
        "datasets": 1,
    }
    assert target.writes == []


def test_restore_refuses_a_target_that_is_not_clean_unless_replace(backed_up):
    site, buckets = backed_up
    target = VersionedS3()
    target.make_bucket("datasets")
    put(target, "datasets", "old.csv", b"x")
    with pytest.raises(MinioModuleError, match=r"target bucket\(s\) datasets not empty"):
        s3_backup.restore_buckets(site, "backups", target, buckets, "", False, False)
    assert sorted(target.buckets) == ["datasets"], "a refused restore writes nothing"
    s3_backup.restore_buckets(site, "backups", target, buckets, "", True, False)
    assert sorted(target.buckets["datasets"]["keys"]) == ["iris.csv"]


def test_a_corrupt_backup_object_fails_the_restore_naming_it(backed_up):
    site, buckets = backed_up
    put(site, "backups", "B1/buckets/datasets/null/iris.csv", b"tampered")
    with pytest.raises(MinioModuleError) as failure:
        s3_backup.restore_buckets(site, "backups", VersionedS3(), buckets, "", False, False)
    assert str(failure.value) == (
        "backup object backups/B1/buckets/datasets/null/iris.csv (datasets/iris.csv) is corrupt: "
        f"sha256 {sha(b'tampered')}, the manifest says {sha(b'5.1,3.5')}"
    )


def test_verify_names_missing_and_different_objects(backed_up):
    site, buckets = backed_up
    target = VersionedS3()
    s3_backup.restore_buckets(site, "backups", target, buckets, "", False, False)
    del target.buckets["datasets"]["keys"]["iris.csv"]
    target.buckets["artifacts"]["keys"]["run/model.bin"].pop(0)
    problems = s3_backup.verify_buckets(target, buckets, "")
    assert problems == [
        f"artifacts/run/model.bin: 1 version(s) with sha256 {sha(b'two')}, "
        f"the manifest says 2 with {sha(b'one')},{sha(b'two')}",
        "datasets/iris.csv: missing",
    ]
    assert s3_backup.verify_buckets(VersionedS3(), buckets, "x-") == [
        "x-artifacts: bucket missing",
        "x-datasets: bucket missing",
    ]


def test_storage_uris_resolve_to_an_object_or_a_folder(backed_up):
    site, buckets = backed_up
    target = VersionedS3()
    s3_backup.restore_buckets(site, "backups", target, buckets, "r-", False, False)
    uris = ["s3://artifacts/run", "s3://artifacts/run/model.bin", "s3://artifacts/other", "s3://nope/x", "models:/m-1"]
    assert s3_backup.unresolved_uris(target, uris, "r-") == [
        "s3://artifacts/other: no object at or under r-artifacts/other",
        "s3://nope/x: bucket r-nope missing",
        "not an s3:// URI: 'models:/m-1'",
    ]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("s3://b/p/q/", ("b", "p/q")), ("s3://b", ("b", "")), ("s3://b/", ("b", ""))],
)
def test_split_s3_uri(uri, expected):
    assert s3_backup.split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["s3://", "http://b/k", "b/k"])
def test_split_s3_uri_refuses_other_uris(uri):
    with pytest.raises(ValueError, match="not an s3:// URI"):
        s3_backup.split_s3_uri(uri)


def test_put_atomic_leaves_only_the_whole_object():
    s3 = VersionedS3()
    s3.make_bucket("backups")
    s3_backup.put_atomic(s3, "backups", "B1/manifest.json", b"{}")
    assert sorted(s3.buckets["backups"]["keys"]) == ["B1/manifest.json"]
    assert ("put_object", "backups", "B1/manifest.json.partial") in s3.writes


def test_list_backups_and_the_newest_complete_one():
    s3 = VersionedS3()
    s3.make_bucket("backups")
    for name, complete in (("20260101T000000Z", True), ("20260102T000000Z", True), ("20260103T000000Z", False)):
        put(s3, "backups", f"{name}/postgresql/mlflow.dump", b"dump")
        if complete:
            put(s3, "backups", f"{name}/manifest.json", b"{}")
    backups = s3_backup.list_backups(s3, "backups")
    assert [(b["name"], b["complete"]) for b in backups] == [
        ("20260101T000000Z", True),
        ("20260102T000000Z", True),
        ("20260103T000000Z", False),
    ]
    assert s3_backup.latest_complete(backups) == "20260102T000000Z"
    assert s3_backup.latest_complete([]) is None
    with pytest.raises(MinioModuleError, match="bucket nope does not exist on the backup site"):
        s3_backup.list_backups(s3, "nope")
