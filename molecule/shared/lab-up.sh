#!/usr/bin/env bash
# Molecule dependency step of the cluster-role scenarios (molecule/<role>):
# bring the shared lab up, or find it up (a no-op of about a second), before
# Ansible reads inventories/lab: `lab cluster up` also generates the lab's
# secrets file on a fresh clone. Arguments name data services to start as
# well (`minio`: the real S3 endpoint the minio role provisions).
#
# Nothing here is ever stopped again: the lab is shared by every scenario,
# the pytest sessions and developers, so the scenarios' destroy is a no-op.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python=$root/.venv/bin/python
[[ -x $python ]] || python=python3
cd "$root"
"$python" -m lab cluster up
if (($# > 0)); then
  "$python" -m lab data up "$@"
fi
