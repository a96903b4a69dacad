# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the restore drill: what the manifest promises against what the restore holds."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.plugin_utils import backup_drill
from ansible_collections.baremetal.mlops.plugins.plugin_utils.release_render import plain


def _call(function, *args):
    try:
        return function(*(plain(arg) for arg in args))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnsibleFilterError(f"{function.__name__}: {exc}") from exc


def restore_drill_registry_problems(models, restored):
    """Manifest model versions and aliases missing from the restored database, one line each."""
    return _call(backup_drill.registry_problems, models, restored)


def restore_drill_tracking_problems(experiments, runs, restored):
    """Manifest experiments and runs missing from the restored database or restored differently, one line each."""
    return _call(backup_drill.tracking_problems, experiments, runs, restored)


def restore_drill_served_versions(models):
    """The versions the manifest's aliases point at, with their storage URIs."""
    return _call(backup_drill.served_versions, models)


def restore_drill_traffic(models, alias):
    """Per model, the version that should receive traffic."""
    return _call(backup_drill.traffic, models, alias)


class FilterModule:
    def filters(self):
        return {
            "restore_drill_registry_problems": restore_drill_registry_problems,
            "restore_drill_tracking_problems": restore_drill_tracking_problems,
            "restore_drill_served_versions": restore_drill_served_versions,
            "restore_drill_traffic": restore_drill_traffic,
        }
