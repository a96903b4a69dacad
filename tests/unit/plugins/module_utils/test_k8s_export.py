"""k8s_export: what a cluster export reads and writes, against a fake API server and an in-memory S3."""

from __future__ import annotations

import hashlib
import json

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils import k8s_export
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.s3_versioned import VersionedS3

SECRET_VALUE = "s3cr3t-value-never-exported"

GROUPS = {
    "groups": [
        {"name": "serving.kserve.io", "preferredVersion": {"groupVersion": "serving.kserve.io/v1beta1"}},
        {"name": "apps", "preferredVersion": {"groupVersion": "apps/v1"}},
    ]
}
KSERVE = {
    "resources": [
        {"name": "inferenceservices", "kind": "InferenceService", "namespaced": True, "verbs": ["get", "list"]},
        {"name": "inferenceservices/status", "kind": "InferenceService", "namespaced": True, "verbs": ["get"]},
        {"name": "clusterservingruntimes", "kind": "ClusterServingRuntime", "namespaced": False, "verbs": ["list"]},
        {"name": "inferencegraphs", "kind": "InferenceGraph", "namespaced": True, "verbs": ["get"]},
    ]
}


def served(name, namespace, **extra):
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "u-1",
            "resourceVersion": "7",
            "generation": 2,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {k8s_export.LAST_APPLIED: "{...}"},
        },
        "status": {"ready": True},
        **extra,
    }


class FakeApi:
    """GET paths to bodies; a metadata-only listing answers from the Secrets' metadata alone, as the server does."""

    def __init__(self):
        self.secrets = {
            "team-a": [{"metadata": {"name": "kserve-s3"}, "data": {"secret_key": SECRET_VALUE}}],
        }
        self.paths = {
            "/apis": GROUPS,
            "/apis/serving.kserve.io/v1beta1": KSERVE,
            "/api/v1/namespaces/team-a": served("team-a", None),
            "/api/v1/namespaces/team-a/configmaps": {
                "kind": "ConfigMapList",
                "items": [served("settings", "team-a", data={"mode": "fast"})],
            },
            "/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices": {
                "items": [served("iris", "team-a", spec={"predictor": {}})]
            },
            "/api/v1/namespaces/empty": served("empty", None),
            "/api/v1/namespaces/empty/configmaps": {"kind": "ConfigMapList", "items": None},
        }
        self.calls = []

    def get(self, path, metadata_only=False):
        self.calls.append((path, metadata_only))
        if path.endswith("/secrets"):
            if not metadata_only:
                raise AssertionError("Secrets must be read as metadata only")
            namespace = path.split("/")[4]
            return {"items": [{"metadata": s["metadata"]} for s in self.secrets.get(namespace, [])] or None}
        return self.paths.get(path)


def test_select_resources_keeps_namespaced_listable_top_level_resources_of_wanted_groups():
    lists = {"serving.kserve.io/v1beta1": KSERVE}
    assert k8s_export.select_resources(GROUPS, lists, ["serving.kserve.io", "argoproj.io"]) == [
        {
            "group": "serving.kserve.io",
            "api_version": "serving.kserve.io/v1beta1",
            "resource": "inferenceservices",
            "kind": "InferenceService",
        }
    ]
    assert k8s_export.select_resources(GROUPS, lists, []) == []


def test_clean_drops_status_server_fields_and_the_last_applied_copy():
    document = k8s_export.clean(served("iris", "team-a", spec={"x": 1}), "serving.kserve.io/v1beta1", "Isvc")
    assert document == {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "Isvc",
        "metadata": {"name": "iris", "namespace": "team-a"},
        "spec": {"x": 1},
    }


@pytest.mark.parametrize(
    ("prefix", "resource", "group", "key"),
    [
        ("20260101T000000Z", "configmaps", "", "20260101T000000Z/cluster/ns/configmaps/n.json"),
        ("/b/", "inferenceservices", "serving.kserve.io", "b/cluster/ns/inferenceservices.serving.kserve.io/n.json"),
        ("", "namespaces", "", "cluster/ns/namespaces/n.json"),
    ],
)
def test_object_key(prefix, resource, group, key):
    assert k8s_export.object_key(prefix, "ns", resource, group, "n") == key


def test_export_writes_one_document_per_object_with_its_sha256_and_secret_names_only():
    api, s3 = FakeApi(), VersionedS3()
    result = k8s_export.export_cluster(
        api, s3, "backups", "B1", ["team-a", "empty", "gone", "team-a"], ["serving.kserve.io"], ["configmaps"], False
    )
    assert result["namespaces"] == ["empty", "team-a"]
    assert result["namespaces_absent"] == ["gone"]
    assert result["resources"] == ["inferenceservices.serving.kserve.io"]
    keys = [entry["key"] for entry in result["objects"]]
    assert keys == [
        "B1/cluster/empty/namespaces/empty.json",
        "B1/cluster/empty/secrets/names.json",
        "B1/cluster/team-a/namespaces/team-a.json",
        "B1/cluster/team-a/configmaps/settings.json",
        "B1/cluster/team-a/inferenceservices.serving.kserve.io/iris.json",
        "B1/cluster/team-a/secrets/names.json",
    ]
    assert result["object_count"] == 6
    for entry in result["objects"]:
        stored = s3.get_object("backups", entry["key"]).read()
        assert hashlib.sha256(stored).hexdigest() == entry["sha256"] and len(stored) == entry["size"]
        assert SECRET_VALUE.encode() not in stored
    names = json.loads(s3.get_object("backups", "B1/cluster/team-a/secrets/names.json").read())
    assert names == {
        "apiVersion": "v1",
        "kind": "SecretNames",
        "metadata": {"namespace": "team-a"},
        "names": ["kserve-s3"],
    }
    config = json.loads(s3.get_object("backups", "B1/cluster/team-a/configmaps/settings.json").read())
    assert (config["kind"], config["data"], "status" in config) == ("ConfigMap", {"mode": "fast"}, False)
    assert [e["kind"] for e in result["objects"] if e["namespace"] == "team-a"] == [
        "Namespace",
        "ConfigMap",
        "InferenceService",
        "SecretNames",
    ]


def test_check_mode_reads_and_hashes_but_writes_nothing():
    api, s3 = FakeApi(), VersionedS3()
    result = k8s_export.export_cluster(api, s3, "backups", "B1", ["team-a"], [], ["configmaps"], True)
    assert result["object_count"] == 3 and all(len(e["sha256"]) == 64 for e in result["objects"])
    assert s3.writes == [] and not s3.bucket_exists("backups")
