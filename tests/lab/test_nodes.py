"""How inventory GPU classes become node labels and resources (no cluster needed)."""

from __future__ import annotations

import sys

import pytest
from lab_support import ROOT

sys.path.insert(0, str(ROOT / "lab"))
import nodes

pytestmark = pytest.mark.lab

A100 = "NVIDIA-A100-SXM4-80GB"


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("none", {}),
        ("all-disabled", {}),
        ("all-1g.10gb", {"1g.10gb": 56}),
        ("all-3g.40gb", {"3g.40gb": 16}),
        ("all-balanced", {"1g.10gb": 16, "2g.20gb": 8, "3g.40gb": 8}),
    ],
)
def test_mig_layouts_per_node(layout, expected):
    assert nodes.mig_resources(A100, nodes.GPU_PRODUCTS[A100], layout) == expected


@pytest.mark.parametrize(
    ("product", "layout", "message"),
    [
        (A100, "all-9g.99gb", "MIG layout 'all-9g.99gb' is not valid for NVIDIA-A100-SXM4-80GB"),
        ("NVIDIA-L4", "all-1g.10gb", "NVIDIA-L4 is not MIG-capable but its class asks for MIG layout 'all-1g.10gb'"),
    ],
)
def test_invalid_mig_layouts_are_refused(product, layout, message):
    with pytest.raises(nodes.InventoryError) as err:
        nodes.mig_resources(product, nodes.GPU_PRODUCTS[product], layout)
    assert str(err.value) == message


def test_time_slicing_multiplies_the_advertised_gpus():
    labels, resources = nodes.gpu_labels_and_resources(
        {"product": "NVIDIA-L4", "mig_config": "none", "time_slicing_replicas": 4}
    )
    assert resources == {"nvidia.com/gpu": "16"}
    assert labels["nvidia.com/gpu.replicas"] == "4"
    assert labels["nvidia.com/gpu.count"] == "4"
    assert labels["nvidia.com/mig.capable"] == "false"


def test_unknown_product_is_refused():
    with pytest.raises(nodes.InventoryError, match="no model of GPU product 'NVIDIA-X1'"):
        nodes.gpu_labels_and_resources({"product": "NVIDIA-X1"})


def test_inventory_hosts_become_nodes():
    inventory = {
        "_meta": {
            "hostvars": {
                "cp": {"ansible_host": "127.0.10.11"},
                "gpu": {
                    "ansible_host": "127.0.10.31",
                    "gpu_node_class": "train",
                    "gpu_node_classes": {"train": {"product": A100, "mig_config": "all-1g.10gb"}},
                },
            }
        },
        "k8s_cluster": {"children": ["control_plane", "gpu_nodes"]},
        "control_plane": {"hosts": ["cp"]},
        "gpu_nodes": {"hosts": ["gpu"]},
    }
    built = {n["metadata"]["name"]: n for n in nodes.nodes_from_inventory(inventory, "v1.36.3")}
    assert built["cp"]["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    gpu = built["gpu"]
    assert gpu["status"]["addresses"][0] == {"type": "InternalIP", "address": "127.0.10.31"}
    assert gpu["status"]["capacity"]["nvidia.com/mig-1g.10gb"] == "56"
    assert gpu["metadata"]["labels"]["nvidia.com/mig.strategy"] == "mixed"
    assert gpu["metadata"]["annotations"] == {nodes.KWOK_ANNOTATION: "fake"}
