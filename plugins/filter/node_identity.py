# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: node_identity
author: baremetal.mlops maintainers (@baremetal-mlops)
version_added: 0.1.0
short_description: A host's Kubernetes node name and address, as preflight and the kubeadm role use them
description:
  - Takes a host's variables (normally C(hostvars[inventory_hostname])) and returns the node's name and address,
    by the one definition that preflight (M(baremetal.mlops.validate_inventory)) checks and the kubeadm role
    registers.
  - C(name) is O(_input.node_name) when set, else C(inventory_hostname) in lower case.
  - C(address) is O(_input.node_ip) when set, else O(_input.ansible_host) when it is an IP address, else null.
    With null, the kubeadm role takes the host's first IPv4 address inside C(platform_node_network) from its facts.
  - Set means defined, not null and not empty.
options:
  _input:
    description:
      - The host's variables, such as C(hostvars[inventory_hostname]). Read are C(node_name), C(node_ip),
        C(ansible_host) and C(inventory_hostname).
    type: dict
    required: true
    suboptions:
      node_name:
        description: The Kubernetes node name, when it is not C(inventory_hostname) in lower case.
        type: str
      node_ip:
        description: The node's address on C(platform_node_network), when it is not O(_input.ansible_host).
        type: str
      ansible_host:
        description: Where Ansible connects; the node address too when it is an IP address and C(node_ip) is unset.
        type: str
  inventory_hostname:
    description: The host's inventory name; defaults to C(inventory_hostname) in O(_input).
    type: str
notes:
  - The variables are the host's own (inventory, group_vars, host_vars, facts, extra vars), as C(hostvars) holds
    them, not play or role variables; preflight reads every host the same way.
  - The collection's C(docs/inventory.md) describes the inventory contract.
"""

EXAMPLES = r"""
- name: The node name kubeadm registers for this host
  ansible.builtin.debug:
    msg: "{{ (hostvars[inventory_hostname] | baremetal.mlops.node_identity).name }}"

- name: Name and address from given values
  ansible.builtin.debug:
    msg: "{{ {'node_name': 'gpu-01', 'ansible_host': '10.20.0.31'} | baremetal.mlops.node_identity('GPU-01.dc1') }}"
    # {"name": "gpu-01", "address": "10.20.0.31", "address_variable": "ansible_host"}
"""

RETURN = r"""
_value:
  description: The node's identity.
  type: dict
  contains:
    name:
      description: The Kubernetes node name.
      type: str
    address:
      description: The node address, or null when neither C(node_ip) nor an IP C(ansible_host) gives one.
      type: str
    address_variable:
      description: The variable the address came from, C(node_ip) or C(ansible_host); null without an address.
      type: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.basic import missing_required_lib

from ansible_collections.baremetal.mlops.plugins.plugin_utils import node_identity as identity
from ansible_collections.baremetal.mlops.plugins.plugin_utils.netcheck import HAS_NETADDR


def node_identity(variables, inventory_hostname=None):
    if not HAS_NETADDR:
        raise AnsibleFilterError(missing_required_lib("netaddr"))
    if not isinstance(variables, Mapping):
        kind = type(variables).__name__
        raise AnsibleFilterError(
            f"node_identity expects a host's variables such as hostvars[inventory_hostname], got {kind}"
        )
    if inventory_hostname is None and "inventory_hostname" not in variables:
        raise AnsibleFilterError("node_identity needs inventory_hostname, in the variables or as its argument")
    return identity.node_identity(variables, inventory_hostname)


class FilterModule:
    def filters(self):
        return {"node_identity": node_identity}
