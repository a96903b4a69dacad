# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API client of the collection's cluster-reading lookups, with their errors as lookup errors.

A lookup runs inside the task's own worker process: a read through it costs
the request, not the new Python process and module payload of a
kubernetes.core module call (module_utils/kube_api.py: with a certificate or
token kubeconfig, not even the import of the kubernetes library).
"""

from __future__ import annotations

from contextlib import contextmanager

from ansible.errors import AnsibleLookupError

from ansible_collections.baremetal.mlops.plugins.module_utils.kube_api import KubeApi, KubeApiError


@contextmanager
def cluster_reads(lookup_name: str, kubeconfig: str | None, context: str | None):
    """A KubeApi through `kubeconfig`; a failure to build it or to read becomes one AnsibleLookupError."""
    try:
        yield KubeApi(kubeconfig or None, context or None)
    except KubeApiError as exc:
        raise AnsibleLookupError(f"{lookup_name}: {exc}") from exc
