from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.filter.release_delivery import helm_release_status


def test_helm_release_status_keys_each_release_by_namespace_and_name():
    listing = [
        {"name": "metallb", "namespace": "metallb-system", "revision": "3", "status": "deployed"},
        {"name": "longhorn", "namespace": "longhorn-system", "revision": "2", "status": "failed"},
        {"name": "metallb", "namespace": "other", "revision": "1", "status": "pending-upgrade"},
    ]
    assert helm_release_status(json.dumps(listing)) == {
        "metallb-system/metallb": "deployed",
        "longhorn-system/longhorn": "failed",
        "other/metallb": "pending-upgrade",
    }


def test_helm_release_status_of_an_empty_cluster_is_empty():
    assert helm_release_status("[]") == {}
    assert helm_release_status("") == {}


def test_helm_release_status_refuses_what_is_not_helm_list_output():
    with pytest.raises(AnsibleFilterError, match="helm list --output json"):
        helm_release_status('[{"name": "x"}]')
