"""The real Argo Workflows workflow-controller runs Workflows on the lab (lab/controllers.py).

The argo-workflows chart from the chart mirror is installed as a site would
(namespace argo, the controller watching one workflow namespace); `lab
cluster up` then starts the controller binary built from its Go module for
the chart's pod. The controller creates each step's pod, the scheduler places
it, kwok finishes it (lab/kwok-stages.yaml) and the controller alone decides
what follows: next step, retry, the Workflow's phase and message.
"""

from __future__ import annotations

import uuid

import pytest
import yaml
from lab_support import ROOT, gpu_toleration, inventory_var, labctl

pytestmark = pytest.mark.lab

RELEASE, CONTROLLER_NAMESPACE, NAMESPACE = "argo-workflows", "argo", "t-argo-workflows"
FAIL_LABEL = "lab.baremetal.mlops/exit-code"


@pytest.fixture(scope="module")
def argo(lab, chart_repository):
    version = str(lab_chart_version())
    lab.helm("repo", "add", "mirror-argo", chart_repository("argo-workflows"), "--force-update")
    lab.kubectl("create", "namespace", NAMESPACE, check=False)
    values = [
        "--set", "crds.full=false",  # the full CRDs come from a hook Job kwok would only pretend to run
        "--set", "server.enabled=false",
        "--set", f"controller.workflowNamespaces={{{NAMESPACE}}}",
    ]  # fmt: skip
    lab.helm(
        "upgrade", "--install", RELEASE, "mirror-argo/argo-workflows", "--version", version,
        "-n", CONTROLLER_NAMESPACE, "--create-namespace", "--wait", "--timeout", "180s", *values,
    )  # fmt: skip
    labctl("up")  # starts the controller for the chart's pod
    yield lab
    lab.helm("uninstall", RELEASE, "-n", CONTROLLER_NAMESPACE, "--wait", check=False)
    lab.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
    labctl("up")  # the chart is gone: the controller is stopped


def lab_chart_version() -> str:
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    return versions["platform_releases"][versions["platform_release_default"]]["charts"]["argo_workflows"]


def gpu_step_pod_spec() -> dict:
    classes = inventory_var("gpu_node_classes")
    return {
        "nodeSelector": {"nvidia.com/gpu.product": classes["l4-inference"]["product"]},
        "tolerations": [gpu_toleration()],
    }


def submit(lab, templates: list[dict]) -> str:
    name = f"wf-{uuid.uuid4().hex[:8]}"
    lab.apply(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"entrypoint": "main", "templates": templates},
        }
    )
    return name


def finished(lab, name: str) -> dict:
    def done():
        wf = lab.get("workflow", name, "-n", NAMESPACE)
        return wf if wf.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error") else None

    return lab.wait_until(done, f"Workflow {name} to finish", timeout=180)


def pods(lab, name: str) -> list[dict]:
    return lab.get("pods", "-n", NAMESPACE, "-l", f"workflows.argoproj.io/workflow={name}")["items"]


def node_roles(lab) -> dict[str, dict]:
    return {n["metadata"]["name"]: n["metadata"]["labels"] for n in lab.get("nodes")["items"]}


def test_a_two_step_workflow_succeeds_with_the_gpu_step_on_a_gpu_node(argo):
    step = {"image": "registry.example/train:1", "command": ["python", "train.py"]}
    name = submit(
        argo,
        [
            {
                "name": "main",
                "steps": [[{"name": "train", "template": "train"}], [{"name": "register", "template": "register"}]],
            },
            {
                "name": "train",
                "container": {**step, "resources": {"limits": {"nvidia.com/gpu": 1}}},
                **gpu_step_pod_spec(),
            },
            {"name": "register", "container": {**step, "command": ["python", "register.py"]}},
        ],
    )
    wf = finished(argo, name)
    assert wf["status"]["phase"] == "Succeeded", wf["status"]
    steps = {n["displayName"]: n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"}
    assert set(steps) == {"train", "register"} and all(n["phase"] == "Succeeded" for n in steps.values())
    # the controller started register only once train had finished
    assert steps["register"]["startedAt"] >= steps["train"]["finishedAt"]

    labels = node_roles(argo)
    placed = {
        p["metadata"]["annotations"]["workflows.argoproj.io/node-name"].rsplit(".", 1)[-1]: p for p in pods(argo, name)
    }
    train_node = labels[placed["train"]["spec"]["nodeName"]]
    register_node = labels[placed["register"]["spec"]["nodeName"]]
    assert train_node.get("nvidia.com/gpu.product") == inventory_var("gpu_node_classes")["l4-inference"]["product"]
    assert "nvidia.com/gpu.product" not in register_node  # the taint keeps CPU steps off GPU nodes


def test_a_failing_step_is_retried_and_the_workflow_fails_with_the_controllers_message(argo):
    name = submit(
        argo,
        [
            {"name": "main", "steps": [[{"name": "train", "template": "train"}]]},
            {
                "name": "train",
                "metadata": {"labels": {FAIL_LABEL: "3"}},
                "retryStrategy": {"limit": 1, "retryPolicy": "Always"},
                "container": {"image": "registry.example/train:1", "command": ["python", "train.py"]},
            },
        ],
    )
    wf = finished(argo, name)
    assert wf["status"]["phase"] == "Failed", wf["status"]
    attempts = [n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"]
    assert len(attempts) == 2, [n["name"] for n in attempts]  # the first try and one retry
    assert all(n["phase"] == "Failed" and "exit code 3" in n.get("message", "") for n in attempts), attempts
    assert len(pods(argo, name)) == 2
    assert wf["status"].get("message"), wf["status"]
