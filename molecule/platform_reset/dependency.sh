#!/usr/bin/env bash
# Molecule dependency step of the platform_reset scenario: the Debian 13 host
# image and the lab's version-stamped kube binaries, whose kubeadm prepare.yml
# installs on the node (each built only when absent; a warm run takes seconds).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/build-host-images.sh" debian13
python=$root/.venv/bin/python
[[ -x $python ]] || python=python3
(cd "$root" && nice "$python" -m lab kubelet >/dev/null)
