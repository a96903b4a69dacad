"""lab/node_runtime.py: what a real node needs, derived from the pinned kubeadm's image list."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

from lab import node_runtime, toolchain

PINS = {"kubernetes": "v1.36.3", "containerd": "v2.4.2", "cni_plugins": "v1.10.0"}
KUBEADM_1_36_3 = [
    "registry.k8s.io/kube-apiserver:v1.36.3",
    "registry.k8s.io/kube-controller-manager:v1.36.3",
    "registry.k8s.io/kube-scheduler:v1.36.3",
    "registry.k8s.io/kube-proxy:v1.36.3",
    "registry.k8s.io/coredns/coredns:v1.14.2",
    "registry.k8s.io/pause:3.10.2",
    "registry.k8s.io/etcd:3.6.8-0",
]


def test_etcd_and_coredns_are_built_at_the_versions_kubeadm_names():
    comps = {c.name: c for c in node_runtime.node_components(PINS, KUBEADM_1_36_3)}
    assert comps["etcd"].version == "v3.6.8"
    assert comps["coredns"].version == "v1.14.2"
    assert comps["containerd"].binaries == ("containerd", "ctr", "containerd-shim-runc-v2")
    assert comps["containerd"].version == "v2.4.2"
    assert set(comps["cni-plugins"].binaries) >= {"bridge", "host-local", "loopback"}
    assert set(comps) == {"containerd", "cni-plugins", "etcd", "coredns"}


def test_image_names_drop_registry_path_and_tag():
    assert [node_runtime.image_name(r) for r in KUBEADM_1_36_3] == [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "coredns",
        "pause",
        "etcd",
    ]
    assert "kube-proxy" in node_runtime.NOT_BUILT


def test_the_recipe_changes_with_the_pins():
    assert node_runtime.recipe(PINS) == node_runtime.recipe(dict(PINS))
    assert node_runtime.recipe(PINS) != node_runtime.recipe({**PINS, "containerd": "v2.4.1"})


def test_the_release_archive_has_upstreams_layout_and_a_matching_checksum(tmp_path):
    bin_dir = tmp_path / "containerd-v2.4.2" / "bin"
    bin_dir.mkdir(parents=True)
    for name in toolchain.CONTAINERD_BINARIES:
        (bin_dir / name).write_bytes(name.encode())
        (bin_dir / name).chmod(0o755)
    archive = node_runtime.release_archive(bin_dir, "v2.4.2")
    assert archive.name == "containerd-2.4.2-linux-amd64.tar.gz"
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(f"bin/{n}" for n in toolchain.CONTAINERD_BINARIES)
        assert all(m.mode & 0o111 for m in tar.getmembers())
    digest, name = archive.with_name(archive.name + ".sha256sum").read_text().split()
    assert name == archive.name
    assert subprocess.run(["sha256sum", str(archive)], capture_output=True, text=True).stdout.split()[0] == digest


def test_processes_asking_for_the_release_archive_at_once_get_one_whole_archive(tmp_path, monkeypatch):
    """`make test` asks from three processes at once (the builder, a test, a Molecule dependency step); one of
    them found the other's .partial renamed away. Separate open file descriptions exclude each other under
    flock(2) even within one process, so threads stand in for the processes here."""
    monkeypatch.setenv("BAREMETAL_CACHE", str(tmp_path / "cache"))
    bin_dir = tmp_path / "containerd-v2.4.2" / "bin"
    bin_dir.mkdir(parents=True)
    for name in toolchain.CONTAINERD_BINARIES:
        (bin_dir / name).write_bytes(name.encode() * 200_000)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        archives = list(pool.map(lambda _: node_runtime.release_archive(bin_dir, "v2.4.2"), range(6)))
    assert len(set(archives)) == 1
    digest = archives[0].with_name(archives[0].name + ".sha256sum").read_text().split()[0]
    assert hashlib.sha256(archives[0].read_bytes()).hexdigest() == digest
    assert not list(archives[0].parent.glob("*.partial"))


def test_the_archives_hold_every_image_the_pinned_kubeadm_names(lab_settings):
    """Built for real (cached after the first time; the kubeadm_cluster scenario reuses it): one OCI archive per
    image the pinned kubeadm lists, each holding exactly that reference; kube-proxy left out with its reason."""
    pins = lab_settings.versions["lab_tools"]
    built = node_runtime.build(pins)
    listed = node_runtime.kubeadm_images(Path(built["kube_bin"]) / "kubeadm", pins["kubernetes"])
    assert set(built["not_built"]) == {r for r in listed if node_runtime.image_name(r) == "kube-proxy"}
    assert set(built["images"]) == (set(listed) - set(built["not_built"])) | {node_runtime.ECHO_IMAGE}
    for ref, archive in built["images"].items():
        with tarfile.open(archive) as tar:
            index = json.load(tar.extractfile("index.json"))
        assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == [ref]
    record = json.loads((Path(built["images_dir"]) / "images.json").read_text())
    assert record["preload"] == [{"image": ref, "archive": path} for ref, path in built["images"].items()]
    assert node_runtime.image_name(record["sandbox_image"]) == "pause"
    release = Path(built["containerd_release"])
    digest = release.with_name(release.name + ".sha256sum").read_text().split()[0]
    assert hashlib.sha256(release.read_bytes()).hexdigest() == digest


def test_the_lab_builds_the_containerd_the_platform_release_installs(lab_settings):
    """The real-node tests install the lab's containerd through the role's default version: they must agree."""
    versions = lab_settings.versions
    release = versions["platform_releases"][versions["platform_release_default"]]
    assert versions["lab_tools"]["containerd"] == f"v{release['containerd']}"
