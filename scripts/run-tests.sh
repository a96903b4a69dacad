#!/usr/bin/env bash
# The whole test suite: quality gates first (fast, fail early), then pytest,
# which runs the unit tests, the end-to-end playbook tests, the data path
# (tests/e2e_data: the same lab.e2e.Pipeline steps `make e2e` chains, each
# asserted) and every Molecule scenario. Extra arguments go to pytest.
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
step "pytest: unit, end-to-end, lab, integration and Molecule"
pytest --durations=30 "$@"
