"""Lab fixtures for platform_verify's cluster checks: the lab, and the two CRDs they read.

tests/lab's fixtures are not visible from here (pytest scopes a conftest to
its folder), so this one does the same with the shared helpers (tests/lab_support.py):
the lab is started through `python -m lab cluster up` when no component of it
runs, and stopped at the end only when this session started it. The Workflow and
InferenceService CRDs are rendered from the lab's chart mirror and created
only when the cluster lacks them; only those created here are deleted again.
"""

from __future__ import annotations

import os
from pathlib import Path

import lab_support
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def lab_component_running(status_stdout: str) -> bool:
    """Whether `python -m lab cluster status` shows any lab process alive (running or unhealthy)."""
    return any(line.split()[1:2] in (["running"], ["unhealthy"]) for line in status_stdout.splitlines())


@pytest.fixture(scope="session")
def lab(tmp_path_factory, lab_settings):
    status = lab_support.labctl("status", check=False)
    # Any component running means the lab is someone else's (a developer, another
    # session): it is brought up to health but never stopped here.
    was_running = status.returncode == 0 or lab_component_running(status.stdout)
    if status.returncode != 0:
        lab_support.labctl("up")
    pins = lab_settings.versions["lab_tools"]
    binaries = {name: lab_support.labctl("bin", name).stdout.strip() for name in ("kubectl", "helm")}
    helm_home = tmp_path_factory.mktemp("helm")
    env = {
        **os.environ,
        "KUBECONFIG": str(lab_settings.kubeconfig),
        "HELM_CACHE_HOME": str(helm_home / "cache"),
        "HELM_CONFIG_HOME": str(helm_home / "config"),
        "HELM_DATA_HOME": str(helm_home / "data"),
    }
    yield lab_support.Lab(ROOT, lab_settings.kubeconfig, pins, binaries, env)
    if not was_running:
        lab_support.labctl("down")


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
