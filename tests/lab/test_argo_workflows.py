"""The real Argo Workflows workflow-controller runs Workflows on the lab (lab/controllers.py).

The argo-workflows chart from the chart mirror is installed as a site would
(namespace argo, the controller watching one workflow namespace); `lab
cluster up` then starts the controller binary built from its Go module for
the chart's pod. The controller creates each step's pod, the scheduler places
it, kwok finishes it (lab/kwok-stages.yaml) and the controller alone decides
what follows: next step, retry, the Workflow's phase and message.
"""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
import yaml
from lab_support import ROOT, gpu_toleration, inventory_var, labctl, workflow_finished

pytestmark = pytest.mark.lab

RELEASE, CONTROLLER_NAMESPACE, NAMESPACE = "argo-workflows", "argo", "t-argo-workflows"
FAIL_LABEL = "lab.baremetal.mlops/exit-code"
# The namespace's default artifact repository, as the argo_workflows role writes it.
REPOSITORY_KEY, ARTIFACT_SECRET, BUCKET = "team-s3", "argo-artifacts-s3", "t-argo-artifacts"
KEY_FORMAT = "workflows/{{workflow.name}}/{{pod.name}}"


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


@pytest.fixture
def artifact_repository(argo):
    """The namespace's default artifact repository: an S3 bucket on the lab's MinIO address, keys in a Secret."""
    minio = inventory_var("lab_listen")["minio"]
    repository = {
        "archiveLogs": False,
        "s3": {
            "endpoint": f"{minio['host']}:{minio['port']}",
            "insecure": True,
            "bucket": BUCKET,
            "keyFormat": KEY_FORMAT,
            "accessKeySecret": {"name": ARTIFACT_SECRET, "key": "accesskey"},
            "secretKeySecret": {"name": ARTIFACT_SECRET, "key": "secretkey"},
        },
    }
    argo.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": ARTIFACT_SECRET, "namespace": NAMESPACE},
                "stringData": {"accesskey": secrets.token_hex(8), "secretkey": secrets.token_hex(16)},
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "artifact-repositories",
                    "namespace": NAMESPACE,
                    "annotations": {"workflows.argoproj.io/default-artifact-repository": REPOSITORY_KEY},
                },
                "data": {REPOSITORY_KEY: yaml.safe_dump(repository)},
            },
        ]
    )
    yield repository
    argo.kubectl(
        "delete", "configmap", "artifact-repositories", "secret", ARTIFACT_SECRET, "-n", NAMESPACE, check=False
    )


def finished(lab, name: str) -> dict:
    return workflow_finished(lab, NAMESPACE, name, timeout=360)  # a ceiling for a loaded machine


def pods(lab, name: str) -> list[dict]:
    return lab.get("pods", "-n", NAMESPACE, "-l", f"workflows.argoproj.io/workflow={name}")["items"]


def pod_template(pod: dict) -> dict:
    """The template the controller handed the pod's executor (ARGO_TEMPLATE of its init container)."""
    env = {e["name"]: e.get("value") for c in pod["spec"]["initContainers"] for e in c.get("env") or []}
    return json.loads(env["ARGO_TEMPLATE"])


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


def test_an_output_artifact_of_the_gpu_step_is_the_input_artifact_of_the_next_step(argo, artifact_repository):
    step = {"image": "registry.example/train:1"}
    # The controller deletes a Workflow's task results once the Workflow is complete: watch them from the start.
    with argo.watch("workflowtaskresults", NAMESPACE) as results:
        name, wf = run_artifact_workflow(argo, step)
        assert wf["status"]["phase"] == "Succeeded", wf["status"]
        train = train_id(wf)
        # the report the controller read, then removed with the rest of the Workflow's once it was complete
        argo.wait_until(
            lambda: ("DELETED", train) in [(kind, o["metadata"]["name"]) for kind, o in results()],
            f"the controller to delete WorkflowTaskResult {train}",
        )
    seen = [o for kind, o in results() if kind != "DELETED" and o["metadata"]["name"] == train]
    assert seen, f"the watch saw no version of WorkflowTaskResult {train} before its deletion"
    check_artifact_passed_on(argo, artifact_repository, name, wf, seen[-1])


def train_id(wf: dict) -> str:
    return next(n["id"] for n in wf["status"]["nodes"].values() if n["type"] == "Pod" and n["displayName"] == "train")


def run_artifact_workflow(argo, step: dict) -> tuple[str, dict]:
    name = submit(
        argo,
        [
            {
                "name": "main",
                "dag": {
                    "tasks": [
                        {"name": "train", "template": "train"},
                        {
                            "name": "register",
                            "dependencies": ["train"],
                            "template": "register",
                            "arguments": {
                                "artifacts": [{"name": "model", "from": "{{tasks.train.outputs.artifacts.model}}"}]
                            },
                        },
                    ]
                },
            },
            {
                "name": "train",
                "container": {
                    **step,
                    "command": ["python", "train.py"],
                    "resources": {"limits": {"nvidia.com/gpu": 1}},
                },
                "outputs": {"artifacts": [{"name": "model", "path": "/tmp/model"}]},
                **gpu_step_pod_spec(),
            },
            {
                "name": "register",
                "inputs": {"artifacts": [{"name": "model", "path": "/tmp/model"}]},
                "container": {**step, "command": ["python", "register.py"]},
            },
        ],
    )
    return name, finished(argo, name)


def check_artifact_passed_on(argo, artifact_repository, name: str, wf: dict, result: dict) -> None:
    ref = wf["status"]["artifactRepositoryRef"]
    assert (ref["configMap"], ref["key"], ref["namespace"]) == ("artifact-repositories", REPOSITORY_KEY, NAMESPACE)

    steps = {n["displayName"]: n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"}
    assert set(steps) == {"train", "register"} and all(n["phase"] == "Succeeded" for n in steps.values())
    assert steps["register"]["startedAt"] >= steps["train"]["finishedAt"]
    placed = {
        p["metadata"]["annotations"]["workflows.argoproj.io/node-name"].rsplit(".", 1)[-1]: p for p in pods(argo, name)
    }
    train_pod, register_pod = placed["train"], placed["register"]
    product = inventory_var("gpu_node_classes")["l4-inference"]["product"]
    assert node_roles(argo)[train_pod["spec"]["nodeName"]].get("nvidia.com/gpu.product") == product

    # train's output: where the repository's keyFormat puts it for this Workflow and the controller's pod name
    (output,) = steps["train"]["outputs"]["artifacts"]
    assert output["name"] == "model"
    assert output["s3"]["key"] == f"workflows/{name}/{train_pod['metadata']['name']}/model.tgz"
    # register is handed that same object: the key in its node's inputs, the bucket in its pod's archive location
    (given,) = steps["register"]["inputs"]["artifacts"]
    assert (given["name"], given["s3"]["key"]) == ("model", output["s3"]["key"])
    register_template = pod_template(register_pod)
    assert register_template["inputs"]["artifacts"][0]["s3"]["key"] == output["s3"]["key"]
    location = register_template["archiveLocation"]["s3"]
    assert (location["bucket"], location["endpoint"]) == (BUCKET, artifact_repository["s3"]["endpoint"])

    # the report the controller read: named after train's node, labelled complete, owned by the Workflow
    assert result["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
    assert result["metadata"]["labels"]["workflows.argoproj.io/workflow"] == name
    assert [(o["kind"], o["uid"]) for o in result["metadata"]["ownerReferences"]] == [
        ("Workflow", wf["metadata"]["uid"])
    ]
    assert result["outputs"]["artifacts"] == steps["train"]["outputs"]["artifacts"]
    # kwok completed the pod only after the report
    assert train_pod["metadata"]["annotations"]["lab.baremetal.mlops/outputs-reported"] == "true"
    main = next(c for c in train_pod["status"]["containerStatuses"] if c["name"] == "main")
    assert result["metadata"]["creationTimestamp"] <= main["state"]["terminated"]["finishedAt"]
