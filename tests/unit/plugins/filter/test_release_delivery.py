from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.filter.release_delivery import helm_releases


def test_helm_releases_keys_each_release_by_namespace_and_name():
    listing = [
        {
            "name": "metallb",
            "namespace": "metallb-system",
            "revision": "3",
            "status": "deployed",
            "chart": "metallb-0.16.1",
        },
        {
            "name": "longhorn",
            "namespace": "longhorn-system",
            "revision": "2",
            "status": "failed",
            "chart": "longhorn-1.12.1",
        },
        {
            "name": "metallb",
            "namespace": "other",
            "revision": "1",
            "status": "pending-upgrade",
            "chart": "metallb-0.16.1",
        },
    ]
    assert helm_releases(json.dumps(listing)) == {
        "metallb-system/metallb": {"status": "deployed", "revision": 3, "chart": "metallb-0.16.1"},
        "longhorn-system/longhorn": {"status": "failed", "revision": 2, "chart": "longhorn-1.12.1"},
        "other/metallb": {"status": "pending-upgrade", "revision": 1, "chart": "metallb-0.16.1"},
    }


def test_helm_releases_of_an_empty_cluster_is_empty():
    assert helm_releases("[]") == {}
    assert helm_releases("") == {}


def test_helm_releases_refuses_what_is_not_helm_list_output():
    with pytest.raises(AnsibleFilterError, match="helm list --output json"):
        helm_releases('[{"name": "x"}]')
