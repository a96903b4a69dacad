"""cluster_backup_export run in-process: a fake API server, an in-memory S3."""

from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils import kube_api
from ansible_collections.baremetal.mlops.plugins.modules import cluster_backup_export
from ansible_collections.baremetal.mlops.tests.unit.plugins.module_utils.test_k8s_export import SECRET_VALUE, FakeApi
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.s3_versioned import VersionedS3
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import run_module

SITE = dict(endpoint="http://127.0.0.1:19100", access_key="backup", secret_key="site-secret")
ARGS = dict(namespaces=["team-a"], groups=["serving.kserve.io"], destination=SITE, bucket="backups", prefix="B1")


@pytest.fixture
def cluster(monkeypatch):
    api, s3 = FakeApi(), VersionedS3()
    monkeypatch.setattr(cluster_backup_export, "KubeApi", lambda kubeconfig, context: api)
    monkeypatch.setattr(cluster_backup_export, "s3_client", lambda params: s3)
    return api, s3


def test_exports_and_returns_the_manifest_part(cluster):
    _api, s3 = cluster
    result, failed = run_module(cluster_backup_export.main, ARGS)
    assert not failed and result["changed"]
    assert result["object_count"] == 4 and result["method"] == "export"
    assert {e["key"] for e in result["objects"]} == set(s3.buckets["backups"]["keys"])
    assert SECRET_VALUE not in repr(result)


def test_check_mode_writes_nothing(cluster):
    _api, s3 = cluster
    result, failed = run_module(cluster_backup_export.main, ARGS, check_mode=True)
    assert not failed and result["object_count"] == 4
    assert s3.writes == []


def test_secrets_as_a_core_resource_are_refused(cluster):
    result, failed = run_module(cluster_backup_export.main, {**ARGS, "core_resources": ["configmaps", "secrets"]})
    assert failed
    assert result["msg"] == (
        "exporting the cluster to backups/B1: core_resources must not name secrets: their names are exported, "
        "never their values"
    )


def test_an_api_error_fails_naming_the_path(cluster, monkeypatch):
    api, _s3 = cluster

    def refuse(path, metadata_only=False):
        raise kube_api.KubeApiError(f"GET {path}: 403 Forbidden")

    monkeypatch.setattr(api, "get", refuse)
    result, failed = run_module(cluster_backup_export.main, ARGS)
    assert failed and result["msg"] == "exporting the cluster to backups/B1: GET /apis: 403 Forbidden"
