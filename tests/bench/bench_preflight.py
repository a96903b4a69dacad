#!/usr/bin/env python3
"""Preflight on generated 2,000-node inventories, beside Ansible's own floor.

Two inventories: "inline", where every host carries its node address inline
(ansible_host), and "templated", where hosts are reached on a management
network and group_vars/k8s_cluster.yml derives each node_ip from it with a
template (every host's value is templated with that host's variables).

The floor is an empty play (no tasks, no facts) against the same inventory:
what any playbook pays to load and iterate it. The preflight play validates
the whole contract of that inventory. Goal: preflight adds at most 1 s to the
floor. Prints the median of several runs of each, wall time and CPU time
(user + system of ansible-playbook and its workers; on a loaded machine the
CPU time is the steadier of the two); asserts nothing.
BENCH_FULL_MERGE=1 times preflight with Ansible's full per-host merge instead
(BAREMETAL_MLOPS_PREFLIGHT_FULL_MERGE), for comparison.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
NODES = int(os.environ.get("BENCH_NODES", "2000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def address(index: int, prefix: str = "10.20") -> str:
    # 10.20.0.0/20: hosts from 10.20.1.0 upwards, clear of VIP and pools.
    offset = 256 + index
    return f"{prefix}.{offset // 256}.{offset % 256}"


# The "templated" inventory: management addresses inline, node addresses from a group template.
MANAGEMENT_PREFIX = "172.16"
NODE_IP_TEMPLATE = "10.20.{{ ansible_host.split('.')[2] }}.{{ ansible_host.split('.')[3] }}"


def generate(target: Path, templated: bool = False) -> None:
    shutil.copytree(ROOT / "inventories" / "example" / "group_vars", target / "group_vars")
    group_vars = target / "group_vars" / "all"
    (group_vars / "vault.yml").unlink()
    platform = yaml.safe_load((group_vars / "platform.yml").read_text())
    platform["platform_node_network"] = "10.20.0.0/20"
    (group_vars / "platform.yml").write_text("---\n" + yaml.safe_dump(platform))
    secrets = {
        name: f"bench-{name}"
        for name in (
            "vault_minio_root_password",
            "vault_mlflow_db_password",
            "vault_team_vision_s3_secret_key",
            "vault_team_fraud_s3_secret_key",
            "vault_bgp_rtr_01_password",
            "vault_bgp_rtr_02_password",
            "vault_longhorn_backup_secret_key",
            "vault_inference_edge_oidc_client_secret",
            "vault_inference_edge_cookie_secret",
        )
    }
    (group_vars / "secrets.yml").write_text("---\n" + yaml.safe_dump(secrets))
    if templated:
        (target / "group_vars" / "k8s_cluster.yml").write_text(f'---\nnode_ip: "{NODE_IP_TEMPLATE}"\n')
    prefix = MANAGEMENT_PREFIX if templated else "10.20"
    classes = ["a100-training", "a100-inference-mig", "l4-inference"]
    control, gpu, workers, storage = {}, {}, {}, {}
    for index in range(NODES):
        name = f"node-{index:05d}.dc1.example.com"
        if index < 3:
            control[name] = {"ansible_host": address(index, prefix)}
        elif index % 4 == 0:
            gpu[name] = {"ansible_host": address(index, prefix), "gpu_node_class": classes[index % 3]}
        else:
            workers[name] = {"ansible_host": address(index, prefix)}
            if index % 10 == 1:
                storage[name] = None
    hosts = {
        "all": {
            "children": {
                "k8s_cluster": {
                    "children": {
                        "control_plane": {"hosts": control},
                        "workers": {"hosts": workers},
                        "gpu_nodes": {"hosts": gpu},
                    }
                },
                "storage_nodes": {"hosts": storage},
                "bgp_routers": {
                    "hosts": {
                        "rtr-01.dc1.example.com": {"ansible_host": "10.20.0.2"},
                        "rtr-02.dc1.example.com": {"ansible_host": "10.20.0.3"},
                    }
                },
            }
        }
    }
    (target / "hosts.yml").write_text("---\n" + yaml.safe_dump(hosts))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env_extra: dict | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), **(env_extra or {}))
    start, start_cpu = time.perf_counter(), cpu_seconds()
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
    if result.returncode != 0:
        sys.exit(f"benchmark run failed: {' '.join(args)}\n{result.stdout[-4000:]}{result.stderr[-4000:]}")
    return elapsed, cpu


def main() -> int:
    playbook = str(Path(sys.executable).parent / "ansible-playbook")
    full_merge = {"BAREMETAL_MLOPS_PREFLIGHT_FULL_MERGE": "1"} if os.environ.get("BENCH_FULL_MERGE") == "1" else {}
    print(f"{NODES} nodes, {RUNS} runs each, medians; load average {os.getloadavg()[0]:.2f} at start")
    if full_merge:
        print("preflight forced to Ansible's full per-host merge (BENCH_FULL_MERGE=1)")
    for kind in ("inline", "templated"):
        with tempfile.TemporaryDirectory() as tmp:
            inventory = Path(tmp) / "inventory"
            generate(inventory, templated=kind == "templated")
            empty = Path(tmp) / "empty.yml"
            empty.write_text("---\n- name: Empty play\n  hosts: all\n  gather_facts: false\n  tasks: []\n")
            floor, preflight = [], []
            for _ in range(RUNS):  # interleaved, so a change in machine load hits both alike
                floor.append(timed([playbook, "-i", str(inventory), str(empty)]))
                preflight.append(timed([playbook, "-i", str(inventory), "playbooks/preflight.yml"], full_merge))
        print(f"inventory {kind}:                  wall      CPU")
        medians = {}
        for label, runs in (("empty play (Ansible's floor)", floor), ("preflight play", preflight)):
            medians[label] = [statistics.median(run[i] for run in runs) for i in (0, 1)]
            print(f"  {label + ':':30}{medians[label][0]:6.2f} s {medians[label][1]:6.2f} s")
        over = [medians["preflight play"][i] - medians["empty play (Ansible's floor)"][i] for i in (0, 1)]
        print(f"  {'preflight over the floor:':30}{over[0]:+6.2f} s {over[1]:+6.2f} s (goal: at most +1.00 s)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
