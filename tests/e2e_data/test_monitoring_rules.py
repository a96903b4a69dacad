"""The lab's real Prometheus loads the monitoring role's rules file and evaluates it against real MinIO.

lab/serving.py points Prometheus' rule_files at <prometheus home>/rules/*.yml;
the role's rules_file entry point writes the rendered groups there and
Prometheus reloads them (/-/reload). /api/v1/rules then lists every group
with each rule evaluated without error, and the MinIO alert follows the real
capacity series MinIO serves at /minio/v2/metrics/cluster: inactive while
usage is under the threshold, firing once the threshold is set below it. The
p99 latency and error-rate alerts read MLServer's own series: the p99 alert
fires under a tiny objective after real predictions and is inactive under
the default one; requests the model refuses (HTTP 500) fire the error alert.
At the end the rules rendered with the role's defaults stay loaded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from lab_support import ROOT, wait_until
from monitoring_support import render

import lab as lab_package
from lab.serving import ServingError

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

IMMEDIATE = {"monitoring_minio_disk_for": "0s"}
MIRROR = Path(os.environ.get("LAB_CHART_MIRROR", ROOT.parent / "shared" / "mirror" / "charts"))


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def reload(serving) -> None:
    request = urllib.request.Request(serving.prometheus.url("/-/reload"), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def wait_for(predicate, what: str, timeout: float = 90.0):
    return wait_until(predicate, what, timeout, interval=1.0)


@pytest.fixture
def lab_prometheus(data_services, labserving, lab_settings, tmp_path):
    """The lab's Prometheus on the current configuration, its rules directory, and a loader for the role's rules.

    A Prometheus already running is given the current configuration (with
    rule_files) and reloaded; one started here is stopped at the end. The
    rules rendered with the role's defaults are left in place.
    """
    rules = labserving.prometheus_home / "rules" / "platform.yml"
    with lab_package.exclusive(lab_settings.state):
        try:
            if labserving.manager.state(labserving.prometheus_spec()) == "running":
                labserving.prepare_prometheus()
                reload(labserving)
                started = []
            else:
                started = labserving.up(["prometheus"])
        except ServingError as exc:
            pytest.fail(f"the lab's Prometheus did not start: {exc}")

    def load(extra_vars: dict) -> list[str]:
        rendered, _ = render(tmp_path / f"render-{len(list(tmp_path.iterdir()))}", rules, extra_vars)
        reload(labserving)
        return [group["name"] for group in yaml.safe_load(rendered.read_text())["groups"]]

    yield load
    load({})
    labserving.down(started)


def minio_usage(serving) -> float:
    query = (
        "1 - max(minio_cluster_capacity_usable_free_bytes{job='minio'})"
        " / max(minio_cluster_capacity_usable_total_bytes{job='minio'})"
    )
    url = serving.prometheus.url("/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    result = wait_for(lambda: get(url)["data"]["result"], "MinIO's capacity series in Prometheus")
    return float(result[0]["value"][1])


def evaluated_groups(serving, names: list[str]) -> dict[str, dict] | None:
    """The rules by name once Prometheus lists exactly these groups and has evaluated every rule."""
    groups = get(serving.prometheus.url("/api/v1/rules"))["data"]["groups"]
    if sorted(g["name"] for g in groups) != sorted(names):
        return None
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    return rules if all(r["health"] == "ok" and r["lastEvaluation"][:4] != "0001" for r in rules.values()) else None


def alert_in_state(serving, names: list[str], alert: str, state: str):
    """A predicate: the alerting rule `alert` in `state` after a full evaluation of the groups `names`."""

    def check():
        rules = evaluated_groups(serving, names)
        rule = rules and rules[alert]
        return rule if rule and rule["state"] == state else None

    return check


def test_prometheus_loads_the_role_rules_and_evaluates_them_on_real_minio(lab_prometheus, labserving):
    usage = minio_usage(labserving)
    assert 0 < usage < 0.8, f"the lab's MinIO disk is {usage:.0%} full: the quiet case needs it under 80 %"

    names = lab_prometheus(IMMEDIATE)
    assert names == ["mlops-serving", "mlops-gpu", "mlops-storage", "mlops-database"]
    rules = wait_for(lambda: evaluated_groups(labserving, names), "every rule group loaded and evaluated")
    assert len(rules) == 7
    assert rules["MinIODiskAlmostFull"]["state"] == "inactive"

    # the threshold under the real usage: the alert fires on MinIO's own series
    names = lab_prometheus({**IMMEDIATE, "monitoring_minio_disk_ratio": round(usage / 2, 4)})

    alert = wait_for(alert_in_state(labserving, names, "MinIODiskAlmostFull", "firing"), "MinIODiskAlmostFull firing")
    (instance,) = alert["alerts"]
    assert instance["labels"] == {"alertname": "MinIODiskAlmostFull", "job": "minio", "severity": "warning"}
    assert abs(float(instance["value"]) - usage) < 0.01
    firing = get(labserving.prometheus.url("/api/v1/alerts"))["data"]["alerts"]
    assert "MinIODiskAlmostFull" in {a["labels"]["alertname"] for a in firing if a["state"] == "firing"}


def scraped_total(serving, series: str) -> float:
    """The sum of `series` in Prometheus' latest scrape; 0 while it has none."""
    url = serving.prometheus.url("/api/v1/query?" + urllib.parse.urlencode({"query": f"sum({series})"}))
    result = get(url)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def bad_requests(serving, count: int) -> list[int]:
    """V2 inference requests the model's signature refuses; MLServer's status codes."""
    url = serving.http.url(f"/v2/models/{serving.model}/infer")
    body = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}]}
    codes = []
    for _ in range(count):
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                codes.append(response.status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
        time.sleep(0.5)
    return codes


def test_the_inference_rules_read_real_mlserver_series(serving, lab_prometheus, labserving):
    """MLServer's own request histogram and counters (inference routes) drive the latency and error alerts.

    The lab's MLServer target carries no model_version label, so every version
    looks alike there; a 30-day deploy window makes each error count as a
    deploy's (promtool tests the window itself).
    """
    names = lab_prometheus(
        {
            "monitoring_inference_p99_slo_seconds": 0.000001,
            "monitoring_inference_latency_for": "0s",
            "monitoring_inference_deploy_window": "30d",
            "monitoring_inference_error_for": "0s",
        }
    )
    # rate() needs an increase between two scrapes of a series: a counter first scraped at its final value has none
    # (MLServer creates the 5xx series at the first refusal), so each burst waits for a scrape before the next
    for burst in range(2):
        seen = scraped_total(labserving, "rest_server_requests_total")
        labserving.predict(3, interval=0.2)
        assert set(bad_requests(labserving, 3)) == {500}
        wait_for(
            lambda seen=seen: (
                scraped_total(labserving, 'rest_server_requests_total{status_code=~"5.."}') > 0
                and scraped_total(labserving, "rest_server_requests_total") > seen
            ),
            f"Prometheus scraping burst {burst + 1} of MLServer's requests",
        )

    # the lab labels its MLServer target with the namespace only (no model_name/model_version target labels)
    for alert in ("InferenceLatencyAboveSLO", "InferenceErrorRateAfterDeploy"):
        rule = wait_for(alert_in_state(labserving, names, alert, "firing"), f"{alert} firing on MLServer's series")
        (instance,) = rule["alerts"]
        assert instance["labels"] == {"alertname": alert, "namespace": "ml-serving", "severity": "page"}
        value = float(instance["value"])
        assert 0 < value < (1.5 if alert == "InferenceLatencyAboveSLO" else 1), (alert, value)

    # the same requests against the default objective: the iris model answers far under 1.5 s
    names = lab_prometheus({"monitoring_inference_latency_for": "0s"})
    wait_for(alert_in_state(labserving, names, "InferenceLatencyAboveSLO", "inactive"), "the alert inactive at 1.5 s")


def test_predictors_are_scraped_where_mlserver_serves_its_metrics(serving):
    """The predictors' PodMonitor scrapes MLServer on the port of the role's monitoring_kserve_mlserver_metrics_port,
    not on the port KServe's kserve-mlserver runtime annotates: that one is MLServer's REST port, which has no
    /metrics (real MLServer here); the metrics port serves the rest_server series the inference alerts read, and
    the pinned MLServer's own defaults are the runtime's REST port and the role's metrics port."""
    serving.predict(2)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(serving.http.url("/metrics"), timeout=10)
    assert refused.value.code == 404
    with urllib.request.urlopen(serving.metrics.url("/metrics"), timeout=10) as response:
        assert "\nrest_server_requests_total{" in response.read().decode()

    script = (
        "import json; from mlserver.settings import Settings as S; "
        "print(json.dumps({k: S.model_fields[k].default for k in ('http_port', 'metrics_port', 'metrics_endpoint')}))"
    )
    result = subprocess.run([serving.mlserver_env.bin("python"), "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    role = yaml.safe_load((ROOT / "roles" / "monitoring" / "defaults" / "main.yml").read_text())
    runtime = mlserver_runtime()
    (container,) = runtime["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert json.loads(result.stdout) == {
        "http_port": int(runtime["spec"]["annotations"]["prometheus.kserve.io/port"]),
        "metrics_port": role["monitoring_kserve_mlserver_metrics_port"],
        "metrics_endpoint": "/metrics",
    }
    assert env["MLSERVER_HTTP_PORT"] == runtime["spec"]["annotations"]["prometheus.kserve.io/port"]
    assert "MLSERVER_METRICS_PORT" not in env
    assert re.fullmatch(role["monitoring_kserve_mlserver_image_regex"], container["image"])


def mlserver_runtime() -> dict:
    """The kserve-mlserver ClusterServingRuntime as the pinned kserve-runtime-configs chart ships it."""
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    release = versions["platform_releases"][versions["platform_release_default"]]
    chart = MIRROR / f"kserve-runtime-configs-{release['charts']['kserve']}.tgz"
    with tarfile.open(chart) as archive:
        member = archive.extractfile("kserve-runtime-configs/files/runtimes/resources.yaml")
        runtimes = [doc for doc in yaml.safe_load_all(member.read()) if doc]
    (runtime,) = [r for r in runtimes if r["metadata"]["name"] == "kserve-mlserver"]
    return runtime
