"""Lab fixture for the kubeadm tests: the lab API server (make lab-up), reused when it already runs.

Started through `python -m lab cluster up` like `make lab-up` (tests/lab_support.py),
and stopped at the end only when this session started it from nothing (no component running).
"""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from lab_support import labctl as _labctl


@dataclass(frozen=True)
class KubeadmLab:
    kubeconfig: Path
    ca_cert: Path
    kubeadm: str
    kubectl: str

    def run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        binary = self.kubeadm if tool == "kubeadm" else self.kubectl
        result = subprocess.run(
            [binary, f"--kubeconfig={self.kubeconfig}", *args], capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(f"{tool} {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return result


def _cluster_ca(kubeconfig: Path, dest: Path) -> Path:
    """The CA the kubeconfig trusts, written to dest (PEM)."""
    cluster = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]
    if "certificate-authority-data" in cluster:
        dest.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    else:
        dest.write_bytes(Path(cluster["certificate-authority"]).read_bytes())
    return dest


@pytest.fixture(scope="session")
def kubeadm_lab(tmp_path_factory, lab_settings) -> KubeadmLab:
    status = _labctl("status", check=False)
    # A lab with any component running belongs to someone else (a developer,
    # another test session): it is brought up to health but never stopped here.
    was_up = status.returncode == 0 or " running " in status.stdout
    if status.returncode != 0:
        _labctl("up")
    kubeconfig = lab_settings.kubeconfig
    yield KubeadmLab(
        kubeconfig=kubeconfig,
        ca_cert=_cluster_ca(kubeconfig, tmp_path_factory.mktemp("ca") / "ca.crt"),
        kubeadm=_labctl("bin", "kubeadm").stdout.strip(),
        kubectl=_labctl("bin", "kubectl").stdout.strip(),
    )
    if not was_up:
        _labctl("down")
