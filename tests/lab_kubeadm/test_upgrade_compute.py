"""playbooks/upgrade-compute.yml against the lab: the version-skip refusal reads the real API server.

Every lab host is simulated, so a permitted upgrade skips them all; what the
lab proves is the version-path check and that simulated hosts are left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]


def running_version(lab) -> tuple[int, int, int]:
    version = json.loads(lab.run("kubectl", "version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    major, minor, patch = version.lstrip("v").split("-")[0].split(".")
    return int(major), int(minor), int(patch)


def upgrade(lab, target: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            "ansible-playbook",
            "playbooks/upgrade-compute.yml",
            "-i",
            "inventories/lab",
            "-e",
            f"platform_kubernetes_version={target}",
            "-e",
            f"kubeadm_admin_kubeconfig_local={lab.kubeconfig}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"upgrade-compute.yml to {target}: rc {result.returncode} in {time.monotonic() - started:.1f} s")
    return result


def test_refuses_to_skip_a_minor(kubeadm_lab):
    major, minor, patch = running_version(kubeadm_lab)
    result = upgrade(kubeadm_lab, f"v{major}.{minor + 2}.0")
    assert result.returncode != 0
    out = " ".join((result.stdout + result.stderr).split())
    assert (
        f"platform_kubernetes_version is v{major}.{minor + 2}.0 but the cluster runs v{major}.{minor}.{patch} "
        "(read from the API server): kubeadm upgrades one minor version at a time"
    ) in out
    assert f"v{major}.{minor + 1}.x release" in out
    assert "Upgrade compute - the first control plane" not in out


def test_refuses_to_go_back(kubeadm_lab):
    major, minor, _patch = running_version(kubeadm_lab)
    result = upgrade(kubeadm_lab, f"v{major}.{minor - 1}.0")
    assert result.returncode != 0
    assert "never downgrades" in " ".join(result.stdout.split())


def test_next_minor_passes_the_check_and_skips_simulated_hosts(kubeadm_lab):
    major, minor, _patch = running_version(kubeadm_lab)
    result = upgrade(kubeadm_lab, f"v{major}.{minor + 1}.0")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"Upgrading from v{major}.{minor}" in result.stdout
    # every lab host ends at the first task of its play: nothing is drained or installed
    assert "Drain the node" not in result.stdout
    assert "changed=0" in result.stdout and "changed=1" not in result.stdout
