"""The lookups that read the cluster: apply_needed, established_crds and cluster_objects, over a fake API."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible import constants as C
from ansible.errors import AnsibleLookupError

from ansible_collections.baremetal.mlops.plugins.doc_fragments.kube_api import ModuleDocFragment
from ansible_collections.baremetal.mlops.plugins.lookup import apply_needed, cluster_objects, established_crds
from ansible_collections.baremetal.mlops.plugins.module_utils.kube_api import KubeApi, KubeApiError
from ansible_collections.baremetal.mlops.plugins.plugin_utils import kube_lookup
from ansible_collections.baremetal.mlops.plugins.plugin_utils.apply_check import LAST_APPLIED

POOLS = {"resources": [{"name": "ipaddresspools", "kind": "IPAddressPool", "namespaced": True}]}
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
DISCOVERY = {
    "/api/v1": {
        "resources": [
            {"name": "namespaces", "kind": "Namespace", "namespaced": False},
            {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
            {"name": "secrets", "kind": "Secret", "namespaced": True},
            {"name": "nodes", "kind": "Node", "namespaced": False},
        ]
    },
    "/apis/metallb.io/v1beta1": {
        "resources": [{"name": "ipaddresspools", "kind": "IPAddressPool", "namespaced": True}]
    },
}


class FakeApi(KubeApi):
    """KubeApi's discovery and paths over a dict of bodies; records every GET."""

    def __init__(self, bodies, fail=None):  # pylint: disable=super-init-not-called
        self.bodies = {**DISCOVERY, **bodies}
        self.fail = fail
        self.reads = []
        self.metadata_reads = []
        self._discovery = {}

    def get(self, path, metadata_only=False):
        self.reads.append(path)
        if metadata_only:
            self.metadata_reads.append(path)
        if self.fail:
            raise KubeApiError(self.fail)
        return json.loads(json.dumps(self.bodies[path])) if path in self.bodies else None


LOOKUPS = {"apply_needed": apply_needed, "cluster_objects": cluster_objects, "established_crds": established_crds}


def lookup(name):
    """The lookup as the plugin loader hands it out: options (the kube_api fragment's too) from its documentation."""
    options = dict(yaml.safe_load(LOOKUPS[name].DOCUMENTATION)["options"])
    options.update(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"])
    C.config.initialize_plugin_configuration_definitions("lookup", f"baremetal.mlops.{name}", options)
    plugin = LOOKUPS[name].LookupModule()
    plugin._load_name = f"baremetal.mlops.{name}"
    return plugin


@pytest.fixture
def cluster(monkeypatch):
    made = {}

    def use(bodies=None, fail=None):
        api = FakeApi(bodies or {}, fail)
        monkeypatch.setattr(kube_lookup, "KubeApi", lambda kubeconfig, context: made.setdefault("api", api))
        return api

    return use


def config_map(name, data, namespace="team-a"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def live(obj):
    body = json.loads(json.dumps(obj))
    body["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(obj)}
    body["metadata"]["uid"] = "u-1"
    return body


def test_apply_needed_returns_what_an_apply_would_change_in_the_given_order(cluster):
    same, drifted, absent = config_map("same", {"a": "1"}), config_map("drifted", {"a": "1"}), config_map("new", {})
    changed = live(drifted)
    changed["data"]["a"] = "2"
    pool = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "lab", "namespace": "m"}}
    api = cluster(
        {
            "/api/v1/namespaces/team-a/configmaps/same": live(same),
            "/api/v1/namespaces/team-a/configmaps/drifted": changed,
            "/apis/metallb.io/v1beta1/namespaces/m/ipaddresspools/lab": live(pool),
        }
    )
    # terms may be objects or lists of them; a kind whose CRD is not served yet needs its apply
    unserved = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w", "namespace": "x"}}
    found = lookup("apply_needed").run([[absent, same], drifted, [pool, unserved]])
    assert found == [absent, drifted, unserved]
    assert "/api/v1/namespaces/team-a/configmaps/new" in api.reads


def test_apply_needed_with_missing_only_returns_only_absent_objects(cluster):
    cluster({"/api/v1/namespaces/team-a": {"kind": "Namespace", "metadata": {"name": "team-a", "labels": {"x": "y"}}}})
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("team-a", "team-b")]
    assert lookup("apply_needed").run([namespaces], missing_only=True) == [namespaces[1]]


def test_apply_needed_with_nothing_to_compare_reads_nothing(cluster):
    api = cluster()
    assert lookup("apply_needed").run([[]]) == []
    assert api.reads == []


def test_apply_needed_refuses_a_term_that_is_no_manifest_without_printing_its_values(cluster):
    cluster()
    secret = {"kind": "Secret", "stringData": {"password": "s3cr3t"}}
    with pytest.raises(AnsibleLookupError) as failure:
        lookup("apply_needed").run([secret])
    assert "a mapping with keys ['kind', 'stringData']" in str(failure.value)
    assert "s3cr3t" not in str(failure.value)


def test_a_failed_read_is_one_lookup_error_naming_the_lookup(cluster):
    cluster(fail="GET /api/v1: [Errno 111] Connection refused")
    with pytest.raises(AnsibleLookupError, match=r"^apply_needed: GET /api/v1: \[Errno 111\] Connection refused"):
        lookup("apply_needed").run([config_map("c", {})])
    with pytest.raises(AnsibleLookupError, match=r"^cluster_objects: GET /api/v1"):
        lookup("cluster_objects").run([], kind="Node")


def test_established_crds_reads_the_listing_and_keeps_the_established_ones_reduced(cluster):
    def crd(name, established):
        group = name.split(".", 1)[1]
        return {
            "metadata": {"name": name, "annotations": {"big": "x" * 1000}},
            "spec": {"group": group, "names": {"kind": "Pool"}, "versions": [{"schema": {"huge": True}}]},
            "status": {"conditions": [{"type": "Established", "status": "True" if established else "False"}]},
        }

    api = cluster(
        {
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions": {
                "items": [crd("pools.a.io", True), crd("x.b.io", False)]
            }
        }
    )
    assert lookup("established_crds").run([]) == [
        {
            "metadata": {"name": "pools.a.io"},
            "spec": {"group": "a.io", "names": {"kind": "Pool"}},
            "status": {"conditions": [{"type": "Established", "status": "True"}]},
        }
    ]
    assert api.reads == [CRDS]


def test_cluster_objects_lists_a_kind_with_its_api_version_and_kind_on_each_item(cluster):
    api = cluster(
        {
            "/api/v1/nodes": {"items": [{"metadata": {"name": "gpu-1"}}]},
            "/api/v1/namespaces/kube-system/configmaps?labelSelector=a%3Db%2Cc%21%3Dd": {
                "items": [{"metadata": {"name": "record"}}]
            },
        }
    )
    assert lookup("cluster_objects").run([], kind="Node") == [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-1"}}
    ]
    found = lookup("cluster_objects").run([], kind="ConfigMap", namespace="kube-system", label_selector="a=b,c!=d")
    assert [o["metadata"]["name"] for o in found] == ["record"]
    # a namespace means nothing to a cluster-scoped kind; a kind the server does not serve lists nothing
    lookup("cluster_objects").run([], kind="Node", namespace="ignored")
    assert api.reads[-1] == "/api/v1/nodes"
    assert lookup("cluster_objects").run([], api_version="argoproj.io/v1alpha1", kind="Workflow") == []


def test_cluster_objects_can_ask_for_metadata_only(cluster):
    """What node labelling reads: a PartialObjectMetadataList, each item named as the kind listed."""
    metadata = {"metadata": {"name": "gpu-1", "labels": {"nvidia.com/mig.config": "all-1g.10gb"}}}
    api = cluster({"/api/v1/nodes": {"kind": "PartialObjectMetadataList", "items": [
        {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", **metadata}
    ]}})  # fmt: skip
    assert lookup("cluster_objects").run([], kind="Node", metadata_only=True) == [
        {"apiVersion": "v1", "kind": "Node", **metadata}
    ]
    assert api.metadata_reads == ["/api/v1/nodes"]
    lookup("cluster_objects").run([], kind="Node")
    assert api.metadata_reads == ["/api/v1/nodes"]  # the full objects otherwise
