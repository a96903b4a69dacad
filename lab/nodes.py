"""Turn the lab inventory into kwok Node objects.

Each inventory host becomes one simulated node whose InternalIP is the host's
ansible_host. GPU hosts take their product, MIG layout and time-slicing from
their `gpu_node_class` (inventories/lab/group_vars/all/gpu.yml) and carry the
labels and extended resources that the GPU Operator's feature discovery and
device plugin would publish on real hardware, so the real scheduler decides
where GPU pods go.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
LAB_LABEL = "lab.baremetal.mlops/simulated"


@dataclass(frozen=True)
class GpuProduct:
    family: str
    memory_mib: int
    compute: tuple[int, int]
    per_node: int
    # MIG profile -> (instances per GPU, memory MiB per instance); empty: not MIG-capable
    mig_profiles: dict


# What feature discovery reports for the products the platform supports.
GPU_PRODUCTS = {
    "NVIDIA-A100-SXM4-80GB": GpuProduct(
        "ampere",
        81920,
        (8, 0),
        8,
        {
            "1g.10gb": (7, 9728),
            "2g.20gb": (3, 19968),
            "3g.40gb": (2, 40192),
            "4g.40gb": (1, 40192),
            "7g.80gb": (1, 80384),
        },
    ),
    "NVIDIA-H100-80GB-HBM3": GpuProduct(
        "hopper",
        81559,
        (9, 0),
        8,
        {"1g.10gb": (7, 9856), "2g.20gb": (3, 20096), "3g.40gb": (2, 40320), "7g.80gb": (1, 80896)},
    ),
    "NVIDIA-L4": GpuProduct("ada-lovelace", 23034, (8, 9), 4, {}),
}

# Named layouts beyond `all-<profile>`: profile -> instances per GPU.
MIG_LAYOUTS = {"all-balanced": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}

NODE_CPU = {"control_plane": "8", "workers": "32", "gpu_nodes": "128"}
NODE_MEMORY = {"control_plane": "32Gi", "workers": "128Gi", "gpu_nodes": "1Ti"}


class InventoryError(Exception):
    """The lab inventory describes a node the lab cannot simulate."""


def read_inventory(inventory: str, ansible_inventory: str = "ansible-inventory") -> dict:
    out = subprocess.run(
        [ansible_inventory, "-i", inventory, "--list"], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def group_hosts(inv: dict, group: str) -> set[str]:
    """Hosts of a group including those of its child groups."""
    entry = inv.get(group) or {}
    hosts = set(entry.get("hosts") or [])
    for child in entry.get("children") or []:
        hosts |= group_hosts(inv, child)
    return hosts


def mig_resources(product_name: str, product: GpuProduct, layout: str) -> dict[str, int]:
    """MIG devices per node for a layout such as `all-1g.10gb`; {} for `none`/`all-disabled`."""
    if layout in ("", "none", "all-disabled"):
        return {}
    if not product.mig_profiles:
        raise InventoryError(f"{product_name} is not MIG-capable but its class asks for MIG layout {layout!r}")
    if layout in MIG_LAYOUTS:
        per_gpu = MIG_LAYOUTS[layout]
    elif layout.startswith("all-") and layout[4:] in product.mig_profiles:
        per_gpu = {layout[4:]: product.mig_profiles[layout[4:]][0]}
    else:
        raise InventoryError(f"MIG layout {layout!r} is not valid for {product_name}")
    return {profile: count * product.per_node for profile, count in per_gpu.items()}


def gpu_labels_and_resources(gpu_class: dict) -> tuple[dict[str, str], dict[str, str]]:
    name = gpu_class["product"]
    product = GPU_PRODUCTS.get(name)
    if product is None:
        raise InventoryError(f"the lab has no model of GPU product {name!r} (known: {', '.join(GPU_PRODUCTS)})")
    layout = str(gpu_class.get("mig_config") or "none")
    replicas = int(gpu_class.get("time_slicing_replicas") or 0)
    migs = mig_resources(name, product, layout)
    labels = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.deploy.device-plugin": "true",
        "nvidia.com/gpu.product": name,
        "nvidia.com/gpu.count": str(product.per_node),
        "nvidia.com/gpu.memory": str(product.memory_mib),
        "nvidia.com/gpu.family": product.family,
        "nvidia.com/gpu.compute.major": str(product.compute[0]),
        "nvidia.com/gpu.compute.minor": str(product.compute[1]),
        "nvidia.com/gpu.machine": "lab-simulated",
        "nvidia.com/mig.capable": str(bool(product.mig_profiles)).lower(),
        "nvidia.com/mig.config": layout if product.mig_profiles else "all-disabled",
    }
    resources = {"nvidia.com/gpu": str(product.per_node)}
    if migs:
        # The device plugin's "mixed" strategy: each MIG profile is its own resource.
        labels["nvidia.com/mig.strategy"] = "mixed"
        labels["nvidia.com/mig.config.state"] = "success"
        for profile, count in migs.items():
            resources[f"nvidia.com/mig-{profile}"] = str(count)
            labels[f"nvidia.com/mig-{profile}.count"] = str(count)
            labels[f"nvidia.com/mig-{profile}.memory"] = str(product.mig_profiles[profile][1])
            labels[f"nvidia.com/mig-{profile}.product"] = f"{name}-MIG-{profile}"
    elif product.mig_profiles:
        labels["nvidia.com/mig.strategy"] = "none"
    if replicas > 1:
        # Time-slicing advertises each physical GPU `replicas` times.
        resources["nvidia.com/gpu"] = str(product.per_node * replicas)
        labels["nvidia.com/gpu.replicas"] = str(replicas)
        labels["nvidia.com/gpu.sharing-strategy"] = "time-slicing"
    else:
        labels["nvidia.com/gpu.replicas"] = "1"
        labels["nvidia.com/gpu.sharing-strategy"] = "none"
    return labels, resources


def node_object(name: str, address: str, role: str, labels: dict, resources: dict, kube_version: str) -> dict:
    all_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        LAB_LABEL: "true",
        **labels,
    }
    taints = []
    if role == "control_plane":
        all_labels["node-role.kubernetes.io/control-plane"] = ""
        all_labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
    elif role == "gpu_nodes":
        all_labels["node-role.kubernetes.io/gpu"] = ""
    else:
        all_labels["node-role.kubernetes.io/worker"] = ""
    capacity = {"cpu": NODE_CPU[role], "memory": NODE_MEMORY[role], "pods": "110", **resources}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels, "annotations": {KWOK_ANNOTATION: "fake"}},
        "spec": {"taints": taints},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.lab").hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.lab.system")),
                "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.lab.boot")),
                "kernelVersion": "simulated",
                "osImage": "kwok simulated node",
                "kubeletVersion": kube_version,
                "kubeProxyVersion": kube_version,
                "containerRuntimeVersion": "kwok://simulated",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def nodes_from_inventory(inv: dict, kube_version: str) -> list[dict]:
    hostvars = inv.get("_meta", {}).get("hostvars", {})
    roles = {}
    for role in ("workers", "gpu_nodes", "control_plane"):  # later roles win for a host in several groups
        for host in group_hosts(inv, role):
            roles[host] = role
    nodes = []
    for host in sorted(roles):
        hv = hostvars.get(host, {})
        labels, resources = {}, {}
        if roles[host] == "gpu_nodes":
            cls_name = hv.get("gpu_node_class")
            classes = hv.get("gpu_node_classes") or {}
            if cls_name not in classes:
                raise InventoryError(f"{host}: gpu_node_class {cls_name!r} is not in gpu_node_classes")
            labels, resources = gpu_labels_and_resources(classes[cls_name])
            labels["lab.baremetal.mlops/gpu-node-class"] = cls_name
        nodes.append(node_object(host, hv.get("ansible_host", host), roles[host], labels, resources, kube_version))
    return nodes
