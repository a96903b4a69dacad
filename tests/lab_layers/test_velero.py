"""Velero in the storage layer on the lab: the chart's CRDs, the backup location on the backup site and
the Schedule, asserted against the real API server.

Velero's server cannot run on kwok (no container starts), so what is asserted is what the server would
read: Established CRDs, the BackupStorageLocation pointing at the lab's backup site (the second MinIO)
with its bucket and prefix, the Schedule's cron and namespaces, the credentials Secret and the pinned
plugin initContainer. The chart's CRD upgrade hook is a Job, which kwok completes: it is not asserted.
"""

from __future__ import annotations

import base64

import pytest
import yaml
from lab_support import ROOT, inventory_var

pytestmark = pytest.mark.lab

NAMESPACE = "velero"
CRDS = ("backups.velero.io", "backupstoragelocations.velero.io", "schedules.velero.io", "restores.velero.io")


def test_velero_crds_are_established(layers):
    for name in CRDS:
        crd = layers.lab.get("crd", name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", name


def test_the_backup_location_points_at_the_backup_site(layers, running_data_services):
    location = layers.lab.get("backupstoragelocation", "default", "-n", NAMESPACE)
    spec = location["spec"]
    assert (spec["provider"], spec["default"], spec["accessMode"]) == ("aws", True, "ReadWrite")
    assert spec["objectStorage"] == {"bucket": inventory_var("velero_bucket"), "prefix": inventory_var("velero_prefix")}
    assert spec["config"] == {
        "region": "us-east-1",
        "s3Url": running_data_services.minio_backup.url(),
        "s3ForcePathStyle": "true",
    }
    assert spec["credential"] == {"name": "velero-backup-site", "key": "cloud"}
    assert layers.lab.get("volumesnapshotlocations", "-n", NAMESPACE)["items"] == []
    secret = layers.lab.get("secret", "velero-backup-site", "-n", NAMESPACE)
    cloud = base64.b64decode(secret["data"]["cloud"]).decode()
    assert f"aws_access_key_id={running_data_services.settings.minio_backup_root_user}\n" in cloud
    assert f"aws_secret_access_key={running_data_services.settings.minio_backup_root_password}\n" in cloud


def test_the_schedule_backs_up_the_platform_and_team_namespaces(layers):
    schedule = layers.lab.get("schedule", "velero-platform", "-n", NAMESPACE)
    assert schedule["spec"]["schedule"] == "0 2 * * *"
    template = schedule["spec"]["template"]
    teams = {team["namespace"] for team in inventory_var("platform_teams")}
    assert teams | {"ml-platform", "ml-storage", "kserve", "argo", "monitoring", "velero"} <= set(
        template["includedNamespaces"]
    )
    assert (template["ttl"], template["storageLocation"], template["snapshotVolumes"]) == ("720h0m0s", "default", False)
    assert "events" in template["excludedResources"]


def test_the_server_carries_the_pinned_aws_plugin(layers):
    deployment = layers.lab.get("deployment", "velero", "-n", NAMESPACE)
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    release = versions["platform_releases"][versions["platform_release_default"]]
    init = deployment["spec"]["template"]["spec"]["initContainers"]
    assert [(c["name"], c["image"]) for c in init] == [
        ("velero-plugin-for-aws", release["images"]["velero_plugin_for_aws"])
    ]
    status = layers.lab.helm("status", "velero", "-n", NAMESPACE, "-o", "json").stdout
    assert '"status":"deployed"' in status.replace(" ", "")
