#!/usr/bin/env bash
# The whole test suite: quality gates first (fast, fail early), then pytest,
# which runs the unit tests, the end-to-end playbook tests, the data path
# (tests/e2e_data: the same lab.e2e.Pipeline steps `make e2e` chains, each
# asserted) and every Molecule scenario: those on podman host containers in a
# second pytest beside the rest. Extra arguments: one pytest run with them
# instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
export ANSIBLE_CONFIG=$PWD/ansible.cfg

step() { printf '\n==> %s\n' "$*"; }

step "yamllint"
yamllint --strict .
step "ansible-lint (profile: production)"
ANSIBLE_VAULT_PASSWORD_FILE=$PWD/tests/fixtures/example-vault-password ansible-lint
step "ruff"
ruff check .
ruff format --check .
step "antsibull-changelog lint"
antsibull-changelog lint
step "ansible-test sanity"
scripts/sanity.sh
if (($#)); then
  step "pytest $*"
  exec pytest --durations=30 "$@"
fi

# The Molecule scenarios on podman host containers (marker molecule_host) need
# no lab, and much of their time is spent waiting on containers and apt: they
# run in a second pytest beside the rest of the suite, which holds the lab.
# Their output follows the main run's; either failing fails the run.
step "pytest (background): the Molecule scenarios on host containers"
host_log=$(mktemp /tmp/baremetal-mlops-host-scenarios.XXXXXX)
setsid pytest -p no:cacheprovider -m molecule_host --durations=10 >"$host_log" 2>&1 &
host_pid=$!
# stop the whole background group (pytest, molecule, ansible) if this script ends early
trap 'kill -- -$host_pid 2>/dev/null || true' EXIT

step "pytest: unit, end-to-end, lab, integration and the lab's Molecule scenarios"
main_rc=0
pytest --durations=30 -m "not molecule_host" || main_rc=$?

step "pytest (background) results: the Molecule scenarios on host containers"
host_rc=0
wait "$host_pid" || host_rc=$?
trap - EXIT
cat "$host_log"
rm -f "$host_log"
if ((main_rc || host_rc)); then
  echo "run-tests: pytest failed (main run: exit $main_rc, host scenarios: exit $host_rc)" >&2
  exit 1
fi
