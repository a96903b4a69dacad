# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: versions
author: baremetal.mlops maintainers (@baremetal-mlops)
short_description: Read pinned versions from the collection's versions.yml
description:
  - Returns values from C(versions.yml) at the root of the baremetal.mlops
    collection, the single file that records which component versions are
    supported together and which tool versions the lab builds.
  - Each term is a dotted key such as C(lab_tools.kubernetes).
options:
  _terms:
    description: Dotted keys into versions.yml.
    required: true
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Pin the lab's Kubernetes version
  ansible.builtin.set_fact:
    platform_kubernetes_version: "{{ lookup('baremetal.mlops.versions', 'lab_tools.kubernetes') }}"

- name: Chart versions of the default release
  ansible.builtin.debug:
    msg: "{{ lookup('baremetal.mlops.versions', 'platform_releases.2026.11.charts') }}"
"""

RETURN = r"""
_raw:
  description: The value stored under each key, one list element per term.
  type: list
  elements: raw
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.baremetal.mlops.plugins.plugin_utils.versions import (
    VersionsError,
    load_versions,
    lookup_key,
)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        try:
            data = load_versions()
            return [self._lookup(data, term) for term in terms]
        except VersionsError as exc:
            raise AnsibleLookupError(str(exc)) from exc

    @staticmethod
    def _lookup(data, term):
        # Release names contain dots ("2026.11"): resolve them as one key.
        if term.startswith("platform_releases."):
            rest = term[len("platform_releases.") :]
            for name in sorted(data.get("platform_releases") or {}, key=len, reverse=True):
                if rest == name or rest.startswith(name + "."):
                    node = data["platform_releases"][name]
                    tail = rest[len(name) + 1 :]
                    return lookup_key(node, tail) if tail else node
        return lookup_key(data, term)
