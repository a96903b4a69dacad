# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the platform_reset role: what a reset removes, decided from what the cluster and hosts report."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.plugin_utils import platform_reset


def reset_cluster_plan(inputs: dict) -> dict:
    """{layers, charts, helm, manifests, records, namespaces, protected_namespaces, keep_releases, remove_crds}
    -> the releases, records and namespaces to remove, and what is kept with the reason."""
    try:
        return platform_reset.cluster_plan(inputs)
    except platform_reset.ResetError as exc:
        raise AnsibleFilterError(f"reset_cluster_plan: {exc}") from exc


def reset_iptables_chains(save_output: str) -> dict:
    """iptables-save output -> {table: [KUBE-*/CILIUM_* chains]}."""
    try:
        return platform_reset.kubernetes_chains(save_output)
    except platform_reset.ResetError as exc:
        raise AnsibleFilterError(f"reset_iptables_chains: {exc}") from exc


def reset_iptables_script(save_output: str) -> str:
    """iptables-save output -> the iptables-restore --noflush script removing those chains ("" when none)."""
    try:
        return platform_reset.iptables_cleanup(save_output)
    except platform_reset.ResetError as exc:
        raise AnsibleFilterError(f"reset_iptables_script: {exc}") from exc


class FilterModule:
    def filters(self):
        return {
            "reset_cluster_plan": reset_cluster_plan,
            "reset_iptables_chains": reset_iptables_chains,
            "reset_iptables_script": reset_iptables_script,
        }
