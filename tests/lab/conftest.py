"""Session fixture for the lab tests: build (if absent) and start the lab.

The lab is stopped at the end only when this session started it; a lab that
was already running is left running.
"""

from __future__ import annotations

import os

import pytest
from lab_support import ROOT, Lab, labctl


@pytest.fixture(scope="session")
def lab(tmp_path_factory, lab_settings) -> Lab:
    was_up = labctl("status", check=False).returncode == 0
    if not was_up:
        labctl("up")
    pins = lab_settings.versions["lab_tools"]
    binaries = {name: labctl("bin", name).stdout.strip() for name in ("kubectl", "helm", "kubeadm")}
    helm_home = tmp_path_factory.mktemp("helm")
    env = {
        **os.environ,
        "KUBECONFIG": str(lab_settings.kubeconfig),
        "HELM_CACHE_HOME": str(helm_home / "cache"),
        "HELM_CONFIG_HOME": str(helm_home / "config"),
        "HELM_DATA_HOME": str(helm_home / "data"),
    }
    yield Lab(ROOT, lab_settings.kubeconfig, pins, binaries, env)
    if not was_up:
        labctl("down")


@pytest.fixture
def namespace(lab: Lab, request) -> str:
    """A fresh namespace per test, deleted afterwards."""
    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    lab.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=true")
    lab.kubectl("create", "namespace", name)
    # pods are admitted only once the namespace's default ServiceAccount exists
    lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    yield name
    lab.kubectl("delete", "namespace", name, "--wait=false")
