"""python -m lab COMPONENT ACTION: build, start, stop and inspect the lab (docs/lab.md).

  cluster build|up|down|status|reset|env    the control plane, kwok nodes and chart mirror
  cluster bin NAME                          print the path of a pinned binary
  data up|down|status|env|reset [SERVICE]   MinIO, PostgreSQL, MLflow
  serving up|down|status [SERVICE]          MLServer, Prometheus
  serving train | predict [--count N]       train and register the model; send predictions
  e2e                                       the data path end to end, then verify
  secrets                                   generate the lab inventory's secrets (once)
  kubelet [--print]                         build kubelet beside the kube binaries
  node-runtime                              build a real node's runtime and images; print their paths (JSON)
  prebuild                                  build every absent Go program the tests use, in the order they need them
  status                                    every lab process, with its listening sockets

Exit codes: 0 done, 1 unhealthy (status) or failed, 2 error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import yaml

from lab import cluster, credentials, e2e, exclusive, kubelet, node_runtime, toolchain
from lab import processes as proc
from lab.data import SERVICES as DATA_SERVICES
from lab.data import Data, DataError
from lab.serving import SERVICES as SERVING_SERVICES
from lab.serving import Serving, ServingError
from lab.settings import Settings, SettingsError, load

CHANGING = {"build", "up", "down", "reset", "train", "e2e", "secrets", "kubelet"}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m lab", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="component", required=True)
    c = sub.add_parser("cluster", help="the lab cluster")
    c.add_argument("action", choices=["build", "up", "down", "status", "reset", "env", "bin"])
    c.add_argument("name", nargs="?", help="bin: the binary")
    d = sub.add_parser("data", help="the data services")
    d.add_argument("action", choices=["up", "down", "status", "env", "reset"])
    d.add_argument("services", nargs="*", metavar="service", help=f"any of {', '.join(DATA_SERVICES)} (default: all)")
    s = sub.add_parser("serving", help="the serving path")
    s.add_argument("action", choices=["up", "down", "status", "train", "predict"])
    s.add_argument(
        "services", nargs="*", metavar="service", help=f"any of {', '.join(SERVING_SERVICES)} (default: all)"
    )
    s.add_argument("--model", help="registered model (default: platform_verify_model_name)")
    s.add_argument("--alias", help="registry alias to serve (default: platform_verify_model_alias)")
    s.add_argument("--count", type=int, default=50, help="predict: number of requests")
    s.add_argument("--interval", type=float, default=0.2, help="predict: seconds between requests")
    sub.add_parser("e2e", help="the data path end to end, then verify")
    sub.add_parser("secrets", help="generate the lab inventory's secrets")
    k = sub.add_parser("kubelet", help="build kubelet beside the kube binaries")
    k.add_argument("--print", action="store_true", help="print the path only; exit 1 when not built")
    k.add_argument("--version", help="Kubernetes version (default: lab_tools.kubernetes in versions.yml)")
    n = sub.add_parser("node-runtime", help="build a real node's runtime and images (containerd, CNI, OCI archives)")
    n.add_argument("--kubernetes", help="Kubernetes release (default: lab_tools.kubernetes in versions.yml)")
    sub.add_parser("prebuild", help="build every absent Go program the tests use, in the order they need them")
    sub.add_parser("status", help="every lab process and its listening sockets")
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    args = top.parse_args(argv)
    known = {"data": DATA_SERVICES, "serving": SERVING_SERVICES}.get(args.component, ())
    unknown = sorted(set(getattr(args, "services", ())) - set(known))
    if unknown:
        top.error(f"unknown {args.component} service(s) {', '.join(unknown)} (known: {', '.join(known)})")
    settings = load()
    action = getattr(args, "action", args.component)
    try:
        if action in CHANGING or args.component in CHANGING:
            # Before anything reads the settings: they cache the inventory's
            # variables, the generated vault_* values among them.
            credentials.ensure(settings.inventory_path)
            with exclusive(settings.state):
                return run(args, settings)
        return run(args, settings)
    except (cluster.LabError, DataError, ServingError, SettingsError, proc.ProcessError, RuntimeError) as exc:
        print(f"lab {args.component}: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, settings: Settings) -> int:
    handler = {
        "cluster": run_cluster,
        "data": run_data,
        "serving": run_serving,
        "e2e": lambda a, s: e2e.Pipeline(s).run(),
        "secrets": run_secrets,
        "kubelet": run_kubelet,
        "node-runtime": lambda a, s: (
            print(json.dumps(node_runtime.build(s.versions["lab_tools"], kubernetes=a.kubernetes), indent=2)) or 0
        ),
        "prebuild": lambda a, s: prebuild(s),
        "status": run_status,
    }[args.component]
    return handler(args, settings)


def run_cluster(args, settings: Settings) -> int:
    c = cluster.Cluster(settings)
    started = time.monotonic()
    if args.action == "build":
        spent = cluster.build(c)
        print(f"lab: tool chain ready ({'built ' + str(spent) if spent else 'all cached'})")
    elif args.action == "up":
        changes = cluster.up(c)
        if changes:
            print(f"lab: up in {time.monotonic() - started:.1f} s ({len(changes)} changes)")
        else:
            print("lab: already up, nothing changed")
        print(f"lab: export KUBECONFIG={c.kubeconfig}")
    elif args.action == "down":
        print("lab: down" if cluster.down(c) else "lab: was not running")
    elif args.action == "status":
        healthy, lines = cluster.status(c)
        print("\n".join(lines))
        return 0 if healthy else 1
    elif args.action == "reset":
        cluster.reset(c)
        print(f"lab: stopped and removed {c.state}")
    elif args.action == "env":
        print(cluster.env_text(c), end="")
    elif args.action == "bin":
        paths = toolchain.binary_paths(c.pins)
        if args.name not in paths:
            print(f"lab: no pinned binary {args.name!r} (known: {', '.join(paths)})", file=sys.stderr)
            return 2
        print(paths[args.name])
    return 0


# helm first: the GitOps render tests need it within a minute of `make test`
PREBUILD_FIRST = ("helm",)
# The test whose hosts run a real node's runtime for both releases (the pinned one and the one it upgrades from).
REAL_NODES_SCENARIO = "molecule/kubeadm_cluster"


def shard_entries(root, shard: str) -> list[str] | None:
    """What tests/shards.yml names for `shard` (scripts/run-tests.sh exports TEST_SHARD); None for all."""
    if shard in ("", "all"):
        return None
    shards = yaml.safe_load((root / "tests" / "shards.yml").read_text())["shards"]
    return [str(entry) for entry in shards.get(int(shard) if shard.isdigit() else shard, None) or []]


def prebuild(settings: Settings) -> int:
    """Build whatever is absent, one component per turn of the build lock, in the order `make test` first needs
    it. A test that needs a component sooner takes the lock between two turns and builds it itself; this only
    keeps the lock busy while the tests do other work. On a warm cache it returns within seconds.

    The order follows the shard the run takes (TEST_SHARD, tests/shards.yml): MinIO (the data services), Helm,
    the kube binaries, then, where the shard holds the real-node scenario, a real node's runtime for the pinned
    release and the one the upgrade starts from before the rest of the lab's tool chain (the cluster lane spends
    its first half hour on the data services, while that scenario needs its nodes from the start); elsewhere the
    lab's tool chain, then the node runtime of the pinned release only (the host scenarios' containerd), since no
    other test needs the older release."""
    started = time.monotonic()
    pins = settings.versions["lab_tools"]
    entries = shard_entries(settings.root, os.environ.get("TEST_SHARD", "all"))
    real_nodes = entries is not None and REAL_NODES_SCENARIO in entries
    releases = [pins["kubernetes"]] + ([pins["kubernetes_upgrade_from"]] if entries is None or real_nodes else [])
    toolchain.build_minio(settings.versions["data_services"]["minio"])
    comps = toolchain.components(pins)
    head = [c for name in (*PREBUILD_FIRST, "kubernetes") for c in comps if c.name == name]
    for comp in head:
        toolchain.build_components([comp])
    if real_nodes:
        for release in releases:
            node_runtime.build(pins, kubernetes=release)
    for comp in (c for c in comps if c not in head):
        toolchain.build_components([comp])
    if not real_nodes:
        for release in releases:
            node_runtime.build(pins, kubernetes=release)
    print(f"lab: prebuild done in {time.monotonic() - started:.0f} s")
    return 0


def print_report(report: dict) -> int:
    for name, state in report.items():
        print(f"{name:<11} {state['address']:<16} {state['state']}")
    return 0 if all(s["state"] == "running" for s in report.values()) else 1


def run_data(args, settings: Settings) -> int:
    data = Data(settings)
    names = args.services or list(DATA_SERVICES)
    if args.action == "up":
        credentials.ensure(settings.inventory_path)
        data.up(names)
    elif args.action == "down":
        data.down(names)
    elif args.action == "reset":
        data.down(DATA_SERVICES)
        shutil.rmtree(data.home, ignore_errors=True)
        print(f"lab: removed {data.home}")
    elif args.action == "env":
        for key, value in data.credentials_env().items():
            print(f"export {key}={value}")
    else:
        return print_report({k: v for k, v in data.status().items() if k in names})
    return 0


def run_serving(args, settings: Settings) -> int:
    serving = Serving(settings)
    names = args.services or list(SERVING_SERVICES)
    if args.action == "up":
        serving.up(names, args.model, args.alias)
    elif args.action == "down":
        serving.down(names)
    elif args.action == "train":
        print(json.dumps(serving.train(args.model)))
    elif args.action == "predict":
        classes = serving.predict(args.count, args.model, args.interval)
        print(json.dumps({"requests": len(classes), "classes": {c: classes.count(c) for c in sorted(set(classes))}}))
        return 0 if set(classes) <= {0, 1, 2} else 1
    else:
        return print_report({k: v for k, v in serving.status().items() if k in names})
    return 0


def run_secrets(args, settings: Settings) -> int:
    added = credentials.ensure(settings.inventory_path)
    if added:
        print(f"lab: generated {', '.join(added)} in {credentials.SECRETS_FILE.relative_to(settings.root)}")
    return 0


def run_kubelet(args, settings: Settings) -> int:
    pins = settings.versions["lab_tools"]
    if args.print:
        path = kubelet.kubelet_path(args.version or pins["kubernetes"])
        print(path)
        return 0 if path.is_file() else 1
    path, seconds = kubelet.build_kubelet(pins, args.version)
    print(f"lab: {path} ({'built in ' + str(seconds) + ' s' if seconds else 'cached'})", file=sys.stderr)
    print(path)
    return 0


def run_status(args, settings: Settings) -> int:
    """Every lab process from its pid file, with the sockets it and its children listen on."""
    for name, record in proc.records(settings.run_dir).items():
        alive = proc.is_ours(record)
        sockets = proc.listening_sockets(proc.descendants(record["pid"])) if alive else []
        where = ", ".join(f"{a}:{p}" for _, a, p in sockets) or "-"
        print(f"{name:<24} {'running' if alive else 'gone':<8} pid {record['pid']:<8} {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
