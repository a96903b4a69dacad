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

import json
import re

import pytest
import yaml
from lab_support import ROOT, inventory_var, recap
from monitoring_support import render

pytestmark = pytest.mark.lab

NAMESPACE = "monitoring"
RELEASE = "kube-prometheus-stack"


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
