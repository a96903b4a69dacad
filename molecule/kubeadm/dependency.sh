#!/usr/bin/env bash
# Molecule dependency step of the kubeadm scenario: the Debian host images and
# the lab's version-stamped kube binaries, kubelet included (each built only
# when absent; a warm run takes seconds).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/build-host-images.sh" debian12 debian13
python=$root/.venv/bin/python
[[ -x $python ]] || python=python3
(cd "$root" && nice "$python" -m lab kubelet >/dev/null)
