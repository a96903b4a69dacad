"""Helpers for tests that run ansible-playbook against real inventories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VAULT_PASSWORD = ROOT / "tests" / "fixtures" / "example-vault-password"
MIRROR = Path(os.environ.get("LAB_CHART_MIRROR", ROOT.parent / "shared" / "mirror" / "charts"))


def _playbook(*args, env=None):
    """Run ansible-playbook from the repo root; return the CompletedProcess."""
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    environment["ANSIBLE_FORCE_COLOR"] = "0"
    environment["ANSIBLE_NOCOLOR"] = "1"
    environment.update(env or {})
    return subprocess.run(
        ["ansible-playbook", *map(str, args)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def example_inventory(tmp_path):
    """A private copy of inventories/example to plant problems in."""
    target = tmp_path / "example"
    shutil.copytree(ROOT / "inventories" / "example", target)
    return target


@pytest.fixture(scope="session")
def lab_secrets():
    """The lab's generated secrets file, as `make lab` writes it."""
    subprocess.run([sys.executable, "-m", "lab", "secrets"], cwd=ROOT, check=True)


@pytest.fixture(scope="session")
def playbook():
    """ansible-playbook from the repo root: playbook(*args, env=None) -> CompletedProcess."""
    return _playbook


@pytest.fixture(scope="session")
def vault_password():
    """The password of the example inventory's vault (an example, not a secret)."""
    return VAULT_PASSWORD


@pytest.fixture(scope="session")
def helm(tmp_path_factory):
    """The lab's pinned Helm 3 (built into the tool cache when absent), with its own home: (binary, env)."""
    import yaml

    from lab import toolchain

    pins = yaml.safe_load((ROOT / "versions.yml").read_text())["lab_tools"]
    toolchain.build(pins, only=["helm"])
    home = tmp_path_factory.mktemp("helm-home")
    env = {f"HELM_{kind}_HOME": str(home / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")}
    return str(toolchain.binary_paths(pins)["helm"]), env


@pytest.fixture(scope="session")
def gateway_api_url():
    """platform_gateway_api_url of the lab's cache, where the Gateway API CRDs of versions.yml lie
    (read from the Go module, as `python -m lab cluster up` keeps them)."""
    import yaml

    from lab import toolchain

    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    release = versions["platform_releases"][versions["platform_release_default"]]
    crds = toolchain.gateway_api_crds(release["manifests"]["gateway_api"])
    return f"file://{crds.parent.parent}"


@pytest.fixture(scope="session")
def offline_charts(helm, chart_repository, gateway_api_url):
    """Extra vars and env that let a cluster layer render the example inventory without a network:
    charts from the mirror (CI) or the upstream repositories (a clone without ../shared), the pinned Helm,
    the Gateway API CRDs from the lab's cache."""
    binary, env = helm
    chart_repository("cilium")  # fails in CI when the mirror is missing
    extra = ["-e", f"release_delivery_helm_binary={binary}", "-e", f"platform_gateway_api_url={gateway_api_url}"]
    if MIRROR.is_dir():
        extra += ["-e", f"release_delivery_chart_dir={MIRROR}"]
    return extra, env
