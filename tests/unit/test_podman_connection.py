"""molecule/shared/connection_plugins/podman.py: the host scenarios' connection pipelines modules into the container."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "molecule" / "shared" / "connection_plugins"

# Ask a fresh Ansible which plugin the short name Molecule's podman driver writes
# (ansible_connection: podman) resolves to, with the scenarios' environment.
RESOLVE = """
from ansible.plugins.loader import connection_loader, init_plugin_loader
init_plugin_loader()
found = connection_loader.find_plugin_with_context("podman")
print(found.plugin_resolved_path)
cls = connection_loader.get("podman", class_only=True)
print(cls.has_pipelining, cls.transport)
"""


def resolve(extra_env: dict) -> list[str]:
    env = {**os.environ, **extra_env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    out = subprocess.run([sys.executable, "-c", RESOLVE], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.split("\n")


def test_the_short_name_resolves_to_the_pipelining_plugin_in_the_scenarios_environment():
    path, facts, _ = resolve({"ANSIBLE_CONNECTION_PLUGINS": str(PLUGINS), "ANSIBLE_PIPELINING": "true"})
    assert Path(path) == PLUGINS / "podman.py"
    assert facts.startswith("True ")


def test_without_it_the_short_name_is_upstreams_which_cannot_pipeline():
    path, facts, _ = resolve({"ANSIBLE_CONNECTION_PLUGINS": ""})
    assert "containers/podman/plugins/connection/podman.py" in path
    assert facts.startswith("False ")


def test_standard_input_is_kept_open_only_when_a_module_is_sent():
    spec = importlib.util.spec_from_file_location("harness_podman_connection", PLUGINS / "podman.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    exec_arguments = plugin.exec_arguments
    assert exec_arguments(None, interactive=True) == ["exec", "--interactive"]
    assert exec_arguments("kube", interactive=False) == ["exec", "--user", "kube"]


def test_every_scenario_on_host_containers_uses_it():
    """The scenarios the suite runs on host containers (molecule_host, tests/molecule/test_scenarios.py)."""
    spec = importlib.util.spec_from_file_location("scenario_list", ROOT / "tests" / "molecule" / "test_scenarios.py")
    listing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(listing)
    host = [p.id for p in listing.scenarios() if any(m.name == "molecule_host" for m in p.marks)]
    assert "kubeadm_cluster" in host
    for name in host:
        env = yaml.safe_load((ROOT / "molecule" / name / "molecule.yml").read_text())["provisioner"]["env"]
        assert env["ANSIBLE_CONNECTION_PLUGINS"].endswith("/molecule/shared/connection_plugins"), name
        assert env["ANSIBLE_PIPELINING"] == "true", name
