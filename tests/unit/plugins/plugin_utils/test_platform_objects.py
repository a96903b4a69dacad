from __future__ import annotations

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils import platform_objects as po

POOLS = [{"name": "pub", "addresses": ["10.0.0.200-10.0.0.210"]}, {"name": "int", "addresses": ["10.0.0.240/29"]}]
PEERS = [
    {"name": "rtr-01", "address": "10.0.0.2", "asn": 64513, "password": "s3cret"},
    {"name": "rtr-02", "address": "10.0.0.3", "asn": 64513},
]
CLASSES = {
    "a100-training": {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "none", "time_slicing_replicas": 0},
    "a100-mig": {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "balanced-inference", "time_slicing_replicas": 0},
    "a100-1g": {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "all-1g.10gb", "time_slicing_replicas": 0},
    "l4": {"product": "NVIDIA-L4", "mig_config": "none", "time_slicing_replicas": 4, "driver": "host"},
}
CUSTOM = {"balanced-inference": {"2g.20gb": 2, "1g.10gb": 3}}


def test_metallb_l2():
    objects = po.metallb_objects("l2", POOLS, 64512, PEERS, "metallb-system")
    assert [o["kind"] for o in objects] == ["IPAddressPool", "IPAddressPool", "L2Advertisement"]
    assert objects[2]["spec"] == {"ipAddressPools": ["int", "pub"]}
    assert po.metallb_secrets("l2", PEERS, "metallb-system") == []


def test_metallb_bgp_peers_read_the_bgp_router_contract():
    objects = po.metallb_objects("bgp", POOLS, 64512, PEERS, "metallb-system")
    peers = [o for o in objects if o["kind"] == "BGPPeer"]
    assert [p["spec"] for p in peers] == [
        {
            "myASN": 64512,
            "peerASN": 64513,
            "peerAddress": "10.0.0.2",
            "passwordSecret": {"name": "bgp-peer-rtr-01", "namespace": "metallb-system"},
        },
        {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.3"},
    ]
    assert objects[-1]["kind"] == "BGPAdvertisement"
    assert "s3cret" not in repr(objects)
    secrets = po.metallb_secrets("bgp", PEERS, "metallb-system")
    assert [(s["metadata"]["name"], s["type"], s["stringData"]) for s in secrets] == [
        ("bgp-peer-rtr-01", "kubernetes.io/basic-auth", {"password": "s3cret"})
    ]


def test_metallb_unknown_mode():
    with pytest.raises(ValueError, match="metallb_mode 'ospf' is neither l2 nor bgp"):
        po.metallb_objects("ospf", POOLS, 64512, [], "m")


@pytest.mark.parametrize(
    ("service", "rule"),
    [
        (
            {"name": "s3", "url": "https://minio.ml-storage.svc.cluster.local", "target_port": 9000},
            {
                "toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "ml-storage"}}],
                "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}, {"port": "9000", "protocol": "TCP"}]}],
            },
        ),
        (
            {"name": "s3", "url": "http://10.20.0.60:9000"},
            {"toCIDR": ["10.20.0.60/32"], "toPorts": [{"ports": [{"port": "9000", "protocol": "TCP"}]}]},
        ),
        (
            {"name": "s3", "url": "https://s3.example.com"},
            {
                "toFQDNs": [{"matchName": "s3.example.com"}],
                "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
            },
        ),
    ],
)
def test_egress_rule_per_kind_of_endpoint(service, rule):
    assert po.egress_rule(service) == rule


def test_egress_rule_needs_a_url():
    with pytest.raises(ValueError, match="mlflow: 'mlflow' is not a URL with a host"):
        po.egress_rule({"name": "mlflow", "url": "mlflow"})


def test_cilium_team_policies():
    teams = [{"name": "vision", "namespace": "team-vision"}, {"name": "fraud", "namespace": "team-fraud"}]
    services = [{"name": "mlflow", "url": "http://mlflow.ml-platform.svc:5000"}]
    policies = po.cilium_team_policies(teams, ["inference-edge"], services)
    assert [p["metadata"]["namespace"] for p in policies] == ["team-fraud", "team-vision"]
    spec = policies[0]["spec"]
    assert spec["endpointSelector"] == {}
    assert spec["ingress"] == [
        {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "inference-edge"}}]}
    ]
    assert [rule.get("toEndpoints") for rule in spec["egress"]] == [
        [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}}],
        [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "ml-platform"}}],
    ]
    assert spec["egress"][0]["toPorts"][0]["ports"] == [
        {"port": "53", "protocol": "UDP"},
        {"port": "53", "protocol": "TCP"},
    ]


def test_mig_parted_config_holds_every_layout_the_classes_name():
    config = yaml.safe_load(po.mig_parted_config(CLASSES, CUSTOM))
    assert config["version"] == "v1"
    assert config["mig-configs"] == {
        "all-1g.10gb": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}],
        "all-disabled": [{"devices": "all", "mig-enabled": False}],
        "balanced-inference": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 3, "2g.20gb": 2}}],
    }


def test_mig_strategy_and_device_plugin_config():
    assert po.mig_strategy(CLASSES, CUSTOM) == "mixed"
    assert po.mig_strategy({"l4": CLASSES["l4"]}, {}) == "none"
    data = po.device_plugin_config(CLASSES, CUSTOM)
    assert sorted(data) == ["default", "l4"]
    l4 = yaml.safe_load(data["l4"])
    assert l4["flags"] == {"migStrategy": "mixed"}
    assert l4["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]


def test_gpu_node_labels_one_set_per_class():
    nodes = [
        {"node": "a1", "class": "a100-training"},
        {"node": "m1", "class": "a100-mig"},
        {"node": "l1", "class": "l4"},
        {"node": "l2", "class": "l4"},
    ]
    assert po.gpu_node_labels(CLASSES, nodes, CUSTOM) == [
        {
            "nodes": ["m1"],
            "labels": {"nvidia.com/device-plugin.config": "default", "nvidia.com/mig.config": "balanced-inference"},
        },
        {
            "nodes": ["a1"],
            "labels": {"nvidia.com/device-plugin.config": "default", "nvidia.com/mig.config": "all-disabled"},
        },
        {
            "nodes": ["l1", "l2"],
            "labels": {"nvidia.com/device-plugin.config": "l4", "nvidia.com/gpu.deploy.driver": "false"},
        },
    ]
    assert po.driver_enabled(CLASSES) is True
    assert po.driver_enabled({"l4": CLASSES["l4"]}) is False


def test_tenancy_quotas_follow_the_team_classes():
    teams = [
        {
            "name": "vision",
            "namespace": "team-vision",
            "gpu_classes": ["a100-training", "a100-mig"],
            "gpu_quota": {"nvidia.com/gpu": 2},
        },
        {"name": "fraud", "namespace": "team-fraud", "gpu_classes": ["l4"], "group": "fraud-engineers"},
    ]
    objects = po.tenancy_objects(teams, CLASSES, CUSTOM, 8, "team-gpu-placement")
    quotas = {o["metadata"]["namespace"]: o["spec"]["hard"] for o in objects if o["kind"] == "ResourceQuota"}
    assert quotas["team-vision"] == {
        "requests.nvidia.com/gpu": "2",
        "requests.nvidia.com/mig-1g.10gb": "8",
        "requests.nvidia.com/mig-2g.20gb": "8",
    }
    assert quotas["team-fraud"] == {
        "requests.nvidia.com/gpu": "8",
        "requests.nvidia.com/mig-1g.10gb": "0",
        "requests.nvidia.com/mig-2g.20gb": "0",
    }
    binding = next(o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == "team-fraud")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "fraud-deployer", "namespace": "team-fraud"},
        {"kind": "Group", "name": "fraud-engineers", "apiGroup": "rbac.authorization.k8s.io"},
    ]
    role = next(o for o in objects if o["kind"] == "Role" and o["metadata"]["namespace"] == "team-fraud")
    assert [r["resources"] for r in role["rules"]] == [["inferenceservices"], ["workflows"], ["secrets"]]
    params = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
    assert params == {
        "team-gpu-placement-fraud": {"NVIDIA-L4": "allowed"},
        "team-gpu-placement-vision": {"NVIDIA-A100-SXM4-80GB": "allowed"},
    }
    bindings = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert [b["spec"]["matchResources"]["namespaceSelector"] for b in bindings] == [
        {"matchLabels": {"kubernetes.io/metadata.name": "team-fraud"}},
        {"matchLabels": {"kubernetes.io/metadata.name": "team-vision"}},
    ]
    policy = objects[-1]
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    assert "nvidia.com/gpu.product" in policy["spec"]["validations"][0]["expression"]


def test_tenancy_policy_message_lists_the_allowed_products_sorted():
    """CEL walks a map's keys in no fixed order: the message sorts the param ConfigMap's keys first."""
    team = {"name": "multi", "namespace": "team-multi", "gpu_classes": ["a100-training", "l4"]}
    objects = po.tenancy_objects([team], CLASSES, CUSTOM, 8, "team-gpu-placement")
    validation = objects[-1]["spec"]["validations"][0]
    assert "params.data.map(k, k).sort().join(', ')" in validation["messageExpression"]
    assert validation["messageExpression"].startswith("'pods in ' + request.namespace + ")
    params = next(o for o in objects if o["kind"] == "ConfigMap")
    assert list(params["data"]) == ["NVIDIA-A100-SXM4-80GB", "NVIDIA-L4"]


def test_taint_tolerations_tolerate_the_key_and_effect_whatever_the_value():
    taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    assert po.taint_tolerations(taint) == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert po.taint_tolerations({"key": "example.com/accel", "effect": "NoExecute"}) == [
        {"key": "example.com/accel", "operator": "Exists", "effect": "NoExecute"}
    ]
    assert po.taint_tolerations({}) == []
    assert po.taint_tolerations(None) == []


# --- Argo Workflows ------------------------------------------------------------

ARGO_SETTINGS = {
    "s3_endpoint": "http://127.0.0.1:19000",
    "buckets": {},
    "key_format": "workflows/{{workflow.name}}/{{pod.name}}",
    "archive_logs": False,
    "artifact_secret": "argo-artifacts-s3",
    "repository_key": "team-s3",
    "template_name": "train-register",
    "service_account": "argo-workflow",
    "trainer_image": "registry.local/trainer:1",
    "train_command": ["python", "/app/train.py"],
    "register_command": ["python", "/app/register.py"],
    "train_retries": 2,
    "train_resources": {"cpu": "2", "memory": "4Gi"},
    "register_resources": {"cpu": "1", "memory": "2Gi"},
    "client_secret": "mlflow-client-env",
}
ARGO_TEAMS = [
    {"name": "vision", "namespace": "team-vision", "buckets": ["vision-data", "vision-models"],
     "gpu_classes": ["a100-1g"], "s3_secret_key": "v-key"},
    {"name": "tabular", "namespace": "team-tabular", "buckets": ["tabular-models"], "gpu_classes": ["l4"],
     "s3_access_key": "tab-user", "s3_secret_key": "t-key"},
    {"name": "cpu", "namespace": "team-cpu", "buckets": ["cpu-models"], "s3_secret_key": "c-key"},
]  # fmt: skip
TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def argo_objects(**settings):
    return po.argo_workflows_objects(ARGO_TEAMS, CLASSES, CUSTOM, TAINT, {**ARGO_SETTINGS, **settings})


def templates_of(objects, namespace):
    (template,) = [o for o in objects if o["kind"] == "WorkflowTemplate" and o["metadata"]["namespace"] == namespace]
    return {t["name"]: t for t in template["spec"]["templates"]}


def test_argo_each_team_namespace_gets_its_repository_and_template():
    objects = argo_objects()
    assert [(o["kind"], o["metadata"]["namespace"]) for o in objects] == [
        ("ConfigMap", "team-cpu"), ("WorkflowTemplate", "team-cpu"),
        ("ConfigMap", "team-tabular"), ("WorkflowTemplate", "team-tabular"),
        ("ConfigMap", "team-vision"), ("WorkflowTemplate", "team-vision"),
    ]  # fmt: skip
    repositories = {o["metadata"]["namespace"]: o for o in objects if o["kind"] == "ConfigMap"}
    vision = repositories["team-vision"]
    assert vision["metadata"]["name"] == "artifact-repositories"
    assert vision["metadata"]["annotations"] == {"workflows.argoproj.io/default-artifact-repository": "team-s3"}
    assert yaml.safe_load(vision["data"]["team-s3"]) == {
        "archiveLogs": False,
        "s3": {
            "endpoint": "127.0.0.1:19000",
            "insecure": True,
            "bucket": "vision-data",
            "keyFormat": "workflows/{{workflow.name}}/{{pod.name}}",
            "accessKeySecret": {"name": "argo-artifacts-s3", "key": "accesskey"},
            "secretKeySecret": {"name": "argo-artifacts-s3", "key": "secretkey"},
        },
    }


def test_argo_artifact_bucket_is_chosen_among_the_teams_own_and_https_is_secure():
    objects = argo_objects(buckets={"vision": "vision-models"}, s3_endpoint="https://s3.example:9000")
    (vision,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["namespace"] == "team-vision"]
    s3 = yaml.safe_load(vision["data"]["team-s3"])["s3"]
    assert (s3["bucket"], s3["endpoint"], s3["insecure"]) == ("vision-models", "s3.example:9000", False)
    with pytest.raises(ValueError, match="artifact bucket tabular-models is not one of its buckets"):
        argo_objects(buckets={"vision": "tabular-models"})
    with pytest.raises(ValueError, match="is not an http"):
        argo_objects(s3_endpoint="s3.example:9000")


def test_argo_train_is_the_only_gpu_step_pinned_to_the_teams_products():
    steps = templates_of(argo_objects(), "team-vision")
    dag = steps["train-register"]["dag"]["tasks"]
    assert dag[1]["dependencies"] == ["train"]
    assert dag[1]["arguments"]["artifacts"] == [{"name": "model", "from": "{{tasks.train.outputs.artifacts.model}}"}]
    train, register = steps["train"], steps["register"]
    # the MIG class exposes its slice, not whole GPUs
    assert train["container"]["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/mig-1g.10gb": "1"},
        "limits": {"memory": "4Gi", "nvidia.com/mig-1g.10gb": "1"},
    }
    terms = train["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": po.GPU_PRODUCT_LABEL, "operator": "In",
                                            "values": ["NVIDIA-A100-SXM4-80GB"]}]}]  # fmt: skip
    assert train["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert train["retryStrategy"] == {"limit": "2", "retryPolicy": "Always"}
    assert train["outputs"]["artifacts"] == [{"name": "model", "path": "/tmp/model"}]
    assert "{{workflow.parameters.model-name}}" in train["container"]["args"]
    assert not any(k.startswith("nvidia.com/") for k in register["container"]["resources"]["requests"])
    assert "affinity" not in register and "tolerations" not in register
    assert register["inputs"]["artifacts"] == [{"name": "model", "path": "/tmp/model"}]
    assert templates_of(argo_objects(), "team-tabular")["train"]["container"]["resources"]["limits"] == {
        "memory": "4Gi",
        "nvidia.com/gpu": "1",
    }


def test_argo_a_team_without_gpu_classes_trains_on_cpu():
    train = templates_of(argo_objects(), "team-cpu")["train"]
    assert "affinity" not in train and "tolerations" not in train
    assert train["container"]["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}


def test_argo_secrets_carry_each_teams_own_keys():
    secrets = po.argo_workflows_secrets(ARGO_TEAMS, ARGO_SETTINGS)
    assert [(s["metadata"]["namespace"], s["stringData"]) for s in secrets] == [
        ("team-cpu", {"accesskey": "cpu", "secretkey": "c-key"}),
        ("team-tabular", {"accesskey": "tab-user", "secretkey": "t-key"}),
        ("team-vision", {"accesskey": "vision", "secretkey": "v-key"}),
    ]
