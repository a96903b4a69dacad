#!/usr/bin/env python3
"""Real nodes (molecule/kubeadm_cluster): prints wall times, asserts nothing.

  bench_nodes.py    the node runtime's last build times (from its build logs), then the scenario's
                    destroy, create (with prepare) and converge, timed, and the time from `molecule create`
                    until every node reports Ready; then side_effect.yml's upgrade (upgrade-compute.yml
                    from lab_tools.kubernetes_upgrade_from to lab_tools.kubernetes), timed, with what its
                    API probe saw through the VIP (the longest gap); the nodes are destroyed at the end

The nodes are podman containers, so this runs outside any network namespace.
Run it through tests/bench/run.py (`make bench`) or from the repo root as
`PYTHONPATH=. python tests/bench/bench_nodes.py`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import node_runtime, toolchain
from lab.settings import load

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "kubeadm_cluster"
FIRST_CONTROL_PLANE = "kcl-cp1"
KUBECTL = ["podman", "exec", FIRST_CONTROL_PLANE, "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]
# Molecule's state for this benchmark's run, and where side_effect.yml's probe writes its result
EPHEMERAL = Path(tempfile.mkdtemp(prefix="bench-nodes-"))


def molecule(action: str) -> float:
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
        "MOLECULE_EPHEMERAL_DIRECTORY": str(EPHEMERAL),
    }
    started = time.monotonic()
    result = subprocess.run(
        ["molecule", action, "-s", SCENARIO], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        print((result.stdout + result.stderr)[-4000:], file=sys.stderr)
        raise SystemExit(f"molecule {action} -s {SCENARIO} failed")
    return time.monotonic() - started


def ready_nodes() -> tuple[int, int]:
    result = subprocess.run(
        [*KUBECTL, "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return 0, 0
    items = json.loads(result.stdout)["items"]
    ready = [n for n in items if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
    return len(ready), len(items)


def build_seconds(pins: dict) -> dict[str, float]:
    """What the node runtime's Go builds took when last built (the `build-seconds` line of their build logs)."""
    root = toolchain.cache_root()
    kubeadm = toolchain.Component("kubernetes", pins["kubernetes"], ("kubeadm",)).bin_dir(root) / "kubeadm"
    found = {}
    for comp in node_runtime.node_components(pins, node_runtime.kubeadm_images(kubeadm, pins["kubernetes"])):
        log = root / f"build-{comp.name}-{comp.version}.log"
        match = re.search(r"build-seconds ([\d.]+)", log.read_text()) if log.is_file() else None
        found[f"{comp.name} {comp.version}"] = float(match.group(1)) if match else None
    return found


def main() -> int:
    pins = load().versions["lab_tools"]
    figures = {"node_runtime_last_build_s": build_seconds(pins)}
    print(f"node runtime, last build of each part: {figures['node_runtime_last_build_s']}")
    molecule("dependency")  # builds whatever is absent, so the timings below exclude builds
    molecule("destroy")
    started = time.monotonic()
    try:
        figures["create_and_prepare_s"] = round(molecule("create"), 1)  # Molecule's create runs prepare too
        figures["converge_s"] = round(molecule("converge"), 1)
        deadline = time.monotonic() + 300
        ready, total = ready_nodes()
        while (ready == 0 or ready < total) and time.monotonic() < deadline:
            time.sleep(2)
            ready, total = ready_nodes()
        figures["create_to_all_ready_s"] = round(time.monotonic() - started, 1)
        figures["nodes_ready"] = f"{ready}/{total}"
        figures["upgrade_s"] = round(molecule("side_effect"), 1)
        figures["upgrade_api_probe"] = json.loads((EPHEMERAL / "api-probe.json").read_text())
    finally:
        molecule("destroy")
    print(
        f"create and prepare {figures['create_and_prepare_s']} s, converge {figures['converge_s']} s; "
        f"from create to all nodes Ready ({figures['nodes_ready']}): {figures['create_to_all_ready_s']} s"
    )
    probe = figures["upgrade_api_probe"]
    print(
        f"upgrade {pins['kubernetes_upgrade_from']} -> {pins['kubernetes']}: {figures['upgrade_s']} s; "
        f"API through the VIP: {probe['probes']} probes, {probe['failures']} failed, "
        f"longest gap between answers {probe['longest_gap_s']} s"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
