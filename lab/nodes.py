"""Turn the lab inventory into kwok Node objects.

Each inventory host becomes one simulated node whose InternalIP is the host's
ansible_host. GPU hosts take their product, MIG layout and time-slicing from
their `gpu_node_class` (inventories/lab/group_vars/all/gpu.yml) and carry the
labels and extended resources that the GPU Operator's feature discovery and
device plugin would publish on real hardware, and the inventory's
`gpu_node_taint` that kubeadm registers real GPU nodes with, so the real
scheduler decides where GPU pods go and keeps CPU pods off GPU nodes.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import uuid

from lab.settings import ROOT, Settings

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
# its value on the lab's nodes: kwok manages the nodes that carry it (lab/cluster.py)
KWOK_MANAGED = "fake"
LAB_LABEL = "lab.baremetal.mlops/simulated"
CATALOGUE_MODULE = "ansible_collections.baremetal.mlops.plugins.plugin_utils.gpu_catalog"
CATALOGUE_PATH = ROOT / "collections" / "ansible_collections" / "baremetal" / "mlops" / "plugins" / "plugin_utils"


def _load_catalogue():
    """The collection's GPU catalogue (plugins/plugin_utils/gpu_catalog.py), through the collections/ path.

    Imported by its collection name when collections/ is on sys.path (tests,
    Ansible), else loaded from that path under the same name, so the lab and
    preflight always read one catalogue.
    """
    if CATALOGUE_MODULE in sys.modules:
        return sys.modules[CATALOGUE_MODULE]
    try:
        return importlib.import_module(CATALOGUE_MODULE)
    except ImportError:
        spec = importlib.util.spec_from_file_location(CATALOGUE_MODULE, CATALOGUE_PATH / "gpu_catalog.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


gpu_catalog = _load_catalogue()

_PROFILE = re.compile(r"^(?P<slices>\d)g\.(?P<memory>\d+)gb$")

NODE_CPU = {"control_plane": "8", "workers": "32", "gpu_nodes": "128"}
NODE_MEMORY = {"control_plane": "32Gi", "workers": "128Gi", "gpu_nodes": "1Ti"}
# local disk for images, logs and emptyDir volumes (charts request ephemeral-storage)
NODE_DISK = {"control_plane": "200Gi", "workers": "1Ti", "gpu_nodes": "2Ti"}


class InventoryError(Exception):
    """The lab inventory describes a node the lab cannot simulate."""


def profile_memory_mib(profile: str) -> int:
    return int(_PROFILE.match(profile).group("memory")) * 1024


def instances_per_gpu(product: str, profile: str) -> int:
    """How many instances of a MIG profile fit on one GPU: compute slices and memory eighths both bound it."""
    memory_gib, slices, _ = gpu_catalog.PRODUCTS[product]
    match = _PROFILE.match(profile)
    memory_eighths = max(1, round(int(match.group("memory")) / (memory_gib / 8)))
    return min(slices // int(match.group("slices")), 8 // memory_eighths)


def balanced_layout(product: str) -> dict[str, int]:
    """The GPU Operator's `all-balanced`: two of the smallest 1g profile, one 2g, one 3g (those that exist)."""
    by_slices: dict[int, list[str]] = {}
    for profile in gpu_catalog.mig_profiles(product):
        by_slices.setdefault(gpu_catalog.profile_slices(profile), []).append(profile)
    layout = {}
    for slices, count in ((1, 2), (2, 1), (3, 1)):
        if by_slices.get(slices):
            layout[min(by_slices[slices], key=profile_memory_mib)] = count
    return layout


def mig_per_gpu(product: str, layout: str, site_layouts: dict | None = None) -> dict[str, int]:
    """MIG devices on one GPU for a layout (`none`, `all-<profile>`, `all-balanced` or a site layout)."""
    if layout in gpu_catalog.MIG_DISABLED or layout in ("", "all-enabled"):
        return {}
    if not gpu_catalog.mig_capable(product):
        raise InventoryError(f"{product} is not MIG-capable but its class asks for MIG layout {layout!r}")
    profiles = gpu_catalog.mig_profiles(product)
    if layout == "all-balanced":
        return balanced_layout(product)
    if layout.startswith("all-") and layout[4:] in profiles:
        return {layout[4:]: instances_per_gpu(product, layout[4:])}
    custom = (site_layouts or {}).get(layout)
    if isinstance(custom, dict) and set(custom) <= set(profiles):
        return {profile: int(count) for profile, count in custom.items()}
    raise InventoryError(f"MIG layout {layout!r} is not valid for {product}")


def mig_resources(product: str, layout: str, gpus: int, site_layouts: dict | None = None) -> dict[str, int]:
    """MIG devices per node: the layout on each of the node's GPUs."""
    return {p: n * gpus for p, n in mig_per_gpu(product, layout, site_layouts).items()}


def gpu_labels_and_resources(
    gpu_class: dict, gpus: int, site_layouts: dict | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """What feature discovery and the device plugin would publish for a node of this class."""
    name = gpu_class["product"]
    if not gpu_catalog.known(name):
        raise InventoryError(f"the GPU catalogue has no product {name!r} (plugins/plugin_utils/gpu_catalog.py)")
    layout = str(gpu_class.get("mig_config") or "none")
    replicas = int(gpu_class.get("time_slicing_replicas") or 0)
    capable = gpu_catalog.mig_capable(name)
    migs = mig_resources(name, layout, gpus, site_layouts)
    labels = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.deploy.device-plugin": "true",
        "nvidia.com/gpu.product": name,
        "nvidia.com/gpu.count": str(gpus),
        "nvidia.com/gpu.memory": str(gpu_catalog.PRODUCTS[name][0] * 1024),
        "nvidia.com/gpu.machine": "lab-simulated",
        "nvidia.com/mig.capable": str(capable).lower(),
        "nvidia.com/mig.config": layout if capable else "all-disabled",
    }
    resources = {"nvidia.com/gpu": str(gpus)}
    if migs:
        # The device plugin's "mixed" strategy: each MIG profile is its own resource.
        labels["nvidia.com/mig.strategy"] = "mixed"
        labels["nvidia.com/mig.config.state"] = "success"
        for profile, count in migs.items():
            resources[f"nvidia.com/mig-{profile}"] = str(count)
            labels[f"nvidia.com/mig-{profile}.count"] = str(count)
            labels[f"nvidia.com/mig-{profile}.memory"] = str(profile_memory_mib(profile))
            labels[f"nvidia.com/mig-{profile}.product"] = f"{name}-MIG-{profile}"
    elif capable:
        labels["nvidia.com/mig.strategy"] = "none"
    if replicas > 1:
        # Time-slicing advertises each physical GPU `replicas` times.
        resources["nvidia.com/gpu"] = str(gpus * replicas)
        labels["nvidia.com/gpu.replicas"] = str(replicas)
        labels["nvidia.com/gpu.sharing-strategy"] = "time-slicing"
    else:
        labels["nvidia.com/gpu.replicas"] = "1"
        labels["nvidia.com/gpu.sharing-strategy"] = "none"
    return labels, resources


def gpu_taint(taint) -> dict:
    """The Node taint for the inventory's gpu_node_taint (key, value, effect), as kubeadm registers it."""
    if not isinstance(taint, dict) or not taint.get("key") or not taint.get("effect"):
        raise InventoryError(f"gpu_node_taint {taint!r} needs a key and an effect (inventories/lab gpu.yml)")
    node_taint = {"key": str(taint["key"])}
    if taint.get("value") is not None:
        node_taint["value"] = str(taint["value"])
    node_taint["effect"] = str(taint["effect"])
    return node_taint


def node_object(
    name: str,
    address: str,
    role: str,
    labels: dict,
    resources: dict,
    kube_version: str,
    taints: list[dict] | tuple = (),
) -> dict:
    all_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        LAB_LABEL: "true",
        **labels,
    }
    taints = list(taints)
    if role == "control_plane":
        all_labels["node-role.kubernetes.io/control-plane"] = ""
        all_labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
    elif role == "gpu_nodes":
        all_labels["node-role.kubernetes.io/gpu"] = ""
    else:
        all_labels["node-role.kubernetes.io/worker"] = ""
    capacity = {
        "cpu": NODE_CPU[role],
        "memory": NODE_MEMORY[role],
        "ephemeral-storage": NODE_DISK[role],
        "pods": "110",
        **resources,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels, "annotations": {KWOK_ANNOTATION: KWOK_MANAGED}},
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


def missing_taints(want: dict, got: dict) -> list[dict] | None:
    """The taints an existing node should carry: its own plus the wanted ones it lacks; None when it has them.

    A wanted taint replaces one of the same key and effect (another value); every other taint the node
    has stays (the node controller's not-ready taint, taints an operator or a test added), so a sync
    never strips one.
    """
    have = list(got.get("spec", {}).get("taints") or [])
    result = list(have)
    for taint in want.get("spec", {}).get("taints") or []:
        same = [t for t in result if (t.get("key"), t.get("effect")) == (taint["key"], taint["effect"])]
        if same and all(t.get("value") == taint.get("value") for t in same):
            continue
        result = [t for t in result if t not in same] + [dict(taint)]
    return None if result == have else result


def nodes_from_inventory(settings: Settings) -> list[dict]:
    """One kwok Node per host of the lab inventory's cluster groups."""
    inv = settings.inventory
    kube_version = settings.versions["lab_tools"]["kubernetes"]
    roles = {}
    for role in ("workers", "gpu_nodes", "control_plane"):  # later roles win for a host in several groups
        for host in inv.group_hosts(role):
            roles[host] = role
    nodes = []
    for host in sorted(roles):
        hv = settings.host_vars(host)
        labels, resources, taints = {}, {}, []
        if roles[host] == "gpu_nodes":
            cls_name = hv.get("gpu_node_class") if "gpu_node_class" in hv.raw else None
            classes = hv.get("gpu_node_classes") if "gpu_node_classes" in hv.raw else {}
            if cls_name not in classes:
                raise InventoryError(f"{host}: gpu_node_class {cls_name!r} is not in gpu_node_classes")
            site_layouts = hv.get("gpu_mig_configs") if "gpu_mig_configs" in hv.raw else {}
            labels, resources = gpu_labels_and_resources(classes[cls_name], int(hv.get("lab_gpu_count")), site_layouts)
            labels["lab.baremetal.mlops/gpu-node-class"] = cls_name
            taints.append(gpu_taint(hv.get("gpu_node_taint") if "gpu_node_taint" in hv.raw else None))
        address = hv.get("ansible_host") if "ansible_host" in hv.raw else host
        nodes.append(node_object(host, address, roles[host], labels, resources, kube_version, taints))
    return nodes
