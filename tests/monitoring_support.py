"""The monitoring role rendered by ansible-playbook, and promtool, for the tests that check its rules.

render() converges the role's objects entry point (the PrometheusRule, the
dashboard ConfigMaps and the ServiceMonitors) and its rules_file entry point (the same rule groups as
a plain Prometheus rules file) on localhost. pod_monitor_targets() lists what Prometheus scrapes for a
PodMonitor among pods read from an API server (or written by a test).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PLAYBOOK = """\
---
- name: The monitoring role's objects and rules file
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: PrometheusRule, dashboard ConfigMaps and ServiceMonitors
      ansible.builtin.include_role:
        name: baremetal.mlops.monitoring
        tasks_from: objects
    - name: The same rule groups as a rules file
      ansible.builtin.include_role:
        name: baremetal.mlops.monitoring
        tasks_from: rules_file
    - name: Hand the objects to the test
      ansible.builtin.copy:
        content: "{{ __monitoring_objects | to_json }}"
        dest: "{{ objects_file }}"
        mode: "0644"
"""


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (scripts/system-packages/serving.txt)")
    return path


def run_promtool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, check=False)


def render(workdir: Path, rules: Path | None = None, extra_vars: dict | None = None) -> tuple[Path, list[dict]]:
    """Converge the role's main and rules_file entry points; return the rules file and the objects."""
    rules, objects, _ = converge(workdir, rules, extra_vars)
    return rules, objects


def converge(workdir: Path, rules: Path | None = None, extra_vars: dict | None = None):
    """render(), plus ansible-playbook's output."""
    workdir.mkdir(parents=True, exist_ok=True)
    playbook = workdir / "render.yml"
    playbook.write_text(PLAYBOOK)
    rules, objects = rules or workdir / "rules" / "platform.yml", workdir / "objects.json"
    variables = {
        "ansible_python_interpreter": sys.executable,
        "monitoring_rules_file": str(rules),
        "objects_file": str(objects),
        **(extra_vars or {}),
    }
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook)]
    result = subprocess.run([*argv, "-e", json.dumps(variables)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"ansible-playbook failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    return rules, json.loads(objects.read_text()), result.stdout


# --- what Prometheus scrapes for a PodMonitor --------------------------------------------------------
#
# The Prometheus Operator (v0.93, pkg/prometheus/promcfg.go generatePodMonitorConfig) turns a
# PodMonitor into a scrape job over Prometheus' pod service discovery: it drops pods that are not
# running, keeps the pods its label selector matches, sets namespace, container, pod and job, then
# applies the endpoint's own relabelings. The functions below do the same on pods read from the API
# server, so a test sees the address, path and labels Prometheus would scrape.

_NOT_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_KEPT_INTERNAL = ("__address__", "__metrics_path__", "__scheme__")


def sanitize(name: str) -> str:
    return _NOT_LABEL_CHARS.sub("_", name)


def pod_discovery(pod: dict) -> list[dict]:
    """The targets Prometheus' kubernetes_sd_configs role `pod` makes of a pod: one per declared
    container port, and one per container without ports (its address the pod IP alone)."""
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
    ip = status.get("podIP", "")
    common = {
        "__meta_kubernetes_namespace": meta["namespace"],
        "__meta_kubernetes_pod_name": meta["name"],
        "__meta_kubernetes_pod_ip": ip,
        "__meta_kubernetes_pod_phase": status.get("phase", ""),
        "__meta_kubernetes_pod_node_name": spec.get("nodeName", ""),
    }
    for key, value in (meta.get("labels") or {}).items():
        common[f"__meta_kubernetes_pod_label_{sanitize(key)}"] = value
        common[f"__meta_kubernetes_pod_labelpresent_{sanitize(key)}"] = "true"
    for key, value in (meta.get("annotations") or {}).items():
        common[f"__meta_kubernetes_pod_annotation_{sanitize(key)}"] = value
        common[f"__meta_kubernetes_pod_annotationpresent_{sanitize(key)}"] = "true"
    targets = []
    for container in spec["containers"]:
        base = {
            **common,
            "__meta_kubernetes_pod_container_name": container["name"],
            "__meta_kubernetes_pod_container_image": container.get("image", ""),
            "__meta_kubernetes_pod_container_init": "false",
        }
        ports = container.get("ports") or []
        if not ports:
            targets.append({**base, "__address__": ip})
        for port in ports:
            targets.append(
                {
                    **base,
                    "__address__": f"{ip}:{port['containerPort']}",
                    "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                    "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                    "__meta_kubernetes_pod_container_port_protocol": port.get("protocol", "TCP"),
                }
            )
    return targets


def relabel(labels: dict, rules: list[dict]) -> dict | None:
    """Prometheus' relabelling (actions replace, keep, drop) with the operator's field names; None
    when a rule drops the target. Regular expressions are anchored, as Prometheus anchors them."""
    labels = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace").lower()
        value = rule.get("separator", ";").join(labels.get(name, "") for name in rule.get("sourceLabels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if (action == "keep" and match is None) or (action == "drop" and match is not None):
            return None
        if action == "replace" and match is not None:
            replacement = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rule.get("replacement", "$1"))
            result = match.expand(replacement)
            if result:
                labels[rule["targetLabel"]] = result
            else:
                labels.pop(rule["targetLabel"], None)
        elif action not in ("replace", "keep", "drop"):
            raise ValueError(f"relabel action {action} is not modelled here")
    return labels


def _selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        held = {
            "In": key in labels and labels[key] in values,
            "NotIn": not (key in labels and labels[key] in values),
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not held:
            return False
    return True


def pod_monitor_targets(monitor: dict, pods: list[dict]) -> list[dict]:
    """The targets Prometheus scrapes for a PodMonitor's first endpoint, among these pods:
    [{"address", "path", "labels"}], deduplicated as Prometheus deduplicates equal targets."""
    spec = monitor["spec"]
    (endpoint,) = spec["podMetricsEndpoints"]
    namespaces = spec["namespaceSelector"]["matchNames"]
    found = []
    for pod in pods:
        meta = pod["metadata"]
        if meta["namespace"] not in namespaces or not _selects(spec["selector"], meta.get("labels") or {}):
            continue
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for discovered in pod_discovery(pod):
            labels = {
                **discovered,
                "__metrics_path__": endpoint.get("path", "/metrics"),
                "__scheme__": endpoint.get("scheme", "http"),
                "namespace": discovered["__meta_kubernetes_namespace"],
                "container": discovered["__meta_kubernetes_pod_container_name"],
                "pod": discovered["__meta_kubernetes_pod_name"],
                "job": f"{monitor['metadata']['namespace']}/{monitor['metadata']['name']}",
            }
            labels = relabel(labels, endpoint.get("relabelings", []))
            if labels is None:
                continue
            target = {
                "address": labels["__address__"],
                "path": labels["__metrics_path__"],
                "labels": {k: v for k, v in labels.items() if not k.startswith("__")},
            }
            target["labels"].setdefault("instance", target["address"])
            if target not in found:
                found.append(target)
    return found
