"""The GPU node taint contract on the lab: GPU nodes carry gpu_node_taint, CPU pods stay off them.

The kwok GPU nodes carry the lab inventory's gpu_node_taint (lab/nodes.py, as
kubeadm registers real gpu_nodes hosts); the real kube-scheduler decides where
the pods below go, and the real DaemonSet controller where the platform's
daemonsets put theirs (the MetalLB speaker and the GPU Operator's feature
discovery worker, tolerating the taint through the roles' chart values).
Expected values come from inventories/lab, never from the objects under test.
"""

from __future__ import annotations

import json
import uuid

import pytest
from lab_support import gpu_toleration, inventory_var

pytestmark = pytest.mark.lab

TAINT = inventory_var("gpu_node_taint")
TOLERATION = gpu_toleration()
CLASSES = inventory_var("gpu_node_classes")
PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_ROLE_LABEL = "node-role.kubernetes.io/gpu"
WORKER_ROLE_LABEL = "node-role.kubernetes.io/worker"
METALLB_NAMESPACE = "metallb-system"
GPU_OPERATOR_NAMESPACE = "gpu-operator"


def nodes_by_role(lab, label: str) -> list[str]:
    return sorted(n["metadata"]["name"] for n in lab.get("nodes", "-l", label)["items"])


def carries_taint(node: dict) -> bool:
    return any(
        (t["key"], t.get("value"), t["effect"]) == (TAINT["key"], TAINT.get("value"), TAINT["effect"])
        for t in node["spec"].get("taints") or []
    )


@pytest.fixture
def scratch(layers):
    """A namespace of no team (no GPU placement policy, no quota), deleted at the end."""
    lab = layers.lab
    name = f"gpu-taint-{uuid.uuid4().hex[:6]}"
    lab.kubectl("create", "namespace", name)
    lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    yield name
    lab.kubectl("delete", "namespace", name, "--wait=false")


def pod(namespace: str, name: str, *, gpus: int = 0, required: list | None = None, preferred: list | None = None,
        tolerations=()) -> dict:  # fmt: skip
    container = {"name": "main", "image": "busybox", "command": ["sleep", "infinity"]}
    container["resources"] = (
        {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {"requests": {"cpu": "100m", "memory": "64Mi"}}
    )
    spec = {"containers": [container], "tolerations": list(tolerations), "terminationGracePeriodSeconds": 0}
    affinity = {}
    if required:
        terms = [{"matchExpressions": required}]
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": terms}
    if preferred:
        affinity["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": 100, "preference": {"matchExpressions": preferred}}
        ]
    if affinity:
        spec["affinity"] = {"nodeAffinity": affinity}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def create(lab, obj: dict) -> None:
    lab.kubectl("create", "-f", "-", stdin=json.dumps(obj))


def node_of(lab, namespace: str, name: str) -> str:
    return lab.wait_until(
        lambda: lab.get("pod", name, "-n", namespace)["spec"].get("nodeName"),
        f"the scheduler to place pod {namespace}/{name}",
        60,
    )


def products() -> list[str]:
    return sorted({c["product"] for c in CLASSES.values()})


def test_gpu_nodes_carry_the_contract_taint_and_no_other_node_does(layers):
    lab = layers.lab
    gpu = nodes_by_role(lab, GPU_ROLE_LABEL)
    assert gpu, "the lab inventory has gpu_nodes"
    for node in lab.get("nodes")["items"]:
        name = node["metadata"]["name"]
        assert carries_taint(node) == (name in gpu), (name, node["spec"].get("taints"))


def test_a_cpu_pod_without_the_toleration_is_never_placed_on_a_gpu_node(layers, scratch):
    """Even a pod that prefers GPU nodes (weight 100) goes to a worker: the taint filters the GPU nodes out."""
    lab = layers.lab
    workers, gpu = nodes_by_role(lab, WORKER_ROLE_LABEL), nodes_by_role(lab, GPU_ROLE_LABEL)
    names = [f"cpu-{i}" for i in range(4)]
    for name in names:
        create(lab, pod(scratch, name, preferred=[{"key": PRODUCT_LABEL, "operator": "Exists"}]))
    placed = {name: node_of(lab, scratch, name) for name in names}
    assert set(placed.values()) <= set(workers), (placed, gpu)


def test_a_gpu_pod_without_the_toleration_stays_pending_with_the_untolerated_taint_reason(layers, scratch):
    lab = layers.lab
    wanted = [{"key": PRODUCT_LABEL, "operator": "In", "values": products()}]
    create(lab, pod(scratch, "gpu-untolerated", gpus=1, required=wanted))

    def unschedulable():
        conditions = lab.get("pod", "gpu-untolerated", "-n", scratch)["status"].get("conditions") or []
        found = [c for c in conditions if c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"]
        return found[0] if found else None

    scheduled = lab.wait_until(unschedulable, "the scheduler to give up on pod gpu-untolerated", 60)
    status = lab.get("pod", "gpu-untolerated", "-n", scratch)
    assert status["status"]["phase"] == "Pending"
    assert status["spec"].get("nodeName") is None
    assert scheduled["status"] == "False"
    # The taint filter runs before node affinity: the GPU nodes (and the control planes, with kubeadm's
    # taint) fail on their taints, the workers on the affinity. The scheduler counts, it does not name them.
    tainted = nodes_by_role(lab, GPU_ROLE_LABEL) + nodes_by_role(lab, "node-role.kubernetes.io/control-plane")
    others = len(lab.get("nodes")["items"]) - len(tainted)
    message = scheduled["message"]
    assert f"{len(tainted)} node(s) had untolerated taint(s)" in message, message
    assert f"{others} node(s) didn't match Pod's node affinity/selector" in message, message

    # The same pod with the toleration is placed on a GPU node of one of those products.
    create(lab, pod(scratch, "gpu-tolerated", gpus=1, required=wanted, tolerations=[TOLERATION]))
    node = lab.get("node", node_of(lab, scratch, "gpu-tolerated"))
    assert node["metadata"]["labels"][PRODUCT_LABEL] in products()
    assert carries_taint(node)


def daemon_pod_nodes(lab, namespace: str, *labels: str) -> list[str]:
    pods = lab.get("pods", "-n", namespace, *(arg for label in labels for arg in ("-l", label)))["items"]
    return sorted(p["spec"].get("nodeName") for p in pods if p["status"].get("phase") == "Running")


def running_on(lab, nodes: list[str], namespace: str, *labels: str) -> list[str] | None:
    """The nodes of the running pods, once those cover every one of nodes."""
    found = daemon_pod_nodes(lab, namespace, *labels)
    return found if set(nodes) <= set(found) else None


def assert_on_every_gpu_node(lab, namespace: str, selector: tuple[str, ...], what: str) -> None:
    """One running pod of a DaemonSet on every GPU node, and the GPU toleration in its template."""
    gpu = nodes_by_role(lab, GPU_ROLE_LABEL)
    found = lab.wait_until(
        lambda: running_on(lab, gpu, namespace, *selector), f"a running {what} on every GPU node", 60
    )
    assert sorted(set(found)) == found, f"more than one {what} on a node: {found}"
    # A running pod outlives a NoSchedule taint added under it; new ones need the toleration in the template.
    daemonsets = lab.get("daemonsets", "-n", namespace, *(a for s in selector for a in ("-l", s)))["items"]
    assert [TOLERATION in d["spec"]["template"]["spec"]["tolerations"] for d in daemonsets] == [True]


def test_the_metallb_speaker_runs_on_every_gpu_node(layers):
    selector = ("app.kubernetes.io/name=metallb", "app.kubernetes.io/component=speaker")
    assert_on_every_gpu_node(layers.lab, METALLB_NAMESPACE, selector, "MetalLB speaker")


def test_the_gpu_operator_daemonsets_run_on_every_gpu_node(layers):
    """kwok runs the chart's own DaemonSet (feature discovery's worker); the operands (device plugin, DCGM, ...)
    come from the operator's reconcile, which a simulated container never does, so their tolerations are
    checked where the operator reads them: the ClusterPolicy's daemonsets.tolerations."""
    lab = layers.lab
    selector = ("app.kubernetes.io/name=node-feature-discovery", "role=worker")
    assert_on_every_gpu_node(lab, GPU_OPERATOR_NAMESPACE, selector, "feature discovery worker")
    policies = lab.get("clusterpolicies.nvidia.com")["items"]
    assert len(policies) == 1
    assert TOLERATION in policies[0]["spec"]["daemonsets"]["tolerations"], policies[0]["spec"]["daemonsets"]
