"""Lab fixtures for platform_verify's cluster checks: the lab, the orchestration and serving layers.

The lab itself is the session's shared `lab` fixture (tests/conftest.py). Workflows come from the
orchestration layer (argo_workflows role) and its real workflow-controller, InferenceServices from the
serving layer (kserve role) and the real KServe controller manager. Each fixture converges its layer
and, when a test deleted the layer's CRD, has Helm put the chart's CRD back (a CRD deleted by hand is
not a chart change, so Helm would otherwise leave it gone).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from lab_support import LAB_INVENTORY, ansible_env, labctl

ROOT = Path(__file__).resolve().parents[2]

WORKFLOW_CRD = "workflows.argoproj.io"
ARGO_RELEASE, ARGO_NAMESPACE = "argo-workflows", "argo"
ISVC_CRD = "inferenceservices.serving.kserve.io"
KSERVE_CRD_RELEASE, KSERVE_NAMESPACE = "kserve-crd", "kserve"


def established(lab, name: str) -> bool:
    conditions = lab.get("crd", name).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def converge(lab, tags: str) -> None:
    result = subprocess.run(
        ["ansible-playbook", "playbooks/site.yml", "-i", str(LAB_INVENTORY), "--tags", tags],
        cwd=ROOT, env=ansible_env(lab), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def restore_crd(lab, crd: str, release: str, namespace: str, chart_repository, folder: Path) -> None:
    """Upgrade the release that ships crd with its own values when the CRD is gone; wait until Established."""
    if not lab.kubectl("get", "crd", crd, "--ignore-not-found", "-o", "name").stdout.strip():
        found = json.loads(lab.helm("get", "metadata", release, "-n", namespace, "-o", "json").stdout)
        values = folder / f"{release}-values.json"
        values.write_text(lab.helm("get", "values", release, "-n", namespace, "-o", "json").stdout)
        chart = found["chart"]
        lab.helm(
            "upgrade", release, chart, "--repo", chart_repository(chart), "--version", found["version"],
            "-n", namespace, "-f", str(values),
        )  # fmt: skip
    lab.wait_until(lambda: established(lab, crd), f"CRD {crd} Established", timeout=60)


@pytest.fixture(scope="module")
def orchestration(lab, chart_repository, tmp_path_factory):
    """The orchestration layer converged on the lab and its workflow-controller running."""
    converge(lab, "orchestration")
    restore_crd(lab, WORKFLOW_CRD, ARGO_RELEASE, ARGO_NAMESPACE, chart_repository, tmp_path_factory.mktemp("argo"))
    labctl("up")  # the controller, restarted if it lost its CRD
    return lab


@pytest.fixture(scope="module")
def serving(lab, chart_repository, tmp_path_factory):
    """The serving layer converged on the lab; the KServe manager starts with the first admission call."""
    converge(lab, "serving")
    restore_crd(
        lab, ISVC_CRD, KSERVE_CRD_RELEASE, KSERVE_NAMESPACE, chart_repository, tmp_path_factory.mktemp("kserve")
    )
    labctl("up")
    return lab
