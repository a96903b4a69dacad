# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every inventory host as the contract sees it, read from Ansible's ``hostvars``.

A host's contract variables are exactly ``hostvars[host][variable]``: what
every later play sees. By default they are read through HostVariables (the
same merge and templating, with the group-level work shared between hosts of
the same groups); with the environment variable
``BAREMETAL_MLOPS_PREFLIGHT_FULL_MERGE=1``, or under an ansible-core that
HostVariables does not mirror, through ``hostvars`` itself. The differential
tests require both to give the same problems.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleUndefinedVariable

from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract import Host, Undefined
from ansible_collections.baremetal.mlops.plugins.plugin_utils.host_variables import HostVariables
from ansible_collections.baremetal.mlops.plugins.plugin_utils.node_identity import node_identity

HOST_VARIABLES = ("ansible_host", "node_ip", "node_name", "gpu_node_class")
FULL_MERGE_ENV = "BAREMETAL_MLOPS_PREFLIGHT_FULL_MERGE"


def full_merge_forced(environ=None) -> bool:
    """True when the environment asks for Ansible's full per-host merge."""
    value = (os.environ if environ is None else environ).get(FULL_MERGE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def contract_variables(values) -> dict:
    """The contract's host variables from a host's variables (templated on access)."""
    found = {}
    for key in HOST_VARIABLES:
        if key not in values:
            continue
        try:
            found[key] = values[key]
        except AnsibleUndefinedVariable as exc:
            found[key] = Undefined(f"refers to an undefined variable ({exc.message})")
    return found


def read_hosts(hostvars, groups, full_merge: bool = False) -> tuple[list[Host], str]:
    """One Host per member of groups['all'], in inventory order, and how they were read.

    How: "shared" (HostVariables) or "full" (hostvars itself).
    """
    membership: dict[str, set] = {}
    for group, members in groups.items():
        if group in ("all", "ungrouped"):
            continue
        for member in members:
            membership.setdefault(member, set()).add(group)
    if not full_merge and HostVariables.available(hostvars):
        reader, how = HostVariables(hostvars), "shared"
    else:
        reader, how = hostvars, "full"
    hosts = []
    for name in groups.get("all", []):
        found = contract_variables(reader[name])
        identity = node_identity(found, name)
        hosts.append(
            Host(
                name=name,
                groups=frozenset(membership.get(name, ())),
                address=identity["address"],
                gpu_node_class=found.get("gpu_node_class"),
                node_name=found.get("node_name"),
                address_variable=identity["address_variable"] or "ansible_host",
            )
        )
    return hosts, how
