from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.plugin_utils import serving_objects as so

CLASSES = {
    "a100-1g": {"product": "NVIDIA-A100-SXM4-80GB", "mig_config": "all-1g.10gb", "time_slicing_replicas": 0},
    "l4": {"product": "NVIDIA-L4", "mig_config": "none", "time_slicing_replicas": 4, "driver": "host"},
}
TEAMS = [
    {"name": "vision", "namespace": "team-vision", "buckets": ["vision-models"], "gpu_classes": ["a100-1g"],
     "s3_secret_key": "v-key"},
    {"name": "tabular", "namespace": "team-tabular", "buckets": ["tabular-models"], "gpu_classes": ["l4"],
     "s3_access_key": "tab-user", "s3_secret_key": "t-key"},
    {"name": "cpu", "namespace": "team-cpu", "buckets": ["cpu-models"], "s3_secret_key": "c-key"},
]  # fmt: skip
TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
SETTINGS = {
    "deployment_mode": "Standard",
    "service_account": "kserve-models",
    "storage_secret": "kserve-s3",
    "s3_endpoint": "http://127.0.0.1:19000",
    "s3_region": "",
}
MODEL = {
    "name": "churn",
    "model_name": "churn-classifier",
    "model_version": "3",
    "alias": "champion",
    "storage_uri": "s3://tabular-models/churn/3",
    "format": "mlflow",
    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
    "min_replicas": 2,
}


def isvc(team="tabular", **model):
    (found,) = [t for t in TEAMS if t["name"] == team]
    return so.inference_service({**MODEL, **model}, found, CLASSES, {}, TAINT, SETTINGS)


def test_team_credentials_carry_the_teams_own_keys_and_the_endpoint():
    secrets = so.kserve_team_secrets(TEAMS, SETTINGS)
    assert [(s["metadata"]["namespace"], s["stringData"]) for s in secrets] == [
        ("team-cpu", {"AWS_ACCESS_KEY_ID": "cpu", "AWS_SECRET_ACCESS_KEY": "c-key"}),
        ("team-tabular", {"AWS_ACCESS_KEY_ID": "tab-user", "AWS_SECRET_ACCESS_KEY": "t-key"}),
        ("team-vision", {"AWS_ACCESS_KEY_ID": "vision", "AWS_SECRET_ACCESS_KEY": "v-key"}),
    ]
    assert secrets[0]["metadata"]["annotations"] == {
        "serving.kserve.io/s3-endpoint": "127.0.0.1:19000",
        "serving.kserve.io/s3-usehttps": "0",
    }
    https = so.kserve_team_secrets(TEAMS[:1], {**SETTINGS, "s3_endpoint": "https://s3.example", "s3_region": "dc1"})
    assert https[0]["metadata"]["annotations"] == {
        "serving.kserve.io/s3-endpoint": "s3.example",
        "serving.kserve.io/s3-usehttps": "1",
        "serving.kserve.io/s3-region": "dc1",
    }
    accounts = so.kserve_team_objects(TEAMS, SETTINGS)
    assert {(a["metadata"]["namespace"], a["metadata"]["name"]) for a in accounts} == {
        ("team-cpu", "kserve-models"), ("team-tabular", "kserve-models"), ("team-vision", "kserve-models")
    }  # fmt: skip
    assert all(a["secrets"] == [{"name": "kserve-s3"}] for a in accounts)
    with pytest.raises(ValueError, match="team nokey has no s3_secret_key"):
        so.kserve_team_secrets([{"name": "nokey", "namespace": "n"}], SETTINGS)


def test_inference_service_labels_storage_and_runtime():
    found = isvc()
    assert found["metadata"]["namespace"] == "team-tabular"
    assert found["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "Standard"}
    labels = {
        "model_name": "churn-classifier",
        "model_version": "3",
        "workload-type": "inference",
        "model_alias": "champion",
    }
    assert {k: found["metadata"]["labels"][k] for k in labels} == labels
    predictor = found["spec"]["predictor"]
    assert predictor["labels"] == labels  # on the pods too
    assert predictor["name"] == "v3"
    assert predictor["serviceAccountName"] == "kserve-models"
    assert predictor["minReplicas"] == 2
    assert predictor["model"] == {
        "modelFormat": {"name": "mlflow"},
        "protocolVersion": "v2",  # kserve-mlserver serves MLflow models over v2 only
        "storageUri": "s3://tabular-models/churn/3",
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
    }
    assert "affinity" not in predictor and "tolerations" not in predictor
    assert "canary" not in found["spec"]
    sklearn = isvc(format="sklearn", runtime="kserve-sklearnserver", alias="")["spec"]["predictor"]
    assert sklearn["model"]["modelFormat"] == {"name": "sklearn"}
    assert "protocolVersion" not in sklearn["model"]
    assert sklearn["model"]["runtime"] == "kserve-sklearnserver"
    assert "model_alias" not in sklearn["labels"]


def test_a_gpu_model_asks_for_the_teams_gpu_on_its_products():
    predictor = isvc(gpu=True)["spec"]["predictor"]
    assert predictor["model"]["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    terms = predictor["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}]}
    ]
    assert predictor["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    vision = isvc("vision", storage_uri="s3://vision-models/m/3", gpu=True)["spec"]["predictor"]
    assert "nvidia.com/mig-1g.10gb" in vision["model"]["resources"]["limits"]
    with pytest.raises(ValueError, match="team cpu has no GPU class"):
        isvc("cpu", storage_uri="s3://cpu-models/m/3", gpu=True)


def test_canary_serves_the_new_version_with_its_share_of_traffic():
    canary = isvc(canary={"model_version": "4", "storage_uri": "s3://tabular-models/churn/4", "traffic_percent": 20})
    (entry,) = canary["spec"]["canary"]
    assert entry["trafficPercent"] == 20
    assert entry["predictor"]["name"] == "v4"
    assert entry["predictor"]["labels"] == {
        "model_name": "churn-classifier",
        "model_version": "4",
        "workload-type": "inference",
    }
    assert entry["predictor"]["model"]["storageUri"] == "s3://tabular-models/churn/4"
    assert entry["predictor"]["model"]["modelFormat"] == {"name": "mlflow"}
    assert canary["metadata"]["labels"]["model_version"] == "3"  # the stable version keeps the object's labels


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"storage_uri": "gs://tabular-models/x"}, "is not s3://<bucket>/<path>"),
        ({"storage_uri": "s3://vision-models/x"}, "bucket vision-models is not one of the team's buckets"),
        ({"name": "Churn_Model"}, "must be a DNS label"),
        ({"model_version": "3 beta"}, "cannot be a label value"),
        (
            {"canary": {"model_version": "3", "storage_uri": "s3://tabular-models/c", "traffic_percent": 5}},
            "already served",
        ),
        (
            {"canary": {"model_version": "4", "storage_uri": "s3://tabular-models/c", "traffic_percent": 120}},
            "outside 0-100",
        ),
    ],
)
def test_bad_models_are_refused_before_the_cluster_sees_them(model, message):
    with pytest.raises(ValueError, match=message):
        isvc(**model)
