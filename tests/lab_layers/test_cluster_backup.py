"""playbooks/backup.yml with its cluster part on the lab: the cluster's objects exported through the real
API server to the backup site (the lab's second MinIO), Secrets by name only, and the InferenceServices in
force (run by the real KServe controller) in the manifest, and the restore drill proving their storage URIs.

The lab cannot run Velero's server, so the lab inventory sets platform_backup_cluster_method=export; the
Velero path is asserted as far as the API goes: the Backup is created from the Schedule's template, and
with no server to complete it the part fails naming the phase and leaves no manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import uuid

import pytest
from lab_support import LAB_INVENTORY, ROOT, inventory_var, lab_minio, serve_model
from minio import Minio

pytestmark = pytest.mark.lab

SITE_BUCKET = "platform-backups"
# The tabular team's bucket, where its models live. platform_backup_buckets holds every team's buckets by
# default; this backup names the platform's and this one only (the vision team's are not made on this lab).
MODELS_BUCKET = "tabular-models"
SMALL = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}


def team(name: str) -> dict:
    return next(t for t in inventory_var("platform_teams") if t["name"] == name)


def backup(env: dict, name: str, **variables) -> subprocess.CompletedProcess:
    extra = {"platform_backup_cluster_enabled": True, "platform_backup_name": name, **variables}
    return subprocess.run(
        ["ansible-playbook", "playbooks/backup.yml", "-i", str(LAB_INVENTORY), "-e", json.dumps(extra)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def read(site: Minio, key: str) -> bytes:
    response = site.get_object(SITE_BUCKET, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def has_manifest(site: Minio, name: str) -> bool:
    return any(o.object_name == f"{name}/manifest.json" for o in site.list_objects(SITE_BUCKET, f"{name}/"))


@pytest.fixture(scope="module")
def site(running_data_services) -> Minio:
    return lab_minio(running_data_services, backup_site=True)


@pytest.fixture(scope="module")
def primary(running_data_services) -> Minio:
    return lab_minio(running_data_services)


def put(s3: Minio, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


@pytest.fixture(scope="module")
def exported(layers, site, primary):
    """One backup with the cluster part, after a Secret with a known value, a ConfigMap and a served model
    were put in the tabular team's namespace: (run, manifest, canary value, model name)."""
    lab, namespace = layers.lab, team("tabular")["namespace"]
    canary = f"never-backed-up-{uuid.uuid4().hex}"
    isvc = f"iris-backup-{uuid.uuid4().hex[:6]}"
    lab.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "backup-canary", "namespace": namespace},
                "stringData": {"token": canary},
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "backup-canary", "namespace": namespace},
                "data": {"purpose": "cluster backup test"},
            },
        ]
    )
    layers.controllers_up()
    # the served model's files are in a bucket the backup copies; the other model's are nowhere
    assert MODELS_BUCKET in team("tabular")["buckets"]
    put(primary, MODELS_BUCKET, f"{isvc}/7/model.joblib", b"weights")
    for name, uri in ((isvc, f"s3://{MODELS_BUCKET}/{isvc}/7"), (f"{isvc}-gone", f"s3://{MODELS_BUCKET}/{isvc}/gone")):
        serve_model(
            layers.env,
            {
                "kserve_isvc_team": "tabular",
                "kserve_isvc_name": name,
                "kserve_isvc_model_name": "iris-bare-metal",
                "kserve_isvc_model_version": "7" if name == isvc else "8",
                "kserve_isvc_alias": "champion" if name == isvc else "",
                "kserve_isvc_storage_uri": uri,
                "kserve_isvc_resources": SMALL,
                "kserve_isvc_wait_timeout": 120,
            },
        )
    name = f"cluster-{uuid.uuid4().hex[:8]}"
    buckets = [bucket["name"] for bucket in inventory_var("minio_buckets")] + [MODELS_BUCKET]
    run = backup(layers.env, name, platform_backup_buckets=buckets)
    assert run.returncode == 0, (run.stdout + run.stderr)[-8000:]
    manifest = json.loads(read(site, f"{name}/manifest.json"))
    yield run, manifest, canary, isvc
    lab.kubectl("delete", "inferenceservice", isvc, f"{isvc}-gone", "-n", namespace, "--ignore-not-found")
    lab.kubectl("delete", "secret,configmap", "backup-canary", "-n", namespace, "--ignore-not-found")


def test_every_exported_object_is_on_the_backup_site_with_its_recorded_sha256(exported, site):
    _run, manifest, _canary, _isvc = exported
    cluster = manifest["cluster"]
    assert cluster["method"] == "export"
    assert cluster["object_count"] == len(cluster["objects"]) > 0
    stored = {o.object_name for o in site.list_objects(SITE_BUCKET, f"{manifest['name']}/cluster/", recursive=True)}
    assert stored == {entry["key"] for entry in cluster["objects"]}
    for entry in cluster["objects"]:
        data = read(site, entry["key"])
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry["sha256"], entry["size"]), entry["key"]


def test_the_export_covers_the_platform_namespaces_and_their_custom_resources(exported, site):
    _run, manifest, _canary, isvc = exported
    cluster, namespace = manifest["cluster"], team("tabular")["namespace"]
    teams = {t["namespace"] for t in inventory_var("platform_teams")}
    assert teams | {"ml-platform", "kserve", "velero"} <= set(cluster["namespaces"])
    assert "inferenceservices.serving.kserve.io" in cluster["resources"]
    found = {(e["namespace"], e["kind"], e["name"]) for e in cluster["objects"]}
    assert {
        (namespace, "Namespace", namespace),
        (namespace, "ConfigMap", "backup-canary"),
        (namespace, "InferenceService", isvc),
        (namespace, "SecretNames", "names"),
    } <= found
    document = json.loads(read(site, f"{manifest['name']}/cluster/{namespace}/configmaps/backup-canary.json"))
    assert document["data"] == {"purpose": "cluster backup test"}
    assert "status" not in document and "uid" not in document["metadata"]


def test_secrets_are_backed_up_by_name_and_no_value_reaches_the_backup_or_the_output(exported, site):
    run, manifest, canary, _isvc = exported
    namespace = team("tabular")["namespace"]
    assert not any(entry["kind"] == "Secret" for entry in manifest["cluster"]["objects"])
    names = json.loads(read(site, f"{manifest['name']}/cluster/{namespace}/secrets/names.json"))
    assert {"backup-canary", "kserve-s3"} <= set(names["names"])
    leaks = [e["key"] for e in manifest["cluster"]["objects"] if canary.encode() in read(site, e["key"])]
    assert leaks == []
    assert canary not in json.dumps(manifest)
    assert canary not in run.stdout + run.stderr


def test_the_manifest_lists_the_inference_services_in_force(exported):
    _run, manifest, _canary, isvc = exported
    namespace = team("tabular")["namespace"]
    (entry,) = [e for e in manifest["serving"] if (e["namespace"], e["name"]) == (namespace, isvc)]
    assert (entry["model_name"], entry["model_version"], entry["model_alias"]) == ("iris-bare-metal", "7", "champion")
    assert {(e["name"], e["model_version"]) for e in manifest["serving"]} >= {(isvc, "7"), (f"{isvc}-gone", "8")}
    assert entry["storage_uri"] == f"s3://{MODELS_BUCKET}/{isvc}/7"


def test_the_drill_proves_each_served_storage_uri_and_names_the_one_that_does_not_resolve(layers, exported):
    _run, manifest, _canary, isvc = exported
    prefix = f"r{uuid.uuid4().hex[:6]}-"
    extra = {"restore_drill_backup": manifest["name"], "restore_drill_target_bucket_prefix": prefix}
    run = subprocess.run(
        ["ansible-playbook", "playbooks/restore-drill.yml", "-i", str(LAB_INVENTORY), "-e", json.dumps(extra)],
        cwd=ROOT,
        env=layers.env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = " ".join(run.stdout.split())
    assert run.returncode != 0
    assert "restore_drill: part objects failed" in output
    assert f"s3://{MODELS_BUCKET}/{isvc}/gone: no object at or under {prefix}{MODELS_BUCKET}/{isvc}/gone" in output
    # the model whose files were backed up resolves in the restored bucket
    assert f"s3://{MODELS_BUCKET}/{isvc}/7:" not in output


def test_an_unreachable_cluster_fails_the_cluster_part_and_writes_no_manifest(layers, site, tmp_path):
    name = f"cluster-{uuid.uuid4().hex[:8]}"
    run = backup(layers.env, name, platform_backup_cluster_kubeconfig=str(tmp_path / "missing-kubeconfig"))
    assert run.returncode != 0
    assert "platform_backup: part cluster failed: reading InferenceServices" in " ".join(run.stdout.split())
    assert not has_manifest(site, name)


def test_the_velero_method_creates_a_backup_from_the_schedule_and_fails_without_a_server(layers, site):
    name = f"cluster-{uuid.uuid4().hex[:8]}"
    backup_name = f"velero-platform-{name}"
    try:
        run = backup(layers.env, name, platform_backup_cluster_method="velero", platform_backup_velero_timeout=10)
        assert run.returncode != 0
        assert (
            f"platform_backup: part cluster failed: Velero Backup velero/{backup_name} ended in phase ''"
            in " ".join(run.stdout.split())
        )
        assert not has_manifest(site, name)
        created = layers.lab.get("backup.velero.io", backup_name, "-n", "velero")
        schedule = layers.lab.get("schedule", "velero-platform", "-n", "velero")
        assert created["spec"] == schedule["spec"]["template"]
        assert created["metadata"]["labels"]["velero.io/schedule-name"] == "velero-platform"
    finally:
        layers.lab.kubectl("delete", "backup.velero.io", backup_name, "-n", "velero", "--ignore-not-found")
