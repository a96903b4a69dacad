"""cluster_backup: the platform's namespaces and the serving manifest, as pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils import cluster_backup

ROOT = Path(__file__).resolve().parents[4]


def role_defaults() -> dict:
    found = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        found.update(yaml.safe_load(path.read_text()) or {})
    return found


@pytest.mark.parametrize("name", sorted(cluster_backup.NAMESPACE_VARIABLES))
def test_each_namespace_default_is_the_role_default(name):
    defaults = role_defaults()
    inventory = yaml.safe_load((ROOT / "inventories/example/group_vars/all/cluster_services.yml").read_text())
    # platform_argocd_namespace is an inventory fact whose default release_delivery spells out
    argocd = defaults["release_delivery_argocd_namespace"].split("'")[1]
    known = {**defaults, **inventory, "platform_argocd_namespace": argocd}
    assert known[name] == cluster_backup.NAMESPACE_VARIABLES[name]


def test_every_cluster_role_namespace_is_covered():
    names = {name for name in role_defaults() if name.endswith("_namespace") and not name.startswith("__")}
    # not where the platform's own objects live: kube-system (cilium), the ones read from elsewhere
    ignored = {
        "cilium_namespace",
        "release_delivery_record_namespace",
        "platform_reset_record_namespace",
        "cert_manager_acme_gateway_namespace",
        "monitoring_minio_namespace",
        "monitoring_dcgm_namespace",
        "monitoring_mlflow_namespace",
        "platform_verify_workflow_namespace",
        "platform_verify_inferenceservice_namespace",
        "platform_backup_velero_namespace",
        "release_delivery_argocd_namespace",
    }
    assert names - ignored <= set(cluster_backup.NAMESPACE_VARIABLES)


def test_platform_namespaces_are_the_defaults_and_the_teams_sorted_once():
    found = cluster_backup.platform_namespaces(
        {"platform_teams": [{"name": "a", "namespace": "team-a"}, {"name": "b", "namespace": "ml-platform"}]}
    )
    assert found == sorted(set(cluster_backup.NAMESPACE_VARIABLES.values()) | {"team-a"})
    assert found.count("ml-platform") == 1


def test_an_inventory_name_replaces_the_default():
    found = cluster_backup.platform_namespaces({"mlflow_namespace": "mlflow", "cloudnative_pg_cluster_namespace": "db"})
    assert "mlflow" in found and "db" in found and "ml-platform" not in found


def test_a_team_without_namespace_is_refused():
    with pytest.raises(ValueError, match=r"platform_teams entry \{'name': 'a'\} has no namespace"):
        cluster_backup.platform_namespaces({"platform_teams": [{"name": "a"}]})


ISVC = {
    "metadata": {
        "name": "iris",
        "namespace": "team-tabular",
        "labels": {"model_name": "iris-bare-metal", "model_version": "3", "model_alias": "champion"},
    },
    "spec": {
        "predictor": {"model": {"storageUri": "s3://tabular-models/iris/3"}},
        "canary": [{"predictor": {"model": {"storageUri": "s3://tabular-models/iris/4"}}}],
    },
    "status": {"url": "http://iris"},
}


def test_serving_manifest_lists_each_inference_service_with_its_model_and_uris():
    other = {"metadata": {"name": "a", "namespace": "team-a"}, "spec": {"predictor": {"sklearn": {}}}}
    assert cluster_backup.serving_manifest([ISVC, other]) == [
        {
            "namespace": "team-a",
            "name": "a",
            "model_name": "",
            "model_version": "",
            "model_alias": "",
            "storage_uri": "",
            "storage_uris": [],
        },
        {
            "namespace": "team-tabular",
            "name": "iris",
            "model_name": "iris-bare-metal",
            "model_version": "3",
            "model_alias": "champion",
            "storage_uri": "s3://tabular-models/iris/3",
            "storage_uris": ["s3://tabular-models/iris/3", "s3://tabular-models/iris/4"],
        },
    ]


def test_served_storage_uris_are_the_s3_ones_once():
    serving = cluster_backup.serving_manifest([ISVC, ISVC])
    serving.append({"storage_uri": "pvc://models/x"})
    assert cluster_backup.served_storage_uris(serving) == ["s3://tabular-models/iris/3", "s3://tabular-models/iris/4"]
    assert cluster_backup.served_storage_uris(None) == []
