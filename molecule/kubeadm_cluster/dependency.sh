#!/usr/bin/env bash
# Molecule dependency step of the kubeadm_cluster scenario: the Debian 13 host
# image and a real node's runtime (lab/node_runtime.py: containerd 2, the CNI
# plugins, kubelet, and the control-plane images kubeadm names, as OCI
# archives). Each is built only when absent; a warm run takes seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/build-host-images.sh" debian13-node
python=$root/.venv/bin/python
[[ -x $python ]] || python=python3
(cd "$root" && nice "$python" -m lab node-runtime >/dev/null)
