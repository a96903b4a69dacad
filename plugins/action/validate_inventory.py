# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side half of baremetal.mlops.validate_inventory (docs in plugins/modules)."""

from __future__ import annotations

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
        hosts = []
        for name in groups.get("all", []):
            values = hostvars[name]
            found = {}
            for key in HOST_VARIABLES:
                if key not in values:
                    continue
                try:
                    found[key] = values[key]
                except AnsibleUndefinedVariable as exc:
                    found[key] = Undefined(f"refers to an undefined variable ({exc.message})")
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
