"""platform_verify's cluster checks against a real API server that serves Workflow and InferenceService.

The lab has no Argo or KServe controllers, so the test plays them: it creates
a Workflow (generateName iris-train-register-, like `argo submit`) and the
InferenceService, and writes their status the way the controllers would (the
Workflow CRD has no status subresource, the InferenceService's has one). Then
playbooks/verify.yml runs in cluster mode only, once with the Workflow
Succeeded and the InferenceService Ready, once with the Workflow Failed and
Ready False; and first, before the CRDs exist, to see both kinds reported as
not served.
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

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
TRAINING_NS, SERVING_NS = "t-verify-training", "t-verify-serving"
PREFIX, ISVC = "iris-train-register-", "iris-bare-metal"
WORKFLOW_CHECK = f"Argo Workflow {PREFIX}* Succeeded"
ISVC_CHECK = f"InferenceService {ISVC} Ready"
CRDS = ("workflows.argoproj.io", "inferenceservices.serving.kserve.io")
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
                "platform_verify_workflow_namespace": TRAINING_NS,
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


def workflow_status(phase: str) -> dict:
    status = {"phase": phase, "startedAt": now(), "finishedAt": now(), "progress": "1/1"}
    if phase == "Failed":
        status.update(progress="0/1", message="child 'train' failed")
    return {"status": status}


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
def objects(lab, verify_crds):
    """The two namespaces, a Workflow and the InferenceService; yields the Workflow's generated name."""
    try:
        for namespace in (TRAINING_NS, SERVING_NS):
            lab.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=120s")
            lab.kubectl("create", "namespace", namespace)
        workflow = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": PREFIX, "namespace": TRAINING_NS},
            "spec": {
                "entrypoint": "train",
                "templates": [
                    {
                        "name": "train",
                        "container": {"image": "registry.example/iris-train:1", "command": ["python", "train.py"]},
                    }
                ],
            },
        }
        created = lab.kubectl("create", "-f", "-", "-o", "jsonpath={.metadata.name}", stdin=json.dumps(workflow))
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
        yield created.stdout.strip()
    finally:
        for namespace in (TRAINING_NS, SERVING_NS):
            lab.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=120s")


def set_status(lab, workflow: str, phase: str, ready: bool) -> None:
    """Write status the way the controllers would, and read it back."""
    wf, isvc = ["workflow.argoproj.io", workflow, "-n", TRAINING_NS], ["inferenceservice.serving.kserve.io", ISVC]
    isvc += ["-n", SERVING_NS]
    # The Workflow CRD has no status subresource: status is part of the object.
    lab.kubectl("patch", *wf, "--type=merge", "-p", json.dumps(workflow_status(phase)))
    lab.kubectl("patch", *isvc, "--subresource=status", "--type=merge", "-p", json.dumps(isvc_status(ready)))
    assert lab.get(*wf)["status"]["phase"] == phase
    conditions = {c["type"]: c["status"] for c in lab.get(*isvc)["status"]["conditions"]}
    assert conditions["Ready"] == ("True" if ready else "False")


def test_cluster_checks_say_which_kind_is_not_served(lab, tmp_path):
    """Before the CRDs exist (this test runs before the module's CRD fixture): both checks name the missing API."""
    # A lab that already serves the kinds (an earlier run, make lab) loses them
    # here; the module's CRD fixture installs them again for the next tests.
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


def test_cluster_checks_pass_on_a_succeeded_workflow_and_a_ready_inferenceservice(lab, objects, tmp_path):
    set_status(lab, objects, "Succeeded", ready=True)
    result = verify(lab, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
    rows = summary(result.stdout)
    # Only the cluster checks ran, and both passed.
    assert {check: (row["layer"], row["status"]) for check, row in rows.items()} == {
        WORKFLOW_CHECK: ("orchestration", "passed"),
        ISVC_CHECK: ("serving", "passed"),
    }, result.stdout[-6000:]
    assert objects in rows[WORKFLOW_CHECK]["detail"], result.stdout[-6000:]


def test_cluster_checks_blame_orchestration_and_serving_on_a_failed_workflow_and_an_unready_inferenceservice(
    lab, objects, tmp_path
):
    set_status(lab, objects, "Failed", ready=False)
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
    assert rows[WORKFLOW_CHECK]["detail"] == f"{objects} is Failed: child 'train' failed", result.stdout[-6000:]
    assert rows[ISVC_CHECK]["layer"] == "serving", result.stdout[-6000:]
    assert rows[ISVC_CHECK]["status"] == "failed", result.stdout[-6000:]
    assert rows[ISVC_CHECK]["detail"].startswith("Ready is False (RevisionFailed): Revision "), result.stdout[-6000:]
