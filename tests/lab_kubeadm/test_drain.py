"""The kubeadm role's drain and uncordon steps (used by playbooks/upgrade-compute.yml) on a kwok node.

The test makes its own simulated node, so the lab's inventory nodes are left
alone: a Deployment pinned to it and a PodDisruptionBudget that forbids any
eviction. The drain must refuse while the budget holds (no forced deletes),
then evict once it is gone; uncordon makes the node schedulable again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]

NODE = "t-kubeadm-drain"
# a fresh namespace per run: a previous run's may still be terminating
NAMESPACE = f"t-kubeadm-drain-{uuid.uuid4().hex[:6]}"


def apply(lab, *docs) -> None:
    subprocess.run(
        [lab.kubectl, f"--kubeconfig={lab.kubeconfig}", "apply", "-f", "-"],
        input=yaml.safe_dump_all(docs),
        text=True,
        check=True,
        capture_output=True,
    )


def node_manifest() -> dict:
    capacity = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE,
            "labels": {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "type": "kwok"},
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def workload() -> list[dict]:
    labels = {"app": "drain-probe"}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "drain-probe", "namespace": NAMESPACE},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": {"kubernetes.io/hostname": NODE},
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10.1"}],
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "drain-probe", "namespace": NAMESPACE},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
        },
    ]


def pods_on_node(lab) -> list[dict]:
    out = lab.run("kubectl", "get", "pods", "-n", NAMESPACE, f"--field-selector=spec.nodeName={NODE}", "-o", "json")
    return [p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")]


def wait_for(predicate, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(1)


def role_step(lab, tmp_path, step: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / f"{step}.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": f"kubeadm role, {step} step",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": step,
                            "ansible.builtin.include_role": {
                                "name": "baremetal.mlops.kubeadm",
                                "tasks_from": f"{step}.yml",
                            },
                            "vars": {
                                "kubeadm_drain_node": NODE,
                                "kubeadm_admin_kubeconfig_local": str(lab.kubeconfig),
                                "kubeadm_drain_timeout": 60,
                                "kubeadm_drain_retries": 0,
                                "kubeadm_drain_retry_delay": 1,
                            },
                        }
                    ],
                }
            ]
        )
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(playbook),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"role step {step}: rc {result.returncode} in {time.monotonic() - started:.1f} s")
    return result


@pytest.fixture
def drain_node(kubeadm_lab):
    lab = kubeadm_lab
    lab.run("kubectl", "delete", "node", NODE, "--ignore-not-found")
    apply(lab, node_manifest())
    lab.run("kubectl", "create", "namespace", NAMESPACE)
    yield lab
    lab.run("kubectl", "delete", "namespace", NAMESPACE, "--wait=false", check=False)
    lab.run("kubectl", "delete", "node", NODE, "--ignore-not-found", check=False)


def node_unschedulable(lab) -> bool:
    return bool(json.loads(lab.run("kubectl", "get", "node", NODE, "-o", "json").stdout)["spec"].get("unschedulable"))


def test_drain_respects_pdb_then_evicts_and_uncordons(drain_node, tmp_path):
    lab = drain_node
    apply(lab, *workload())
    wait_for(lambda: any(p["status"].get("phase") == "Running" for p in pods_on_node(lab)), "the probe pod to run")
    wait_for(
        lambda: (
            json.loads(lab.run("kubectl", "get", "pdb", "drain-probe", "-n", NAMESPACE, "-o", "json").stdout)
            .get("status", {})
            .get("currentHealthy")
            == 1
        ),
        "the PodDisruptionBudget to count the pod",
    )
    first_pod = pods_on_node(lab)[0]["metadata"]["name"]

    refused = role_step(lab, tmp_path, "drain")
    assert refused.returncode != 0
    assert "disruption budget" in refused.stdout, refused.stdout[-3000:]
    assert first_pod in {p["metadata"]["name"] for p in pods_on_node(lab)}

    lab.run("kubectl", "delete", "pdb", "drain-probe", "-n", NAMESPACE)
    drained = role_step(lab, tmp_path, "drain")
    assert drained.returncode == 0, drained.stdout[-3000:]
    assert node_unschedulable(lab)
    assert first_pod not in {p["metadata"]["name"] for p in pods_on_node(lab)}

    uncordoned = role_step(lab, tmp_path, "uncordon")
    assert uncordoned.returncode == 0, uncordoned.stdout[-3000:]
    assert not node_unschedulable(lab)
    wait_for(lambda: any(p["status"].get("phase") == "Running" for p in pods_on_node(lab)), "the pod to come back")
