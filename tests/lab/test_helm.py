"""A Helm release from the chart mirror installs on the lab and re-applies cleanly.

The velero chart is small and runs Job hooks (pre-install CRD upgrade,
post-install namespace labelling), so `helm --wait` returns only when kwok
completes those Job pods. A second `helm upgrade` with the same values makes
a new revision (Helm always records one) but must change nothing in the
cluster: the rendered manifest is identical and no object of the release gets
a new resourceVersion or generation.
"""

from __future__ import annotations

import pytest
import yaml

pytestmark = pytest.mark.lab

RELEASE, NAMESPACE, CHART, VERSION = "lab-velero", "t-helm-velero", "velero", "12.1.0"
VALUES = ["--set", "backupsEnabled=false", "--set", "snapshotsEnabled=false"]


def release_objects(lab) -> dict[str, tuple[str, int | None]]:
    """(resourceVersion, generation) of every object in the release's manifest."""
    manifest = lab.helm("get", "manifest", RELEASE, "-n", NAMESPACE).stdout
    found = {}
    for doc in yaml.safe_load_all(manifest):
        if not doc:
            continue
        meta = doc["metadata"]
        args = [doc["kind"] + "." + doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else doc["kind"]]
        args.append(meta["name"])
        live = lab.get(*args, "-n", meta.get("namespace", NAMESPACE))
        found[f"{doc['kind']}/{meta['name']}"] = (
            live["metadata"]["resourceVersion"],
            live["metadata"].get("generation"),
        )
    return found


@pytest.fixture
def mirror_repo(lab, chart_repository):
    lab.helm("repo", "add", "mirror", chart_repository(CHART), "--force-update")
    lab.helm("repo", "update", "mirror")
    yield "mirror"
    lab.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", check=False)
    lab.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")


def test_helm_release_with_job_hooks_installs_and_upgrades_idempotently(lab, mirror_repo):
    chart = f"{mirror_repo}/{CHART}"
    common = ["-n", NAMESPACE, "--version", VERSION, "--wait", "--wait-for-jobs", "--timeout", "180s", *VALUES]
    lab.helm("upgrade", "--install", RELEASE, chart, "--create-namespace", *common)

    history = yaml.safe_load(lab.helm("history", RELEASE, "-n", NAMESPACE, "-o", "yaml").stdout)
    assert [h["status"] for h in history] == ["deployed"]
    deployment = lab.get("deployment", "-n", NAMESPACE, "-l", f"app.kubernetes.io/instance={RELEASE}")["items"][0]
    assert deployment["status"].get("availableReplicas") == 1
    crds = lab.get("crd", "backups.velero.io")
    assert any(c["type"] == "Established" and c["status"] == "True" for c in crds["status"]["conditions"])

    manifest_before = lab.helm("get", "manifest", RELEASE, "-n", NAMESPACE).stdout
    objects_before = release_objects(lab)
    lab.helm("upgrade", RELEASE, chart, *common)
    manifest_after = lab.helm("get", "manifest", RELEASE, "-n", NAMESPACE).stdout

    history = yaml.safe_load(lab.helm("history", RELEASE, "-n", NAMESPACE, "-o", "yaml").stdout)
    assert [h["revision"] for h in history] == [1, 2]
    assert history[-1]["status"] == "deployed"
    assert manifest_after == manifest_before
    assert release_objects(lab) == objects_before
