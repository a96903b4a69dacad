#!/usr/bin/env bash
# Molecule dependency step of the kubeadm_cluster scenario: the Debian 13 host
# image and a real node's runtime (lab/node_runtime.py: containerd 2, the CNI
# plugins, kubelet, and the control-plane images kubeadm names, as OCI
# archives), for the pinned release and for the one the scenario upgrades
# from. Each is built only when absent; a warm run takes seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/build-host-images.sh" debian13-node
python=$root/.venv/bin/python
[[ -x $python ]] || python=python3
(cd "$root" && nice "$python" -m lab node-runtime >/dev/null)
# the release converge bootstraps before side_effect.yml upgrades to the pinned one
from=$(cd "$root" && "$python" -c 'import yaml; print(yaml.safe_load(open("versions.yml"))["lab_tools"]["kubernetes_upgrade_from"])')
(cd "$root" && nice "$python" -m lab node-runtime --kubernetes "$from" >/dev/null)
