# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: apply_needed
author: baremetal.mlops maintainers (@baremetal-mlops)
short_description: The objects a client-side apply would change, read from the cluster
description:
  - Returns, in the order given, the objects among the terms that C(kubernetes.core.k8s) with C(apply=true) would
    create or change, that is those absent from the cluster, rendered differently from their last apply (the
    C(kubectl.kubernetes.io/last-applied-configuration) annotation), or changed in the cluster since on a field the
    manifest sets. An apply of only these objects converges the cluster as an apply of all of them would.
  - With O(missing_only=true), returns only the objects that do not exist (for objects that are created but never
    applied, such as a namespace whose labels another component owns).
  - Reads one object per GET (and the discovery of each API group version once); runs in the task's own process,
    so a converged component costs these reads instead of a module process per apply.
  - An object whose kind the API server does not serve yet (its CRD is not Established) is returned as needing an
    apply.
options:
  _terms:
    description: Kubernetes manifests (dicts with apiVersion, kind and metadata), or lists of them.
    required: true
    type: list
    elements: raw
  missing_only:
    description: Return only the objects that do not exist, whatever their content.
    type: bool
    default: false
extends_documentation_fragment:
  - baremetal.mlops.kube_api
"""

EXAMPLES = r"""
- name: Apply only what the cluster lacks
  kubernetes.core.k8s:
    definition: "{{ pending }}"
    apply: true
  vars:
    pending: "{{ query('baremetal.mlops.apply_needed', my_objects) }}"
  when: pending | length > 0

- name: Create the namespaces that do not exist yet
  kubernetes.core.k8s:
    definition: "{{ query('baremetal.mlops.apply_needed', namespaces, missing_only=true) }}"
    state: present
"""

RETURN = r"""
_raw:
  description: The objects that need an apply, as given.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.baremetal.mlops.plugins.plugin_utils.apply_check import apply_needed
from ansible_collections.baremetal.mlops.plugins.plugin_utils.kube_lookup import cluster_reads
from ansible_collections.baremetal.mlops.plugins.plugin_utils.release_render import plain

display = Display()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        objects = []
        for term in plain(terms):
            objects.extend(term if isinstance(term, list) else [term])
        for obj in objects:
            if not isinstance(obj, dict) or not (obj.get("metadata") or {}).get("name") or not obj.get("kind"):
                raise AnsibleLookupError(
                    f"apply_needed: each term must be a manifest with kind and metadata.name, got {_described(obj)}"
                )
        if not objects:
            return []
        needed = []
        with cluster_reads("apply_needed", self.get_option("kubeconfig"), self.get_option("context")) as api:
            for obj in objects:
                path = api.object_path(obj)
                live = api.get(path) if path else None
                if self.get_option("missing_only"):
                    reason = "absent" if live is None else None
                elif path is None:
                    reason = "its kind is not served yet"
                else:
                    reason = apply_needed(obj, live)
                if reason:
                    display.vvv(f"apply_needed: {obj['kind']} {_where(obj)}: {reason}")
                    needed.append(obj)
        return needed


def _described(value):
    """What a malformed term is, without its values (a Secret's would be secret)."""
    if isinstance(value, dict):
        return f"a mapping with keys {sorted(str(key) for key in value)}"
    return f"a {type(value).__name__}"


def _where(obj):
    metadata = obj["metadata"]
    return f"{metadata['namespace']}/{metadata['name']}" if metadata.get("namespace") else metadata["name"]
