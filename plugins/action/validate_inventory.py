# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side half of baremetal.mlops.validate_inventory (docs in plugins/modules)."""

from __future__ import annotations

from ansible.errors import AnsibleError, AnsibleUndefinedVariable
from ansible.plugins.action import ActionBase

from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract import Undefined, validate
from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract_hosts import full_merge_forced, read_hosts
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
    "platform_chart_versions",
    "metallb_mode",
    "metallb_pools",
    "bgp_local_asn",
    "bgp_peers",
    "gpu_node_classes",
    "gpu_mig_configs",
    "gpu_node_taint",
    "platform_teams",
    "minio_buckets",
    "platform_gitops_dir",
    "platform_gitops_repo_url",
    "platform_gitops_revision",
    "platform_gitops_path",
    "platform_argocd_namespace",
    "platform_kube_proxy_replacement",
    "platform_edge_namespace",
    "platform_edge_enabled",
    "platform_gateway_api_url",
    "platform_storage_class",
    "platform_storage_replicas",
    "platform_s3_endpoint",
    "platform_mlflow_tracking_uri",
)
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
        hosts, how = read_hosts(
            task_vars.get("hostvars", {}), task_vars.get("groups", {}), full_merge=full_merge_forced()
        )
        problems = validate(variables, hosts, versions, args["required_charts"], args["required_secrets"])

        result["changed"] = False
        result["problems"] = problems
        result["hosts_checked"] = len(hosts)
        result["host_variables"] = how
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
