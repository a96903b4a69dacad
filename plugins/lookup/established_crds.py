# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: established_crds
author: baremetal.mlops maintainers (@baremetal-mlops)
short_description: The cluster's Established CustomResourceDefinitions, reduced to a small fact
description:
  - Lists the CustomResourceDefinitions of the cluster and returns those that are Established, each reduced to its
    name, group, kind and the manifest digest direct delivery recorded on it (what the C(missing_crds) and
    C(crds_to_apply) filters read).
  - The listing (megabytes of schemas on a cluster with many operators) is read and reduced inside the task's own
    process; only the reduced list reaches Ansible's variables.
  - Takes no terms.
options: {}
extends_documentation_fragment:
  - baremetal.mlops.kube_api
"""

EXAMPLES = r"""
- name: Remember the Established CRDs
  ansible.builtin.set_fact:
    established: "{{ query('baremetal.mlops.established_crds') }}"
"""

RETURN = r"""
_raw:
  description: One entry per Established CRD.
  type: list
  elements: dict
  contains:
    metadata:
      description: C(name), and C(digest) when direct delivery applied the CRD.
      type: dict
    spec:
      description: C(group) and C(names.kind).
      type: dict
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.baremetal.mlops.plugins.plugin_utils.kube_lookup import cluster_reads
from ansible_collections.baremetal.mlops.plugins.plugin_utils.release_render import established_crds

PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        with cluster_reads("established_crds", self.get_option("kubeconfig"), self.get_option("context")) as api:
            listing = api.get(PATH) or {}
        return established_crds(listing.get("items") or [])
