"""Build what a real Kubernetes node needs, from official sources, without any registry.

The real-node tests (molecule/kubeadm_cluster) run `kubeadm init` and `join`
on Debian containers. Everything a node pulls or installs there comes from
here, cached beside the lab's other tools ($BAREMETAL_CACHE/lab-tools):

- containerd 2 (`containerd`, `ctr`, `containerd-shim-runc-v2`) from its Go
  module, packed as the release archive upstream publishes
  (containerd-<version>-linux-amd64.tar.gz with its .sha256sum), which the
  containerd role's `release` install method reads from a mirror;
- the CNI reference plugins (bridge, host-local, loopback, portmap) from
  their Go module, for the tests' pod network;
- the kubelet, from the lab's kube wrapper module (lab/kubelet.py);
- one OCI archive per image `kubeadm config images list` names for the pinned
  release, under exactly that name: the API server, controller manager and
  scheduler hold the lab's kube binaries; etcd and CoreDNS are built at the
  versions kubeadm asks for; pause is compiled (static) from the C source in
  the k8s.io/kubernetes module. kube-proxy is not built: the platform runs
  Cilium's kube-proxy replacement, so the kubeadm role skips that phase;
- lab-echo (lab/node_echo), the workload the tests place on a worker.

The kubeadm role imports such archives before init and join
(`kubeadm_preloaded_images`), the same path an air-gapped site takes.

  python -m lab node-runtime                      build what is absent; print the paths as JSON
  python -m lab node-runtime --kubernetes v1.36.1  the same for another Kubernetes release (the
                                                   real-node upgrade starts from lab_tools.kubernetes_upgrade_from)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from lab import kubelet, toolchain

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS_CONF = ROOT / "molecule" / "shared" / "containers.conf"
ECHO_SOURCE = Path(__file__).resolve().parent / "node_echo"
ECHO_IMAGE = "localhost/baremetal-mlops/lab-echo:v1"
# Images the platform does not run: kube-proxy (Cilium replaces it; the kubeadm
# role skips the addon/kube-proxy phase unless platform_kube_proxy_replacement is false).
NOT_BUILT = {"kube-proxy": "Cilium replaces kube-proxy; the kubeadm role skips its phase"}


def node_components(pins: dict, images: list[str]) -> list[toolchain.Component]:
    """The Go builds a node needs: containerd, the CNI plugins, and etcd and CoreDNS at kubeadm's versions."""
    wanted = [
        toolchain.Component("containerd", pins["containerd"], toolchain.CONTAINERD_BINARIES),
        toolchain.Component("cni-plugins", pins["cni_plugins"], toolchain.CNI_PLUGINS),
    ]
    for ref in images:
        name, tag = image_name(ref), ref.rsplit(":", 1)[1]
        if name == "etcd":
            wanted.append(toolchain.Component("etcd", "v" + tag.split("-")[0], ("etcd",)))
        elif name == "coredns":
            wanted.append(toolchain.Component("coredns", tag, ("coredns",)))
    return wanted


def image_name(ref: str) -> str:
    return ref.rsplit(":", 1)[0].rsplit("/", 1)[1]


def kubeadm_images(kubeadm: Path, version: str) -> list[str]:
    result = subprocess.run(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", version],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubeadm config images list failed: {result.stderr.strip()}")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def recipe(pins: dict) -> str:
    """What shapes the archives: this file, the echo source and the pins; a change rebuilds them."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(ECHO_SOURCE.iterdir()):
        digest.update(path.read_bytes())
    digest.update(json.dumps({k: pins[k] for k in ("kubernetes", "containerd", "cni_plugins")}).encode())
    return digest.hexdigest()[:16]


def podman(*args: str, log) -> None:
    env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}
    toolchain.run(["podman", *args], env=env, log=log)


def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Archive members owned by root with time 0: the same inputs always make the same archive."""
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
    return info


def oci_archive(ref: str, binary: Path, out: Path, log, entrypoint: str | None = None) -> Path:
    """A one-layer image holding `binary` in /usr/local/bin (on PATH), saved as an OCI archive named `ref`."""
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "rootfs"
        (rootfs / "usr/local/bin").mkdir(parents=True)
        (rootfs / "tmp").mkdir(mode=0o1777)
        (rootfs / "etc").mkdir()
        # etcd and CoreDNS look up their user; the kube images run as root
        users = ["root:x:0:0:root:/root:/sbin/nologin", "nonroot:x:65532:65532::/:/sbin/nologin"]
        (rootfs / "etc/passwd").write_text("\n".join(users) + "\n")
        shutil.copy2(binary, rootfs / "usr/local/bin" / binary.name)
        layer = Path(tmp) / "rootfs.tar"
        with tarfile.open(layer, "w") as tar:
            for path in sorted(rootfs.rglob("*")):
                tar.add(path, str(path.relative_to(rootfs)), recursive=False, filter=owned_by_root)
        changes = ["--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin"]
        if entrypoint:
            changes += ["--change", f'ENTRYPOINT ["{entrypoint}"]']
        podman("import", *changes, str(layer), ref, log=log)
    archive = out / (ref.replace("/", "_").replace(":", "_") + ".tar")
    archive.unlink(missing_ok=True)
    podman("save", "--format", "oci-archive", "-o", str(archive), ref, log=log)
    podman("rmi", ref, log=log)
    return archive


def build_pause(kube_version: str, tag: str, work: Path, log) -> Path:
    """pause, compiled static from build/pause/linux/pause.c of the k8s.io/kubernetes module."""
    source = Path(toolchain.module_info("k8s.io/kubernetes", kube_version, log)["Dir"]) / "build/pause/linux/pause.c"
    binary = work / "pause"
    toolchain.run(["gcc", "-Os", "-static", f"-DVERSION={tag}", "-o", str(binary), str(source)], env=None, log=log)
    return binary


def build_echo(work: Path, log) -> Path:
    binary = work / "lab-echo"
    toolchain.run(
        ["go", "build", "-C", str(ECHO_SOURCE), "-trimpath", "-ldflags", "-s -w", "-o", str(binary), "."],
        log=log,
    )
    return binary


def release_archive(containerd_bin: Path, version: str) -> Path:
    """containerd's binaries as upstream's release archive, plus its .sha256sum (built once per version)."""
    plain = version.lstrip("v")
    folder = containerd_bin.parent / "release"
    archive = folder / f"containerd-{plain}-linux-amd64.tar.gz"
    checksum = archive.with_name(archive.name + ".sha256sum")
    if checksum.is_file():  # written last
        return archive
    # under the build lock: `make test` asks for the node runtime from three processes at once
    with toolchain.build_lock():
        if checksum.is_file():
            return archive
        folder.mkdir(exist_ok=True)
        partial = archive.with_name(archive.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            for name in toolchain.CONTAINERD_BINARIES:
                tar.add(containerd_bin / name, f"bin/{name}", recursive=False, filter=owned_by_root)
        digest = hashlib.sha256(partial.read_bytes()).hexdigest()
        partial.rename(archive)
        checksum.write_text(f"{digest}  {archive.name}\n")
    return archive


def current(index: Path, wanted: str) -> bool:
    return index.is_file() and json.loads(index.read_text()).get("recipe") == wanted


def build_images(images: list[str], bins: dict, kube_bin: Path, version: str, wanted: str, out: Path, root: Path):
    """One OCI archive per image kubeadm names (and lab-echo) into `out`, replacing what was there."""
    shutil.rmtree(out, ignore_errors=True)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    archives, skipped = {}, {}
    with open(root / f"build-node-images-{version}.log", "w") as log, tempfile.TemporaryDirectory() as work:
        for ref in images:
            name, tag = image_name(ref), ref.rsplit(":", 1)[1]
            if name in NOT_BUILT:
                skipped[ref] = NOT_BUILT[name]
                continue
            if name == "pause":
                binary, entry = build_pause(version, tag, Path(work), log), "/usr/local/bin/pause"
            elif name in ("etcd", "coredns"):
                binary, entry = bins[name] / name, None
                if name == "coredns":
                    entry = "/usr/local/bin/coredns"
            else:
                binary, entry = kube_bin / name, None
            archives[ref] = oci_archive(ref, binary, partial, log, entry).name
        echo = build_echo(Path(work), log)
        archives[ECHO_IMAGE] = oci_archive(ECHO_IMAGE, echo, partial, log, "/usr/local/bin/lab-echo").name
    record = {
        "recipe": wanted,
        "kubernetes": version,
        "archives": archives,
        "not_built": skipped,
        "sandbox_image": next(ref for ref in archives if image_name(ref) == "pause"),
        "echo_image": ECHO_IMAGE,
        # kubeadm_preloaded_images in the form the kubeadm role reads
        "preload": [{"image": ref, "archive": str(out / name)} for ref, name in archives.items()],
    }
    (partial / "images.json").write_text(json.dumps(record, indent=2) + "\n")
    partial.rename(out)


def build(pins: dict, root: Path | None = None, kubernetes: str | None = None) -> dict:
    """Build what is absent for the pinned Kubernetes release, or for `kubernetes` when given;
    return the paths (and seconds spent) as a JSON-ready dict."""
    root = root or toolchain.cache_root()
    if kubernetes:
        pins = {**pins, "kubernetes": kubernetes}
    started = time.monotonic()
    kubelet_bin, _ = kubelet.build_kubelet(pins, root=root)  # also builds the lab's kube binaries
    kube_bin = kubelet_bin.parent
    version = pins["kubernetes"]
    images = kubeadm_images(kube_bin / "kubeadm", version)
    comps = node_components(pins, images)
    spent = toolchain.build_components(comps, root)
    bins = {c.name: c.bin_dir(root) for c in comps}
    containerd = release_archive(bins["containerd"], pins["containerd"])

    out = root / f"node-images-{version}"
    index = out / "images.json"
    wanted = recipe(pins)
    if not current(index, wanted):
        with toolchain.build_lock():
            if not current(index, wanted):  # another process may have built them while we waited
                build_images(images, bins, kube_bin, version, wanted, out, root)
    record = json.loads(index.read_text())
    return {
        "kubernetes": version,
        "kube_bin": str(kube_bin),
        "containerd_release": str(containerd),
        "containerd_version": pins["containerd"],
        "cni_bin": str(bins["cni-plugins"]),
        "images_dir": str(out),
        "images": {ref: str(out / name) for ref, name in record["archives"].items()},
        "echo_image": ECHO_IMAGE,
        "not_built": record["not_built"],
        "seconds": {**spent, "total": round(time.monotonic() - started, 1)},
    }
