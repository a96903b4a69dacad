# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side half of baremetal.mlops.validate_inventory (docs in plugins/modules)."""

from __future__ import annotations

import os

from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleUndefinedVariable
from ansible.plugins.action import ActionBase

from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract import Host, Undefined, validate
from ansible_collections.baremetal.mlops.plugins.plugin_utils.versions import VersionsError, load_versions

# The variables of the inventory contract, read from the play's variables.
CONTRACT_VARIABLES = (
    "platform_delivery",
    "platform_release",
    "platform_kubernetes_version",
    "platform_node_network",
    "platform_pod_cidr",
    "platform_service_cidr",
    "platform_api_endpoint",
    "platform_chart_repositories",
    "metallb_mode",
    "metallb_pools",
    "bgp_local_asn",
    "bgp_peers",
    "gpu_node_classes",
    "gpu_mig_configs",
    "platform_teams",
    "minio_buckets",
)
HOST_VARIABLES = ("ansible_host", "node_ip", "gpu_node_class", "node_name")
# Host variables every host defines in the inventory itself; gpu_node_class
# may also come from a group, so it is read inline only from GPU nodes that
# set it on the host.
INLINE_FALLBACK = {"gpu_node_class": "gpu_nodes"}
DEFAULT_VARS_PLUGINS = {"host_group_vars", "ansible.builtin.host_group_vars"}

ARGUMENT_SPEC = {
    "required_charts": {"type": "list", "elements": "str", "default": []},
    "required_secrets": {"type": "list", "elements": "str", "default": []},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        try:
            versions = load_versions()
        except VersionsError as exc:
            raise AnsibleError(str(exc)) from exc

        names = dict.fromkeys((*CONTRACT_VARIABLES, *args["required_secrets"]))
        variables = {name: self._resolve(task_vars, name) for name in names}
        hosts = self._hosts(task_vars)
        problems = validate(variables, hosts, versions, args["required_charts"], args["required_secrets"])

        result["changed"] = False
        result["problems"] = problems
        result["hosts_checked"] = len(hosts)
        if problems:
            result["failed"] = True
            result["msg"] = f"The inventory breaks its contract in {len(problems)} place(s):\n" + "\n".join(
                f"- {line}" for line in problems
            )
        else:
            result["msg"] = f"Inventory contract holds for {len(hosts)} hosts."
        return result

    def _template(self, value, templar=None):
        """Template one value; an undefined reference becomes Undefined(reason)."""
        templar = templar or self._templar
        if isinstance(value, dict):
            return {key: self._template(item, templar) for key, item in value.items()}
        if isinstance(value, list):
            return [self._template(item, templar) for item in value]
        if isinstance(value, str) and templar.is_template(value):
            try:
                return templar.template(value)
            except AnsibleUndefinedVariable as exc:
                return Undefined(f"refers to an undefined variable ({exc.message})")
        return value

    def _resolve(self, task_vars, name):
        if name not in task_vars:
            return Undefined()
        return self._template(task_vars[name])

    def _hosts(self, task_vars):
        groups = task_vars.get("groups", {})
        membership: dict[str, set] = {}
        for group, members in groups.items():
            if group in ("all", "ungrouped"):
                continue
            for member in members:
                membership.setdefault(member, set()).add(group)
        hostvars = task_vars.get("hostvars", {})
        inline = self._inline_host_vars(hostvars, task_vars)
        hosts = []
        for name in groups.get("all", []):
            found = inline(name, membership.get(name, ())) if inline else None
            if found is None:
                found = self._host_vars(hostvars[name])
            hosts.append(
                Host(
                    name=name,
                    groups=frozenset(membership.get(name, ())),
                    address=found.get("node_ip", found.get("ansible_host")),
                    gpu_node_class=found.get("gpu_node_class"),
                    node_name=found.get("node_name"),
                )
            )
        return hosts

    @staticmethod
    def _host_vars(values):
        """The contract's host variables from a host's full, templated variables."""
        found = {}
        for key in HOST_VARIABLES:
            if key not in values:
                continue
            try:
                found[key] = values[key]
            except AnsibleUndefinedVariable as exc:
                found[key] = Undefined(f"refers to an undefined variable ({exc.message})")
        return found

    def _inline_host_vars(self, hostvars, task_vars):
        """A fast reader of host variables written inline in the inventory, or None.

        Computing a host's full variables costs about half a millisecond, a
        second per 2,000 hosts. When nothing but the inventory itself can set
        host variables (no host_vars directory, only the default vars plugin),
        a host's inline values are its values, and the reader returns them; it
        returns None for a host whose values need the full computation (a
        template, or a GPU class that may come from a group), and the caller
        falls back for that host alone.
        """
        inventory = getattr(hostvars, "_inventory", None)
        if inventory is None or set(C.VARIABLE_PLUGINS_ENABLED) - DEFAULT_VARS_PLUGINS:
            return None
        roots = {os.path.dirname(source) if os.path.isfile(source) else source for source in inventory._sources}
        roots.add(task_vars.get("playbook_dir") or os.getcwd())
        if any(os.path.isdir(os.path.join(root, "host_vars")) for root in roots if root):
            return None

        def read(name, groups):
            host = inventory.get_host(name)
            values = host.get_vars() if host is not None else None
            if values is None:
                return None
            found = {key: values[key] for key in HOST_VARIABLES if key in values}
            if any(isinstance(value, str) and self._templar.is_template(value) for value in found.values()):
                return None
            for key, group in INLINE_FALLBACK.items():
                if key not in found and group in groups:
                    return None
            return found

        return read
