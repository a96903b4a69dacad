# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function


class ModuleDocFragment:
    # How the collection's lookups that read the cluster reach the API server.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to the kubeconfig the API server is read through.
      - If not set, the value of the E(K8S_AUTH_KUBECONFIG) environment variable is used, then the kubernetes
        client's default (E(KUBECONFIG), C(~/.kube/config)).
    type: str
    env:
      - name: K8S_AUTH_KUBECONFIG
  context:
    description:
      - Context of O(kubeconfig) to use; its current context when not set.
    type: str
    env:
      - name: K8S_AUTH_CONTEXT
requirements:
  - kubernetes (Python library)
"""
