#!/usr/bin/env bash
# Build the Debian test images the host-layer Molecule scenarios run on:
# debootstrap a minimal root with systemd, then `podman import` it. No image
# registry is needed. Each image carries a label with the hash of its recipe
# (the build function and its inputs), so an image is rebuilt only when the recipe
# changes or the image is gone, and one build serves every scenario.
#
# Usage: scripts/build-host-images.sh [debian12|debian13|debian13-node ...]   (default: debian12 debian13)
# Images: localhost/baremetal-mlops-host:<name>
# Env:    HOST_IMAGE_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/molecule/shared/containers.conf}
mirror=${HOST_IMAGE_MIRROR:-http://deb.debian.org/debian}
repo=localhost/baremetal-mlops-host
label=org.baremetal-mlops.recipe
# What the scenarios' hosts need on top of debootstrap's minbase: systemd as
# PID 1, Python and python3-apt for Ansible, procps for process checks.
host_include=python3,python3-apt,systemd,systemd-sysv,dbus,sudo,iproute2,procps,apt,ca-certificates,gnupg
# A Kubernetes node (the real-node scenario, molecule/kubeadm_cluster): the
# host image plus what the containerd and kubeadm roles would install from apt
# on every node (runc, kubelet's host tools, keepalived and haproxy for the
# VIP), so each run does not download them again. The node settings kind needs
# (privileged, a private cgroup namespace, containerd's state off the overlay
# root) are the container's, in the scenario's molecule.yml.
node_include=runc,conntrack,socat,ethtool,iptables,keepalived,haproxy

suite_of() {
  case $1 in
    debian12) echo bookworm ;;
    debian13 | debian13-node) echo trixie ;;
    *)
      echo "build-host-images: unknown image '$1' (expected debian12, debian13 or debian13-node)" >&2
      return 1
      ;;
  esac
}

build() {
  local name=$1 suite recipe current tmp
  suite=$(suite_of "$name")
  # The recipe is what shapes the image: this function and its inputs.
  recipe=$({
    declare -f build
    echo "$suite $mirror $include"
  } | sha256sum | cut -c1-16)
  current=$(podman image inspect --format "{{ index .Labels \"$label\" }}" "$repo:$name" 2>/dev/null || true)
  if [[ $current == "$recipe" ]]; then
    echo "build-host-images: $repo:$name is current (recipe $recipe)"
    return 0
  fi
  echo "build-host-images: building $repo:$name from Debian $suite (recipe $recipe)"
  tmp=$(mktemp -d /var/tmp/baremetal-mlops-host.XXXXXX)
  # shellcheck disable=SC2064  # expand $tmp now: it is local to this call
  trap "rm -rf '$tmp'" RETURN
  debootstrap --variant=minbase --include="$include" "$suite" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
    tail -n 30 "$tmp/debootstrap.log" >&2
    echo "build-host-images: debootstrap $suite failed (log above)" >&2
    return 1
  }
  # Slim the image: no package cache, no docs; nothing starts a getty.
  chroot "$tmp/root" apt-get clean
  rm -rf "$tmp/root"/usr/share/doc/* "$tmp/root"/usr/share/man/*
  chroot "$tmp/root" systemctl mask getty@tty1.service console-getty.service >/dev/null 2>&1 || true
  # Pretend the package lists are ancient: apt's cache_valid_time would
  # otherwise trust the (emptied) lists and find no packages.
  find "$tmp/root/var/lib/apt/lists" -maxdepth 1 -type f -exec touch -d @0 {} +
  touch -d @0 "$tmp/root/var/lib/apt/lists"
  tar -C "$tmp/root" --numeric-owner -c . | podman import \
    --change 'CMD ["/sbin/init"]' \
    --change 'ENV container=podman' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL $label=$recipe" \
    - "$repo:$name" >/dev/null
  echo "build-host-images: built $repo:$name"
}

if [[ $(id -u) -ne 0 ]]; then
  echo "build-host-images: debootstrap needs root" >&2
  exit 1
fi
# One build at a time, even when several scenarios start at once.
exec 9>/var/tmp/baremetal-mlops-host-images.lock
flock 9
names=("$@")
((${#names[@]})) || names=(debian12 debian13)
for name in "${names[@]}"; do
  include=$host_include
  [[ $name == *-node ]] && include=$host_include,$node_include
  build "$name"
done
