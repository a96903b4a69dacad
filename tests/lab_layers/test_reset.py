"""playbooks/reset.yml on the lab: one cluster layer (gpu) listed, refused, reset, reset again, restored.

The gpu layer is the one reset: it is one release (the GPU Operator chart,
whose CRDs live in the chart's crds/ folder) in a namespace of its own. Other
tests of this folder need it, so the test delivers it first (a no-op on a
converged lab) and delivers it again at the end, whatever happened. What the
reset must remove and keep is read from the real API server and Helm, never
from the playbook's own output alone.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from lab_support import LAB_INVENTORY, ROOT, ansible_env, recap

pytestmark = pytest.mark.lab

NAMESPACE = "gpu-operator"
RELEASE = "gpu-operator"
RECORD = "baremetal-mlops-delivery-gpu-operator"
CRDS = ("clusterpolicies.nvidia.com", "nvidiadrivers.nvidia.com")


def playbook(env, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-playbook", f"playbooks/{name}", "-i", str(LAB_INVENTORY), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def releases(lab) -> set[str]:
    listing = json.loads(lab.helm("list", "--all-namespaces", "--all", "--output", "json").stdout)
    return {f"{r['namespace']}/{r['name']}" for r in listing}


def exists(lab, *args: str) -> bool:
    return lab.kubectl("get", *args, "--ignore-not-found", "-o", "name").stdout.strip() != ""


@pytest.fixture
def gpu_layer(lab):
    """The gpu layer delivered (already, on a converged lab), and delivered again after the test."""
    env = ansible_env(lab)
    if f"{NAMESPACE}/{RELEASE}" not in releases(lab):
        delivered = playbook(env, "site.yml", "--tags", "gpu")
        assert delivered.returncode == 0, delivered.stdout[-4000:]
    yield env
    restored = playbook(env, "site.yml", "--tags", "gpu")
    assert restored.returncode == 0, restored.stdout[-4000:]
    assert f"{NAMESPACE}/{RELEASE}" in releases(lab)


def test_reset_of_the_gpu_layer_lists_refuses_removes_and_keeps_the_crds(lab, gpu_layer):
    env = gpu_layer
    before = releases(lab)
    assert f"{NAMESPACE}/{RELEASE}" in before
    assert exists(lab, "configmap", RECORD, "-n", "kube-system")
    assert all(exists(lab, "crd", crd) for crd in CRDS)

    # check mode lists what goes, by name, and changes nothing
    listed = playbook(
        env, "reset.yml", "--check", "-e", "platform_reset_layers=gpu", "-e", "platform_reset_confirm=reset-gpu"
    )
    assert listed.returncode == 0, listed.stdout[-4000:]
    assert f"REMOVE release {NAMESPACE}/{RELEASE} (gpu-operator " in listed.stdout
    assert f"REMOVE delivery record ConfigMap kube-system/{RECORD}" in listed.stdout
    assert f"REMOVE namespace {NAMESPACE} and everything in it" in listed.stdout
    assert "CRDs: kept" in listed.stdout
    assert releases(lab) == before

    # no confirmation: the same listing, then refused naming the phrase, nothing removed
    # (a phrase for other layers is refused before any listing: tests/e2e/test_reset_refusals.py)
    refused = playbook(env, "reset.yml", "-e", "platform_reset_layers=gpu")
    assert refused.returncode != 0, refused.stdout[-4000:]
    assert f"REMOVE release {NAMESPACE}/{RELEASE} (gpu-operator " in refused.stdout
    assert "reset refused: nothing was removed" in refused.stdout
    assert "platform_reset_confirm=reset-gpu" in refused.stdout
    assert releases(lab) == before
    assert exists(lab, "namespace", NAMESPACE)

    # confirmed: the release, its record and its namespace are gone; the CRDs and every other release stay
    reset = playbook(env, "reset.yml", "-e", "platform_reset_layers=gpu", "-e", "platform_reset_confirm=reset-gpu")
    assert reset.returncode == 0, reset.stdout[-6000:]
    assert releases(lab) == before - {f"{NAMESPACE}/{RELEASE}"}
    assert not exists(lab, "configmap", RECORD, "-n", "kube-system")
    assert not exists(lab, "namespace", NAMESPACE)
    assert all(exists(lab, "crd", crd) for crd in CRDS)

    # a second run finds nothing left and changes nothing
    again = playbook(env, "reset.yml", "-e", "platform_reset_layers=gpu", "-e", "platform_reset_confirm=reset-gpu")
    assert again.returncode == 0, again.stdout[-4000:]
    assert recap(again)["changed"] == 0
    assert "NOTHING to remove in the cluster for gpu" in again.stdout
