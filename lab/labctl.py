#!/usr/bin/env python3
"""labctl: build, start, stop and inspect the lab cluster (see docs/lab.md).

  labctl.py build [--cache DIR]   build the pinned tool chain if absent
  labctl.py up                    start the lab (no-op when it is up)
  labctl.py down                  stop the processes the lab started
  labctl.py status                report every component; exit 1 if any is not healthy
  labctl.py reset                 down, then remove .lab/cluster (certificates, etcd data) and .lab/kubeconfig
  labctl.py env                   print shell exports (KUBECONFIG, PATH with .lab/bin: kubectl, helm...)
  labctl.py bin NAME              print the path of a pinned binary

Exit codes: 0 done, 1 unhealthy (status), 2 error.
"""

from __future__ import annotations

import argparse
import fcntl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cluster
import toolchain


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labctl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the pinned tool chain (only what is absent)")
    build.add_argument("--cache", type=Path, help="tool cache directory (default: $BAREMETAL_CACHE/lab-tools)")
    for name in ("up", "down", "status", "reset", "env"):
        sub.add_parser(name)
    binary = sub.add_parser("bin", help="print a pinned binary's path")
    binary.add_argument("name")
    args = parser.parse_args(argv)

    settings = cluster.load_settings()
    started = time.monotonic()
    settings.state.mkdir(parents=True, exist_ok=True)
    # One labctl at a time changes the lab (a pytest session and a Molecule
    # create may ask together); status and env only read.
    with open(settings.state / "lock", "w") as lock:
        if args.command in ("build", "up", "down", "reset"):
            fcntl.flock(lock, fcntl.LOCK_EX)
        return run(args, settings, started)


def run(args: argparse.Namespace, settings: cluster.Settings, started: float) -> int:
    try:
        if args.command == "build":
            spent = toolchain.build(settings.pins, root=args.cache)
            if args.cache is None:
                cluster.link_binaries(settings)
            print(f"lab: tool chain ready ({'built ' + str(spent) if spent else 'all cached'})")
        elif args.command == "up":
            changes = cluster.up(settings)
            if changes:
                print(f"lab: up in {cluster.wait_seconds(started)} s ({len(changes)} changes)")
            else:
                print("lab: already up, nothing changed")
            print(f"lab: export KUBECONFIG={settings.kubeconfig}")
        elif args.command == "down":
            changes = cluster.down(settings)
            print("lab: down" if changes else "lab: was not running")
        elif args.command == "status":
            healthy, lines = cluster.status(settings)
            print("\n".join(lines))
            return 0 if healthy else 1
        elif args.command == "reset":
            cluster.reset(settings)
            print(f"lab: stopped and removed {settings.state}")
        elif args.command == "env":
            cluster.write_env(settings)
            print((settings.state / "env").read_text(), end="")
        elif args.command == "bin":
            paths = toolchain.binary_paths(settings.pins)
            if args.name not in paths:
                print(f"labctl: no pinned binary {args.name!r} (known: {', '.join(paths)})", file=sys.stderr)
                return 2
            print(paths[args.name])
    except (cluster.LabError, RuntimeError, OSError) as exc:
        print(f"labctl {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
