"""Build kubelet for the lab tool chain, beside the lab's other kube binaries.

The lab (lab/toolchain.py) builds kube-apiserver, kube-controller-manager,
kube-scheduler, kubeadm and kubectl; the kubeadm role's tests also need the
real kubelet binary to install from a loopback mirror. This reuses the lab's
builder (same wrapper module, same version stamping, same build lock) and
puts kubelet into the same cache directory:
$BAREMETAL_CACHE/lab-tools/kubernetes-<version>/bin/kubelet.

  python -m lab kubelet            build if absent; print the path
  python -m lab kubelet --print    print the path only (exit 1 if absent)
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from lab import toolchain


def kubelet_path(version: str, root: Path | None = None) -> Path:
    return toolchain.Component("kubernetes", version, ("kubelet",)).bin_dir(root or toolchain.cache_root()) / "kubelet"


def build_kubelet(pins: dict, version: str | None = None, root: Path | None = None) -> tuple[Path, float]:
    """Build kubelet VERSION (default: the lab's pin) unless present; returns (path, seconds spent)."""
    version = version or pins["kubernetes"]
    root = root or toolchain.cache_root()
    target = kubelet_path(version, root)
    if target.is_file():
        return target, 0.0
    if version == pins["kubernetes"]:
        # kubelet shares the kube wrapper's compiled packages: the lab's kube binaries first
        toolchain.build(pins, root=root, only=["kubernetes"])
    if shutil.which("go") is None:
        raise RuntimeError("kubelet is built with Go: install Go (>= the go directive of k8s.io/kubernetes)")
    with toolchain.build_lock():
        if target.is_file():
            return target, 0.0
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
