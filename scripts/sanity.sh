#!/usr/bin/env bash
# ansible-test sanity needs the collection inside an
# ansible_collections/<namespace>/<name> tree; build one in a temporary
# folder from the tracked plugin files and run the sanity tests there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/baremetal/mlops
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard -- galaxy.yml meta plugins tests/sanity tests/unit/plugins \
  | xargs -0 -I{} cp --parents {} "$dest"/
cd "$dest"

# ansible-test bootstraps pip in each of its virtual environments with
# get-pip.py from a download site this machine cannot reach. Give it an
# equivalent from PyPI instead: pip's own wheel, run as `pip install ARGS`,
# which is what get-pip.py does. ansible-test looks for it in its cache.
pip_version=$("$root/.venv/bin/python" - <<'PY'
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version='3.11'))['pip'])
PY
)
cache=$HOME/.ansible/test/cache
bootstrap=$cache/get_pip_${pip_version//./_}.py
wheel=$cache/pip-$pip_version-py3-none-any.whl
if [[ ! -f $wheel ]]; then
  "$root/.venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps --dest "$cache" "pip==$pip_version"
fi
if [[ ! -f $bootstrap ]] || ! grep -q "baremetal.mlops" "$bootstrap"; then
  cat > "$bootstrap" <<PY
# Offline stand-in for get-pip.py, written by baremetal.mlops scripts/sanity.sh.
import runpy, sys
sys.path.insert(0, "$wheel")
# get-pip.py's own flags; without them it would also install setuptools/wheel
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.argv = ["pip", "install", *args]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
PY
fi
# ansible-test prepares one virtual environment per tool it runs (pylint,
# validate-modules, ...) with the versions it pins; they are cached here.
export ANSIBLE_TEST_PREFER_VENV=1
"$root/.venv/bin/ansible-test" sanity --venv --python "$("$root/.venv/bin/python" -c 'import sys;print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" \
  --color no "$@"
