#!/usr/bin/env python3
"""Build kubelet for the lab tool chain, beside the lab's other kube binaries.

The lab (lab/toolchain.py) builds kube-apiserver, kube-controller-manager,
kube-scheduler, kubeadm and kubectl; the kubeadm role's tests also need the
real kubelet binary to install from a loopback mirror. This script reuses the
lab's builder (same wrapper module, same version stamping) and puts kubelet
into the same cache directory:
$BAREMETAL_CACHE/lab-tools/kubernetes-<version>/bin/kubelet.

  scripts/build-kubelet.py            build if absent; print the path
  scripts/build-kubelet.py --print    print the path only (exit 1 if absent)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lab"))

import toolchain  # noqa: E402  (lab/ is put on the path above)


def kubelet_path(version: str, root: Path | None = None) -> Path:
    return toolchain.Component("kubernetes", version, ("kubelet",)).bin_dir(root or toolchain.cache_root()) / "kubelet"


def build_kubelet(version: str, root: Path | None = None) -> tuple[Path, float]:
    """Build kubelet VERSION unless present; returns (path, seconds spent)."""
    root = root or toolchain.cache_root()
    target = kubelet_path(version, root)
    if target.is_file():
        return target, 0.0
    if shutil.which("go") is None:
        raise RuntimeError("kubelet is built with Go: install Go (>= the go directive of k8s.io/kubernetes)")
    comp = toolchain.Component("kubernetes", version, ("kubelet",))
    tmp = root / f".kubelet-{version}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "bin").mkdir(parents=True)
    started = time.monotonic()
    with open(root / f"build-kubelet-{version}.log", "w") as log:
        toolchain.build_kubernetes(comp, tmp / "bin", tmp / "wrapper", log)
    target.parent.mkdir(parents=True, exist_ok=True)
    # rename within one file system: the binary appears complete or not at all
    (tmp / "bin" / "kubelet").rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target, round(time.monotonic() - started, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print the path only; exit 1 when not built")
    parser.add_argument("--version", help="Kubernetes version (default: lab_tools.kubernetes in versions.yml)")
    args = parser.parse_args(argv)
    version = args.version or yaml.safe_load((ROOT / "versions.yml").read_text())["lab_tools"]["kubernetes"]
    if args.print:
        path = kubelet_path(version)
        print(path)
        return 0 if path.is_file() else 1
    try:
        # kubelet shares the kube wrapper's compiled packages: the lab's kube binaries first
        pins = yaml.safe_load((ROOT / "versions.yml").read_text())["lab_tools"]
        if version == pins["kubernetes"]:
            toolchain.build(pins, only=["kubernetes"])
        path, seconds = build_kubelet(version)
    except RuntimeError as exc:
        print(f"build-kubelet: {exc}", file=sys.stderr)
        return 2
    print(f"build-kubelet: {path} ({'built in ' + str(seconds) + ' s' if seconds else 'cached'})", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
