"""The serving layer on the lab: InferenceServices from the kserve role, run by the real KServe
controller manager (lab/controllers.py) for the chart's pod.

Admission is real too: the chart's webhooks (validation of InferenceServices and runtimes, the pod
mutator that adds the storage initializer) are called by the API server through the lab's cluster
egress (lab/egress.py) at the Service the chart names. The controller creates the predictor's
Deployment and Service; the scheduler places its pods; kwok runs them (no container starts: the
model is not downloaded here).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from lab_support import inventory_var, serve_model

pytestmark = pytest.mark.lab

GPU_PRODUCT = "nvidia.com/gpu.product"


def team(name: str) -> dict:
    return next(t for t in inventory_var("platform_teams") if t["name"] == name)


@pytest.fixture(scope="module")
def serving(layers):
    """The serving layer as the session converged it; the KServe manager runs for the chart's pod."""
    layers.controllers_up()
    return layers


def serve(serving, check: bool = True, **model) -> subprocess.CompletedProcess:
    settings = {
        "kserve_isvc_team": "tabular",
        "kserve_isvc_model_name": "iris-bare-metal",
        "kserve_isvc_model_version": "1",
        "kserve_isvc_alias": "champion",
        "kserve_isvc_storage_uri": "s3://tabular-models/iris/1",
        "kserve_isvc_resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
        "kserve_isvc_wait_timeout": 120,
        **{f"kserve_isvc_{k}": v for k, v in model.items()},
    }
    return serve_model(serving.env, settings, check)


def pods(lab, namespace: str, selector: str) -> list[dict]:
    return lab.get("pods", "-n", namespace, "-l", selector)["items"]


def node_labels(lab, name: str) -> dict:
    return lab.get("node", name)["metadata"]["labels"]


@pytest.fixture
def isvc_name(serving):
    name = f"iris-{uuid.uuid4().hex[:6]}"
    yield name
    serving.lab.kubectl("delete", "inferenceservice", name, "-n", team("tabular")["namespace"], "--ignore-not-found")


def test_an_inference_service_becomes_ready_through_the_real_controller(serving, isvc_name):
    lab, namespace = serving.lab, team("tabular")["namespace"]
    serve(serving, name=isvc_name)
    isvc = lab.get("inferenceservice", isvc_name, "-n", namespace)
    conditions = {c["type"]: c["status"] for c in isvc["status"]["conditions"]}
    assert conditions["Ready"] == "True" and conditions["PredictorReady"] == "True"
    assert isvc["status"]["url"].startswith("http://")
    # the controller's Deployment for the model version, labelled with the model's identity
    deployment = lab.get("deployment", f"{isvc_name}-v1-predictor", "-n", namespace)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert (labels["model_name"], labels["model_version"], labels["model_alias"], labels["workload-type"]) == (
        "iris-bare-metal", "1", "champion", "inference"
    )  # fmt: skip
    (pod,) = pods(lab, namespace, f"serving.kserve.io/inferenceservice={isvc_name}")
    # KServe's pod mutator (a real admission webhook call) added the storage initializer for the S3 URI
    (init,) = [c for c in pod["spec"].get("initContainers", []) if c["name"] == "storage-initializer"]
    assert "s3://tabular-models/iris/1" in init["args"]
    assert pod["spec"]["serviceAccountName"] == "kserve-models"
    # a CPU model stays off the GPU nodes (they are tainted; it does not tolerate the taint)
    assert GPU_PRODUCT not in node_labels(lab, pod["spec"]["nodeName"])
    assert lab.get("service", f"{isvc_name}-v1-predictor", "-n", namespace)["spec"]["selector"]
    # a second run changes nothing
    again = serve(serving, name=isvc_name)
    assert "changed=0" in again.stdout.split("PLAY RECAP")[-1]


def test_a_gpu_model_lands_on_the_teams_l4_node(serving, isvc_name):
    lab, namespace = serving.lab, team("tabular")["namespace"]
    serve(serving, name=isvc_name, gpu=True)
    (pod,) = pods(lab, namespace, f"serving.kserve.io/inferenceservice={isvc_name}")
    assert node_labels(lab, pod["spec"]["nodeName"])[GPU_PRODUCT] == "NVIDIA-L4"
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "kserve-container"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_a_canary_takes_its_share_of_replicas_and_traffic(serving, isvc_name):
    lab, namespace = serving.lab, team("tabular")["namespace"]
    canary = {
        "model_version": "2",
        "storage_uri": "s3://tabular-models/iris/2",
        "traffic_percent": 25,
        "alias": "challenger",
    }
    serve(serving, name=isvc_name, min_replicas=4, canary=canary)
    isvc = lab.get("inferenceservice", isvc_name, "-n", namespace)
    (status,) = isvc["status"]["canaryStatuses"]
    assert (status["name"], status["ready"], status["trafficPercent"]) == ("v2", True, 25)
    assert {c["type"]: c["status"] for c in isvc["status"]["conditions"]}["CanaryPredictorReady"] == "True"
    # KServe Standard mode splits by replicas: ceil(4 x 25 %) = 1 canary, 3 stable, as the minimum of
    # each predictor's HorizontalPodAutoscaler, which kube-controller-manager enforces
    try:

        def replicas():
            found = [lab.get("deployment", f"{isvc_name}-v{v}-predictor", "-n", namespace) for v in (1, 2)]
            return [d["status"].get("readyReplicas", 0) for d in found] == [3, 1]

        lab.wait_until(replicas, "3 stable and 1 canary replicas ready", timeout=90)
        candidate = lab.get("deployment", f"{isvc_name}-v2-predictor", "-n", namespace)
    finally:
        # KServe v0.20.0 gives the canary's autoscaler no owner: it outlives the InferenceService
        lab.kubectl("delete", "hpa", f"{isvc_name}-v2-predictor", "-n", namespace, "--ignore-not-found")
    assert candidate["spec"]["template"]["metadata"]["labels"]["model_version"] == "2"
    assert candidate["spec"]["template"]["metadata"]["labels"]["model_alias"] == "challenger"


def test_an_unknown_runtime_is_reported_with_kserves_condition(serving, isvc_name):
    result = serve(serving, check=False, name=isvc_name, runtime="no-such-runtime", wait_timeout=20)
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert f"serving layer, kserve: InferenceService team-tabular/{isvc_name}" in out
    # KServe's own account: the runtime it does not know
    assert "model InvalidSpec: RuntimeNotRecognized:" in out


def test_kserve_reports_a_storage_uri_it_cannot_read(serving):
    """Written past the role (which refuses it first), so the real controller answers: a Warning event."""
    lab, namespace = serving.lab, team("tabular")["namespace"]
    bad = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "bad-uri",
            "namespace": namespace,
            "annotations": {"serving.kserve.io/deploymentMode": "Standard"},
        },
        "spec": {"predictor": {"model": {"modelFormat": {"name": "mlflow"}, "storageUri": "ftp://models/iris"}}},
    }
    lab.kubectl("apply", "-f", "-", stdin=json.dumps(bad))
    try:

        def warned():
            events = lab.get("events", "-n", namespace, "--field-selector", "involvedObject.name=bad-uri")["items"]
            return [e["message"] for e in events if e["type"] == "Warning" and e["reason"] == "InternalError"]

        (message, *_) = lab.wait_until(warned, "KServe's warning about the storage URI", timeout=60)
        assert "StorageURI not supported" in message and "ftp://models/iris" in message
        status = lab.get("inferenceservice", "bad-uri", "-n", namespace).get("status", {})
        assert {c["type"]: c["status"] for c in status.get("conditions", [])}.get("Ready") != "True"
        assert not lab.get("deployments", "-n", namespace, "-l", "serving.kserve.io/inferenceservice=bad-uri")["items"]
    finally:
        lab.kubectl("delete", "inferenceservice", "bad-uri", "-n", namespace, "--ignore-not-found")
