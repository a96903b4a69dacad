"""Lab fixtures for platform_verify's cluster checks: the lab, and the two CRDs they read.

The lab itself is the session's shared `lab` fixture (tests/conftest.py). The Workflow and
InferenceService CRDs are rendered from the lab's chart mirror and created
only when the cluster lacks them; only those created here are deleted again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def chart_versions() -> dict:
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    return versions["platform_releases"][versions["platform_release_default"]]["charts"]


# CRD name -> (chart, key of its version in versions.yml, helm template arguments).
# argo-workflows renders its minimal CRDs as templates with crds.full=false (the
# full ones come from a hook Job that would download them); kserve-crd ships one
# template per CRD.
CRDS = {
    "workflows.argoproj.io": (
        "argo-workflows",
        "argo_workflows",
        ["--set", "crds.full=false", "--show-only", "templates/crds.yaml"],
    ),
    "inferenceservices.serving.kserve.io": (
        "kserve-crd",
        "kserve",
        ["--show-only", "templates/serving.kserve.io_inferenceservices.yaml"],
    ),
}


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
    """The Workflow and InferenceService CRDs, Established; created here only when absent."""
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
