# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's Kubernetes name and address: one definition for preflight and the kubeadm role.

- name: ``node_name`` when set, else ``inventory_hostname`` in lower case
  (what kubeadm registers as ``nodeRegistration.name``).
- address: ``node_ip`` when set, else ``ansible_host`` when it is an IP
  address, else none. With none, the kubeadm role takes the host's first IPv4
  address inside ``platform_node_network`` from its facts, and preflight, on
  the controller, has no address to check (it still checks the name).

"Set" means defined, not null and not empty. The variables are the host's
own (``hostvars[host]``: inventory, group_vars, host_vars, facts, extra
vars), never play or role variables: preflight reads every host that way.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.baremetal.mlops.plugins.plugin_utils.netcheck import AddressError, parse_address

NAME_VARIABLE = "node_name"
ADDRESS_VARIABLE = "node_ip"
CONNECTION_VARIABLE = "ansible_host"
IDENTITY_VARIABLES = (NAME_VARIABLE, ADDRESS_VARIABLE, CONNECTION_VARIABLE)


def is_set(value) -> bool:
    return value is not None and value != ""


def node_name(name, inventory_hostname: str):
    """The Kubernetes node name: node_name when set, else inventory_hostname in lower case."""
    return name if is_set(name) else str(inventory_hostname).lower()


def node_address(node_ip, ansible_host) -> tuple[object, str | None]:
    """(address, the variable it came from): node_ip when set, else ansible_host when an IP, else (None, None)."""
    if is_set(node_ip):
        return node_ip, ADDRESS_VARIABLE
    if isinstance(ansible_host, str):
        try:
            parse_address(ansible_host)
        except AddressError:
            return None, None
        return ansible_host, CONNECTION_VARIABLE
    return None, None


def node_identity(variables: Mapping, inventory_hostname: str | None = None) -> dict:
    """name, address and address_variable of a host, from its variables (hostvars[host] or a subset).

    inventory_hostname defaults to variables['inventory_hostname'].
    """
    if inventory_hostname is None:
        inventory_hostname = variables["inventory_hostname"]

    address, source = node_address(variables.get(ADDRESS_VARIABLE), variables.get(CONNECTION_VARIABLE))
    return {
        "name": node_name(variables.get(NAME_VARIABLE), inventory_hostname),
        "address": address,
        "address_variable": source,
    }
