"""The lab's control plane and simulated nodes behave like a real cluster."""

from __future__ import annotations

import pytest
from lab_support import gpu_toleration, inventory_var, labctl

pytestmark = pytest.mark.lab

A100 = "NVIDIA-A100-SXM4-80GB"
# GPU workloads tolerate the taint the GPU nodes carry (the inventory's gpu_node_taint).
GPU_TAINT = inventory_var("gpu_node_taint")
GPU_TOLERATION = gpu_toleration()


def gpu_deployment(name: str, namespace: str, resources: dict, product: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {"key": "nvidia.com/gpu.product", "operator": "In", "values": [product]}
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                    "tolerations": [GPU_TOLERATION],
                    "containers": [
                        {"name": "main", "image": "registry.example/app:1", "resources": {"limits": resources}}
                    ],
                },
            },
        },
    }


def available(lab, namespace: str, name: str) -> bool:
    status = lab.get("deployment", name, "-n", namespace).get("status", {})
    return any(c["type"] == "Available" and c["status"] == "True" for c in status.get("conditions", []))


def test_api_server_reports_pinned_version(lab):
    version = lab.kubectl("get", "--raw", "/version").stdout
    assert f'"gitVersion": "{lab.pins["kubernetes"]}"' in version


def test_api_server_enforces_rbac(lab):
    allowed = lab.kubectl("auth", "can-i", "list", "secrets", "--as=system:serviceaccount:default:default", check=False)
    assert allowed.stdout.strip() == "no"


def test_nodes_come_from_the_inventory(lab):
    nodes = {n["metadata"]["name"]: n for n in lab.get("nodes")["items"]}
    assert {"lab-cp-1", "lab-cpu-1", "lab-cpu-2", "lab-a100-1", "lab-a100-2", "lab-l4-1"} <= set(nodes)
    internal = {
        name: next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
        for name, n in nodes.items()
    }
    assert internal["lab-a100-1"] == "127.0.10.31"
    assert internal["lab-l4-1"] == "127.0.10.41"
    for node in nodes.values():
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", node["metadata"]["name"]


def test_gpu_nodes_carry_feature_discovery_labels(lab):
    a100 = lab.get("node", "lab-a100-1")
    labels, capacity = a100["metadata"]["labels"], a100["status"]["capacity"]
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["nvidia.com/gpu.product"] == A100
    assert labels["nvidia.com/mig.capable"] == "true"
    assert labels["nvidia.com/mig.config"] == "all-1g.10gb"
    assert int(capacity["nvidia.com/gpu"]) == int(labels["nvidia.com/gpu.count"])
    assert int(capacity["nvidia.com/mig-1g.10gb"]) == 7 * int(labels["nvidia.com/gpu.count"])

    l4 = lab.get("node", "lab-l4-1")
    labels, capacity = l4["metadata"]["labels"], l4["status"]["capacity"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-L4"
    assert labels["nvidia.com/gpu.replicas"] == "4"
    assert int(capacity["nvidia.com/gpu"]) == 4 * int(labels["nvidia.com/gpu.count"])
    assert not any(key.startswith("nvidia.com/mig-") for key in capacity)


def test_gpu_deployment_lands_on_matching_node(lab, namespace):
    lab.apply(gpu_deployment("trainer", namespace, {"nvidia.com/gpu": 1}, A100))
    lab.wait_until(lambda: available(lab, namespace, "trainer"), "Deployment trainer to become Available")
    pods = lab.get("pods", "-n", namespace, "-l", "app=trainer")["items"]
    assert len(pods) == 1
    assert pods[0]["status"]["phase"] == "Running"
    node = lab.get("node", pods[0]["spec"]["nodeName"])
    assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == A100


def test_mig_slice_request_lands_on_mig_node(lab, namespace):
    lab.apply(gpu_deployment("notebook", namespace, {"nvidia.com/mig-1g.10gb": 1}, A100))
    lab.wait_until(lambda: available(lab, namespace, "notebook"), "Deployment notebook to become Available")
    pod = lab.get("pods", "-n", namespace, "-l", "app=notebook")["items"][0]
    assert pod["spec"]["nodeName"] in {"lab-a100-1", "lab-a100-2"}


def test_pod_wanting_more_gpus_than_any_node_stays_pending(lab, namespace):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "too-big", "namespace": namespace},
        "spec": {
            "tolerations": [GPU_TOLERATION],
            "containers": [
                {"name": "main", "image": "registry.example/app:1", "resources": {"limits": {"nvidia.com/gpu": 64}}}
            ],
        },
    }
    lab.apply(pod)

    def failed_scheduling():
        events = lab.get("events", "-n", namespace, "--field-selector", "involvedObject.name=too-big")["items"]
        return [e for e in events if e["reason"] == "FailedScheduling"]

    events = lab.wait_until(failed_scheduling, "a FailedScheduling event for too-big")
    assert "Insufficient nvidia.com/gpu" in events[0]["message"]
    status = lab.get("pod", "too-big", "-n", namespace)["status"]
    assert status["phase"] == "Pending"
    scheduled = next(c for c in status["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")


def test_crd_reaches_established(lab):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.lab.example.com"},
        "spec": {
            "group": "lab.example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    lab.kubectl("delete", "crd", "widgets.lab.example.com", "--ignore-not-found", "--wait=true")
    lab.apply(crd)

    def established():
        conditions = lab.get("crd", "widgets.lab.example.com").get("status", {}).get("conditions", [])
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    lab.wait_until(established, "CRD widgets.lab.example.com to be Established")
    lab.kubectl("delete", "crd", "widgets.lab.example.com", "--wait=false")


def test_job_pods_run_to_completion(lab, namespace):
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "registry.example/migrate:1"}],
                }
            },
        },
    }
    lab.apply(job)

    def complete():
        conditions = lab.get("job", "migrate", "-n", namespace).get("status", {}).get("conditions", [])
        return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)

    lab.wait_until(complete, "Job migrate to complete")
    pods = lab.get("pods", "-n", namespace, "-l", "batch.kubernetes.io/job-name=migrate")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]


def test_lab_up_repairs_a_node_that_drifted_from_the_inventory(lab):
    lab.kubectl("label", "node", "lab-l4-1", "--overwrite", "nvidia.com/gpu.product=NVIDIA-T4")
    lab.kubectl("taint", "node", "lab-l4-1", f"{GPU_TAINT['key']}:{GPU_TAINT['effect']}-")
    # a taint that is not the lab's: `up` adds its own and strips none
    lab.kubectl("taint", "node", "lab-l4-1", "lab.test/drift=kept:PreferNoSchedule")
    try:
        result = labctl("up")
        assert "already up" not in result.stdout
        node = lab.get("node", "lab-l4-1")
        assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-L4"
        taints = [{k: t[k] for k in ("key", "value", "effect") if k in t} for t in node["spec"]["taints"]]
        assert {"key": GPU_TAINT["key"], "value": GPU_TAINT["value"], "effect": GPU_TAINT["effect"]} in taints
        assert {"key": "lab.test/drift", "value": "kept", "effect": "PreferNoSchedule"} in taints
    finally:
        lab.kubectl("taint", "node", "lab-l4-1", "lab.test/drift:PreferNoSchedule-", check=False)
