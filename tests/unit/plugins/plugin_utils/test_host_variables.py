"""HostVariables against Ansible's own hostvars, on generated inventories (in-process differential test).

For every host of every generated inventory, HostVariables must build the very
dictionary ``HostVars.raw_get`` builds, and preflight must read the same hosts
and report the same problems through it as through ``hostvars`` (the full
merge). Ansible is set up as ansible-playbook sets it up: the playbook's folder
as the loader's basedir, extra vars from the command line, the inventory
plugins enabled in ansible.cfg (plus constructed where an inventory uses it).
The e2e twin (tests/e2e/test_preflight_differential.py) runs ansible-playbook
itself, with a legacy vars plugin next to the playbook too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible import constants as C
from ansible import context
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.utils.vars import load_extra_vars
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from ansible_collections.baremetal.mlops.plugins.plugin_utils import host_variables
from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract import validate
from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract_hosts import (
    FULL_MERGE_ENV,
    full_merge_forced,
    read_hosts,
)
from ansible_collections.baremetal.mlops.plugins.plugin_utils.host_variables import HostVariables
from ansible_collections.baremetal.mlops.tests.unit.plugins.plugin_utils.inventory_generator import Generated, generate

ROOT = Path(__file__).resolve().parents[4]
SEEDS = range(40)
VERSIONS = {"platform_release_default": "r1", "platform_releases": {"r1": {"kubernetes": ["1.36"], "charts": {}}}}
CONTRACT = {
    "platform_delivery": "direct",
    "platform_kubernetes_version": "v1.36.3",
    "platform_node_network": "10.20.0.0/24",
    "platform_pod_cidr": "10.244.0.0/16",
    "platform_service_cidr": "10.96.0.0/12",
    "platform_api_endpoint": {"address": "10.20.0.10", "port": 6443},
    "platform_chart_repositories": {},
    "metallb_mode": "l2",
    "metallb_pools": [{"name": "public", "addresses": ["10.20.0.200-10.20.0.229"]}],
    "gpu_node_classes": {
        "a100-training": {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "none"},
        "a100-inference-mig": {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "all-1g.10gb"},
        "l4-inference": {"product": "NVIDIA-L4", "mig_config": "none"},
    },
}
INVENTORY_PLUGINS = ["ansible.builtin.yaml", "ansible.builtin.ini", "ansible.builtin.host_list"]


@pytest.fixture(scope="module", autouse=True)
def plugin_loader():
    """Ansible's plugin loader, as ansible-playbook sets it up (this collection found where ansible.cfg says)."""
    init_plugin_loader([str(ROOT / "collections")])


def ansible_hostvars(generated, monkeypatch):
    """HostVars and inventory as ansible-playbook builds them for this inventory and playbook folder."""
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(extra_vars=tuple(generated.extra_vars_args()[1:])))
    monkeypatch.setattr(load_extra_vars, "extra_vars", None, raising=False)  # it caches the first call's result
    plugins = [*INVENTORY_PLUGINS, *(["ansible.builtin.constructed"] if generated.constructed else [])]
    monkeypatch.setattr(C, "INVENTORY_ENABLED", plugins)
    loader = DataLoader()
    loader.set_basedir(str(generated.playbook_dir))
    inventory = InventoryManager(loader=loader, sources=[str(generated.inventory)])
    manager = VariableManager(loader=loader, inventory=inventory)
    return HostVars(inventory, manager, loader), inventory


def judged(hosts):
    return validate(CONTRACT, hosts, VERSIONS)


def test_the_mirrored_ansible_core_code_is_the_installed_one():
    assert host_variables.mirrored_digest() == host_variables.MIRRORED_DIGEST, (
        "ansible-core's variable merge changed: re-read the functions in host_variables.MIRRORED against "
        "HostVariables, then set MIRRORED_DIGEST to host_variables.mirrored_digest(); until then preflight "
        "uses the full merge (exact, slower)"
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_same_variables_hosts_and_problems_as_the_full_merge(seed, tmp_path, monkeypatch):
    generated = generate(seed, tmp_path)
    hostvars, inventory = ansible_hostvars(generated, monkeypatch)
    assert HostVariables.available(hostvars)

    fast = HostVariables(hostvars)
    for host in inventory.get_hosts():
        assert fast.raw(host) == hostvars.raw_get(host.name), host.name

    groups = inventory.get_groups_dict()
    full_hosts, full_how = read_hosts(hostvars, groups, full_merge=True)
    fast_hosts, fast_how = read_hosts(hostvars, groups)
    assert (full_how, fast_how) == ("full", "shared")
    assert fast_hosts == full_hosts
    assert judged(fast_hosts) == judged(full_hosts)


@pytest.mark.parametrize("seed", range(5))
def test_a_reordered_variable_precedence_is_followed(seed, tmp_path, monkeypatch):
    monkeypatch.setattr(C, "VARIABLE_PRECEDENCE", list(reversed(C.VARIABLE_PRECEDENCE)))
    hostvars, inventory = ansible_hostvars(generate(seed, tmp_path), monkeypatch)
    assert HostVariables.available(hostvars)
    fast = HostVariables(hostvars)
    for host in inventory.get_hosts():
        assert fast.raw(host) == hostvars.raw_get(host.name), host.name


def test_an_unknown_precedence_entry_leaves_the_work_to_hostvars(tmp_path, monkeypatch):
    hostvars = ansible_hostvars(generate(0, tmp_path), monkeypatch)[0]
    monkeypatch.setattr(C, "VARIABLE_PRECEDENCE", [*C.VARIABLE_PRECEDENCE, "plugins_by_groups"])
    assert not HostVariables.available(hostvars)
    assert read_hosts(hostvars, {"all": []})[1] == "full"


def test_generated_inventories_cover_every_feature_and_problem(tmp_path, monkeypatch):
    features, problems = set(), []
    for seed in SEEDS:
        generated = generate(seed, tmp_path / str(seed))
        features |= generated.features
        with monkeypatch.context() as patch:
            hostvars, inventory = ansible_hostvars(generated, patch)
            problems += judged(read_hosts(hostvars, inventory.get_groups_dict())[0])
    assert features >= {
        "YAML inventory",
        "INI inventory",
        "constructed inventory",
        "inline host vars",
        "inline group vars",
        "group priority",
        "group_vars file",
        "group_vars folder",
        "host_vars file",
        "host_vars folder",
        "playbook-adjacent vars",
        "extra vars",
        "templated node_ip",
        "templated node_name",
    }
    for kind in (
        "is used by",
        "is the node name of",
        "is outside platform_node_network",
        "is not an IP address",
        "refers to an undefined variable",
        "is not a Kubernetes node name",
        "is not defined in gpu_node_classes",
    ):
        assert any(kind in problem for problem in problems), kind


def test_hosts_without_an_address_are_read_with_none(tmp_path, monkeypatch):
    (tmp_path / "hosts.yml").write_text("all:\n  children:\n    workers:\n      hosts:\n        a:\n        b:\n")
    generated = Generated(seed=0, inventory=tmp_path / "hosts.yml", playbook_dir=tmp_path)
    hostvars, inventory = ansible_hostvars(generated, monkeypatch)
    hosts = read_hosts(hostvars, inventory.get_groups_dict())[0]
    assert [(h.name, h.address, h.kubernetes_name) for h in hosts] == [("a", None, "a"), ("b", None, "b")]


def test_a_changed_ansible_core_falls_back_to_the_full_merge(tmp_path, monkeypatch):
    generated = generate(0, tmp_path)
    hostvars = ansible_hostvars(generated, monkeypatch)[0]
    monkeypatch.setattr(host_variables, "MIRRORED_DIGEST", "0" * 64)
    assert not HostVariables.available(hostvars)
    assert not HostVariables.available(dict(hostvars))


@pytest.mark.parametrize(
    ("value", "forced"),
    [("1", True), ("true", True), ("Yes", True), (" on ", True), ("0", False), ("", False), ("no", False)],
)
def test_full_merge_is_forced_by_the_environment(value, forced):
    assert full_merge_forced({FULL_MERGE_ENV: value}) is forced
    assert full_merge_forced({}) is False
