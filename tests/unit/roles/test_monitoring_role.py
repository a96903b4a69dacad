"""The monitoring role's alert rules and Grafana dashboards, checked by promtool.

The role renders its rule groups once (roles/monitoring/templates/rule-groups.yml.j2)
into both the PrometheusRule's spec.groups and a plain Prometheus rules file
(entry point `rules_file`). Here ansible-playbook renders both; promtool
checks the file and runs the unit tests in monitoring/*.test.yml, with series
that fire each alert and series that do not, once with the role's defaults and
once with other thresholds. Every panel query of the dashboards goes through
promtool's parser as a recording rule, so a broken query fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from monitoring_support import converge, pod_monitor_targets, render, run_promtool

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "monitoring"
HERE = Path(__file__).resolve().parent / "monitoring"
MIRROR = Path(os.environ.get("LAB_CHART_MIRROR", ROOT.parent / "shared" / "mirror" / "charts"))

# Values standing in for Grafana's variables, so a panel query is plain PromQL.
GRAFANA_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
GRAFANA_VARIABLE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")

OVERRIDES = {
    "monitoring_inference_p99_slo_seconds": 6,
    "monitoring_gpu_memory_ratio": 0.96,
    "monitoring_minio_disk_ratio": 0.9,
    "monitoring_database_backup_max_age_hours": 30,
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The rules file and objects from the role's defaults."""
    return render(tmp_path_factory.mktemp("monitoring"))


def unit_tests_for(rules: Path, test_file: Path, workdir: Path) -> Path:
    """The promtool unit test file, pointed at the rendered rules file."""
    spec = yaml.safe_load(test_file.read_text())
    spec["rule_files"] = [str(rules)]
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / test_file.name
    target.write_text(yaml.safe_dump(spec, sort_keys=False))
    return target


def alert_names(rules: Path) -> list[str]:
    return [rule["alert"] for group in yaml.safe_load(rules.read_text())["groups"] for rule in group["rules"]]


def test_the_rules_file_passes_promtool_check(rendered):
    rules, _ = rendered
    result = run_promtool("check", "rules", rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout
    assert alert_names(rules) == [
        "InferenceLatencyAboveSLO",
        "InferenceErrorRateAfterDeploy",
        "GPUMemoryAlmostFull",
        "GPUsIdleWhileGPUPodsPending",
        "MinIODiskAlmostFull",
        "DatabaseBackupFailed",
        "DatabaseBackupTooOld",
    ]


def test_a_second_run_changes_nothing(tmp_path):
    rules, _, first = converge(tmp_path)
    _, _, second = converge(tmp_path)
    assert re.search(r"localhost\s+: ok=\d+\s+changed=[1-9]", first), first
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", second), second
    assert rules.is_file()


def test_each_alert_fires_on_its_series_and_stays_quiet_otherwise(rendered, tmp_path):
    rules, _ = rendered
    test_file = HERE / "alerts.test.yml"
    cases = [case for test in yaml.safe_load(test_file.read_text())["tests"] for case in test["alert_rule_test"]]
    for name in alert_names(rules):
        expected = [case["exp_alerts"] for case in cases if case["alertname"] == name]
        assert any(expected), f"no promtool case where {name} fires"
        assert [] in expected, f"no promtool case where {name} stays quiet"
    result = run_promtool("test", "rules", unit_tests_for(rules, test_file, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_thresholds_and_objective_come_from_role_variables(rendered, tmp_path):
    default_rules, _ = rendered
    rules, objects = render(tmp_path / "render", extra_vars=OVERRIDES)
    test_file = HERE / "alerts-overrides.test.yml"
    result = run_promtool("test", "rules", unit_tests_for(rules, test_file, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    # the same expectations fail against the defaults: the variables changed what fires
    with_defaults = run_promtool("test", "rules", unit_tests_for(default_rules, test_file, tmp_path / "defaults"))
    assert with_defaults.returncode != 0
    for alert in ("InferenceLatencyAboveSLO", "MinIODiskAlmostFull", "GPUMemoryAlmostFull", "DatabaseBackupTooOld"):
        assert f"alertname: {alert}," in with_defaults.stdout + with_defaults.stderr
    assert objects[0]["spec"]["groups"] == yaml.safe_load(rules.read_text())["groups"]


def test_the_prometheus_rule_carries_the_same_groups_and_fits_its_crd(rendered):
    rules, objects = rendered
    rule = objects[0]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["metadata"] == {
        "name": "mlops-platform-alerts",
        "namespace": "monitoring",
        "labels": {"release": "kube-prometheus-stack"},
    }
    assert rule["spec"]["groups"] == yaml.safe_load(rules.read_text())["groups"]
    # Draft 7 without checking the schema itself: Go regex syntax in patterns of fields we do not set
    jsonschema.Draft7Validator(prometheus_rule_schema()).validate(rule)


def prometheus_rule_schema() -> dict:
    """The PrometheusRule CRD's schema from the kube-prometheus-stack chart of the default platform release."""
    return crd_schema("prometheusrules")


def crd_schema(plural: str) -> dict:
    """The v1 schema of one of the kube-prometheus-stack chart's CRDs (default platform release)."""
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    release = versions["platform_releases"][versions["platform_release_default"]]
    chart = MIRROR / f"kube-prometheus-stack-{release['charts']['kube_prometheus_stack']}.tgz"
    assert chart.is_file(), f"the chart mirror has no {chart.name} (see docs/lab.md)"
    with tarfile.open(chart) as archive:
        member = archive.extractfile(f"kube-prometheus-stack/charts/crds/crds/crd-{plural}.yaml")
        crd = yaml.safe_load(member.read())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def test_each_dashboard_is_a_configmap_grafana_picks_up(rendered):
    _, objects = rendered
    maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    assert sorted(maps) == ["mlops-dashboard-gpu-utilization", "mlops-dashboard-inference"]
    for name, config_map in maps.items():
        dashboard = name.removeprefix("mlops-dashboard-")
        assert config_map["metadata"]["namespace"] == "monitoring"
        assert config_map["metadata"]["labels"] == {"grafana_dashboard": "1"}
        assert list(config_map["data"]) == [f"{dashboard}.json"]
        shipped = json.loads((ROLE / "files" / "dashboards" / f"{dashboard}.json").read_text())
        assert json.loads(config_map["data"][f"{dashboard}.json"]) == shipped


def dashboards() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted((ROLE / "files" / "dashboards").glob("*.json"))}


def panels(dashboard: dict):
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panels(panel)


def panel_queries(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expression) for every target of every panel."""
    return [(p["title"], t["expr"]) for p in panels(dashboard) for t in p.get("targets", []) if "expr" in t]


def as_promql(expr: str, defined: set[str]) -> str:
    """The expression with Grafana's variables replaced; an undefined variable is an error."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in GRAFANA_VARIABLES:
            return GRAFANA_VARIABLES[name]
        assert name in defined, f"{expr!r} uses ${name}, which the dashboard does not define"
        return ".+"

    return GRAFANA_VARIABLE.sub(value, expr)


def check_queries(queries: list[tuple[str, str]], workdir: Path) -> subprocess.CompletedProcess:
    """promtool check rules on a file holding each query as a recording rule."""
    rules = [{"record": f"dashboard:panel_{i}:query", "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = workdir / "panel-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-panels", "rules": rules}]}, sort_keys=False))
    return run_promtool("check", "rules", path)


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_panel_query_parses(name, tmp_path):
    dashboard = dashboards()[name]
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    queries = [(title, as_promql(expr, defined)) for title, expr in panel_queries(dashboard)]
    assert len(queries) >= 5
    result = check_queries(queries, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_a_broken_panel_query_fails_the_check(tmp_path):
    result = check_queries([("ok", "sum(up)"), ("broken", "sum by (pod (DCGM_FI_DEV_GPU_UTIL)")], tmp_path)
    assert result.returncode != 0
    assert "dashboard:panel_1:query" in result.stdout + result.stderr


def test_the_dashboards_answer_the_spec_questions():
    gpu, inference = dashboards()["gpu-utilization"], dashboards()["inference"]
    by_title = {title: expr for title, expr in panel_queries(gpu)}
    assert "by (namespace, pod, gpu) (DCGM_FI_DEV_GPU_UTIL" in by_title["GPU utilisation by namespace and pod"]
    assert "by (namespace, pod, gpu) (DCGM_FI_DEV_FB_USED" in by_title["GPU memory used by namespace and pod"]
    by_title = {title: expr for title, expr in panel_queries(inference)}
    per_version = "by (namespace, model_name, model_version"
    assert per_version in by_title["Request rate per model version"]
    assert "rate(rest_server_requests_total{" in by_title["Request rate per model version"]
    assert by_title["p99 latency per model version"].startswith(f"histogram_quantile(0.99, sum {per_version}, le)")


def test_each_dashboard_has_its_own_uid_panel_ids_and_the_chosen_data_source():
    uids = [d["uid"] for d in dashboards().values()]
    assert len(set(uids)) == len(uids)
    for name, dashboard in dashboards().items():
        ids = [p["id"] for p in panels(dashboard)]
        assert len(set(ids)) == len(ids), name
        assert "datasource" in {v["name"] for v in dashboard["templating"]["list"]}, name
        sources = {json.dumps(p["datasource"]) for p in panels(dashboard)}
        sources |= {json.dumps(t["datasource"]) for p in panels(dashboard) for t in p["targets"]}
        assert sources == {json.dumps({"type": "prometheus", "uid": "${datasource}"})}, name


# --- the monitors of MLflow and KServe's predictors ----------------------------------------------------

PORT = "prometheus.kserve.io/port"
TEAMS = [
    {"name": "vision", "namespace": "team-vision", "s3_secret_key": "v"},
    {"name": "tabular", "namespace": "team-tabular", "s3_secret_key": "t"},
]


@pytest.fixture(scope="module")
def with_teams(tmp_path_factory):
    """The objects with two teams and a renamed MLflow release."""
    extra = {"platform_teams": TEAMS, "mlflow_namespace": "tracking", "mlflow_release_name": "tracker"}
    return render(tmp_path_factory.mktemp("teams"), extra_vars=extra)[1]


def monitors(objects: list[dict]) -> dict:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects if o["kind"] in ("ServiceMonitor", "PodMonitor")}


def predictor(name: str, namespace: str = "team-tabular", image: str = "docker.io/seldonio/mlserver:1.5.0", **extra):
    """A predictor pod as KServe Standard mode makes it (labels from the InferenceService and the
    kserve role, the runtime's prometheus.kserve.io annotations), Running with an address."""
    labels = {
        "component": "predictor",
        "serving.kserve.io/inferenceservice": "iris",
        "app": "isvc.iris-v3-predictor",
        "model_name": "iris",
        "model_version": "3",
        **extra.pop("labels", {}),
    }
    annotations = {"prometheus.kserve.io/port": "8080", "prometheus.kserve.io/path": "/metrics"}
    annotations.update(extra.pop("annotations", {}))
    container = {"name": "kserve-container", "image": image, **extra.pop("container", {})}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": {"containers": [container, *extra.pop("sidecars", [])], "nodeName": "node-1"},
        "status": {"phase": extra.pop("phase", "Running"), "podIP": extra.pop("ip", "10.244.3.17")},
    }


def test_the_pod_monitor_and_mlflow_s_service_monitor_fit_their_crds(with_teams):
    found = monitors(with_teams)
    pod_monitor = found[("PodMonitor", "kserve-predictors")]
    mlflow = found[("ServiceMonitor", "mlflow")]
    for monitor in (pod_monitor, mlflow):
        assert monitor["metadata"]["namespace"] == "monitoring"
        assert monitor["metadata"]["labels"] == {"release": "kube-prometheus-stack"}
    jsonschema.Draft7Validator(crd_schema("podmonitors")).validate(pod_monitor)
    jsonschema.Draft7Validator(crd_schema("servicemonitors")).validate(mlflow)
    # every team's namespace, each once, in a stable order
    assert pod_monitor["spec"]["namespaceSelector"] == {"matchNames": ["team-tabular", "team-vision"]}
    # the MLflow chart's selector labels of the release, in its namespace, on the chart's port name
    assert mlflow["spec"]["namespaceSelector"] == {"matchNames": ["tracking"]}
    assert mlflow["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": "tracker"}
    }
    assert [(e["port"], e["path"]) for e in mlflow["spec"]["endpoints"]] == [("http", "/metrics")]


def test_without_teams_there_is_no_pod_monitor(rendered):
    _, objects = rendered
    assert [key for key in monitors(objects) if key[0] == "PodMonitor"] == []
    # Prometheus would read an empty namespace list as the monitor's own namespace
    assert ("ServiceMonitor", "mlflow") in monitors(objects)


@pytest.mark.parametrize(
    ("pod", "address"),
    [
        # MLServer: its metrics server's port, not the REST port its runtime annotates
        (predictor("mlserver"), "10.244.3.17:8082"),
        (predictor("mirrored", image="registry.dc1.example.com/seldonio/mlserver@sha256:0abc"), "10.244.3.17:8082"),
        # KServe's own model servers serve /metrics on the port their runtime annotates
        (predictor("sklearn", image="kserve/sklearnserver:v0.20.0"), "10.244.3.17:8080"),
        (
            predictor("triton", image="nvcr.io/nvidia/tritonserver:23.05-py3", annotations={PORT: "8002"}),
            "10.244.3.17:8002",
        ),
        # a runtime without the annotation: KServe's default port
        (predictor("custom", image="example/custom-model:1", annotations={PORT: ""}), "10.244.3.17:8080"),
        # a declared container port changes nothing: one target, on the metrics port
        (predictor("ported", container={"ports": [{"name": "h2c", "containerPort": 8080}]}), "10.244.3.17:8082"),
        (predictor("ipv6", ip="fd00:10:244::17"), "[fd00:10:244::17]:8082"),
        # not an MLServer image, though the name has it in a path
        (predictor("lookalike", image="example/mlserver-tools/sklearn:1"), "10.244.3.17:8080"),
    ],
    ids=lambda value: value["metadata"]["name"] if isinstance(value, dict) else value,
)
def test_each_predictor_is_scraped_on_its_runtime_s_metrics_port_with_its_model_version(with_teams, pod, address):
    monitor = monitors(with_teams)[("PodMonitor", "kserve-predictors")]
    sidecar = {"name": "agent", "image": "kserve/agent:v0.20.0", "ports": [{"name": "agent", "containerPort": 9081}]}
    pod["spec"]["containers"].append(sidecar)
    (target,) = pod_monitor_targets(monitor, [pod])
    assert target["address"] == address
    assert target["path"] == "/metrics"
    labels = target["labels"]
    name = pod["metadata"]["name"]
    assert {k: labels[k] for k in ("namespace", "pod", "model_name", "model_version", "inferenceservice")} == {
        "namespace": "team-tabular",
        "pod": name,
        "model_name": "iris",
        "model_version": "3",
        "inferenceservice": "iris",
    }
    assert labels["job"] == "monitoring/kserve-predictors"


def test_only_running_predictors_of_the_teams_namespaces_are_scraped(with_teams):
    monitor = monitors(with_teams)[("PodMonitor", "kserve-predictors")]
    pods = [
        predictor("stable"),
        predictor("canary", namespace="team-vision", labels={"model_version": "4"}),
        predictor("elsewhere", namespace="kserve"),
        predictor("transformer", labels={"component": "transformer"}),
        predictor("done", phase="Succeeded"),
    ]
    no_isvc = predictor("plain")
    del no_isvc["metadata"]["labels"]["serving.kserve.io/inferenceservice"]
    targets = pod_monitor_targets(monitor, [*pods, no_isvc])
    assert [(t["labels"]["namespace"], t["labels"]["pod"], t["labels"]["model_version"]) for t in targets] == [
        ("team-tabular", "stable", "3"),
        ("team-vision", "canary", "4"),
    ]


def test_other_settings_change_the_metrics_port_and_the_namespaces(tmp_path):
    extra = {
        "platform_teams": TEAMS,
        "monitoring_kserve_namespaces": ["serving-a"],
        "monitoring_kserve_mlserver_metrics_port": 9100,
        "monitoring_mlflow_enabled": False,
    }
    objects = render(tmp_path, extra_vars=extra)[1]
    found = monitors(objects)
    assert ("ServiceMonitor", "mlflow") not in found
    monitor = found[("PodMonitor", "kserve-predictors")]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["serving-a"]}
    (target,) = pod_monitor_targets(monitor, [predictor("a", namespace="serving-a")])
    assert target["address"] == "10.244.3.17:9100"
    jsonschema.Draft7Validator(crd_schema("podmonitors")).validate(monitor)
