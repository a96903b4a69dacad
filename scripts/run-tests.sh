#!/usr/bin/env bash
# The whole test suite: the quality gates and pytest, which runs the unit
# tests, the end-to-end playbook tests, the data path (tests/e2e_data: the
# same lab.e2e.Pipeline steps `make e2e` chains, each asserted) and every
# Molecule scenario, in three lanes (below). Extra arguments: the gates, then
# one pytest run with them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
export ANSIBLE_CONFIG=$PWD/ansible.cfg

step() { printf '\n==> %s\n' "$*"; }

gates() {
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
}

if (($#)); then
  gates
  step "pytest $*"
  exec pytest --durations=30 "$@"
fi

# Three pytest processes at once, split by marker, because most of the suite's
# time is spent waiting on controllers, containers and apt rather than on the
# two cores:
#   cluster: the lab cluster, the lab's data services and the lab's Molecule
#            scenarios (markers lab, integration, molecule), in the foreground;
#   hosts:   the Molecule scenarios on podman host containers (molecule_host);
#   rest:    the quality gates above, then unit tests and the playbook runs
#            that need neither (the lane with the most time to spare).
# Only the cluster lane touches the lab, which its tests stop, break and
# restore; tests/conftest.py refuses a test that reaches the lab through a
# fixture without one of its markers. The background lanes' output follows the
# cluster lane's; any lane failing fails the run.
# Shards: on two cores the lab and host-container tests no longer fit CI's 90
# minutes in one run beside the gates, so tests/shards.yml splits them in shards
# and each run takes the shard after the one the previous run here took
# (scripts/test-shard.sh; docs/development.md, "Shards"). The gates, the unit
# tests and the playbook runs without the lab run whole every time.
# TEST_SHARD=all runs everything; a number runs that shard.
shard=$(scripts/test-shard.sh)
if [[ $shard == all ]]; then
  step "shards: every lab and host-container test (TEST_SHARD=all)"
else
  step "shards: shard $shard of the lab and host-container tests (tests/shards.yml; TEST_SHARD=all for every one)"
fi
export TEST_SHARD=$shard

step "lab secrets (once, before the lanes read them)"
python -m lab secrets

declare -A lane_pid lane_log
# Each background lane is its own session, so its own process group (the trap
# below stops a lane with everything it started). With autogroup scheduling
# (kernel.sched_autogroup_enabled=1, Debian's default) each session is also
# one scheduling group, weighted by the group's niceness, and a process's own
# niceness orders it only within its session: a lane's niceness therefore
# goes on its session's group too (/proc/self/autogroup; ignored where
# autogroup is off or a user may not raise priority). The hosts and rest
# lanes run at 5, not more: kubeadm's and some tests' timeouts still need a
# fair share (the host containers' own processes are in podman's cgroup,
# which no lane's niceness moves).
lane() { # lane NAME NICENESS COMMAND...: start a background lane in its own session
  local name=$1 niceness=$2
  shift 2
  lane_log[$name]=$(mktemp "/tmp/baremetal-mlops-$name.XXXXXX")
  # shellcheck disable=SC2016 # $0 and $@ expand in the lane's shell
  setsid bash -c 'echo "$0" 2>/dev/null >/proc/self/autogroup; exec nice -n "$0" "$@"' "$niceness" "$@" \
    >"${lane_log[$name]}" 2>&1 &
  lane_pid[$name]=$!
}
lane_pytest() { pytest -p no:cacheprovider --durations=15 --shard "$TEST_SHARD" -m "$1"; }
export -f step gates lane_pytest
# On a cold cache about 50 minutes of Go builds sit under one lock. The builder
# keeps that lock busy from the first second, in the order the lanes first need
# the programs, ahead of every lane (niceness -5, where the user may raise
# priority) because on a cold cache everything waits for it: sharing the cores
# equally with the lanes and the host containers, MinIO and Helm alone took 21
# minutes of a cold run. A lane that needs a program sooner builds it itself
# between two turns. On a warm cache the builder ends within seconds.
step "background: builder, the Go programs the tests use (python -m lab prebuild; seconds when cached)"
lane builder -5 python -m lab prebuild
step "pytest (background): hosts lane, the Molecule scenarios on host containers"
lane hosts 5 bash -c 'lane_pytest molecule_host'
step "background: rest lane, the quality gates, then unit tests and playbooks without the lab"
lane rest 5 bash -c 'rc=0; bash -euo pipefail -c gates || rc=$?
  lane_pytest "not lab and not integration and not molecule" || rc=$?; exit "$rc"'
# stop every background group (pytest, molecule, ansible) if this script ends early
trap 'for pid in "${lane_pid[@]}"; do kill -- "-$pid" 2>/dev/null || true; done' EXIT

step "pytest: cluster lane, the lab, its data services and its Molecule scenarios"
started=$SECONDS
rc=0
pytest --durations=30 --shard "$shard" -m "lab or integration or (molecule and not molecule_host)" || rc=$?
echo "run-tests: cluster lane: exit $rc after $((SECONDS - started)) s"
failed=()
((rc == 0)) || failed+=(cluster)
for name in builder hosts rest; do
  step "background results: $name lane"
  rc=0
  wait "${lane_pid[$name]}" || rc=$?
  cat "${lane_log[$name]}"
  rm -f "${lane_log[$name]}"
  echo "run-tests: $name lane: exit $rc, done by $((SECONDS - started)) s"
  ((rc == 0)) || failed+=("$name")
done
trap - EXIT
if ((${#failed[@]})); then
  echo "run-tests: pytest failed in the lanes: ${failed[*]}" >&2
  exit 1
fi
