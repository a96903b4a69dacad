"""The monitoring role rendered by ansible-playbook, and promtool, for the tests that check its rules.

render() converges the role's objects entry point (the PrometheusRule, the
dashboard ConfigMaps and the ServiceMonitors) and its rules_file entry point (the same rule groups as
a plain Prometheus rules file) on localhost.
"""

from __future__ import annotations

import json
import os
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
