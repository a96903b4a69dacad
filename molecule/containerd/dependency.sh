#!/usr/bin/env bash
# Molecule dependency step of the containerd scenario: the Debian host images
# and containerd's release archive as upstream publishes it, built by the lab
# from containerd's Go module (`python -m lab node-runtime`, which takes the
# build lock itself). Each is built only when absent; a warm run takes seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/build-host-images.sh" debian12 debian13
python=$root/.venv/bin/python
[[ -x $python ]] || python=python3
version=$(cd "$root" && "$python" -c '
import yaml
v = yaml.safe_load(open("versions.yml"))
print(v["platform_releases"][v["platform_release_default"]]["containerd"])
')
cache=${BAREMETAL_CACHE:-$HOME/.cache/baremetal-mlops}/lab-tools/containerd-v$version/release
if [[ ! -f $cache/containerd-$version-linux-amd64.tar.gz.sha256sum ]]; then
  (cd "$root" && nice "$python" -m lab node-runtime >/dev/null)
fi
test -f "$cache/containerd-$version-linux-amd64.tar.gz.sha256sum" || {
  echo "containerd dependency: no release archive of containerd $version under $cache" >&2
  exit 1
}
