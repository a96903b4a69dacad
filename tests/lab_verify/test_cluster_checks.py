"""platform_verify's cluster checks against the lab's API server and its real workflow-controller
and KServe controller manager.

Workflows are real: submitted from the orchestration layer's train-register WorkflowTemplate in a
team namespace (generateName iris-train-register-, like `argo submit --from`), run by the real
workflow-controller, which sets their phase and message; one fails on purpose (its pods carry the
kwok exit-code label, lab/kwok-stages.yaml). InferenceServices are real too: served through the
kserve role's task file and made Ready by the real KServe controller; the unready one names a
runtime KServe does not know, and KServe says so. playbooks/verify.yml runs in cluster mode only,
once on a Succeeded Workflow and a Ready InferenceService, once on a Failed Workflow and an
InferenceService KServe cannot serve; and first, before the CRDs exist, to see both kinds reported
as not served.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lab_support import ansible_env, inventory_var, serve_model, workflow_finished

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
FAIL_LABEL = "lab.baremetal.mlops/exit-code"
PREFIX, ISVC = "iris-train-register-", "iris-bare-metal"
WORKFLOW_CHECK = f"Argo Workflow {PREFIX}* Succeeded"
ISVC_CHECK = f"InferenceService {ISVC} Ready"
CRDS = ("workflows.argoproj.io", "inferenceservices.serving.kserve.io")


def training_namespace() -> str:
    return inventory_var("platform_teams")[0]["namespace"]


def serving_team() -> dict:
    return inventory_var("platform_teams")[-1]


ROW = re.compile(
    r"(?P<layer>storage|tracking|orchestration|serving|observability)\s+(?P<status>passed|failed|skipped)\s+"
    r"(?P<check>.+?)\s+\| (?P<detail>.*)"
)


def summary(output: str) -> dict[str, dict]:
    """check -> {layer, status, detail}, from the summary table's lines.

    verify() asks for JSON results, so each table line is one JSON string on
    one output line (YAML results fold long lines).
    """
    rows = {}
    for line in output.splitlines():
        text = line.strip().removesuffix(",")
        if not text.startswith('"'):
            continue
        try:
            text = json.loads(text)
        except ValueError:
            continue
        found = ROW.match(text) if isinstance(text, str) else None
        if found:
            rows[found["check"]] = {"layer": found["layer"], "status": found["status"], "detail": found["detail"]}
    return rows


def verify(lab, tmp_path: Path) -> subprocess.CompletedProcess:
    """playbooks/verify.yml with only the cluster checks, against the lab."""
    extra = tmp_path / "cluster-only.json"
    extra.write_text(
        json.dumps(
            {
                "platform_verify_storage_checks_enabled": False,
                "platform_verify_tracking_checks_enabled": False,
                "platform_verify_serving_checks_enabled": False,
                "platform_verify_observability_checks_enabled": False,
                "platform_verify_cluster_checks_enabled": True,
                "platform_verify_kubeconfig": str(lab.kubeconfig),
                "platform_verify_workflow_namespace": training_namespace(),
                "platform_verify_workflow_prefix": PREFIX,
                "platform_verify_inferenceservice_namespace": serving_team()["namespace"],
                "platform_verify_inferenceservice_name": ISVC,
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
    )
    return subprocess.run(
        ["ansible-playbook", "-i", str(ROOT / "inventories" / "lab"), "playbooks/verify.yml", "-e", f"@{extra}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )


def serve(lab, **model) -> None:
    """The InferenceService ISVC from the kserve role's task file, waited on until KServe says Ready."""
    team = serving_team()
    settings = {
        "kserve_isvc_team": team["name"],
        "kserve_isvc_name": ISVC,
        "kserve_isvc_model_name": ISVC,
        "kserve_isvc_model_version": "1",
        "kserve_isvc_storage_uri": f"s3://{team['buckets'][0]}/{ISVC}/1",
        "kserve_isvc_resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
        "kserve_isvc_wait_timeout": 120,
        **{f"kserve_isvc_{k}": v for k, v in model.items()},
    }
    serve_model(ansible_env(lab), settings)


def delete_isvc(lab) -> None:
    namespace = serving_team()["namespace"]
    lab.kubectl("delete", "inferenceservice", ISVC, "-n", namespace, "--ignore-not-found", "--wait=true")


@pytest.fixture(scope="module")
def inferenceservice(lab, serving):
    """ISVC served Ready by the real KServe controller; deleted at the end."""
    delete_isvc(lab)
    serve(lab)
    yield ISVC
    delete_isvc(lab)


def unservable(lab) -> None:
    """ISVC again, naming a runtime KServe does not know: KServe reports it cannot serve it."""
    delete_isvc(lab)
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": ISVC,
            "namespace": serving_team()["namespace"],
            "annotations": {"serving.kserve.io/deploymentMode": "Standard"},
        },
        "spec": {
            "predictor": {
                "model": {
                    "modelFormat": {"name": "mlflow"},
                    "protocolVersion": "v2",
                    "runtime": "no-such-runtime",
                    "storageUri": f"s3://{serving_team()['buckets'][0]}/{ISVC}/1",
                }
            }
        },
    }
    lab.kubectl("apply", "-f", "-", stdin=json.dumps(isvc))

    def reported():
        status = lab.get("inferenceservice", ISVC, "-n", serving_team()["namespace"]).get("status", {})
        return status.get("modelStatus", {}).get("lastFailureInfo")

    lab.wait_until(reported, "KServe's report on the unknown runtime", timeout=60)


def run_workflow(lab, fail: bool = False) -> dict:
    """Submit a Workflow from the train-register template and wait for the controller to finish it."""
    spec = {
        "workflowTemplateRef": {"name": "train-register"},
        "arguments": {"parameters": [{"name": "model-name", "value": ISVC}]},
    }
    if fail:
        spec["podMetadata"] = {"labels": {FAIL_LABEL: "3"}}
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": PREFIX, "namespace": training_namespace()},
        "spec": spec,
    }
    name = lab.kubectl("create", "-f", "-", "-o", "jsonpath={.metadata.name}", stdin=json.dumps(workflow)).stdout
    return workflow_finished(lab, training_namespace(), name.strip())


def test_cluster_checks_say_which_kind_is_not_served(lab, tmp_path):
    """Before the CRDs exist (this test runs before the module's CRD fixture): both checks name the missing API."""
    # A lab that already serves the kinds (an earlier run, make lab) loses them
    # here; the orchestration and serving fixtures put them back through Helm
    # for the next tests.
    for name in CRDS:
        lab.kubectl("delete", "crd", name, "--ignore-not-found", "--wait=true", "--timeout=120s")
    assert not [name for name in CRDS if lab.kubectl("get", "crd", name, "--ignore-not-found", "-o", "name").stdout]
    result = verify(lab, tmp_path)
    assert result.returncode != 0, result.stdout[-6000:]
    rows = summary(result.stdout)
    assert rows[WORKFLOW_CHECK]["status"] == "failed", result.stdout[-6000:]
    assert "Workflow kind (argoproj.io/v1alpha1) is not served" in rows[WORKFLOW_CHECK]["detail"], result.stdout[-6000:]
    assert rows[ISVC_CHECK]["status"] == "failed", result.stdout[-6000:]
    assert "InferenceService kind (serving.kserve.io/v1beta1) is not served" in rows[ISVC_CHECK]["detail"]


def test_cluster_checks_pass_on_a_succeeded_workflow_and_a_ready_inferenceservice(
    lab, orchestration, inferenceservice, tmp_path
):
    workflow = run_workflow(lab)
    assert workflow["status"]["phase"] == "Succeeded", workflow["status"]
    result = verify(lab, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
    rows = summary(result.stdout)
    # Only the cluster checks ran, and both passed.
    assert {check: (row["layer"], row["status"]) for check, row in rows.items()} == {
        WORKFLOW_CHECK: ("orchestration", "passed"),
        ISVC_CHECK: ("serving", "passed"),
    }, result.stdout[-6000:]
    assert workflow["metadata"]["name"] in rows[WORKFLOW_CHECK]["detail"], result.stdout[-6000:]


def test_cluster_checks_blame_orchestration_and_serving_on_a_failed_workflow_and_an_unready_inferenceservice(
    lab, orchestration, inferenceservice, tmp_path
):
    workflow = run_workflow(lab, fail=True)
    assert workflow["status"]["phase"] == "Failed", workflow["status"]
    unservable(lab)
    result = verify(lab, tmp_path)
    assert result.returncode != 0, result.stdout[-6000:]
    assert "2 of 2 checks failed." in result.stdout, result.stdout[-6000:]
    assert (
        "Layer to look at first (in dependency order): orchestration; failing layers: orchestration, serving."
        in result.stdout
    ), result.stdout[-6000:]
    rows = summary(result.stdout)
    assert rows[WORKFLOW_CHECK]["layer"] == "orchestration", result.stdout[-6000:]
    assert rows[WORKFLOW_CHECK]["status"] == "failed", result.stdout[-6000:]
    # the newest Workflow, in the controller's own words: a failed DAG has no message of its own,
    # the step that failed last (the third attempt of train) has
    assert not workflow["status"].get("message")
    steps = [n for n in workflow["status"]["nodes"].values() if n["type"] == "Pod"]
    last = max(steps, key=lambda n: (n["finishedAt"], n["displayName"]))
    assert (len(steps), last["displayName"]) == (3, "train(2)")
    expected = f"{workflow['metadata']['name']} is Failed: step train(2): {last['message']}"
    assert rows[WORKFLOW_CHECK]["detail"] == expected, result.stdout[-6000:]
    assert "exit code 3" in expected
    assert rows[ISVC_CHECK]["layer"] == "serving", result.stdout[-6000:]
    assert rows[ISVC_CHECK]["status"] == "failed", result.stdout[-6000:]
    # in KServe's words: Ready stays Unknown, the model status says why
    detail = rows[ISVC_CHECK]["detail"]
    assert detail.startswith("Ready is Unknown"), result.stdout[-6000:]
    assert "model InvalidSpec: RuntimeNotRecognized: " in detail, result.stdout[-6000:]
