# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of cluster backups: the platform's namespaces, the serving manifest."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.plugin_utils import cluster_backup
from ansible_collections.baremetal.mlops.plugins.plugin_utils.release_render import plain


def _call(function, *args):
    try:
        return function(*(plain(arg) for arg in args))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnsibleFilterError(f"{function.__name__}: {exc}") from exc


def platform_namespaces(variables):
    """The platform's and the teams' namespaces from a host's variables (hostvars[inventory_hostname])."""
    wanted = ["platform_teams", *cluster_backup.NAMESPACE_VARIABLES]
    # hostvars templates a value when it is read: read only the variables that matter
    picked = {name: variables[name] for name in wanted if name in variables}
    return _call(cluster_backup.platform_namespaces, picked)


def serving_manifest(inference_services):
    """The InferenceServices in force: namespace, name, model name/version/alias labels, storage URIs."""
    return _call(cluster_backup.serving_manifest, inference_services)


def served_storage_uris(serving):
    """The s3:// storage URIs of a manifest's serving part."""
    return _call(cluster_backup.served_storage_uris, serving)


class FilterModule:
    def filters(self):
        return {
            "platform_namespaces": platform_namespaces,
            "serving_manifest": serving_manifest,
            "served_storage_uris": served_storage_uris,
        }
