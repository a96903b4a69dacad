# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: cluster_objects
author: baremetal.mlops maintainers (@baremetal-mlops)
short_description: List the objects of one kind in the cluster, as plain data
description:
  - Returns the objects of O(kind) in O(api_version), in one namespace or all, optionally those matching a label
    selector, as the API server returns them.
  - Reads through the collection's own client (one GET). With a kubeconfig whose user has a client certificate or a
    token it does not load the kubernetes library, which a lookup would otherwise load again in each task's worker
    process. The C(kubernetes.core.k8s) lookup reads the same objects with every option that plugin has.
options:
  _terms:
    description: Not used.
    required: false
    type: list
    elements: str
  api_version:
    description: API group version of O(kind), for example C(v1) or C(apps/v1).
    type: str
    default: v1
  kind:
    description: Kind of the objects, for example C(ConfigMap).
    type: str
    required: true
  namespace:
    description: Namespace to list in; every namespace when not set (or the kind is cluster-scoped).
    type: str
  label_selector:
    description: Label selector, for example C(app=web,tier!=cache).
    type: str
  metadata_only:
    description:
      - Return each object's metadata only (names, labels, annotations), as the API server sends it for a
        C(PartialObjectMetadataList); much smaller than the objects for large kinds such as Nodes.
    type: bool
    default: false
extends_documentation_fragment:
  - baremetal.mlops.kube_api
"""

EXAMPLES = r"""
- name: Read the nodes' names and labels
  ansible.builtin.set_fact:
    nodes: "{{ query('baremetal.mlops.cluster_objects', kind='Node', metadata_only=true) }}"

- name: Read labelled ConfigMaps of one namespace
  ansible.builtin.set_fact:
    records: >-
      {{ query('baremetal.mlops.cluster_objects', kind='ConfigMap', namespace='kube-system',
               label_selector='app=records') }}
"""

RETURN = r"""
_raw:
  description: The objects, one list element each; empty when the kind is not served.
  type: list
  elements: dict
"""

from urllib.parse import urlencode

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.baremetal.mlops.plugins.module_utils.kube_api import resource_path
from ansible_collections.baremetal.mlops.plugins.plugin_utils.kube_lookup import cluster_reads


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        api_version, kind = self.get_option("api_version"), self.get_option("kind")
        if not kind:
            raise AnsibleLookupError("cluster_objects: kind is required")
        with cluster_reads("cluster_objects", self.get_option("kubeconfig"), self.get_option("context")) as api:
            served = api.resource(api_version, kind)
            if served is None:
                return []
            namespace = self.get_option("namespace") if served.get("namespaced") else None
            path = resource_path(api_version, served["name"], namespace)
            if self.get_option("label_selector"):
                path += "?" + urlencode({"labelSelector": self.get_option("label_selector")})
            listing = api.get(path, metadata_only=self.get_option("metadata_only")) or {}
        # a listing's items carry no apiVersion and kind of their own (a metadata listing's name another kind)
        return [{**item, "apiVersion": api_version, "kind": kind} for item in listing.get("items") or []]
