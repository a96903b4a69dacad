#!/usr/bin/env bash
# Create or refresh the project's Python environment in .venv from the pins
# in pyproject.toml. Safe to run repeatedly: it reinstalls only when
# pyproject.toml changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${BAREMETAL_PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
venv=.venv
stamp=$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)

if [[ -f $stamp ]]; then
  exit 0
fi
if [[ ! -x $venv/bin/python ]]; then
  echo "setup: creating $venv with $($python --version)"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
echo "setup: installing the pinned tool chain (pyproject.toml)"
# The project is a collection, not a Python package: install its pinned
# dependencies and test extras straight from pyproject.toml.
"$venv/bin/python" - <<'PY' > "$venv/requirements.txt"
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
PY
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$venv/requirements.txt"
rm -f "$venv"/.installed-*
touch "$stamp"
