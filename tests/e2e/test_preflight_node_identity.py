"""One definition of a node's name and address: what preflight checks is what kubeadm registers.

The kubeadm role's own templates (node registration, init and join
configurations) are rendered for real on the controller, after the role's own
node_ip.yml, for hosts of a copy of the example inventory: the rendered
configuration of a host with node_name and node_ip carries exactly those
values, a host without them its inventory_hostname and ansible_host, and a
host whose address is off the node network fails in the role as it fails in
preflight.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract_hosts import FULL_MERGE_ENV

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NAMED = "cp-01.dc1.example.com"  # gets node_name and node_ip
PLAIN = "cpu-01.dc1.example.com"  # neither: inventory_hostname and ansible_host
OFF_NETWORK = "cpu-02.dc1.example.com"  # ansible_host on a management network, no node_ip
RENDER = """---
- name: Render the kubeadm configuration with the role's templates
  hosts: "{{ render_hosts }}"
  gather_facts: false
  connection: local
  tasks:
    - name: Take the node address as the role does
      ansible.builtin.include_role:
        name: baremetal.mlops.kubeadm
        tasks_from: node_ip.yml
        public: true

    - name: Render the init configuration
      ansible.builtin.template:
        src: "{{ kubeadm_templates }}/init.yaml.j2"
        dest: "{{ out }}/{{ inventory_hostname }}-init.yaml"
        mode: "0600"

    - name: Render a control-plane join configuration
      ansible.builtin.template:
        src: "{{ kubeadm_templates }}/join.yaml.j2"
        dest: "{{ out }}/{{ inventory_hostname }}-join.yaml"
        mode: "0600"
      vars:
        __kubeadm_join_control_plane: true
        __kubeadm_join_token: abcdef.0123456789abcdef
        __kubeadm_discovery_hash: "sha256:{{ '0' * 64 }}"
        __kubeadm_certificate_key: "{{ 'a' * 64 }}"
"""


def set_host_vars(inventory: Path, changes: dict) -> None:
    path = inventory / "hosts.yml"
    data = yaml.safe_load(path.read_text())
    children = data["all"]["children"]["k8s_cluster"]["children"]
    for group in children.values():
        for name, values in group["hosts"].items():
            values.update(changes.get(name, {}))
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False))


def rendered(out: Path, host: str) -> tuple[dict, dict]:
    init = {doc["kind"]: doc for doc in yaml.safe_load_all((out / f"{host}-init.yaml").read_text())}
    join = yaml.safe_load((out / f"{host}-join.yaml").read_text())
    return init, join


def test_rendered_kubeadm_configuration_carries_the_contracts_name_and_address(
    playbook, vault_password, example_inventory, tmp_path
):
    set_host_vars(example_inventory, {NAMED: {"node_name": "k8s-cp-a", "node_ip": "10.20.0.111"}})
    for env in (None, {FULL_MERGE_ENV: "1"}):
        result = playbook(
            "playbooks/preflight.yml", "-i", example_inventory, "--vault-password-file", vault_password, env=env
        )
        assert result.returncode == 0, result.stdout + result.stderr

    set_host_vars(example_inventory, {OFF_NETWORK: {"ansible_host": "192.168.100.22"}})
    play = tmp_path / "render.yml"
    play.write_text(RENDER)
    out = tmp_path / "out"
    out.mkdir()
    result = playbook(
        play,
        "-i",
        example_inventory,
        "--vault-password-file",
        vault_password,
        "-e",
        f"render_hosts={NAMED},{PLAIN},{OFF_NETWORK}",
        "-e",
        f"kubeadm_templates={ROOT / 'roles' / 'kubeadm' / 'templates'}",
        "-e",
        f"out={out}",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
    )
    output = result.stdout + result.stderr

    init, join = rendered(out, NAMED)
    registration = {"name": "k8s-cp-a", "kubeletExtraArgs": [{"name": "node-ip", "value": "10.20.0.111"}]}
    for node in (init["InitConfiguration"]["nodeRegistration"], join["nodeRegistration"]):
        assert {key: node[key] for key in registration} == registration
    assert init["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "10.20.0.111"
    assert join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == "10.20.0.111"

    init, join = rendered(out, PLAIN)
    registration = {"name": PLAIN, "kubeletExtraArgs": [{"name": "node-ip", "value": "10.20.0.21"}]}
    for node in (init["InitConfiguration"]["nodeRegistration"], join["nodeRegistration"]):
        assert {key: node[key] for key in registration} == registration
    assert init["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "10.20.0.21"

    # The role stops a host whose address is off the node network, as preflight does.
    assert result.returncode != 0
    assert not (out / f"{OFF_NETWORK}-init.yaml").exists()
    assert (
        f"{OFF_NETWORK}'s node address 192.168.100.22 (from ansible_host) is outside platform_node_network "
        "10.20.0.0/24; set node_ip to its address on the node network."
    ) in " ".join(output.split()), output
    result = playbook("playbooks/preflight.yml", "-i", example_inventory, "--vault-password-file", vault_password)
    assert (
        f"- hostvars[{OFF_NETWORK}].ansible_host: '192.168.100.22' is outside platform_node_network '10.20.0.0/24'; "
        "expected every host address on the node network"
    ) in result.stdout + result.stderr


def test_a_node_name_shared_by_two_hosts_is_reported(playbook, vault_password, example_inventory):
    set_host_vars(example_inventory, {PLAIN: {"node_name": "shared"}, OFF_NETWORK: {"node_name": "shared"}})
    for env in (None, {FULL_MERGE_ENV: "1"}):
        result = playbook(
            "playbooks/preflight.yml", "-i", example_inventory, "--vault-password-file", vault_password, env=env
        )
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert (
            f"- node_name: 'shared' is the node name of 2 hosts ({PLAIN}, {OFF_NETWORK}); "
            "expected unique Kubernetes node names (node_name, else inventory_hostname in lower case)"
        ) in output, output
        assert "The inventory breaks its contract in 1 place(s)" in output
