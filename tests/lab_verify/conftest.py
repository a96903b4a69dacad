"""Lab fixtures for platform_verify's cluster checks: the lab, the orchestration layer and the
InferenceService CRD.

The lab itself is the session's shared `lab` fixture (tests/conftest.py). Workflows come from the
orchestration layer (argo_workflows role) and its real workflow-controller: `orchestration`
converges the layer and, when a test deleted the Workflow CRD, has Helm put the chart's CRD back.
The InferenceService CRD (no KServe release in the lab yet) is rendered from the lab's chart
mirror and created only when the cluster lacks it; only one created here is deleted again.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from lab_support import LAB_INVENTORY, ansible_env, labctl

ROOT = Path(__file__).resolve().parents[2]


def chart_versions() -> dict:
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    return versions["platform_releases"][versions["platform_release_default"]]["charts"]


# CRD name -> (chart, key of its version in versions.yml, helm template arguments).
# kserve-crd ships one template per CRD.
CRDS = {
    "inferenceservices.serving.kserve.io": (
        "kserve-crd",
        "kserve",
        ["--show-only", "templates/serving.kserve.io_inferenceservices.yaml"],
    ),
}
WORKFLOW_CRD = "workflows.argoproj.io"
ARGO_RELEASE, ARGO_NAMESPACE = "argo-workflows", "argo"


def render_crd(lab, name: str, chart_repository) -> dict:
    chart, version_key, args = CRDS[name]
    repo = chart_repository(chart)
    version = str(chart_versions()[version_key])
    rendered = lab.helm("template", "verify-crds", chart, "--repo", repo, "--version", version, *args).stdout
    for doc in yaml.safe_load_all(rendered):
        if doc and doc.get("kind") == "CustomResourceDefinition" and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"{chart} {version} renders no CRD {name}")


def established(lab, name: str) -> bool:
    conditions = lab.get("crd", name).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


@pytest.fixture(scope="module")
def verify_crds(lab, chart_repository):
    """The InferenceService CRD, Established; created here only when absent."""
    created = []
    try:
        for name in CRDS:
            if lab.kubectl("get", "crd", name, "--ignore-not-found", "-o", "name").stdout.strip():
                continue
            crd = render_crd(lab, name, chart_repository)
            # The InferenceService CRD is about 2 MB: too big for apply's
            # last-applied annotation, so create it.
            lab.kubectl("create", "-f", "-", stdin=yaml.safe_dump(crd))
            created.append(name)
        for name in CRDS:
            # Not `kubectl wait`: it errors while a new CRD has no conditions yet.
            lab.wait_until(lambda name=name: established(lab, name), f"CRD {name} Established", timeout=60)
        yield list(CRDS)
    finally:
        for name in reversed(created):
            lab.kubectl("delete", "crd", name, "--ignore-not-found", "--wait=true", "--timeout=120s", check=False)


@pytest.fixture(scope="module")
def orchestration(lab, chart_repository, tmp_path_factory):
    """The orchestration layer converged on the lab and its workflow-controller running.

    A CRD deleted by hand is not a chart change: when the Workflow CRD is gone (the not-served test),
    Helm upgrades the release with its own values and so creates the chart's CRD again."""
    result = subprocess.run(
        ["ansible-playbook", "playbooks/site.yml", "-i", str(LAB_INVENTORY), "--tags", "orchestration"],
        cwd=ROOT, env=ansible_env(lab), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    if not lab.kubectl("get", "crd", WORKFLOW_CRD, "--ignore-not-found", "-o", "name").stdout.strip():
        release = json.loads(lab.helm("get", "metadata", ARGO_RELEASE, "-n", ARGO_NAMESPACE, "-o", "json").stdout)
        values = tmp_path_factory.mktemp("argo") / "values.json"
        values.write_text(lab.helm("get", "values", ARGO_RELEASE, "-n", ARGO_NAMESPACE, "-o", "json").stdout)
        chart, repo = release["chart"], chart_repository(release["chart"])
        version = release["version"]
        lab.helm(
            "upgrade",
            ARGO_RELEASE,
            chart,
            "--repo",
            repo,
            "--version",
            version,
            "-n",
            ARGO_NAMESPACE,
            "-f",
            str(values),
        )
    lab.wait_until(lambda: established(lab, WORKFLOW_CRD), f"CRD {WORKFLOW_CRD} Established", timeout=60)
    labctl("up")  # the controller, restarted if it lost its CRD
    return lab
