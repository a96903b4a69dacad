"""platform_verify's cluster checks against the lab's API server, its real workflow-controller and
an InferenceService.

Workflows are real: submitted from the orchestration layer's train-register WorkflowTemplate in a
team namespace (generateName iris-train-register-, like `argo submit --from`), run by the real
workflow-controller, which sets their phase and message; one fails on purpose (its pods carry the
kwok exit-code label, lab/kwok-stages.yaml). The lab has no KServe controller yet, so the test
still writes the InferenceService's status the way KServe would (its CRD has a status subresource).
playbooks/verify.yml runs in cluster mode only, once on a Succeeded Workflow and a Ready
InferenceService, once on a Failed Workflow and Ready False; and first, before the CRDs exist, to
see both kinds reported as not served.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lab_support import inventory_var, workflow_finished

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
SERVING_NS = "t-verify-serving"
FAIL_LABEL = "lab.baremetal.mlops/exit-code"
PREFIX, ISVC = "iris-train-register-", "iris-bare-metal"
WORKFLOW_CHECK = f"Argo Workflow {PREFIX}* Succeeded"
ISVC_CHECK = f"InferenceService {ISVC} Ready"
CRDS = ("workflows.argoproj.io", "inferenceservices.serving.kserve.io")


def training_namespace() -> str:
    return inventory_var("platform_teams")[0]["namespace"]


ROW = re.compile(
    r"(?P<layer>storage|tracking|orchestration|serving|observability)\s+(?P<status>passed|failed|skipped)\s+"
    r"(?P<check>.+?)\s+\| (?P<detail>.*)"
)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
                "platform_verify_inferenceservice_namespace": SERVING_NS,
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


def isvc_status(ready: bool) -> dict:
    stamp = now()
    message = "" if ready else "Revision iris-bare-metal-predictor-00001 failed with message: container exited"

    def condition(kind: str) -> dict:
        found = {"type": kind, "status": "True" if ready else "False", "lastTransitionTime": stamp}
        if not ready:
            found.update(reason="RevisionFailed", message=message)
        return found

    return {
        "status": {
            "observedGeneration": 1,
            "url": f"http://{ISVC}.{SERVING_NS}.example.com",
            "conditions": [condition("IngressReady"), condition("PredictorReady"), condition("Ready")],
        }
    }


@pytest.fixture(scope="module")
def inferenceservice(lab, verify_crds):
    """The serving namespace and the InferenceService (its status written by set_ready)."""
    try:
        lab.kubectl("delete", "namespace", SERVING_NS, "--ignore-not-found", "--wait=true", "--timeout=120s")
        lab.kubectl("create", "namespace", SERVING_NS)
        isvc = {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": ISVC, "namespace": SERVING_NS},
            "spec": {
                "predictor": {
                    "model": {
                        "modelFormat": {"name": "mlflow"},
                        "protocolVersion": "v2",
                        "storageUri": "s3://mlflow-artifacts/1/models/m-0/artifacts",
                    }
                }
            },
        }
        lab.kubectl("create", "-f", "-", stdin=json.dumps(isvc))
        yield ISVC
    finally:
        lab.kubectl("delete", "namespace", SERVING_NS, "--ignore-not-found", "--wait=true", "--timeout=120s")


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


def set_ready(lab, ready: bool) -> None:
    """Write the InferenceService's status the way KServe would, and read it back."""
    isvc = ["inferenceservice.serving.kserve.io", ISVC, "-n", SERVING_NS]
    lab.kubectl("patch", *isvc, "--subresource=status", "--type=merge", "-p", json.dumps(isvc_status(ready)))
    conditions = {c["type"]: c["status"] for c in lab.get(*isvc)["status"]["conditions"]}
    assert conditions["Ready"] == ("True" if ready else "False")


def test_cluster_checks_say_which_kind_is_not_served(lab, tmp_path):
    """Before the CRDs exist (this test runs before the module's CRD fixture): both checks name the missing API."""
    # A lab that already serves the kinds (an earlier run, make lab) loses them
    # here; the orchestration fixture (through Helm) and the CRD fixture put
    # them back for the next tests.
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
    set_ready(lab, ready=True)
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
    set_ready(lab, ready=False)
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
    assert rows[ISVC_CHECK]["detail"].startswith("Ready is False (RevisionFailed): Revision "), result.stdout[-6000:]
