"""The tracking layer's objects: MLflow's PostgreSQL Cluster and backups (cloudnative_pg role), the
tracking server's Service check, accepted hosts and Secrets (mlflow role)."""

from __future__ import annotations

import fnmatch
import ipaddress

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.filter import platform_objects as filters
from ansible_collections.baremetal.mlops.plugins.plugin_utils import platform_objects as po

PG = {
    "namespace": "ml-platform",
    "cluster_name": "mlflow-db",
    "instances": 3,
    "storage_class": "longhorn",
    "storage_size": "20Gi",
    "image": "",
    "database": "mlflow",
    "owner": "mlflow",
    "credentials_secret": "mlflow-db-credentials",
    "password": "db-pass",
    "backup": {
        "enabled": True,
        "endpoint": "https://minio.ml-storage.svc.cluster.local",
        "bucket": "postgres-backups",
        "path": "",
        "secret": "mlflow-db-backup-s3",
        "schedule": "0 0 2 * * *",
        "retention": "30d",
        "access_key": "backup-user",
        "secret_key": "backup-key",
    },
}
TEAMS = [
    {"name": "vision", "namespace": "team-vision", "buckets": ["vision-models"], "s3_secret_key": "v-key"},
    {"name": "tabular", "namespace": "team-tabular", "buckets": ["tabular-models"],
     "s3_access_key": "tab-user", "s3_secret_key": "t-key"},
]  # fmt: skip
URI = "http://mlflow.ml-platform.svc.cluster.local:5000"
MLFLOW = {
    "namespace": "ml-platform",
    "tracking_uri": URI,
    "s3_endpoint": "https://minio.ml-storage.svc.cluster.local",
    "s3_secret": "mlflow-s3",
    "s3_access_key": "mlflow",
    "s3_secret_key": "m-key",
    "client_secret": "mlflow-client-env",
}


def pg(**changes):
    backup = {**PG["backup"], **changes.pop("backup", {})}
    return {**PG, **changes, "backup": backup}


def test_the_cluster_bootstraps_the_database_on_block_storage_and_backs_up_to_s3():
    cluster, scheduled = po.cloudnative_pg_objects(pg())
    assert (cluster["apiVersion"], cluster["kind"], cluster["metadata"]["name"]) == (
        "postgresql.cnpg.io/v1",
        "Cluster",
        "mlflow-db",
    )
    assert cluster["metadata"]["namespace"] == "ml-platform"
    spec = cluster["spec"]
    assert spec["instances"] == 3
    assert spec["storage"] == {"storageClass": "longhorn", "size": "20Gi"}
    assert spec["bootstrap"] == {
        "initdb": {"database": "mlflow", "owner": "mlflow", "secret": {"name": "mlflow-db-credentials"}}
    }
    assert "imageName" not in spec
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://postgres-backups/mlflow-db"
    assert store["endpointURL"] == "https://minio.ml-storage.svc.cluster.local"
    assert store["s3Credentials"] == {
        "accessKeyId": {"name": "mlflow-db-backup-s3", "key": "ACCESS_KEY_ID"},
        "secretAccessKey": {"name": "mlflow-db-backup-s3", "key": "ACCESS_SECRET_KEY"},
    }
    assert spec["backup"]["retentionPolicy"] == "30d"
    assert scheduled["kind"] == "ScheduledBackup"
    assert scheduled["spec"] == {
        "schedule": "0 0 2 * * *",
        "cluster": {"name": "mlflow-db"},
        "method": "barmanObjectStore",
        "backupOwnerReference": "self",
        "immediate": True,
    }
    # nothing secret in the objects: the password and keys are only in the Secrets
    assert "db-pass" not in str(cluster) and "backup-key" not in str(cluster)


def test_a_backup_path_and_image_are_taken_as_given():
    cluster = po.cloudnative_pg_objects(pg(image="ghcr.io/cloudnative-pg/postgresql:17.6", backup={"path": "/dc1/"}))[0]
    assert cluster["spec"]["imageName"] == "ghcr.io/cloudnative-pg/postgresql:17.6"
    assert cluster["spec"]["backup"]["barmanObjectStore"]["destinationPath"] == "s3://postgres-backups/dc1"


def test_without_backups_there_is_no_object_store_nor_schedule():
    (cluster,) = po.cloudnative_pg_objects(pg(backup={"enabled": False, "schedule": "bad"}))
    assert "backup" not in cluster["spec"]
    secrets = po.cloudnative_pg_secrets(pg(backup={"enabled": False, "access_key": "", "secret_key": ""}))
    assert [s["metadata"]["name"] for s in secrets] == ["mlflow-db-credentials"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"backup": {"schedule": "0 2 * * *"}},
            "backup schedule '0 2 * * *' must have six fields (seconds minutes hours day month weekday), "
            "as CloudNativePG's ScheduledBackup reads it",
        ),
        ({"instances": 0}, "instances must be at least 1 (got 0)"),
        ({"backup": {"endpoint": "minio:9000"}}, "S3 endpoint 'minio:9000' is not an http(s) URL"),
    ],
)
def test_bad_cluster_settings_are_refused(changes, message):
    with pytest.raises(ValueError) as caught:
        po.cloudnative_pg_objects(pg(**changes))
    assert str(caught.value) == message


def test_the_owner_credentials_are_basic_auth_and_the_backup_keys_their_own_secret():
    credentials, backup = po.cloudnative_pg_secrets(pg())
    assert credentials["type"] == "kubernetes.io/basic-auth"
    assert credentials["metadata"]["namespace"] == "ml-platform"
    assert credentials["stringData"] == {"username": "mlflow", "password": "db-pass"}
    assert backup["metadata"]["name"] == "mlflow-db-backup-s3"
    assert backup["stringData"] == {"ACCESS_KEY_ID": "backup-user", "ACCESS_SECRET_KEY": "backup-key"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": ""}, "the database owner's password is empty (mlflow_db_password)"),
        ({"backup": {"secret_key": ""}}, "backups are enabled but their S3 access key or secret key is empty"),
    ],
)
def test_missing_credentials_are_refused(changes, message):
    with pytest.raises(ValueError) as caught:
        po.cloudnative_pg_secrets(pg(**changes))
    assert str(caught.value) == message


def test_an_in_cluster_tracking_uri_is_the_service_and_its_names_are_accepted_hosts():
    server = po.mlflow_server(URI, "mlflow", "ml-platform", 5000, ["mlflow.dc1.example.com"])
    assert (server["name"], server["namespace"], server["port"], server["in_cluster"]) == (
        "mlflow",
        "ml-platform",
        5000,
        True,
    )
    assert server["allowed_hosts"] == [
        "mlflow",
        "mlflow:5000",
        "mlflow.ml-platform",
        "mlflow.ml-platform:5000",
        "mlflow.ml-platform.svc",
        "mlflow.ml-platform.svc:5000",
        "mlflow.ml-platform.svc.cluster.local",
        "mlflow.ml-platform.svc.cluster.local:5000",
        "mlflow.dc1.example.com",
    ]


def test_the_port_of_an_in_cluster_uri_defaults_from_its_scheme():
    assert po.mlflow_server("http://tracking.mlops.svc", "tracking", "mlops", 80)["port"] == 80


@pytest.mark.parametrize(
    ("uri", "name", "namespace", "port", "named"),
    [
        (URI, "tracking", "ml-platform", 5000, "Service mlflow in namespace ml-platform on port 5000"),
        (URI, "mlflow", "mlops", 5000, "Service mlflow in namespace ml-platform on port 5000"),
        (URI, "mlflow", "ml-platform", 80, "Service mlflow in namespace ml-platform on port 5000"),
        ("http://mlflow.ml-platform.svc", "mlflow", "ml-platform", 5000, "on port 80"),
    ],
)
def test_a_service_the_tracking_uri_does_not_name_is_refused(uri, name, namespace, port, named):
    with pytest.raises(ValueError) as caught:
        po.mlflow_server(uri, name, namespace, port)
    message = str(caught.value)
    assert message.startswith(f"platform_mlflow_tracking_uri {uri} names ")
    assert named in message
    assert message.endswith(
        f"but the mlflow role serves Service {name} in namespace {namespace} on port {port} "
        "(mlflow_service_name, mlflow_namespace, mlflow_service_port): make them agree"
    )


def test_a_uri_outside_the_cluster_names_no_service_and_its_host_is_accepted():
    server = po.mlflow_server("http://127.0.0.1:15000", "mlflow", "ml-platform", 5000)
    assert server["in_cluster"] is False
    assert server["port"] == 5000
    assert server["allowed_hosts"][-2:] == ["127.0.0.1", "127.0.0.1:15000"]


def test_a_tracking_uri_without_a_host_is_refused():
    with pytest.raises(ValueError, match=r"^platform_mlflow_tracking_uri 'http:///mlflow' is not an http\(s\) URL"):
        po.mlflow_server("http:///mlflow", "mlflow", "ml-platform", 5000)


def test_each_team_gets_its_client_secret_with_its_own_keys_only():
    server, *clients = po.mlflow_secrets(TEAMS, MLFLOW)
    assert (server["metadata"]["name"], server["metadata"]["namespace"]) == ("mlflow-s3", "ml-platform")
    assert server["stringData"] == {"AWS_ACCESS_KEY_ID": "mlflow", "AWS_SECRET_ACCESS_KEY": "m-key"}
    assert [(c["metadata"]["name"], c["metadata"]["namespace"]) for c in clients] == [
        ("mlflow-client-env", "team-tabular"),
        ("mlflow-client-env", "team-vision"),
    ]
    tabular, vision = (c["stringData"] for c in clients)
    common = {"MLFLOW_TRACKING_URI": URI, "MLFLOW_S3_ENDPOINT_URL": "https://minio.ml-storage.svc.cluster.local"}
    assert tabular == {**common, "AWS_ACCESS_KEY_ID": "tab-user", "AWS_SECRET_ACCESS_KEY": "t-key"}
    assert vision == {**common, "AWS_ACCESS_KEY_ID": "vision", "AWS_SECRET_ACCESS_KEY": "v-key"}
    # the same keys the team's Argo artifact repository reads
    argo = po.argo_workflows_secrets(TEAMS, {"artifact_secret": "argo-artifacts-s3"})
    assert [a["stringData"]["accesskey"] for a in argo] == [tabular["AWS_ACCESS_KEY_ID"], vision["AWS_ACCESS_KEY_ID"]]
    assert [a["stringData"]["secretkey"] for a in argo] == ["t-key", "v-key"]


def test_the_server_needs_its_own_s3_keys():
    with pytest.raises(ValueError) as caught:
        po.mlflow_secrets(TEAMS, {**MLFLOW, "s3_secret_key": ""})
    assert str(caught.value) == "the tracking server's S3 keys are empty (mlflow_s3_access_key, mlflow_s3_secret_key)"


def test_the_filters_name_the_function_in_their_error():
    with pytest.raises(AnsibleFilterError) as caught:
        filters.mlflow_server(URI, "mlflow", "other", 5000)
    assert str(caught.value).startswith("mlflow_server: platform_mlflow_tracking_uri ")
    with pytest.raises(AnsibleFilterError, match=r"^cloudnative_pg_objects: instances must be at least 1"):
        filters.cloudnative_pg_objects(pg(instances=0))
    with pytest.raises(AnsibleFilterError, match=r"^cloudnative_pg_secrets: the database owner's password is empty"):
        filters.cloudnative_pg_secrets(pg(password=""))
    with pytest.raises(AnsibleFilterError, match=r"^mlflow_secrets: the tracking server's S3 keys are empty"):
        filters.mlflow_secrets(TEAMS, {**MLFLOW, "s3_access_key": ""})
    assert {"cloudnative_pg_objects", "cloudnative_pg_secrets", "mlflow_server", "mlflow_secrets"} <= set(
        filters.FilterModule().filters()
    )


def mlflow_accepts(patterns: list[str], host: str) -> bool:
    """MLflow's Host check (mlflow/server/security_utils.py, is_allowed_host_header): fnmatch for a
    pattern holding `*`, equality for any other."""
    return any(fnmatch.fnmatch(host, p) if "*" in p else host == p for p in patterns)


@pytest.mark.parametrize(
    ("cidr", "patterns"),
    [
        ("10.244.0.0/16", ["10.244.*:5000"]),
        ("10.0.0.0/8", ["10.*:5000"]),
        ("10.244.7.0/24", ["10.244.7.*:5000"]),
        ("10.244.0.0/22", ["10.244.0.*:5000", "10.244.1.*:5000", "10.244.2.*:5000", "10.244.3.*:5000"]),
        ("10.244.3.4/30", ["10.244.3.4:5000", "10.244.3.5:5000", "10.244.3.6:5000", "10.244.3.7:5000"]),
        ("10.244.3.9/32", ["10.244.3.9:5000"]),
        ("10.244.1.0/16", ["10.244.*:5000"]),  # host bits are ignored
    ],
)
def test_pod_host_patterns_cover_the_pod_cidr_on_the_port(cidr, patterns):
    assert po.pod_host_patterns(cidr, 5000) == patterns


@pytest.mark.parametrize("cidr", ["10.244.0.0/16", "172.16.0.0/12", "10.244.8.0/21", "10.244.3.4/30"])
def test_mlflow_accepts_every_pod_address_of_the_cidr_and_nothing_next_to_it(cidr):
    network = ipaddress.ip_network(cidr)
    patterns = po.pod_host_patterns(cidr, 5000)
    inside = [network.network_address, network.network_address + 1, network.broadcast_address - 1]
    for address in inside:
        assert mlflow_accepts(patterns, f"{address}:5000"), (address, patterns)
        assert not mlflow_accepts(patterns, f"{address}:5001")  # another port
        assert not mlflow_accepts(patterns, str(address))  # no port: not what Prometheus sends
    for address in (network.network_address - 1, network.broadcast_address + 1):
        assert not mlflow_accepts(patterns, f"{address}:5000"), (address, patterns)
    # a partly fixed octet is not a prefix of a longer number
    assert not mlflow_accepts(po.pod_host_patterns("10.244.0.0/22", 5000), "10.244.10.5:5000")


@pytest.mark.parametrize(
    ("cidr", "port", "message"),
    [
        ("fd00:10:244::/56", 5000, "pod CIDR fd00:10:244::/56 is not IPv4: pod address patterns are written for IPv4"),
        ("10.244.0.0/33", 5000, "pod CIDR '10.244.0.0/33' is not a network address: "),
        ("pods", 5000, "pod CIDR 'pods' is not a network address: "),
        ("8.0.0.0/7", 5000, "pod CIDR 8.0.0.0/7 is wider than /8"),
        ("10.244.0.0/16", 0, "port 0 is outside 1-65535"),
        ("10.244.0.0/16", 70000, "port 70000 is outside 1-65535"),
    ],
)
def test_pod_host_patterns_refuse_what_they_cannot_cover(cidr, port, message):
    with pytest.raises(ValueError) as caught:
        po.pod_host_patterns(cidr, port)
    assert str(caught.value).startswith(message)


def test_the_pod_host_patterns_filter_names_itself_in_its_error():
    assert filters.FilterModule().filters()["pod_host_patterns"]("10.244.0.0/16", "5000") == ["10.244.*:5000"]
    with pytest.raises(AnsibleFilterError, match=r"^pod_host_patterns: pod CIDR 'pods' is not a network address"):
        filters.pod_host_patterns("pods", 5000)
