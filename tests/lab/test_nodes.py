"""How inventory GPU classes become node labels and resources (no cluster needed).

The GPU facts come from the collection's catalogue (plugins/plugin_utils/gpu_catalog.py),
the one preflight validates inventories with.
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils import gpu_catalog
from lab import nodes
from lab.settings import ROOT, Settings

A100 = "NVIDIA-A100-SXM4-80GB"
H100 = "NVIDIA-H100-80GB-HBM3"


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("none", {}),
        ("all-disabled", {}),
        ("all-1g.10gb", {"1g.10gb": 56}),
        ("all-1g.20gb", {"1g.20gb": 32}),
        ("all-2g.20gb", {"2g.20gb": 24}),
        ("all-3g.40gb", {"3g.40gb": 16}),
        ("all-4g.40gb", {"4g.40gb": 8}),
        ("all-7g.80gb", {"7g.80gb": 8}),
        ("all-balanced", {"1g.10gb": 16, "2g.20gb": 8, "3g.40gb": 8}),
    ],
)
def test_mig_layouts_per_node(layout, expected):
    assert nodes.mig_resources(A100, layout, 8) == expected


def test_the_lab_uses_the_collections_catalogue():
    assert nodes.gpu_catalog.PRODUCTS is gpu_catalog.PRODUCTS or nodes.gpu_catalog.PRODUCTS == gpu_catalog.PRODUCTS


@pytest.mark.parametrize("product", [p for p in gpu_catalog.PRODUCTS if gpu_catalog.mig_capable(p)])
def test_every_catalogue_profile_is_a_layout_the_lab_simulates(product):
    for profile in gpu_catalog.mig_profiles(product):
        per_gpu = nodes.mig_per_gpu(product, f"all-{profile}")
        assert list(per_gpu) == [profile]
        # never more compute slices than the product has
        assert per_gpu[profile] * gpu_catalog.profile_slices(profile) <= gpu_catalog.compute_slices(product)
    for layout in gpu_catalog.mig_config_names(product):
        nodes.mig_per_gpu(product, layout)


def test_h100_offers_all_six_catalogue_profiles():
    assert len(gpu_catalog.mig_profiles(H100)) == 6
    labels, resources = nodes.gpu_labels_and_resources({"product": H100, "mig_config": "all-1g.20gb"}, 8)
    assert resources["nvidia.com/mig-1g.20gb"] == "32"
    assert labels["nvidia.com/gpu.memory"] == str(80 * 1024)


def test_site_mig_layout_from_the_inventory():
    site = {"balanced-inference": {"2g.20gb": 2, "1g.10gb": 3}}
    assert nodes.mig_resources(A100, "balanced-inference", 4, site) == {"2g.20gb": 8, "1g.10gb": 12}


@pytest.mark.parametrize(
    ("product", "layout", "message"),
    [
        (A100, "all-9g.99gb", "MIG layout 'all-9g.99gb' is not valid for NVIDIA-A100-SXM4-80GB"),
        ("NVIDIA-L4", "all-1g.10gb", "NVIDIA-L4 is not MIG-capable but its class asks for MIG layout 'all-1g.10gb'"),
    ],
)
def test_invalid_mig_layouts_are_refused(product, layout, message):
    with pytest.raises(nodes.InventoryError) as err:
        nodes.mig_resources(product, layout, 8)
    assert str(err.value) == message


def test_time_slicing_multiplies_the_advertised_gpus():
    labels, resources = nodes.gpu_labels_and_resources(
        {"product": "NVIDIA-L4", "mig_config": "none", "time_slicing_replicas": 4}, 4
    )
    assert resources == {"nvidia.com/gpu": "16"}
    assert labels["nvidia.com/gpu.replicas"] == "4"
    assert labels["nvidia.com/gpu.count"] == "4"
    assert labels["nvidia.com/mig.capable"] == "false"


def test_unknown_product_is_refused():
    with pytest.raises(nodes.InventoryError, match="the GPU catalogue has no product 'NVIDIA-X1'"):
        nodes.gpu_labels_and_resources({"product": "NVIDIA-X1"}, 8)


def test_inventory_hosts_become_nodes(tmp_path):
    inventory = tmp_path / "lab"
    shutil.copytree(ROOT / "inventories" / "lab", inventory)
    (inventory / "hosts.yml").write_text(
        "all:\n"
        "  children:\n"
        "    k8s_cluster:\n"
        "      children:\n"
        "        control_plane:\n"
        "          hosts:\n"
        "            cp: {ansible_host: 127.0.10.11}\n"
        "        gpu_nodes:\n"
        "          hosts:\n"
        "            gpu: {ansible_host: 127.0.10.31, gpu_node_class: a100-training, lab_gpu_count: 2}\n"
    )
    built = {n["metadata"]["name"]: n for n in nodes.nodes_from_inventory(Settings(ROOT, inventory))}
    assert set(built) == {"cp", "gpu"}
    assert built["cp"]["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert built["gpu"]["spec"]["taints"] == [lab_gpu_taint()]
    gpu = built["gpu"]
    assert gpu["status"]["addresses"][0] == {"type": "InternalIP", "address": "127.0.10.31"}
    assert gpu["status"]["capacity"]["nvidia.com/gpu"] == "2"
    assert gpu["status"]["capacity"]["nvidia.com/mig-1g.10gb"] == "14"
    assert gpu["metadata"]["labels"]["nvidia.com/mig.strategy"] == "mixed"
    assert gpu["metadata"]["annotations"] == {nodes.KWOK_ANNOTATION: "fake"}


def lab_gpu_taint() -> dict:
    """The contract's gpu_node_taint of the lab inventory, as a Node taint (the lab's own source of truth)."""
    taint = yaml.safe_load((ROOT / "inventories/lab/group_vars/all/gpu.yml").read_text())["gpu_node_taint"]
    return {key: str(taint[key]) for key in ("key", "value", "effect") if taint.get(key) is not None}


def write_inventory(tmp_path, gpu_taint_yaml: str | None = None):
    inventory = tmp_path / "lab"
    shutil.copytree(ROOT / "inventories" / "lab", inventory)
    if gpu_taint_yaml is not None:
        gpu = inventory / "group_vars" / "all" / "gpu.yml"
        data = yaml.safe_load(gpu.read_text())
        data["gpu_node_taint"] = yaml.safe_load(gpu_taint_yaml)
        gpu.write_text("---\n" + yaml.safe_dump(data))
    return inventory


def test_only_gpu_nodes_carry_the_inventory_gpu_taint(tmp_path):
    built = nodes.nodes_from_inventory(Settings(ROOT, write_inventory(tmp_path)))
    taint = lab_gpu_taint()
    assert taint == {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    for node in built:
        labels = node["metadata"]["labels"]
        if "node-role.kubernetes.io/gpu" in labels:
            assert node["spec"]["taints"] == [taint], node["metadata"]["name"]
        else:
            assert taint not in node["spec"]["taints"], node["metadata"]["name"]
    assert sum(taint in n["spec"]["taints"] for n in built) == len(Settings(ROOT).inventory.group_hosts("gpu_nodes"))


def test_the_gpu_taint_follows_the_inventory(tmp_path):
    inventory = write_inventory(tmp_path, "{key: example.com/accelerator, effect: PreferNoSchedule}")
    gpu = next(n for n in nodes.nodes_from_inventory(Settings(ROOT, inventory)) if n["metadata"]["name"] == "lab-l4-1")
    assert gpu["spec"]["taints"] == [{"key": "example.com/accelerator", "effect": "PreferNoSchedule"}]


def test_a_gpu_taint_without_an_effect_is_refused(tmp_path):
    inventory = write_inventory(tmp_path, "{key: nvidia.com/gpu, value: present}")
    with pytest.raises(nodes.InventoryError, match=r"gpu_node_taint .* needs a key and an effect"):
        nodes.nodes_from_inventory(Settings(ROOT, inventory))


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU_EXECUTE = {"key": "nvidia.com/gpu", "effect": "NoExecute"}
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": "2026-11-30T22:00:00Z"}


def node_with(*taints) -> dict:
    return {"spec": {"taints": list(taints)}}


@pytest.mark.parametrize(
    ("has", "expected"),
    [
        ([], [GPU_TAINT]),
        ([NOT_READY], [NOT_READY, GPU_TAINT]),
        ([GPU_TAINT], None),
        ([GPU_TAINT, NOT_READY], None),
        ([{**GPU_TAINT, "value": "old"}, NOT_READY], [NOT_READY, GPU_TAINT]),
        ([GPU_EXECUTE], [GPU_EXECUTE, GPU_TAINT]),
    ],
    ids=["untainted", "keeps-other-taints", "in-sync", "in-sync-with-others", "new-value", "other-effect-kept"],
)
def test_sync_adds_the_gpu_taint_and_never_strips_one(has, expected):
    """What sync_nodes (lab/cluster.py) patches onto an existing node: None when nothing is to change."""
    assert nodes.missing_taints(node_with(GPU_TAINT), {"spec": {"taints": has}}) == expected


def test_sync_leaves_taints_of_a_node_the_lab_does_not_taint():
    assert nodes.missing_taints(node_with(), {"spec": {"taints": [GPU_TAINT]}}) is None
    assert nodes.missing_taints(node_with(), {"spec": {}}) is None
