"""The tracking layer on the lab: the cloudnative_pg and mlflow roles in direct delivery.

Neither CloudNativePG's operator nor MLflow's server can run on kwok's simulated pods, so what is
checked here is what the API server holds and admits: the operator's CRDs validate the Cluster and
ScheduledBackup, the chart's MLflow Deployment rolls out (kwok pods Ready) with the environment and
security context it needs, and every Secret carries what the inventory says - each team's client
Secret its own S3 keys, never another team's.
"""

from __future__ import annotations

import base64
import json
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml
from lab_support import LAB_INVENTORY, ROOT, recap

from lab.settings import SettingsError

pytestmark = pytest.mark.lab


def role_default(role: str, name: str):
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())[name]


def setting(lab_settings, role: str, name: str):
    """The inventory's value of a role variable (rendered), else the role's default."""
    try:
        return lab_settings.var(name)
    except SettingsError:  # not in the inventory
        return role_default(role, name)


def decoded(secret: dict) -> dict:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


@pytest.fixture(scope="module")
def tracking(layers, lab_settings):
    """The layer as the session converged it, and the values the roles used."""
    assert "SKIPPED layer tracking" not in layers.first.stdout

    def pg(name):
        return setting(lab_settings, "cloudnative_pg", name)

    def mlflow(name):
        return setting(lab_settings, "mlflow", name)

    return layers, pg, mlflow


def test_the_layer_converges_and_a_second_run_changes_nothing(tracking):
    layers, _, _ = tracking
    again = layers.play(tags="tracking")
    assert recap(again)["changed"] == 0, again.stdout[-4000:]
    assert recap(again)["failed"] == 0


def test_the_cluster_is_on_the_block_storage_class_with_backups_and_credentials(tracking, lab_settings):
    layers, pg, _ = tracking
    lab = layers.lab
    name, namespace = pg("cloudnative_pg_cluster_name"), pg("cloudnative_pg_cluster_namespace")
    cluster = lab.get("clusters.postgresql.cnpg.io", name, "-n", namespace)
    spec = cluster["spec"]
    assert spec["storage"]["storageClass"] == lab_settings.var("platform_storage_class")
    assert spec["instances"] == pg("cloudnative_pg_instances")
    initdb = spec["bootstrap"]["initdb"]
    assert (initdb["database"], initdb["owner"]) == (pg("cloudnative_pg_database"), pg("cloudnative_pg_database_owner"))

    credentials = lab.get("secret", initdb["secret"]["name"], "-n", namespace)
    assert credentials["type"] == "kubernetes.io/basic-auth"
    assert decoded(credentials) == {
        "username": pg("cloudnative_pg_database_owner"),
        "password": lab_settings.var("mlflow_db_password"),
    }

    store = spec["backup"]["barmanObjectStore"]
    assert store["endpointURL"] == lab_settings.var("platform_s3_endpoint")
    assert store["destinationPath"] == f"s3://{pg('cloudnative_pg_backup_bucket')}/{name}"
    backup_secret = lab.get("secret", store["s3Credentials"]["accessKeyId"]["name"], "-n", namespace)
    assert decoded(backup_secret) == {
        "ACCESS_KEY_ID": pg("cloudnative_pg_backup_access_key"),
        "ACCESS_SECRET_KEY": lab_settings.var("cloudnative_pg_backup_secret_key"),
    }
    scheduled = lab.get("scheduledbackups.postgresql.cnpg.io", name, "-n", namespace)
    assert scheduled["spec"]["schedule"] == pg("cloudnative_pg_backup_schedule")
    assert scheduled["spec"]["cluster"] == {"name": name}
    assert scheduled["spec"]["method"] == "barmanObjectStore"


def test_the_api_server_checks_cluster_objects_against_the_operators_crds(tracking):
    layers, pg, _ = tracking
    lab = layers.lab
    name, namespace = pg("cloudnative_pg_cluster_name"), pg("cloudnative_pg_cluster_namespace")
    scheduled = lab.get("scheduledbackups.postgresql.cnpg.io", name, "-n", namespace)
    wrong = {
        "apiVersion": scheduled["apiVersion"],
        "kind": "ScheduledBackup",
        "metadata": {"name": f"{name}-wrong", "namespace": namespace},
        "spec": {**scheduled["spec"], "method": "barman"},
    }
    refused = lab.kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(wrong), check=False)
    assert refused.returncode != 0
    assert 'spec.method: Unsupported value: "barman"' in refused.stderr, refused.stderr


def test_the_mlflow_deployment_rolls_out_with_its_environment_and_no_writable_root(tracking, lab_settings):
    layers, pg, mlflow = tracking
    lab = layers.lab
    name, namespace = mlflow("mlflow_service_name"), mlflow("mlflow_namespace")
    deployment = lab.wait_until(
        lambda: (
            (d := lab.get("deployment", name, "-n", namespace))["status"].get("readyReplicas") == d["spec"]["replicas"]
            and d
        ),
        f"Deployment {namespace}/{name} ready",
    )
    assert deployment["spec"]["replicas"] == mlflow("mlflow_replicas")
    pod = deployment["spec"]["template"]["spec"]
    containers = pod["containers"] + pod.get("initContainers", [])
    assert [c["name"] for c in pod.get("initContainers", [])] == ["mlflow-db-migration"]
    for container in containers:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, container["name"]
        assert container["securityContext"]["runAsNonRoot"] is True, container["name"]
    # writable: the chart's emptyDir on /tmp and, with mlflow_metrics_enabled, the one the Prometheus
    # exporter keeps its per-process files in
    assert [v for v in pod["volumes"] if "emptyDir" in v] == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "prometheus-metrics", "emptyDir": {}},
    ]
    (server,) = [c for c in pod["containers"] if c["name"] == "mlflow"]
    assert {m["mountPath"]: m["name"] for m in server["volumeMounts"]} == {
        "/tmp": "tmp",
        "/mlflow/metrics": "prometheus-metrics",
    }
    assert "--expose-prometheus=/mlflow/metrics" in server["args"]
    assert "--backend-store-uri=postgresql://" in server["args"]
    assert f"--default-artifact-root=s3://{mlflow('mlflow_artifact_bucket')}/" in server["args"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in server["env"]}
    assert env["MLFLOW_S3_ENDPOINT_URL"] == lab_settings.var("platform_s3_endpoint")
    db_secret = pg("cloudnative_pg_credentials_secret")
    assert env["PGUSER"] == {"secretKeyRef": {"name": db_secret, "key": "username"}}
    assert env["PGPASSWORD"] == {"secretKeyRef": {"name": db_secret, "key": "password"}}
    s3_secret = mlflow("mlflow_s3_secret")
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": s3_secret, "key": "AWS_ACCESS_KEY_ID"}}
    assert decoded(lab.get("secret", s3_secret, "-n", namespace)) == {
        "AWS_ACCESS_KEY_ID": mlflow("mlflow_s3_access_key"),
        "AWS_SECRET_ACCESS_KEY": lab_settings.var("mlflow_s3_secret_key"),
    }
    # the database host is the Cluster's read-write Service, in the namespace of its Secrets
    config = lab.get("configmap", f"{name}-env-configmap", "-n", namespace)["data"]
    assert config["PGHOST"] == f"{pg('cloudnative_pg_cluster_name')}-rw.{pg('cloudnative_pg_cluster_namespace')}.svc"
    assert namespace == pg("cloudnative_pg_cluster_namespace")
    # the kwok pods the ReplicaSet created are Ready
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    pods = lab.get("pods", "-n", namespace, "-l", selector)["items"]
    ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])]
    assert len(ready) >= mlflow("mlflow_replicas")


def test_the_service_is_cluster_ip_and_accepts_the_tracking_uris_host(tracking, lab_settings):
    layers, _, mlflow = tracking
    lab = layers.lab
    name, namespace = mlflow("mlflow_service_name"), mlflow("mlflow_namespace")
    service = lab.get("service", name, "-n", namespace)
    assert service["spec"]["type"] == "ClusterIP"
    assert [p["port"] for p in service["spec"]["ports"]] == [mlflow("mlflow_service_port")]
    allowed = lab.get("configmap", f"{name}-env-configmap", "-n", namespace)["data"]["MLFLOW_SERVER_ALLOWED_HOSTS"]
    uri = urlsplit(lab_settings.var("platform_mlflow_tracking_uri"))
    assert {uri.netloc, f"{name}.{namespace}.svc.cluster.local:{service['spec']['ports'][0]['port']}"} <= set(
        allowed.split(",")
    )


def test_an_in_cluster_tracking_uri_naming_another_service_stops_the_role(tracking):
    layers, _, mlflow = tracking
    namespace, port = mlflow("mlflow_namespace"), mlflow("mlflow_service_port")
    uri = f"http://tracking.{namespace}.svc.cluster.local:{port}"
    result = layers.play_with({"platform_mlflow_tracking_uri": uri}, tags="mlflow", check=False)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert (
        f"platform_mlflow_tracking_uri {uri} names Service tracking in namespace {namespace} on port {port}, "
        f"but the mlflow role serves Service {mlflow('mlflow_service_name')}" in output
    ), output[-3000:]
    assert recap(result)["changed"] == 0


def test_each_team_namespace_has_its_own_client_secret(tracking, lab_settings):
    layers, _, mlflow = tracking
    lab = layers.lab
    teams = lab_settings.var("platform_teams")
    assert len(teams) >= 2
    for team in teams:
        client = decoded(lab.get("secret", mlflow("mlflow_client_secret"), "-n", team["namespace"]))
        assert client == {
            "MLFLOW_TRACKING_URI": lab_settings.var("platform_mlflow_tracking_uri"),
            "MLFLOW_S3_ENDPOINT_URL": lab_settings.var("platform_s3_endpoint"),
            "AWS_ACCESS_KEY_ID": team.get("s3_access_key") or team["name"],
            "AWS_SECRET_ACCESS_KEY": team["s3_secret_key"],
        }
        others = [t for t in teams if t["name"] != team["name"]]
        assert all(client["AWS_SECRET_ACCESS_KEY"] != other["s3_secret_key"] for other in others)
        # the same keys the namespace's Argo artifact repository reads
        argo = decoded(lab.get("secret", "argo-artifacts-s3", "-n", team["namespace"]))
        assert (argo["accesskey"], argo["secretkey"]) == (client["AWS_ACCESS_KEY_ID"], client["AWS_SECRET_ACCESS_KEY"])


def upgrade(layers, extra: dict | None = None) -> subprocess.CompletedProcess:
    args = ["ansible-playbook", "playbooks/upgrade-tracking.yml", "-i", str(LAB_INVENTORY)]
    if extra:
        args += ["-e", json.dumps(extra)]
    result = subprocess.run(args, cwd=ROOT, env=layers.env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"upgrade-tracking.yml {extra or ''} failed:\n{(result.stdout + result.stderr)[-8000:]}")
    return result


def test_upgrade_tracking_changes_a_value_in_place_and_restores_it(tracking):
    layers, _, mlflow = tracking
    lab = layers.lab
    release, namespace = mlflow("mlflow_release_name"), mlflow("mlflow_namespace")
    replicas = mlflow("mlflow_replicas")

    def revision() -> int:
        listed = json.loads(lab.helm("list", "-n", namespace, "--filter", f"^{release}$", "-o", "json").stdout)
        assert [r["status"] for r in listed] == ["deployed"], listed
        return int(listed[0]["revision"])

    before = revision()
    try:
        moved = upgrade(layers, {"mlflow_replicas": replicas + 1})
        assert recap(moved)["changed"] >= 1
        assert revision() == before + 1
        deployment = lab.get("deployment", mlflow("mlflow_service_name"), "-n", namespace)
        assert deployment["spec"]["replicas"] == replicas + 1
    finally:
        restored = upgrade(layers)
    assert recap(restored)["changed"] >= 1
    assert lab.get("deployment", mlflow("mlflow_service_name"), "-n", namespace)["spec"]["replicas"] == replicas
