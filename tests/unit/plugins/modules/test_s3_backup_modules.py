"""s3_backup_mirror, s3_backup_restore, s3_backup_object and s3_backup_info run in-process on an in-memory S3."""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils import s3_backup
from ansible_collections.baremetal.mlops.plugins.modules import (
    s3_backup_info,
    s3_backup_mirror,
    s3_backup_object,
    s3_backup_restore,
)
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.s3_versioned import VersionedS3, _Reader
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import run_module

PRIMARY = dict(endpoint="http://127.0.0.1:19000", access_key="admin", secret_key="primary-secret")
SITE = dict(endpoint="http://127.0.0.1:19100", access_key="backup", secret_key="site-secret")


@pytest.fixture
def stores(monkeypatch):
    stores = {PRIMARY["endpoint"]: VersionedS3(), SITE["endpoint"]: VersionedS3()}
    primary = stores[PRIMARY["endpoint"]]
    primary.make_bucket("datasets")
    primary.put_object("datasets", "iris.csv", _Reader(b"5.1"), 3)
    for module in (s3_backup_mirror, s3_backup_restore, s3_backup_object, s3_backup_info):
        monkeypatch.setattr(module, "s3_client", lambda params: stores[params["endpoint"]])
    return stores


def mirror(check_mode=False):
    args = dict(source=PRIMARY, destination=SITE, buckets=["datasets"], destination_bucket="b", destination_prefix="B1")
    return run_module(s3_backup_mirror.main, args, check_mode=check_mode)


def test_mirror_check_mode_predicts_then_a_run_copies(stores):
    result, failed = mirror(check_mode=True)
    assert (failed, result["changed"], result["buckets"]["datasets"]["object_count"]) == (False, True, 1)
    assert stores[SITE["endpoint"]].writes == []
    result, failed = mirror()
    assert not failed and result["buckets"]["datasets"]["objects"][0]["sha256"] == hashlib.sha256(b"5.1").hexdigest()
    assert "site-secret" not in str(result)


def test_mirror_fails_naming_the_bucket(stores):
    args = dict(source=PRIMARY, destination=SITE, buckets=["nope"], destination_bucket="b", destination_prefix="B1")
    result, failed = run_module(s3_backup_mirror.main, args)
    assert failed and result["msg"] == "mirroring buckets to http://127.0.0.1:19100: bucket nope does not exist"


def test_restore_then_verify_and_a_corrupt_object_is_named(stores):
    buckets = mirror()[0]["buckets"]
    target = dict(SITE)
    args = dict(source=SITE, source_bucket="b", buckets=buckets, destination=target, destination_bucket_prefix="r-")
    result, failed = run_module(s3_backup_restore.main, args)
    assert (failed, result["restored"], result["verified"]) == (False, {"r-datasets": 1}, 1)

    result, failed = run_module(
        s3_backup_restore.main, dict(args, mode="verify", storage_uris=["s3://datasets/iris.csv"])
    )
    assert (failed, result["changed"]) == (False, False)

    site = stores[SITE["endpoint"]]
    site.put_object("b", "B1/buckets/datasets/null/iris.csv", _Reader(b"bad"), 3)
    result, failed = run_module(s3_backup_restore.main, dict(args, destination_bucket_prefix="s-"))
    assert (
        failed and "backup object b/B1/buckets/datasets/null/iris.csv (datasets/iris.csv) is corrupt" in result["msg"]
    )

    result, failed = run_module(s3_backup_restore.main, dict(args, mode="verify", storage_uris=["s3://datasets/nope"]))
    assert failed and result["msg"].endswith(
        "1 problem(s) against the manifest: s3://datasets/nope: no object at or under r-datasets/nope"
    )


def test_object_put_get_and_checksum(stores, tmp_path):
    src = tmp_path / "dump"
    src.write_bytes(b"PGDMP")
    common = dict(SITE, bucket="b")
    result, failed = run_module(s3_backup_object.main, dict(common, key="d", src=str(src)), check_mode=True)
    assert (failed, result["changed"]) == (False, True) and stores[SITE["endpoint"]].writes == []
    result, failed = run_module(s3_backup_object.main, dict(common, key="d", src=str(src)))
    assert result["sha256"] == hashlib.sha256(b"PGDMP").hexdigest() and result["size"] == 5

    dest = tmp_path / "back"
    result, failed = run_module(s3_backup_object.main, dict(common, key="d", dest=str(dest), sha256=result["sha256"]))
    assert not failed and dest.read_bytes() == b"PGDMP"
    result, failed = run_module(s3_backup_object.main, dict(common, key="d", dest=str(tmp_path / "x"), sha256="0" * 64))
    assert failed and result["msg"].startswith("object b/d: b/d is corrupt: sha256 ")
    assert not (tmp_path / "x").exists()

    result, failed = run_module(s3_backup_object.main, dict(common, key="B1/manifest.json", content="{}"))
    assert not failed and sorted(stores[SITE["endpoint"]].buckets["b"]["keys"]) == ["B1/manifest.json", "d"]


def test_info_finds_the_newest_complete_backup(stores):
    site = stores[SITE["endpoint"]]
    site.make_bucket("b")
    for key in ("B1/manifest.json", "B2/postgresql/mlflow.dump"):
        site.put_object("b", key, _Reader(b"x"), 1)
    result, failed = run_module(s3_backup_info.main, dict(SITE, bucket="b"))
    assert not failed and result["latest"] == "B1"
    assert result["backups"] == [{"name": "B1", "complete": True}, {"name": "B2", "complete": False}]


def test_connection_specs_hide_secrets():
    assert s3_backup.connection_options()["secret_key"]["no_log"] is True
