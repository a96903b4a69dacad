#!/usr/bin/env python3
"""Lab benchmarks; prints wall times, asserts nothing.

  bench_lab.py                 cold build (from the last cold build's record), warm lab-up, 500-pod placement
  bench_lab.py --cold-build    also build the whole tool chain into an empty tool cache and an empty Go
                               build cache (Go module downloads are reused), and time it
  bench_lab.py --skip-up       do not stop/start the lab (placement only needs it up)

Placement: 100 extra kwok GPU nodes (8 x nvidia.com/gpu each) and 500 pods
that each request one GPU with node affinity on the product label; the time
runs from the first pod's creation until the scheduler has bound all 500 and
until kwok has made them all Running. Everything it creates is deleted after.

It imports the `lab` package: run it through tests/bench/run.py (`make bench`),
or from the repo root as `PYTHONPATH=. python tests/bench/bench_lab.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import cluster, toolchain
from lab.settings import load

ROOT = Path(__file__).resolve().parents[2]

BENCH_LABEL = "lab.baremetal.mlops/bench"
PRODUCT = "NVIDIA-A100-SXM4-80GB"


def labctl(*args: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "lab", "cluster", *args], cwd=ROOT, check=True)
    return time.monotonic() - started


def recorded_cold_build() -> str:
    record = toolchain.cache_root() / "last-build.json"
    parts = []
    for log in sorted(toolchain.cache_root().glob("build-*.log")):
        lines = [line for line in log.read_text().splitlines() if line.startswith("build-seconds ")]
        if lines:
            parts.append(f"{log.stem[6:]}={float(lines[-1].split()[1]):.0f}s")
    if not parts:
        return "no build log found (run `make lab-build` on an empty cache)"
    total = sum(float(p.split("=")[1][:-1]) for p in parts)
    note = f" (last build record: {record})" if record.exists() else ""
    return f"{total:.0f} s total: {', '.join(parts)}{note}"


def cold_build(pins: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="lab-cold-") as tmp:
        env_before = os.environ.get("GOCACHE")
        os.environ["GOCACHE"] = str(Path(tmp) / "go-build")
        try:
            started = time.monotonic()
            spent = toolchain.build(pins, root=Path(tmp) / "tools")
            spent["total"] = round(time.monotonic() - started, 1)
        finally:
            if env_before is None:
                os.environ.pop("GOCACHE", None)
            else:
                os.environ["GOCACHE"] = env_before
            shutil.rmtree(tmp, ignore_errors=True)
    return spent


def bench_nodes(count: int) -> list[dict]:
    nodes = []
    for i in range(count):
        name = f"bench-gpu-{i:03d}"
        capacity = {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": "8"}
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "type": "kwok",
                        BENCH_LABEL: "true",
                        "nvidia.com/gpu.present": "true",
                        "nvidia.com/gpu.product": PRODUCT,
                    },
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                },
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "addresses": [{"type": "InternalIP", "address": f"127.0.11.{i + 1}"}],
                },
            }
        )
    return nodes


def bench_pods(count: int, namespace: str) -> list[dict]:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": BENCH_LABEL, "operator": "In", "values": ["true"]}]},
                ]
            }
        }
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"gpu-{i:03d}", "namespace": namespace, "labels": {BENCH_LABEL: "true"}},
            "spec": {
                "affinity": affinity,
                "containers": [
                    {
                        "name": "main",
                        "image": "registry.example/train:1",
                        "resources": {"limits": {"nvidia.com/gpu": 1}},
                    }
                ],
            },
        }
        for i in range(count)
    ]


def placement(settings, nodes: int = 100, pods: int = 500) -> dict:
    kubectl = settings.binary("kubectl")
    env = {**os.environ, "KUBECONFIG": str(settings.kubeconfig)}

    def run(*args, stdin=None):
        return subprocess.run([kubectl, *args], input=stdin, env=env, capture_output=True, text=True, check=True)

    namespace = "bench-placement"
    run("delete", "namespace", namespace, "--ignore-not-found", "--wait=true")
    run("delete", "nodes", "-l", f"{BENCH_LABEL}=true", "--ignore-not-found")
    run("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": bench_nodes(nodes)}))

    def ready_nodes():
        items = json.loads(run("get", "nodes", "-l", f"{BENCH_LABEL}=true", "-o", "json").stdout)["items"]
        return sum(
            any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
            for n in items
        )

    while ready_nodes() < nodes:
        time.sleep(0.5)
    run("create", "namespace", namespace)
    run("wait", "--for=create", "serviceaccount/default", "-n", namespace, "--timeout=60s")
    # Ten concurrent clients, so the API writes hide less of the scheduler's own time.
    all_pods = bench_pods(pods, namespace)
    batches = [json.dumps({"apiVersion": "v1", "kind": "List", "items": all_pods[i::10]}) for i in range(10)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda batch: run("create", "-f", "-", stdin=batch), batches))
    created = time.monotonic() - started
    bound_at = running_at = None
    while running_at is None:
        items = json.loads(run("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
        if bound_at is None and sum(bool(p["spec"].get("nodeName")) for p in items) == pods:
            bound_at = time.monotonic() - started
        if sum(p["status"].get("phase") == "Running" for p in items) == pods:
            running_at = time.monotonic() - started
        time.sleep(0.2)
    spread = len({p["spec"]["nodeName"] for p in items})
    run("delete", "namespace", namespace, "--wait=false")
    run("delete", "nodes", "-l", f"{BENCH_LABEL}=true", "--wait=false")
    return {
        "create_s": round(created, 1),
        "all_bound_s": round(bound_at, 1),
        "all_running_s": round(running_at, 1),
        "nodes_used": spread,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-build", action="store_true")
    parser.add_argument("--skip-up", action="store_true")
    args = parser.parse_args()
    settings = cluster.Cluster(load())

    print(f"cold build (recorded): {recorded_cold_build()}")
    if args.cold_build:
        print(f"cold build (measured now, empty tool and Go build caches): {cold_build(settings.pins)}")
    if not args.skip_up:
        labctl("up")
        labctl("down")
        print(f"warm lab-up (binaries cached, lab stopped): {labctl('up'):.1f} s")
    placed = placement(settings)
    print(
        f"500 GPU pods on 100 simulated GPU nodes: created by 10 clients in {placed['create_s']} s, all bound after "
        f"{placed['all_bound_s']} s, all Running after {placed['all_running_s']} s, on {placed['nodes_used']} nodes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
