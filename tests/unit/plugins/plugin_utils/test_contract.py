"""Every contract check, with a good inventory and one bad case per problem.

Each bad case asserts the exact line the operator will read.
"""

from __future__ import annotations

import copy

import pytest

from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract import Host, Undefined, validate
from ansible_collections.baremetal.mlops.plugins.plugin_utils.versions import load_versions

VERSIONS = {
    "platform_release_default": "r1",
    "platform_releases": {"r1": {"kubernetes": ["1.35", "1.36"], "charts": {"cilium": "1.20.0", "metallb": "0.16.1"}}},
}
CHARTS = ["cilium", "metallb"]
SECRETS = ["minio_root_password"]


def good_vars():
    return {
        "platform_delivery": "direct",
        "platform_kubernetes_version": "v1.36.3",
        "platform_node_network": "10.20.0.0/24",
        "platform_pod_cidr": "10.244.0.0/16",
        "platform_service_cidr": "10.96.0.0/12",
        "platform_api_endpoint": {"address": "10.20.0.10", "port": 6443},
        "platform_chart_repositories": {"cilium": "https://helm.cilium.io", "metallb": "oci://mirror.local/charts"},
        "metallb_mode": "bgp",
        "metallb_pools": [{"name": "public", "addresses": ["10.20.0.200-10.20.0.229", "10.20.0.240/29"]}],
        "bgp_local_asn": 64512,
        "bgp_peers": [{"name": "rtr-01", "address": "10.20.0.2", "asn": 64513, "password": "s3cret"}],
        "gpu_node_classes": {
            "a100": {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "all-1g.10gb", "time_slicing_replicas": 0},
            "l4": {"product": "NVIDIA-L4", "mig_config": "none", "time_slicing_replicas": 4},
        },
        "gpu_mig_configs": {"balanced": {"2g.20gb": 2, "1g.10gb": 3}},
        "gpu_node_taint": {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        "platform_teams": [
            {"name": "vision", "namespace": "team-vision", "buckets": ["vision-data"], "gpu_classes": ["a100"],
             "s3_secret_key": "k1", "group": "oidc:team-vision", "gpu_quota": {"nvidia.com/mig-1g.10gb": 14}},
            {"name": "fraud", "namespace": "team-fraud", "buckets": ["fraud-data"], "gpu_classes": ["l4"],
             "s3_secret_key": "k2"},
        ],
        "minio_buckets": [{"name": "mlflow-artifacts"}, {"name": "kserve-models"}],
        "minio_root_password": "root-secret",
        "platform_gitops_dir": "/srv/git/platform-gitops",
        "platform_gitops_repo_url": "https://git.example.com/platform/platform-gitops.git",
        "platform_gitops_revision": "main",
        "platform_gitops_path": "",
        "platform_argocd_namespace": "argocd",
        "platform_kube_proxy_replacement": True,
        "platform_edge_namespace": "inference-edge",
        "platform_storage_class": "longhorn",
        "platform_storage_replicas": 1,
        "platform_s3_endpoint": "https://minio.ml-storage.svc.cluster.local",
        "platform_mlflow_tracking_uri": "http://mlflow.ml-platform.svc.cluster.local:5000",
    }  # fmt: skip


def good_hosts():
    return [
        Host("cp-01", frozenset({"control_plane"}), "10.20.0.11"),
        Host("cpu-01", frozenset({"workers", "storage_nodes"}), "10.20.0.21"),
        Host("a100-01", frozenset({"gpu_nodes"}), "10.20.0.31", "a100"),
        Host("l4-01", frozenset({"gpu_nodes"}), "10.20.0.41", "l4"),
        Host("rtr-01", frozenset({"bgp_routers"}), "10.20.0.2"),
    ]


def run(variables=None, hosts=None):
    return validate(
        variables if variables is not None else good_vars(),
        hosts if hosts is not None else good_hosts(),
        VERSIONS,
        CHARTS,
        SECRETS,
    )


def test_good_inventory_has_no_problem():
    assert run() == []


def test_shipped_versions_file_has_a_default_release_with_kubernetes_minors():
    versions = load_versions()
    default = versions["platform_release_default"]
    assert versions["platform_releases"][default]["kubernetes"]
    assert validate(good_vars(), good_hosts(), versions, CHARTS, SECRETS) == []


GITOPS_VARIABLES = (
    "platform_gitops_dir",
    "platform_gitops_repo_url",
    "platform_gitops_revision",
    "platform_gitops_path",
    "platform_argocd_namespace",
)


def without(*names, **updates):
    """The good variables less some, with updates."""
    return {k: v for k, v in changed(**updates).items() if k not in names}


@pytest.mark.parametrize(
    "updates",
    [
        {"platform_delivery": "gitops"},
        {"platform_delivery": "gitops", "platform_gitops_repo_url": "git@git.example.com:platform/gitops.git"},
        {"platform_delivery": "gitops", "platform_gitops_repo_url": "ssh://git@git.example.com/platform.git"},
        {"platform_delivery": "gitops", "platform_gitops_path": "clusters/dc1", "platform_gitops_revision": "v1.2"},
        {
            "platform_kube_proxy_replacement": False,
            "platform_edge_enabled": False,
            "platform_s3_endpoint": "http://127.0.0.1:9000",
        },
        {"platform_edge_enabled": True, "platform_gateway_api_url": "https://mirror.example.com/gateway-api"},
        {"platform_gateway_api_url": "file:///srv/mirror/gateway-api"},
        {"platform_teams": [{"name": "a", "namespace": "team-a", "s3_secret_key": "k", "gpu_quota": {}}]},
        {
            "platform_teams": [
                {"name": "a", "namespace": "team-a", "s3_secret_key": "k", "gpu_quota": {"nvidia.com/gpu": 0}}
            ]
        },
    ],
)
def test_good_variants_have_no_problem(updates):
    assert run(variables=changed(**updates)) == []


@pytest.mark.parametrize(
    "taint",
    [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        {"key": "gpu", "effect": "PreferNoSchedule"},
        {"key": "example.com/accelerator_class", "value": "", "effect": "NoExecute"},
        {"key": "nvidia.com/gpu", "value": None, "effect": "NoSchedule"},
    ],
)
def test_good_gpu_node_taints_have_no_problem(taint):
    assert run(variables=changed(gpu_node_taint=taint)) == []


def test_gpu_node_taint_is_optional_without_gpu_nodes():
    hosts = [h for h in good_hosts() if "gpu_nodes" not in h.groups]
    variables = without("gpu_node_taint", platform_teams=[], gpu_node_classes={})
    assert run(variables=variables, hosts=hosts) == []


def test_gitops_settings_are_optional_for_direct_delivery():
    assert run(variables=without(*GITOPS_VARIABLES)) == []


def test_empty_gitops_tree_and_url_mean_unset_for_direct_delivery():
    assert run(variables=changed(platform_gitops_dir="", platform_gitops_repo_url="")) == []


def test_gitops_delivery_needs_only_the_tree_and_its_url():
    optional = ("platform_gitops_revision", "platform_gitops_path", "platform_argocd_namespace")
    assert run(variables=without(*optional, platform_delivery="gitops")) == []


class TaggedStr(str):
    """Like the str subclass Ansible hands over for a templated or extra-vars value."""


def test_types_are_named_as_built_ins():
    problems = run(variables=changed(platform_storage_replicas=TaggedStr("2")))
    assert problems == [
        "platform_storage_replicas: '2' is a str; expected an integer from 1 to the number of storage_nodes (1)"
    ]


def test_storage_replicas_may_reach_the_number_of_storage_nodes():
    hosts = [*good_hosts(), Host("cpu-02", frozenset({"workers", "storage_nodes"}), "10.20.0.22")]
    assert run(variables=changed(platform_storage_replicas=2), hosts=hosts) == []


def changed(**updates):
    variables = good_vars()
    variables.update(copy.deepcopy(updates))
    return variables


def with_class(name, spec, **updates):
    """The good variables with one GPU class added or replaced."""
    variables = changed(**updates)
    variables["gpu_node_classes"][name] = spec
    return variables


VARIABLE_CASES = {
    "delivery mode": (
        changed(platform_delivery="push"),
        ["platform_delivery: 'push' is not a delivery mode; expected one of direct, gitops"],
    ),
    "kubernetes version outside matrix": (
        changed(platform_kubernetes_version="v1.31.4"),
        [
            "platform_kubernetes_version: 'v1.31.4' is outside the compatibility matrix of release r1; "
            "expected a 1.35 / 1.36 release (versions.yml)"
        ],
    ),
    "kubernetes version malformed": (
        changed(platform_kubernetes_version="latest"),
        ["platform_kubernetes_version: 'latest' is not a Kubernetes release; expected a version such as 'v1.36.3'"],
    ),
    "unknown release": (
        changed(platform_release="1999.01"),
        [
            "platform_release: '1999.01' is unknown (platform release '1999.01' is not in versions.yml (known: r1)); "
            "expected a release of versions.yml"
        ],
    ),
    "pod and service networks overlap": (
        changed(platform_pod_cidr="10.96.0.0/16"),
        [
            "platform_pod_cidr: '10.96.0.0/16' overlaps platform_service_cidr '10.96.0.0/12'; "
            "expected the node, pod and service networks to be disjoint"
        ],
    ),
    "node network overlaps pods": (
        changed(platform_pod_cidr="10.20.0.0/25"),
        [
            "platform_node_network: '10.20.0.0/24' overlaps platform_pod_cidr '10.20.0.0/25'; "
            "expected the node, pod and service networks to be disjoint"
        ],
    ),
    "network with host bits": (
        changed(platform_service_cidr="10.96.1.0/12"),
        [
            "platform_service_cidr: '10.96.1.0/12' has host bits set (the network is 10.96.0.0/12); "
            "expected a network in CIDR notation such as '10.20.0.0/24'"
        ],
    ),
    "network not a cidr": (
        changed(platform_pod_cidr="pods"),
        [
            "platform_pod_cidr: 'pods' is not a network in CIDR notation; "
            "expected a network in CIDR notation such as '10.20.0.0/24'"
        ],
    ),
    "missing node network": (
        {k: v for k, v in good_vars().items() if k != "platform_node_network"},
        ["platform_node_network: is not defined; expected a network in CIDR notation"],
    ),
    "vip outside node network": (
        changed(platform_api_endpoint={"address": "10.30.0.10", "port": 6443}),
        [
            "platform_api_endpoint.address: '10.30.0.10' is outside platform_node_network '10.20.0.0/24'; "
            "expected the API VIP on the node network"
        ],
    ),
    "api port out of range": (
        changed(platform_api_endpoint={"address": "10.20.0.10", "port": 70000}),
        ["platform_api_endpoint.port: 70000 is not a TCP port; expected an integer from 1 to 65535"],
    ),
    "pool outside node network": (
        changed(metallb_pools=[{"name": "public", "addresses": ["192.168.20.240-192.168.20.250"]}]),
        [
            "metallb_pools[public]: '192.168.20.240-192.168.20.250' is outside platform_node_network "
            "'10.20.0.0/24'; expected MetalLB pools inside the node network"
        ],
    ),
    "pool overlaps service network": (
        changed(metallb_pools=[{"name": "svc", "addresses": ["10.96.0.0/28"]}]),
        [
            "metallb_pools[svc]: '10.96.0.0/28' overlaps platform_service_cidr '10.96.0.0/12'; "
            "expected MetalLB pools outside the pod and service networks",
            "metallb_pools[svc]: '10.96.0.0/28' is outside platform_node_network '10.20.0.0/24'; "
            "expected MetalLB pools inside the node network",
        ],
    ),
    "pools overlap each other": (
        changed(
            metallb_pools=[
                {"name": "a", "addresses": ["10.20.0.200-10.20.0.210"]},
                {"name": "b", "addresses": ["10.20.0.208/29"]},
            ]
        ),
        [
            "metallb_pools[a]: '10.20.0.200-10.20.0.210' overlaps metallb_pools[b] '10.20.0.208/29'; "
            "expected MetalLB pools that share no address"
        ],
    ),
    "pool range reversed": (
        changed(metallb_pools=[{"name": "a", "addresses": ["10.20.0.210-10.20.0.200"]}]),
        [
            "metallb_pools[a].addresses: '10.20.0.210-10.20.0.200' ends before it starts; "
            "expected CIDRs or 'first-last' ranges"
        ],
    ),
    "pool defined twice": (
        changed(
            metallb_pools=[
                {"name": "a", "addresses": ["10.20.0.200/30"]},
                {"name": "a", "addresses": ["10.20.0.220/30"]},
            ]
        ),
        ["metallb_pools[a]: 'a' is defined twice; expected unique pool names"],
    ),
    "pool holds the vip": (
        changed(metallb_pools=[{"name": "a", "addresses": ["10.20.0.10/32"]}]),
        [
            "metallb_pools[a]: '10.20.0.10/32' contains the API VIP 10.20.0.10; "
            "expected MetalLB pools that hold neither host addresses nor the API VIP"
        ],
    ),
    "metallb mode unknown": (
        changed(metallb_mode="arp"),
        ["metallb_mode: 'arp' is not a MetalLB mode; expected one of l2, bgp"],
    ),
    "asn reserved": (
        changed(bgp_local_asn=23456),
        [
            "bgp_local_asn: 23456 is not a usable AS number; expected an integer from 1 to 4294967294, "
            "not 23456 or 65535 (private: 64512-65534, 4200000000-4294967294)"
        ],
    ),
    "peer asn out of range": (
        changed(bgp_peers=[{"name": "rtr-01", "address": "10.20.0.2", "asn": 4294967296}]),
        [
            "bgp_peers[rtr-01].asn: 4294967296 is not a usable AS number; expected an integer from 1 to "
            "4294967294, not 23456 or 65535 (private: 64512-65534, 4200000000-4294967294)"
        ],
    ),
    "peer outside node network": (
        changed(bgp_peers=[{"name": "rtr-01", "address": "10.99.0.1", "asn": 64513}]),
        [
            "bgp_peers[rtr-01].address: '10.99.0.1' is outside platform_node_network '10.20.0.0/24'; "
            "expected BGP peers reachable on the node network"
        ],
    ),
    "bgp mode without peers": (
        changed(bgp_peers=[]),
        ["bgp_peers: [] is empty while metallb_mode is 'bgp'; expected at least one BGP peer"],
    ),
    "peer password undefined": (
        changed(
            bgp_peers=[
                {"name": "rtr-01", "address": "10.20.0.2", "asn": 64513, "password": Undefined("refers to vault_x")}
            ]
        ),
        ["bgp_peers[rtr-01].password: refers to vault_x; expected a secret from the vault (see docs/secrets.md)"],
    ),
    "mig on a gpu without mig": (
        with_class("l4", {"product": "NVIDIA-L4", "mig_config": "all-1g.6gb"}),
        [
            "gpu_node_classes[l4].mig_config: 'all-1g.6gb' asks for MIG on NVIDIA-L4, which has no MIG; "
            "expected 'none' (use time_slicing_replicas to share this GPU)"
        ],
    ),
    "mig on rtx 4090": (
        with_class("dev", {"product": "NVIDIA-GeForce-RTX-4090", "mig_config": "all-balanced"}),
        [
            "gpu_node_classes[dev].mig_config: 'all-balanced' asks for MIG on NVIDIA-GeForce-RTX-4090, "
            "which has no MIG; expected 'none' (use time_slicing_replicas to share this GPU)"
        ],
    ),
    "mig together with time slicing": (
        with_class(
            "a100", {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "all-1g.10gb", "time_slicing_replicas": 4}
        ),
        [
            "gpu_node_classes[a100].time_slicing_replicas: 4 enables time-slicing together with MIG config "
            "'all-1g.10gb'; expected either MIG or time-slicing on one GPU class, not both"
        ],
    ),
    "mig profile of another memory size": (
        with_class("a100", {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "all-1g.5gb"}),
        [
            "gpu_node_classes[a100].mig_config: 'all-1g.5gb' is not a MIG configuration for NVIDIA-A100-SXM4-80GB; "
            "expected one of all-disabled, all-enabled, all-balanced, all-1g.10gb, all-1g.20gb, all-2g.20gb, "
            "all-3g.40gb, all-4g.40gb, all-7g.80gb, balanced"
        ],
    ),
    "custom mig layout too large": (
        with_class(
            "a100",
            {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "big"},
            gpu_mig_configs={"big": {"3g.40gb": 2, "2g.20gb": 1}},
        ),
        [
            "gpu_mig_configs[big]: {'3g.40gb': 2, '2g.20gb': 1} uses 8 compute slices (used by "
            "gpu_node_classes[a100]); expected at most 7 slices per NVIDIA-A100-SXM4-80GB"
        ],
    ),
    "mig on an unknown product": (
        with_class("x", {"product": "NVIDIA-Mystery", "mig_config": "all-enabled"}),
        [
            "gpu_node_classes[x].product: 'NVIDIA-Mystery' is not a GPU product known to support MIG; expected "
            "mig_config 'none', or a MIG-capable product (NVIDIA-A100-SXM4-40GB, NVIDIA-A100-PCIE-40GB, "
            "NVIDIA-A100-SXM4-80GB, NVIDIA-A100-80GB-PCIe, ...)"
        ],
    ),
    "team namespace twice": (
        changed(
            platform_teams=[
                {"name": "a", "namespace": "ml", "buckets": ["a-data"], "s3_secret_key": "k"},
                {"name": "b", "namespace": "ml", "buckets": ["b-data"], "s3_secret_key": "k"},
            ]
        ),
        ["platform_teams[*].namespace: 'ml' is claimed by 2 teams (a, b); expected one namespace per team"],
    ),
    "bucket twice": (
        changed(
            platform_teams=[{"name": "a", "namespace": "team-a", "buckets": ["kserve-models"], "s3_secret_key": "k"}]
        ),
        [
            "bucket: 'kserve-models' is defined 2 times (minio_buckets, platform_teams[a]); "
            "expected each bucket defined once"
        ],
    ),
    "team twice": (
        changed(
            platform_teams=[
                {"name": "a", "namespace": "team-a", "buckets": [], "s3_secret_key": "k"},
                {"name": "a", "namespace": "team-a2", "buckets": [], "s3_secret_key": "k"},
            ]
        ),
        ["platform_teams: 'a' is defined 2 times; expected unique team names"],
    ),
    "team gpu class unknown": (
        changed(
            platform_teams=[
                {"name": "a", "namespace": "team-a", "buckets": [], "gpu_classes": ["h100"], "s3_secret_key": "k"}
            ]
        ),
        ["platform_teams[a].gpu_classes: 'h100' is not defined in gpu_node_classes; expected one of a100, l4"],
    ),
    "bad bucket name": (
        changed(minio_buckets=[{"name": "Models_2"}]),
        [
            "bucket: 'Models_2' is not a valid S3 bucket name (in minio_buckets); expected 3-63 lower case "
            "letters, digits, '.' or '-', starting and ending with a letter or digit"
        ],
    ),
    "team secret missing": (
        changed(
            platform_teams=[
                {
                    "name": "a",
                    "namespace": "team-a",
                    "buckets": [],
                    "s3_secret_key": Undefined("refers to an undefined variable ('vault_a' is undefined)"),
                }
            ]
        ),
        [
            "platform_teams[a].s3_secret_key: refers to an undefined variable ('vault_a' is undefined); "
            "expected a secret from the vault (see docs/secrets.md)"
        ],
    ),
    "required secret empty": (
        changed(minio_root_password=""),
        ["minio_root_password: is empty; expected a secret from the vault (see docs/secrets.md)"],
    ),
    "required secret absent": (
        {k: v for k, v in good_vars().items() if k != "minio_root_password"},
        ["minio_root_password: is not defined; expected a secret from the vault (see docs/secrets.md)"],
    ),
    "gitops tree missing": (
        without("platform_gitops_dir", platform_delivery="gitops"),
        [
            "platform_gitops_dir: is not defined; expected the path of the Git working tree the platform is "
            "written to (for platform_delivery gitops)"
        ],
    ),
    "gitops tree empty": (
        changed(platform_delivery="gitops", platform_gitops_dir=""),
        [
            "platform_gitops_dir: is empty; expected the path of the Git working tree the platform is "
            "written to (for platform_delivery gitops)"
        ],
    ),
    "gitops repo url missing": (
        without("platform_gitops_repo_url", platform_delivery="gitops"),
        [
            "platform_gitops_repo_url: is not defined; expected the Git URL Argo CD reads the tree from, "
            "e.g. 'https://git.example.com/platform.git' (for platform_delivery gitops)"
        ],
    ),
    "gitops repo url malformed": (
        changed(platform_gitops_repo_url="git.example.com/platform.git"),
        [
            "platform_gitops_repo_url: 'git.example.com/platform.git' is not a Git repository URL; expected the Git "
            "URL Argo CD reads the tree from, e.g. 'https://git.example.com/platform.git' (for platform_delivery "
            "gitops)"
        ],
    ),
    "gitops revision empty": (
        changed(platform_gitops_revision=" "),
        ["platform_gitops_revision: is empty; expected a branch, tag or commit of that repository (default HEAD)"],
    ),
    "gitops revision not a string": (
        changed(platform_gitops_revision=3),
        ["platform_gitops_revision: 3 is a int; expected a branch, tag or commit of that repository (default HEAD)"],
    ),
    "gitops path absolute": (
        changed(platform_gitops_path="/clusters/dc1"),
        [
            "platform_gitops_path: '/clusters/dc1' leaves the repository; expected a folder relative to the "
            "repository root, '' for the root itself"
        ],
    ),
    "gitops path climbs out": (
        changed(platform_gitops_path="clusters/../../x"),
        [
            "platform_gitops_path: 'clusters/../../x' leaves the repository; expected a folder relative to the "
            "repository root, '' for the root itself"
        ],
    ),
    "argocd namespace not a label": (
        changed(platform_argocd_namespace="Argo_CD"),
        [
            "platform_argocd_namespace: 'Argo_CD' is not a namespace name; expected a DNS-1123 label: lower case "
            "letters, digits and '-', at most 63 characters"
        ],
    ),
    "kube-proxy replacement not a bool": (
        changed(platform_kube_proxy_replacement="yes"),
        ["platform_kube_proxy_replacement: 'yes' is a str; expected true or false"],
    ),
    "kube-proxy replacement missing": (
        without("platform_kube_proxy_replacement"),
        ["platform_kube_proxy_replacement: is not defined; expected true or false"],
    ),
    "edge namespace not a label": (
        changed(platform_edge_namespace="inference.edge"),
        [
            "platform_edge_namespace: 'inference.edge' is not a namespace name; expected a DNS-1123 label: lower "
            "case letters, digits and '-', at most 63 characters"
        ],
    ),
    "edge namespace missing": (
        without("platform_edge_namespace"),
        [
            "platform_edge_namespace: is not defined; expected the namespace of the inference edge "
            "(its Gateway and authentication proxy)"
        ],
    ),
    "edge namespace is a team's": (
        changed(platform_edge_namespace="team-fraud"),
        [
            "platform_edge_namespace: 'team-fraud' is the namespace of team fraud; expected a namespace of the "
            "edge alone: team namespaces take traffic only from it"
        ],
    ),
    "edge switch not a bool": (
        changed(platform_edge_enabled="yes"),
        ["platform_edge_enabled: 'yes' is a str; expected true or false"],
    ),
    "edge without kube-proxy replacement": (
        changed(platform_kube_proxy_replacement=False),
        [
            "platform_edge_enabled: True needs Cilium's kube-proxy replacement, but platform_kube_proxy_replacement "
            "is false; expected platform_kube_proxy_replacement true for Cilium's Gateway API, or the edge off "
            "(false)"
        ],
    ),
    "gateway api url not a url": (
        changed(platform_gateway_api_url="mirror.local/gateway-api"),
        [
            "platform_gateway_api_url: 'mirror.local/gateway-api' is not an http(s) or file URL; expected an "
            "http(s):// or file:// URL under which <version>/standard-install.yaml lies (the Gateway API release "
            "files, upstream or the site's mirror)"
        ],
    ),
    "storage class not longhorn": (
        changed(platform_storage_class="ceph-rbd"),
        [
            "platform_storage_class: 'ceph-rbd' is not the class the storage layer creates; "
            "expected 'longhorn' (the StorageClass the longhorn role creates)"
        ],
    ),
    "storage class empty": (
        changed(platform_storage_class=""),
        [
            "platform_storage_class: '' is not the class the storage layer creates; "
            "expected 'longhorn' (the StorageClass the longhorn role creates)"
        ],
    ),
    "storage replicas zero": (
        changed(platform_storage_replicas=0),
        [
            "platform_storage_replicas: 0 keeps no copy of a volume; "
            "expected an integer from 1 to the number of storage_nodes (1)"
        ],
    ),
    "storage replicas above storage nodes": (
        changed(platform_storage_replicas=3),
        [
            "platform_storage_replicas: 3 copies need more than the 1 storage_nodes; "
            "expected an integer from 1 to the number of storage_nodes (1)"
        ],
    ),
    "storage replicas not an int": (
        changed(platform_storage_replicas="2"),
        ["platform_storage_replicas: '2' is a str; expected an integer from 1 to the number of storage_nodes (1)"],
    ),
    "s3 endpoint not http": (
        changed(platform_s3_endpoint="s3://minio.ml-storage"),
        [
            "platform_s3_endpoint: 's3://minio.ml-storage' is not an http(s) URL; "
            "expected the S3 URL workloads in the cluster reach, http:// or https://"
        ],
    ),
    "mlflow uri without host": (
        changed(platform_mlflow_tracking_uri="http:///mlflow"),
        [
            "platform_mlflow_tracking_uri: 'http:///mlflow' is not an http(s) URL; "
            "expected the MLflow URL workloads in the cluster reach, http:// or https://"
        ],
    ),
    "mlflow uri missing": (
        without("platform_mlflow_tracking_uri"),
        [
            "platform_mlflow_tracking_uri: is not defined; "
            "expected the MLflow URL workloads in the cluster reach, http:// or https://"
        ],
    ),
    "team gpu quota not a mapping": (
        changed(platform_teams=[{"name": "a", "namespace": "team-a", "s3_secret_key": "k", "gpu_quota": 4}]),
        [
            "platform_teams[a].gpu_quota: 4 is not a mapping; expected a mapping of GPU resource "
            "(nvidia.com/gpu, nvidia.com/mig-<profile>) -> count"
        ],
    ),
    "team gpu quota unknown resource": (
        changed(platform_teams=[{"name": "a", "namespace": "team-a", "s3_secret_key": "k", "gpu_quota": {"gpu": 2}}]),
        [
            "platform_teams[a].gpu_quota: 'gpu' is not a GPU resource; expected a mapping of GPU resource "
            "(nvidia.com/gpu, nvidia.com/mig-<profile>) -> count"
        ],
    ),
    "team gpu quota negative": (
        changed(
            platform_teams=[
                {"name": "a", "namespace": "team-a", "s3_secret_key": "k", "gpu_quota": {"nvidia.com/gpu": -1}}
            ]
        ),
        ["platform_teams[a].gpu_quota[nvidia.com/gpu]: -1 is not a quota; expected an integer of 0 or more"],
    ),
    "team gpu quota not an int": (
        changed(
            platform_teams=[
                {"name": "a", "namespace": "team-a", "s3_secret_key": "k", "gpu_quota": {"nvidia.com/gpu": "2"}}
            ]
        ),
        ["platform_teams[a].gpu_quota[nvidia.com/gpu]: '2' is not a quota; expected an integer of 0 or more"],
    ),
    "team group not a string": (
        changed(platform_teams=[{"name": "a", "namespace": "team-a", "s3_secret_key": "k", "group": ["ops"]}]),
        [
            "platform_teams[a].group: ['ops'] is not a group name; "
            "expected the name of the team's group in the API server"
        ],
    ),
    "team group empty": (
        changed(platform_teams=[{"name": "a", "namespace": "team-a", "s3_secret_key": "k", "group": ""}]),
        ["platform_teams[a].group: '' is not a group name; expected the name of the team's group in the API server"],
    ),
    "gpu taint missing while there are gpu nodes": (
        without("gpu_node_taint"),
        [
            "gpu_node_taint: is not defined; expected the taint of the gpu_nodes, a mapping with key, value and "
            "effect, such as nvidia.com/gpu, present, NoSchedule"
        ],
    ),
    "gpu taint not a mapping": (
        changed(gpu_node_taint="nvidia.com/gpu=present:NoSchedule"),
        [
            "gpu_node_taint: 'nvidia.com/gpu=present:NoSchedule' is not a mapping; "
            "expected a mapping with key, value and effect, such as nvidia.com/gpu, present, NoSchedule"
        ],
    ),
    "gpu taint effect unknown": (
        changed(gpu_node_taint={"key": "nvidia.com/gpu", "value": "present", "effect": "NoRun"}),
        [
            "gpu_node_taint.effect: 'NoRun' is not a taint effect; "
            "expected one of NoSchedule, PreferNoSchedule, NoExecute"
        ],
    ),
    "gpu taint effect missing and a misspelt field": (
        changed(gpu_node_taint={"key": "nvidia.com/gpu", "efect": "NoSchedule"}),
        [
            "gpu_node_taint: ['efect'] are not taint fields; expected only key, value and effect",
            "gpu_node_taint.effect: is not defined; expected one of NoSchedule, PreferNoSchedule, NoExecute",
        ],
    ),
    "gpu taint key not a qualified name": (
        changed(gpu_node_taint={"key": "nvidia.com/gpu class", "value": "present", "effect": "NoSchedule"}),
        [
            "gpu_node_taint.key: 'nvidia.com/gpu class' is not a qualified name; expected a Kubernetes qualified "
            "name: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        ],
    ),
    "gpu taint key with a bad prefix": (
        changed(gpu_node_taint={"key": "NVIDIA.com/gpu", "value": "present", "effect": "NoSchedule"}),
        [
            "gpu_node_taint.key: 'NVIDIA.com/gpu' is not a qualified name; expected a Kubernetes qualified "
            "name: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        ],
    ),
    "gpu taint key missing": (
        changed(gpu_node_taint={"value": "present", "effect": "NoSchedule"}),
        [
            "gpu_node_taint.key: is not defined; expected a Kubernetes qualified name: an optional DNS subdomain "
            "prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter "
            "or digit"
        ],
    ),
    "gpu taint value not a label value": (
        changed(gpu_node_taint={"key": "nvidia.com/gpu", "value": "yes please", "effect": "NoSchedule"}),
        [
            "gpu_node_taint.value: 'yes please' is not a label value; expected a label value: at most 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit, or empty"
        ],
    ),
    "gpu taint value too long": (
        changed(gpu_node_taint={"key": "nvidia.com/gpu", "value": "a" * 64, "effect": "NoSchedule"}),
        [
            f"gpu_node_taint.value: {'a' * 64!r} is not a label value; expected a label value: at most 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit, or empty"
        ],
    ),
    "gpu taint value not a string": (
        changed(gpu_node_taint={"key": "nvidia.com/gpu", "value": True, "effect": "NoSchedule"}),
        [
            "gpu_node_taint.value: True is a bool; expected a label value: at most 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit, or empty"
        ],
    ),
    "chart version of a chart the release does not have": (
        changed(platform_chart_versions={"metalb": "0.16.2"}),
        ["platform_chart_versions[metalb]: is not a chart of release r1; expected one of cilium, metallb"],
    ),
    "chart versions not a mapping": (
        changed(platform_chart_versions=["metallb"]),
        [
            "platform_chart_versions: ['metallb'] is not a mapping; "
            "expected a mapping of versions.yml chart key -> chart version"
        ],
    ),
    "chart version empty": (
        changed(platform_chart_versions={"metallb": ""}),
        ["platform_chart_versions[metallb]: '' is not a chart version; expected a version such as '0.16.2'"],
    ),
    "chart repository missing": (
        changed(platform_chart_repositories={"cilium": "https://helm.cilium.io"}),
        ["platform_chart_repositories[metallb]: is not set; expected the URL of the repository that serves this chart"],
    ),
    "chart repository not a url": (
        changed(platform_chart_repositories={"cilium": "helm.cilium.io", "metallb": "https://metallb.github.io"}),
        [
            "platform_chart_repositories[cilium]: 'helm.cilium.io' is not a repository URL; "
            "expected an http(s)://, oci:// or file:// URL"
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(VARIABLE_CASES))
def test_bad_variables_are_reported_exactly(case):
    variables, expected = VARIABLE_CASES[case]
    assert run(variables=variables) == expected


def hosts_with(*extra, drop=()):
    return [h for h in good_hosts() if h.name not in drop] + list(extra)


HOST_CASES = {
    "duplicate address": (
        hosts_with(Host("cpu-02", frozenset({"workers"}), "10.20.0.21")),
        ["ansible_host: '10.20.0.21' is used by 2 hosts (cpu-01, cpu-02); expected unique addresses"],
    ),
    "duplicate node name (inventory_hostname in lower case)": (
        hosts_with(Host("CPU-01", frozenset({"workers"}), "10.20.0.22")),
        [
            "node_name: 'cpu-01' is the node name of 2 hosts (cpu-01, CPU-01); "
            "expected unique Kubernetes node names (node_name, else inventory_hostname in lower case)"
        ],
    ),
    "duplicate node name (node_name)": (
        hosts_with(Host("cpu-02", frozenset({"workers"}), "10.20.0.22", node_name="a100-01")),
        [
            "node_name: 'a100-01' is the node name of 2 hosts (a100-01, cpu-02); "
            "expected unique Kubernetes node names (node_name, else inventory_hostname in lower case)"
        ],
    ),
    "duplicate node name of hosts without an address": (
        hosts_with(
            Host("cpu-02.dc1", frozenset({"workers"}), None, node_name="cpu-x"),
            Host("cpu-03.dc1", frozenset({"workers"}), None, node_name="cpu-x"),
        ),
        [
            "node_name: 'cpu-x' is the node name of 2 hosts (cpu-02.dc1, cpu-03.dc1); "
            "expected unique Kubernetes node names (node_name, else inventory_hostname in lower case)"
        ],
    ),
    "same fully qualified names in two domains are two nodes": (
        hosts_with(
            Host("cpu-02.dc1.example.com", frozenset({"workers"}), "10.20.0.22"),
            Host("cpu-02.dc2.example.com", frozenset({"workers"}), "10.20.0.23"),
        ),
        [],
    ),
    "node_name that kubeadm refuses": (
        hosts_with(Host("cpu-02", frozenset({"workers"}), "10.20.0.22", node_name="cpu_02")),
        [
            "hostvars[cpu-02].node_name: 'cpu_02' is not a Kubernetes node name; "
            "expected a DNS-1123 subdomain: lower case letters, digits, '-' and '.', at most 253 characters"
        ],
    ),
    "inventory_hostname that kubeadm refuses": (
        hosts_with(Host("cpu_02", frozenset({"workers"}), "10.20.0.22")),
        [
            "hostvars[cpu_02].inventory_hostname: 'cpu_02' is not a Kubernetes node name; "
            "expected a DNS-1123 subdomain: lower case letters, digits, '-' and '.', at most 253 characters "
            "(set node_name)"
        ],
    ),
    "node_name from an undefined variable": (
        hosts_with(
            Host("cpu-02", frozenset({"workers"}), "10.20.0.22", node_name=Undefined("refers to an undefined variable"))
        ),
        ["hostvars[cpu-02].node_name: refers to an undefined variable; expected a Kubernetes node name"],
    ),
    "routers are not nodes: their names are not checked": (
        hosts_with(Host("RTR_02", frozenset({"bgp_routers"}), "10.20.0.3")),
        [],
    ),
    "node_ip outside the node network": (
        hosts_with(Host("cpu-09", frozenset({"workers"}), "10.21.0.9", address_variable="node_ip")),
        [
            "hostvars[cpu-09].node_ip: '10.21.0.9' is outside platform_node_network '10.20.0.0/24'; "
            "expected every host address on the node network"
        ],
    ),
    "node_ip that is not an IP address": (
        hosts_with(Host("cpu-09", frozenset({"workers"}), "cpu-09.example.com", address_variable="node_ip")),
        [
            "hostvars[cpu-09].node_ip: 'cpu-09.example.com' is not an IP address; "
            "expected the node's IP address on the node network"
        ],
    ),
    "node_ip from an undefined variable": (
        hosts_with(
            Host(
                "cpu-09",
                frozenset({"workers"}),
                Undefined("refers to an undefined variable ('x' is undefined)"),
                address_variable="node_ip",
            )
        ),
        [
            "hostvars[cpu-09].node_ip: refers to an undefined variable ('x' is undefined); "
            "expected the node's IP address on the node network"
        ],
    ),
    "duplicate address from node_ip and ansible_host": (
        hosts_with(Host("cpu-02", frozenset({"workers"}), "10.20.0.21", address_variable="node_ip")),
        [
            "ansible_host/node_ip: '10.20.0.21' is used by 2 hosts (cpu-01, cpu-02); expected unique addresses",
        ],
    ),
    "host off the node network": (
        hosts_with(Host("cpu-09", frozenset({"workers"}), "10.21.0.9")),
        [
            "hostvars[cpu-09].ansible_host: '10.21.0.9' is outside platform_node_network '10.20.0.0/24'; "
            "expected every host address on the node network"
        ],
    ),
    "pool holds a host address": (
        hosts_with(Host("cpu-09", frozenset({"workers"}), "10.20.0.205")),
        [
            "metallb_pools[public]: '10.20.0.200-10.20.0.229' contains the address of host cpu-09 (10.20.0.205); "
            "expected MetalLB pools that hold no host address"
        ],
    ),
    "gpu node without class": (
        hosts_with(Host("gpu-09", frozenset({"gpu_nodes"}), "10.20.0.39")),
        ["hostvars[gpu-09].gpu_node_class: is not defined; expected a class of gpu_node_classes (a100, l4)"],
    ),
    "gpu node with unknown class": (
        hosts_with(Host("gpu-09", frozenset({"gpu_nodes"}), "10.20.0.39", "h100")),
        ["hostvars[gpu-09].gpu_node_class: 'h100' is not defined in gpu_node_classes; expected one of a100, l4"],
    ),
    "even number of control planes": (
        hosts_with(Host("cp-02", frozenset({"control_plane"}), "10.20.0.12")),
        [
            "groups.control_plane: 2 hosts cannot keep etcd quorum better than one less would; "
            "expected an odd number of control plane hosts (1, 3 or 5)"
        ],
    ),
    "no control plane": (
        hosts_with(drop=("cp-01",)),
        ["groups.control_plane: has no hosts; expected at least one control plane host"],
    ),
    "vip is a control plane address": (
        hosts_with(
            Host("cp-02", frozenset({"control_plane"}), "10.20.0.10"),
            Host("cp-03", frozenset({"control_plane"}), "10.20.0.13"),
        ),
        [
            "platform_api_endpoint.address: '10.20.0.10' is the address of host cp-02; "
            "expected a free virtual IP in front of the control planes"
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(HOST_CASES))
def test_bad_hosts_are_reported_exactly(case):
    hosts, expected = HOST_CASES[case]
    assert run(hosts=hosts) == expected


def test_every_problem_is_reported_in_one_run():
    variables = changed(
        platform_pod_cidr="10.96.0.0/16",
        bgp_local_asn=0,
    )
    variables["gpu_node_classes"] = {"l4": {"product": "NVIDIA-L4", "mig_config": "all-enabled"}}
    problems = run(variables=variables, hosts=hosts_with(Host("x", frozenset({"gpu_nodes"}), "10.20.0.21", "nope")))
    assert [p.split(":")[0] for p in problems] == [
        "platform_pod_cidr",
        "ansible_host",
        "bgp_local_asn",
        "gpu_node_classes[l4].mig_config",
        "hostvars[a100-01].gpu_node_class",
        "hostvars[x].gpu_node_class",
        "platform_teams[vision].gpu_classes",
    ]


def test_secret_values_never_appear_in_problems():
    variables = changed(
        platform_api_endpoint={"address": "bad", "port": 0},
        minio_root_password=12345,
        bgp_peers=[{"name": "r", "address": "10.20.0.2", "asn": 64513, "password": ""}],
    )
    problems = run(variables=variables)
    text = "\n".join(problems)
    assert "12345" not in text
    assert "minio_root_password: is a int; expected a secret string from the vault" in problems
    assert "bgp_peers[r].password: is empty; expected a secret from the vault (see docs/secrets.md)" in problems


def test_chart_versions_that_move_known_charts_pass():
    assert run(variables=changed(platform_chart_versions={"metallb": "0.16.2", "cilium": "1.20.1"})) == []
