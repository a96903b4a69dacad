# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build the inference edge's objects (Gateway API, cert-manager, oauth2-proxy)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.plugin_utils import edge_objects as objects
from ansible_collections.baremetal.mlops.plugins.plugin_utils.release_render import plain


def _call(function, *args):
    try:
        return function(*(plain(arg) for arg in args))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"{function.__name__}: {exc}") from exc


def inference_edge_gateway(settings):
    """The edge's Gateway (HTTP listener, ListenerSets of its namespace allowed) and its HTTPS redirect."""
    return _call(objects.gateway_objects, settings)


def inference_edge_route(isvc, host, settings):
    """A public InferenceService's Certificate, ListenerSet, HTTPRoute and authentication proxy."""
    return _call(objects.route_objects, isvc, host, settings)


def inference_edge_proxy_secret(settings):
    """The authentication proxy's Secret (OIDC client secret, cookie secret)."""
    return _call(objects.proxy_secret, settings)


def inference_edge_route_labels(isvc):
    """The labels that mark an InferenceService's edge objects (to find or remove them)."""
    return _call(objects.isvc_route_labels, isvc)


class FilterModule:
    def filters(self):
        return {
            "inference_edge_gateway": inference_edge_gateway,
            "inference_edge_route": inference_edge_route,
            "inference_edge_proxy_secret": inference_edge_proxy_secret,
            "inference_edge_route_labels": inference_edge_route_labels,
        }
