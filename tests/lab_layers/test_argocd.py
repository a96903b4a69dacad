"""Argo CD on the lab, as the session's site.yml converged the orchestration layer.

The chart's pods run on kwok nodes (no controller runs: the lab has no Git server to sync from),
so the tests read back what the role delivered: the release, its pods placed and Ready, the root
Application equal to the object gitops delivery writes as root.yaml and valid against the mirror
chart's Application CRD (which the API server enforces too), the teams' serving Applications, the
repository Secret, and a second run that changes nothing.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from lab_support import ROOT, inventory_var, recap

from ansible_collections.baremetal.mlops.plugins.plugin_utils import chart_check, k8s_schema, release_render

pytestmark = pytest.mark.lab

MIRROR = Path(os.environ.get("LAB_CHART_MIRROR", ROOT.parent / "shared" / "mirror" / "charts"))


@pytest.fixture(scope="module")
def argocd(layers):
    assert "Deliver Argo CD (orchestration layer)" in layers.first.stdout
    return layers


def application_crds() -> k8s_schema.CrdIndex:
    version = yaml.safe_load((ROOT / "versions.yml").read_text())["platform_releases"]
    charts = {release["charts"]["argo_cd"] for release in version.values()}
    index = k8s_schema.CrdIndex()
    for chart in sorted(charts):
        for crd in chart_check.chart_crds(str(MIRROR / f"argo-cd-{chart}.tgz")):
            index.add(crd)
    return index


def test_the_chart_runs_on_the_lab_nodes_without_dex(argocd):
    lab = argocd.lab
    namespace = inventory_var("platform_argocd_namespace")
    listed = lab.helm("list", "-n", namespace, "-o", "yaml").stdout
    releases = {r["name"]: r for r in yaml.safe_load(listed)}
    assert releases["argocd"]["status"] == "deployed"
    assert releases["argocd"]["chart"] == "argo-cd-10.1.1"
    pods = lab.get("pods", "-n", namespace)["items"]
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods}
    assert {"server", "repo-server", "redis", "application-controller", "applicationset-controller"} <= components
    assert "dex-server" not in components
    # the chart's hook Job (redis secret init) leaves a Succeeded pod until the garbage collector removes it
    for pod in (p for p in pods if p["status"].get("phase") != "Succeeded"):
        ready = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        assert pod["spec"].get("nodeName") and ready.get("Ready") == "True", pod["metadata"]["name"]
    service = lab.get("service", "argocd-server", "-n", namespace)
    assert service["spec"]["type"] == "ClusterIP"


def test_the_root_application_is_the_one_gitops_delivery_writes_and_fits_the_crd(argocd):
    lab = argocd.lab
    namespace = inventory_var("platform_argocd_namespace")
    root = lab.get("application", "platform", "-n", namespace)
    settings = {
        "repo_url": inventory_var("platform_gitops_repo_url"),
        "revision": inventory_var("platform_gitops_revision"),
        "argocd_namespace": namespace,
    }
    expected = release_render.root_application(settings)
    assert root["spec"] == expected["spec"]
    assert root["spec"]["source"]["path"] == "apps"
    assert root["spec"]["source"]["repoURL"] == "https://git.lab.invalid/platform/platform-gitops.git"
    assert root["spec"]["source"]["targetRevision"] == "main"
    assert root["metadata"]["labels"] == expected["metadata"]["labels"]

    index = application_crds()
    clean = {k: root[k] for k in ("apiVersion", "kind", "spec")} | {"metadata": {"name": "platform"}}
    assert index.validate(clean) == []
    broken = copy.deepcopy(clean)
    broken["spec"]["source"]["directory"]["recurse"] = "yes"
    assert index.validate(broken) != []
    # the API server enforces the chart's CRD schema as well
    broken["metadata"]["namespace"] = namespace
    refused = lab.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(broken), check=False)
    assert refused.returncode != 0 and "recurse" in refused.stderr, refused.stderr


def test_each_team_has_its_serving_application_and_the_repository_secret_its_credentials(argocd):
    lab = argocd.lab
    namespace = inventory_var("platform_argocd_namespace")
    for team in inventory_var("platform_teams"):
        app = lab.get("application", f"serving-{team['name']}", "-n", namespace)
        assert app["spec"]["source"]["path"] == f"serving/{team['name']}"
        assert app["spec"]["destination"]["namespace"] == team["namespace"]
    secret = lab.get("secret", "platform-gitops-repository", "-n", namespace)
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert sorted(secret["data"]) == ["password", "type", "url", "username"]


def test_a_second_run_changes_nothing(argocd):
    result = argocd.play(tags="argocd")
    assert recap(result)["changed"] == 0, result.stdout[-4000:]
