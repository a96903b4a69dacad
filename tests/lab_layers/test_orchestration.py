"""The orchestration layer on the lab: a Workflow from the argo_workflows role's train-register
WorkflowTemplate, run by the real workflow-controller (lab/controllers.py) for the chart's pod.

The controller creates each step's pod through the API server, where the tenancy layer's GPU
placement policy and quota admit it; the scheduler places it; kwok finishes it (lab/kwok-stages.yaml)
once the lab's executor stand-in reported the step's outputs (lab/executor.py); the controller alone
resolves the model artifact from train to register, retries and sets the Workflow's phase.
"""

from __future__ import annotations

import uuid

import pytest
import yaml
from lab_support import inventory_var, recap, workflow_finished

pytestmark = pytest.mark.lab

FAIL_LABEL = "lab.baremetal.mlops/exit-code"


def team(name: str) -> dict:
    return next(t for t in inventory_var("platform_teams") if t["name"] == name)


def submit(lab, namespace: str, pod_labels: dict | None = None) -> str:
    name = f"train-{uuid.uuid4().hex[:8]}"
    spec = {
        "workflowTemplateRef": {"name": "train-register"},
        "arguments": {"parameters": [{"name": "model-name", "value": "iris-bare-metal"}]},
    }
    if pod_labels:
        spec["podMetadata"] = {"labels": pod_labels}
    lab.apply(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )
    return name


def step_nodes(wf: dict, step: str) -> list[dict]:
    return [n for n in wf["status"]["nodes"].values() if n["type"] == "Pod" and n["displayName"].startswith(step)]


@pytest.fixture(scope="module")
def orchestration(layers):
    """The layer as the session converged it, the controller started for the chart's pod."""
    assert "Deliver Argo Workflows (orchestration layer)" in layers.first.stdout
    layers.controllers_up()
    return layers


def test_a_workflow_from_the_template_trains_on_the_teams_gpu_and_registers_on_cpu(orchestration):
    lab = orchestration.lab
    tabular = team("tabular")
    namespace = tabular["namespace"]
    name = submit(lab, namespace)
    wf = workflow_finished(lab, namespace, name)
    assert wf["status"]["phase"] == "Succeeded", wf["status"]
    (train,), (register,) = step_nodes(wf, "train"), step_nodes(wf, "register")

    # the model travelled as an artifact: register's input is train's output, in the team's own
    # bucket through the namespace's default repository, at a key the controller resolved
    produced = train["outputs"]["artifacts"][0]
    consumed = register["inputs"]["artifacts"][0]
    assert consumed["s3"]["key"] == produced["s3"]["key"]
    assert produced["s3"]["key"].startswith(f"workflows/{name}/")
    repositories = lab.get("configmap", "artifact-repositories", "-n", namespace)
    default = repositories["metadata"]["annotations"]["workflows.argoproj.io/default-artifact-repository"]
    assert yaml.safe_load(repositories["data"][default])["s3"]["bucket"] == tabular["buckets"][0]
    assert wf["status"]["artifactRepositoryRef"]["configMap"] == "artifact-repositories"

    nodes = {n["metadata"]["name"]: n["metadata"]["labels"] for n in lab.get("nodes")["items"]}
    pods = {
        p["metadata"]["annotations"]["workflows.argoproj.io/node-id"]: p
        for p in lab.get("pods", "-n", namespace, "-l", f"workflows.argoproj.io/workflow={name}")["items"]
    }
    products = {inventory_var("gpu_node_classes")[c]["product"] for c in tabular["gpu_classes"]}
    train_pod, register_pod = pods[train["id"]], pods[register["id"]]
    assert nodes[train_pod["spec"]["nodeName"]].get("nvidia.com/gpu.product") in products
    assert "nvidia.com/gpu.product" not in nodes[register_pod["spec"]["nodeName"]]
    assert train_pod["spec"]["serviceAccountName"] == "argo-workflow"


def test_a_failing_train_step_is_retried_then_the_workflow_fails(orchestration):
    lab = orchestration.lab
    namespace = team("vision")["namespace"]
    name = submit(lab, namespace, pod_labels={FAIL_LABEL: "3"})
    wf = workflow_finished(lab, namespace, name)
    assert wf["status"]["phase"] == "Failed", wf["status"]
    attempts = step_nodes(wf, "train")
    assert len(attempts) == 3, [n["name"] for n in attempts]  # the first try and the role's 2 retries
    assert all(n["phase"] == "Failed" and "exit code 3" in n.get("message", "") for n in attempts), attempts
    assert not step_nodes(wf, "register")
    # vision's GPU is a MIG slice of its A100s: the admission policy and quota admitted it there
    pod = lab.get("pods", "-n", namespace, "-l", f"workflows.argoproj.io/workflow={name}")["items"][0]
    nodes = {n["metadata"]["name"]: n["metadata"]["labels"] for n in lab.get("nodes")["items"]}
    assert nodes[pod["spec"]["nodeName"]]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"


def test_a_deleted_crd_comes_back_on_the_next_run(orchestration):
    """Someone deletes the WorkflowTemplate CRD (and with it every template): the release is unchanged,
    so Helm alone would do nothing; the re-run upgrades it again, the CRD and the templates return,
    and the run after that changes nothing."""
    lab = orchestration.lab
    lab.kubectl("delete", "crd", "workflowtemplates.argoproj.io", "--wait=true", "--timeout=120s")
    healed = orchestration.play(tags="argo_workflows")
    assert "Put deleted CRDs back, upgrading again the unchanged releases of argo-workflows" in healed.stdout
    assert recap(healed)["changed"] >= 2, healed.stdout[-4000:]  # the release, then the objects
    for t in inventory_var("platform_teams"):
        assert lab.get("workflowtemplate", "train-register", "-n", t["namespace"])["spec"]["entrypoint"]
    assert recap(orchestration.play(tags="argo_workflows"))["changed"] == 0
    orchestration.controllers_up()
