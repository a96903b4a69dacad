#!/usr/bin/env python3
"""Layers 2-4 on the lab: first converge, no-op re-run, and 5 vs 200 simulated nodes; prints, asserts nothing.

  bench_layers.py               reset the lab's cluster (a new, empty one: destroys what the lab held), converge
                                (timed), re-run (timed, changed count), then converge and re-run against 5 and 200
                                simulated nodes
  bench_layers.py --no-scale    skip the node-count comparison

Targets from the cluster-layers issue: the no-op re-run reports 0 changed and
takes at most 25 % of the first converge; with 200 nodes a converge takes at
most 1.5x the time of 5 (per-node work is batched: one API call per label set).
The node-count runs use generated copies of inventories/lab (LAB_INVENTORY),
with the lab's nodes synced to each copy and back to inventories/lab at the end.
Needs the lab and its data services up (`make lab-up data-up`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LAB_INVENTORY = ROOT / "inventories" / "lab"


def env(inventory: Path = LAB_INVENTORY) -> dict:
    lab_bin = ROOT / ".lab" / "bin"
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(lab_bin), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "K8S_AUTH_KUBECONFIG": str(ROOT / ".lab" / "kubeconfig"),
        "KUBECONFIG": str(ROOT / ".lab" / "kubeconfig"),
        "LAB_INVENTORY": str(inventory),
    }


def converge(inventory: Path = LAB_INVENTORY) -> tuple[float, dict]:
    started = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", "playbooks/site.yml", "-i", str(inventory), "--tags", "networking,storage,gpu"],
        cwd=ROOT,
        env=env(inventory),
        capture_output=True,
        text=True,
        check=False,
    )
    spent = time.monotonic() - started
    if result.returncode != 0:
        print(result.stdout[-4000:] + result.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"the converge against {inventory} failed")
    counts = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)", result.stdout)
    return spent, {"ok": int(counts.group(1)), "changed": int(counts.group(2))}


def lab(*args: str, inventory: Path = LAB_INVENTORY) -> None:
    subprocess.run([sys.executable, "-m", "lab", "cluster", *args], cwd=ROOT, env=env(inventory), check=True)


def scaled_inventory(target: Path, nodes: int) -> Path:
    """inventories/lab with `nodes` worker and GPU hosts (storage nodes kept), under target."""
    shutil.copytree(LAB_INVENTORY, target, ignore=shutil.ignore_patterns(".artifacts"))
    hosts = yaml.safe_load((target / "hosts.yml").read_text())
    cluster = hosts["all"]["children"]["k8s_cluster"]["children"]
    workers = dict(cluster["workers"]["hosts"])
    gpus = dict(cluster["gpu_nodes"]["hosts"])
    extra = max(0, nodes - 1 - len(workers) - len(gpus))
    classes = ["a100-training", "l4-inference"]
    for i in range(extra):
        gpus[f"lab-gpu-{i:03d}"] = {
            "ansible_host": f"127.0.11.{i % 250 + 1}" if i < 250 else f"127.0.12.{i - 249}",
            "gpu_node_class": classes[i % 2],
        }
    if extra == 0:  # fewer nodes than the lab has: keep the first GPU hosts
        gpus = dict(list(gpus.items())[: max(0, nodes - 1 - len(workers))])
    cluster["gpu_nodes"]["hosts"] = gpus
    (target / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    net = target / "group_vars" / "all" / "platform.yml"
    net.write_text(
        net.read_text().replace("platform_node_network: 127.0.10.0/24", "platform_node_network: 127.0.0.0/8")
    )
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-scale", action="store_true")
    args = parser.parse_args()
    figures = {}
    # The first converge meets a new cluster: the lab's control plane reset
    # (fresh etcd: no releases, CRDs, namespaces or objects), as on a site's
    # first run. The lab's data services (the S3 side) keep their state.
    lab("reset")
    lab("up")
    first, first_counts = converge()
    lab("up")  # the real controllers of the charts just installed
    rerun, rerun_counts = converge()
    figures["first_converge_s"] = round(first, 1)
    figures["noop_rerun_s"] = round(rerun, 1)
    figures["noop_rerun_changed"] = rerun_counts["changed"]
    figures["noop_rerun_share"] = round(rerun / first, 2)
    print(f"layers 2-4 first converge {first:.1f} s ({first_counts}); no-op re-run {rerun:.1f} s ({rerun_counts})")
    print(f"  re-run / first = {rerun / first:.0%} (target <= 25 %), changed on re-run = {rerun_counts['changed']}")
    if not args.no_scale:
        with tempfile.TemporaryDirectory() as tmp:
            for nodes in (5, 200):
                inventory = scaled_inventory(Path(tmp) / f"n{nodes}", nodes)
                lab("up", inventory=inventory)
                labelled, first_counts = converge(inventory)  # labels the nodes new to the cluster
                spent, counts = converge(inventory)
                figures[f"labelling_converge_{nodes}_nodes_s"] = round(labelled, 1)
                figures[f"converge_{nodes}_nodes_s"] = round(spent, 1)
                print(
                    f"  {nodes:>3} nodes: converge labelling the new nodes {labelled:.1f} s ({first_counts}), "
                    f"steady converge {spent:.1f} s ({counts})"
                )
        lab("up")  # back to inventories/lab's nodes
        ratio = figures["converge_200_nodes_s"] / figures["converge_5_nodes_s"]
        labelling = figures["labelling_converge_200_nodes_s"] / figures["labelling_converge_5_nodes_s"]
        figures["ratio_200_to_5"] = round(ratio, 2)
        figures["labelling_ratio_200_to_5"] = round(labelling, 2)
        print(f"  200 / 5 nodes = {ratio:.2f}x steady, {labelling:.2f}x labelling (target <= 1.5x)")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
