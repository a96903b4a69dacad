"""The per-layer upgrade playbooks on the lab (docs/upgrades.md).

`playbooks/upgrade-<layer>.yml` runs preflight, a compatibility check that
changes nothing, the layer's roles in order and post-checks. Below, on the
lab's real API server and Helm: a changed value is upgraded in place and a
re-run changes nothing; a chart moves to a newer version (a copy of the
mirror's chart packaged with a bumped version, given through the
inventory-level `platform_chart_versions`), a move back is refused unless
`upgrade_allow_downgrade` allows it; a Kubernetes minor the platform release
does not support stops the run before any change. Every test restores the
inventory's state.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from lab_support import LAB_INVENTORY, ROOT, recap

pytestmark = pytest.mark.lab

VERSIONS = yaml.safe_load((ROOT / "versions.yml").read_text())


def platform_release() -> dict:
    return VERSIONS["platform_releases"][VERSIONS["platform_release_default"]]


def role_default(role: str, name: str):
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())[name]


def upgrade(layers, layer: str, extra: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """playbooks/upgrade-<layer>.yml on the lab inventory, with extra vars."""
    args = ["ansible-playbook", f"playbooks/upgrade-{layer}.yml", "-i", str(LAB_INVENTORY)]
    if extra:
        args += ["-e", json.dumps(extra)]
    result = subprocess.run(args, cwd=ROOT, env=layers.env, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"upgrade-{layer}.yml {extra or ''} failed:\n{(result.stdout + result.stderr)[-8000:]}")
    return result


def release(lab, name: str, namespace: str) -> dict:
    """Helm's own view of a release: revision, status, chart version, user-supplied values."""
    listed = json.loads(lab.helm("list", "-n", namespace, "--all", "--filter", f"^{name}$", "-o", "json").stdout)
    assert len(listed) == 1, listed
    values = json.loads(lab.helm("get", "values", name, "-n", namespace, "-o", "json").stdout) or {}
    chart = listed[0]["chart"]
    return {
        "revision": int(listed[0]["revision"]),
        "status": listed[0]["status"],
        "version": chart.rsplit("-", 1)[1],
        "values": values,
    }


def bumped(version: str) -> str:
    major, minor, patch = version.lstrip("v").split(".")
    return f"{'v' if version.startswith('v') else ''}{major}.{minor}.{int(patch) + 1}"


CILIUM = (role_default("cilium", "cilium_release_name"), role_default("cilium", "cilium_namespace"))
METALLB = (role_default("metallb", "metallb_release_name"), role_default("metallb", "metallb_namespace"))
GPU_OPERATOR = (
    role_default("gpu_operator", "gpu_operator_release_name"),
    role_default("gpu_operator", "gpu_operator_namespace"),
)


def test_a_changed_value_is_upgraded_in_place_and_a_rerun_changes_nothing(layers):
    lab = layers.lab
    before = release(lab, *CILIUM)
    assert before["values"].get("debug", {}).get("enabled") is not True
    extra = {"cilium_values": {"debug": {"enabled": True}}}
    try:
        first = upgrade(layers, "networking", extra)
        assert recap(first)["changed"] >= 1
        after = release(lab, *CILIUM)
        assert after["revision"] == before["revision"] + 1
        assert after["status"] == "deployed"
        assert after["version"] == before["version"]
        assert after["values"]["debug"]["enabled"] is True

        again = upgrade(layers, "networking", extra)
        assert recap(again)["changed"] == 0, again.stdout[-4000:]
        assert release(lab, *CILIUM)["revision"] == after["revision"]
    finally:
        upgrade(layers, "networking")
    restored = release(lab, *CILIUM)
    assert restored["values"].get("debug", {}).get("enabled") is not True
    assert restored["status"] == "deployed"


@pytest.fixture
def newer_metallb(layers, chart_repository, tmp_path) -> tuple[Path, str, str]:
    """A chart folder with the layer's charts and a copy of metallb packaged as the next patch version."""
    lab = layers.lab
    charts = platform_release()["charts"]
    current = str(charts["metallb"])
    newer = bumped(current)
    folder = tmp_path / "charts"
    folder.mkdir()
    for chart in ("cilium", "metallb"):
        lab.helm("pull", chart, "--repo", chart_repository(chart), "--version", str(charts[chart]), "-d", str(folder))
    source = tmp_path / "source"
    with tarfile.open(folder / f"metallb-{current}.tgz") as archive:
        archive.extractall(source, filter="data")
    chart_yaml = source / "metallb" / "Chart.yaml"
    meta = yaml.safe_load(chart_yaml.read_text())
    assert meta["version"] == current
    meta["version"] = newer
    chart_yaml.write_text(yaml.safe_dump(meta, sort_keys=False))
    lab.helm("package", str(source / "metallb"), "-d", str(folder))
    assert (folder / f"metallb-{newer}.tgz").is_file()
    return folder, current, newer


def test_a_chart_moves_to_a_newer_version_and_a_move_back_needs_the_allowance(layers, newer_metallb):
    lab = layers.lab
    folder, current, newer = newer_metallb
    before = release(lab, *METALLB)
    assert before["version"] == current
    restored = False
    try:
        moved = upgrade(
            layers,
            "networking",
            {"release_delivery_chart_dir": str(folder), "platform_chart_versions": {"metallb": newer}},
        )
        assert recap(moved)["changed"] >= 1
        after = release(lab, *METALLB)
        assert (after["version"], after["status"]) == (newer, "deployed")
        assert after["revision"] == before["revision"] + 1
        assert f"{METALLB[0]} {current} -> {newer}" in moved.stdout

        # Back to the release's version: refused by the compatibility check, nothing changed.
        refused = upgrade(layers, "networking", {"release_delivery_chart_dir": str(folder)}, check=False)
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0
        assert "networking layer upgrade refused" in output
        assert f"release {METALLB[1]}/{METALLB[0]} runs chart metallb {newer}, target {current} is older" in output
        assert "upgrade_allow_downgrade=true" in output
        assert recap(refused)["changed"] == 0
        assert release(lab, *METALLB)["revision"] == after["revision"]

        back = upgrade(
            layers, "networking", {"release_delivery_chart_dir": str(folder), "upgrade_allow_downgrade": True}
        )
        restored = True
        assert recap(back)["changed"] >= 1
        final = release(lab, *METALLB)
        assert (final["version"], final["status"]) == (current, "deployed")
        assert final["revision"] == after["revision"] + 1
    finally:
        if not restored:
            upgrade(layers, "networking", {"release_delivery_chart_dir": str(folder), "upgrade_allow_downgrade": True})
        # The chart's controller pod was replaced: point the real MetalLB controller at the new one.
        layers.controllers_up()


def test_an_unsupported_kubernetes_minor_is_refused_before_any_change(layers):
    lab = layers.lab
    minors = [str(m) for m in platform_release()["kubernetes"]]
    major, top = max(tuple(int(p) for p in m.split(".")) for m in minors)
    unsupported = f"v{major}.{top + 1}.0"
    before = release(lab, *GPU_OPERATOR)
    # A value change rides along: had the check let the run through, the release would have moved.
    result = upgrade(
        layers,
        "gpu",
        {
            "upgrade_running_kubernetes_version": unsupported,
            "gpu_operator_values": {"operator": {"logging": {"level": "debug"}}},
        },
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "gpu layer upgrade refused" in output
    assert f"the cluster runs Kubernetes {unsupported} but platform release" in output
    assert ", ".join(minors) in output
    assert recap(result)["changed"] == 0
    after = release(lab, *GPU_OPERATOR)
    assert after["revision"] == before["revision"]
    assert after["values"] == before["values"]


@pytest.mark.parametrize("layer", ["storage", "gpu", "orchestration", "observability"])
def test_an_upgrade_to_the_running_versions_changes_nothing_and_checks_the_layer(layers, layer):
    result = upgrade(layers, layer)
    assert recap(result)["changed"] == 0, result.stdout[-4000:]
    assert "Check each release is deployed at the target chart version" in result.stdout
    assert "Fail when a workload of the layer is not ready" in result.stdout
