# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build the serving layer's objects (KServe) from the inventory contract."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.plugin_utils import serving_objects as objects
from ansible_collections.baremetal.mlops.plugins.plugin_utils.release_render import plain


def _call(function, *args):
    try:
        return function(*(plain(arg) for arg in args))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"{function.__name__}: {exc}") from exc


def kserve_team_objects(teams, settings):
    """Per team namespace, the ServiceAccount predictors run as (naming the team's S3 credentials)."""
    return _call(objects.kserve_team_objects, teams, settings)


def kserve_team_secrets(teams, settings):
    """Per team namespace, the team's S3 keys with KServe's S3 annotations."""
    return _call(objects.kserve_team_secrets, teams, settings)


def kserve_inference_service(model, team, classes, custom, taint, settings):
    """The InferenceService serving one registered model version (and its canary) for a team."""
    return _call(objects.inference_service, model, team, classes, custom or {}, taint or None, settings)


class FilterModule:
    def filters(self):
        return {
            "kserve_team_objects": kserve_team_objects,
            "kserve_team_secrets": kserve_team_secrets,
            "kserve_inference_service": kserve_inference_service,
        }
