"""The observability layer on the lab: kube-prometheus-stack with the monitoring role's objects.

On kwok nodes the chart's pods are simulated; what is real is the API server, which validates and
stores the chart's CRDs, its Prometheus object and the role's PrometheusRule, ServiceMonitors and
dashboard ConfigMaps. The Services the ServiceMonitors select are made by operators that do not
run on kwok (the MinIO operator for the Tenant, the GPU Operator's ClusterPolicy controller for the
DCGM exporter), so this module stands them in exactly as those operators' sources write them,
beside every other Service of the cluster, and selects among all of them the way the Prometheus
Operator does.
"""

from __future__ import annotations

import fnmatch
import json
import re
import uuid

import pytest
import yaml
from lab_support import ROOT, inventory_var, recap
from monitoring_support import pod_monitor_targets, render
from test_kserve import serve

pytestmark = pytest.mark.lab

NAMESPACE = "monitoring"
RELEASE = "kube-prometheus-stack"
MLFLOW_NAMESPACE = "ml-platform"


def operator_services(tenant: dict, dcgm_namespace: str) -> list[dict]:
    """The Services the operators create (no operator runs on kwok).

    MinIO operator v7.1.1, pkg/resources/services/service.go: NewClusterIPForMinIO ("minio", port
    http-minio 80 without TLS) and NewHeadlessForMinIO ("<tenant>-hl", port http-minio 9000), both
    labelled with MinIOPodLabels (v1.min.io/tenant=<tenant>). GPU Operator,
    assets/state-dcgm-exporter/0600_service.yaml: "nvidia-dcgm-exporter", app=nvidia-dcgm-exporter,
    port gpu-metrics 9400.
    """
    name, namespace = tenant["metadata"]["name"], tenant["metadata"]["namespace"]
    tenant_labels = {"v1.min.io/tenant": name}

    def service(svc_name, ns, labels, port_name, port, **spec):
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": svc_name, "namespace": ns, "labels": labels},
            "spec": {"selector": labels, "ports": [{"name": port_name, "port": port, "targetPort": port}], **spec},
        }

    return [
        service("minio", namespace, tenant_labels, "http-minio", 80),
        service(f"{name}-hl", namespace, tenant_labels, "http-minio", 9000, clusterIP="None"),
        service("nvidia-dcgm-exporter", dcgm_namespace, {"app": "nvidia-dcgm-exporter"}, "gpu-metrics", 9400),
    ]


def selected(monitor: dict, services: list[dict]) -> list[tuple[str, str]]:
    """(namespace, name) of the Services a ServiceMonitor scrapes: its namespaceSelector and label
    selector, then its endpoints' keep relabelings on the Service name."""
    spec = monitor["spec"]
    namespaces = spec["namespaceSelector"]["matchNames"]
    wanted = spec["selector"]["matchLabels"]
    found = []
    for svc in services:
        meta = svc["metadata"]
        labels = meta.get("labels") or {}
        if meta["namespace"] not in namespaces or any(labels.get(k) != v for k, v in wanted.items()):
            continue
        kept = True
        for endpoint in spec["endpoints"]:
            for relabel in endpoint.get("relabelings", []):
                if relabel.get("action") == "keep" and relabel["sourceLabels"] == ["__meta_kubernetes_service_name"]:
                    kept = kept and re.fullmatch(relabel["regex"], meta["name"]) is not None
        if kept:
            found.append((meta["namespace"], meta["name"]))
    return found


@pytest.fixture(scope="module")
def observability(layers):
    """The layer as the session converged it, with the operators' Services stood in."""
    lab = layers.lab
    (tenant,) = lab.get("tenant", "-A")["items"]
    (policy,) = lab.get("clusterpolicy")["items"]
    dcgm_namespace = policy["metadata"]["annotations"]["meta.helm.sh/release-namespace"]
    services = operator_services(tenant, dcgm_namespace)
    lab.apply(services)
    yield layers, tenant, dcgm_namespace, services
    for svc in services:
        lab.kubectl("delete", "service", svc["metadata"]["name"], "-n", svc["metadata"]["namespace"], "--wait=false")


def test_the_release_is_deployed_with_the_layer_s_values(observability):
    layers = observability[0]
    lab = layers.lab
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    chart_version = versions["platform_releases"][versions["platform_release_default"]]["charts"][
        "kube_prometheus_stack"
    ]
    (release,) = [r for r in json.loads(lab.helm("list", "-n", NAMESPACE, "-o", "json").stdout) if r["name"] == RELEASE]
    assert (release["status"], release["chart"]) == ("deployed", f"kube-prometheus-stack-{chart_version}")

    (prometheus,) = lab.get("prometheus", "-n", NAMESPACE)["items"]
    spec = prometheus["spec"]
    claim = spec["storage"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == inventory_var("platform_storage_class")
    assert spec["retention"] == "15d"

    # node-exporter runs on the GPU nodes: its DaemonSet tolerates the inventory's GPU taint
    taint = inventory_var("gpu_node_taint")
    daemonset = lab.get("daemonset", f"{RELEASE}-prometheus-node-exporter", "-n", NAMESPACE)
    tolerations = daemonset["spec"]["template"]["spec"]["tolerations"]
    assert any(
        t.get("key") in (None, taint["key"]) and t.get("effect") in (None, taint["effect"]) for t in tolerations
    ), tolerations
    tainted = [n for n in lab.get("nodes")["items"] if taint in (n["spec"].get("taints") or [])]
    assert tainted, "the lab has GPU nodes carrying gpu_node_taint"
    assert daemonset["status"]["desiredNumberScheduled"] == len(lab.get("nodes")["items"])

    # Grafana's dashboard sidecar watches the label the dashboard ConfigMaps carry
    grafana = lab.get("deployment", f"{RELEASE}-grafana", "-n", NAMESPACE)
    sidecar = next(c for c in grafana["spec"]["template"]["spec"]["containers"] if c["name"] == "grafana-sc-dashboard")
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    dashboards = lab.get("configmap", "-n", NAMESPACE, "-l", f"{env['LABEL']}={env['LABEL_VALUE']}")["items"]
    names = {cm["metadata"]["name"] for cm in dashboards}
    assert {"mlops-dashboard-gpu-utilization", "mlops-dashboard-inference"} <= names


def test_prometheus_selects_the_role_s_rule_with_the_rendered_groups(observability, tmp_path):
    lab = observability[0].lab
    rules_file, _ = render(tmp_path)
    rule = lab.get("prometheusrule", "mlops-platform-alerts", "-n", NAMESPACE)
    assert rule["spec"]["groups"] == yaml.safe_load(rules_file.read_text())["groups"]

    (prometheus,) = lab.get("prometheus", "-n", NAMESPACE)["items"]
    selector = prometheus["spec"]["ruleSelector"]["matchLabels"]
    assert selector.items() <= rule["metadata"]["labels"].items()
    namespaces = prometheus["spec"].get("ruleNamespaceSelector")
    assert namespaces == {}, namespaces  # every namespace, the release's included


def test_each_service_monitor_selects_exactly_the_service_it_targets(observability):
    layers, tenant, dcgm_namespace, _ = observability
    lab = layers.lab
    (prometheus,) = lab.get("prometheus", "-n", NAMESPACE)["items"]
    selector = prometheus["spec"]["serviceMonitorSelector"]["matchLabels"]
    services = lab.get("services", "-A")["items"]
    targets = {
        "minio": (tenant["metadata"]["namespace"], "minio"),
        "nvidia-dcgm-exporter": (dcgm_namespace, "nvidia-dcgm-exporter"),
        "mlflow": (MLFLOW_NAMESPACE, "mlflow"),  # the mlflow chart's own Service, as Helm made it
    }
    for name, target in targets.items():
        monitor = lab.get("servicemonitor", name, "-n", NAMESPACE)
        assert selector.items() <= monitor["metadata"]["labels"].items(), monitor["metadata"]
        assert selected(monitor, services) == [target], name
        (service,) = [s for s in services if (s["metadata"]["namespace"], s["metadata"]["name"]) == target]
        ports = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports, (name, ports)

    minio = lab.get("servicemonitor", "minio", "-n", NAMESPACE)["spec"]["endpoints"][0]
    assert minio["path"] == "/minio/v2/metrics/cluster"
    assert minio["scheme"] == "http"  # the lab's tenant serves plain HTTP (minio_tenant_tls_enabled: false)
    assert minio["authorization"]["credentials"] == {"name": "minio-prometheus-token", "key": "token"}
    dcgm = lab.get("servicemonitor", "nvidia-dcgm-exporter", "-n", NAMESPACE)["spec"]["endpoints"][0]
    assert dcgm["honorLabels"] is True


def test_a_second_run_changes_nothing(observability):
    layers = observability[0]
    result = layers.play(tags="observability")
    assert recap(result)["changed"] == 0, result.stdout[-3000:]


def mlflow_accepts(allowed: str, host: str) -> bool:
    """MLflow's Host check (mlflow/server/security_utils.py): fnmatch for a pattern holding `*`,
    equality for any other, over MLFLOW_SERVER_ALLOWED_HOSTS."""
    return any(fnmatch.fnmatch(host, p) if "*" in p else host == p for p in allowed.split(","))


def test_mlflow_s_service_monitor_reaches_the_exporter_of_the_real_release(observability):
    """The ServiceMonitor's port is the chart's Service port whose target is the server's container
    port; the server runs with the exporter, writing its files to an emptyDir, and accepts the Host
    header Prometheus sends (<pod IP>:<port>) for each of its real pods."""
    lab = observability[0].lab
    monitor = lab.get("servicemonitor", "mlflow", "-n", NAMESPACE)
    (endpoint,) = monitor["spec"]["endpoints"]
    service = lab.get("service", "mlflow", "-n", MLFLOW_NAMESPACE)
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    deployment = lab.get("deployment", "mlflow", "-n", MLFLOW_NAMESPACE)
    template = deployment["spec"]["template"]
    (server,) = [c for c in template["spec"]["containers"] if c["name"] == "mlflow"]
    (container_port,) = [p for p in server["ports"] if p["name"] == port["targetPort"]]
    assert endpoint["path"] == "/metrics"
    # the exporter and where its per-process files go: an emptyDir, the root filesystem read-only
    (flag,) = [a for a in server["args"] if a.startswith("--expose-prometheus=")]
    directory = flag.split("=", 1)[1]
    (mount,) = [m for m in server["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume == {"name": mount["name"], "emptyDir": {}}
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    # the Service's selector is the Deployment's pods, and MLflow accepts each one's address as Host
    config = lab.get("configmap", "mlflow-env-configmap", "-n", MLFLOW_NAMESPACE)["data"]
    selector = ",".join(f"{k}={v}" for k, v in service["spec"]["selector"].items())
    pods = lab.get("pods", "-n", MLFLOW_NAMESPACE, "-l", selector)["items"]
    assert len(pods) == deployment["spec"]["replicas"] >= 1
    for pod in pods:
        address = f"{pod['status']['podIP']}:{container_port['containerPort']}"
        assert mlflow_accepts(config["MLFLOW_SERVER_ALLOWED_HOSTS"], address), address
    assert not mlflow_accepts(config["MLFLOW_SERVER_ALLOWED_HOSTS"], f"192.0.2.1:{container_port['containerPort']}")


def test_the_predictors_pod_monitor_scrapes_each_served_model_version(observability):
    """Two models served through the kserve role, one per team namespace, by the real KServe
    controller: among every pod of the cluster the PodMonitor keeps exactly their predictors, on
    MLServer's metrics port, labelled with each one's namespace, pod, model name and version."""
    layers = observability[0]
    lab = layers.lab
    (prometheus,) = lab.get("prometheus", "-n", NAMESPACE)["items"]
    monitor = lab.get("podmonitor", "kserve-predictors", "-n", NAMESPACE)
    assert prometheus["spec"]["podMonitorSelector"]["matchLabels"].items() <= monitor["metadata"]["labels"].items()
    assert prometheus["spec"].get("podMonitorNamespaceSelector") == {}
    teams = {t["name"]: t for t in inventory_var("platform_teams")}
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == sorted(t["namespace"] for t in teams.values())
    served = {
        "tabular": {"model_name": "iris-bare-metal", "model_version": "7", "storage_uri": "s3://tabular-models/iris/7"},
        "vision": {"model_name": "resnet-edge", "model_version": "2", "storage_uri": "s3://vision-models/resnet/2"},
    }
    names = {team: f"mon-{team[:3]}-{uuid.uuid4().hex[:4]}" for team in served}
    try:
        for team, model in served.items():
            serve(layers, team=team, name=names[team], alias="", **model)
        pods = lab.get("pods", "-A")["items"]
        predictors = {
            (p["metadata"]["namespace"], p["metadata"]["name"]): p
            for p in pods
            if p["metadata"].get("labels", {}).get("serving.kserve.io/inferenceservice") in names.values()
        }
        assert len(predictors) == 2, sorted(predictors)
        targets = pod_monitor_targets(monitor, pods)
        # nothing but predictors of the teams' InferenceServices (others may be left from other tests)
        by_pod = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in pods}
        for target in targets:
            pod = by_pod[(target["labels"]["namespace"], target["labels"]["pod"])]
            assert pod["metadata"]["labels"]["component"] == "predictor", target
            assert pod["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"], target
        mine = [t for t in targets if (t["labels"]["namespace"], t["labels"]["pod"]) in predictors]
        assert sorted((t["labels"]["namespace"], t["labels"]["pod"]) for t in mine) == sorted(predictors)
        for target in mine:
            labels = target["labels"]
            pod = predictors[(labels["namespace"], labels["pod"])]
            team = next(t for t in teams if teams[t]["namespace"] == labels["namespace"])
            (runtime,) = [c for c in pod["spec"]["containers"] if c["name"] == "kserve-container"]
            # KServe copied the runtime's annotation: the REST port, which MLServer does not serve metrics on
            assert pod["metadata"]["annotations"]["prometheus.kserve.io/port"] == "8080"
            assert "mlserver" in runtime["image"]
            assert target["address"] == f"{pod['status']['podIP']}:8082"
            assert target["path"] == "/metrics"
            assert (labels["model_name"], labels["model_version"]) == (
                served[team]["model_name"],
                served[team]["model_version"],
            )
            assert labels["inferenceservice"] == names[team]
    finally:
        for team, name in names.items():
            lab.kubectl("delete", "inferenceservice", name, "-n", teams[team]["namespace"], "--ignore-not-found")
