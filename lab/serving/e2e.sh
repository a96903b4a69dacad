#!/usr/bin/env bash
# The lab's data path end to end (make e2e): data services up, buckets, team
# policies and users from the inventory, train and register the iris model,
# promote it to champion, serve it, send predictions, run playbooks/verify.yml,
# then stop the services this run started (ones already running stay up).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PWD/.venv/bin:$PATH
export ANSIBLE_CONFIG=$PWD/ansible.cfg
started_at=$(date +%s)
step() { printf '\n==> e2e: %s\n' "$*"; }

data_was_up=false serving_was_up=false
python lab/data/labdata.py status >/dev/null 2>&1 && data_was_up=true
python lab/serving/labserving.py status >/dev/null 2>&1 && serving_was_up=true

finish() {
  rc=$?
  $serving_was_up || python lab/serving/labserving.py down || rc=1
  $data_was_up || python lab/data/labdata.py down || rc=1
  echo "e2e: $([ $rc -eq 0 ] && echo passed || echo FAILED) in $(($(date +%s) - started_at))s"
  exit $rc
}
trap finish EXIT

step "lab secrets and data services (MinIO, PostgreSQL, MLflow)"
python scripts/lab-secrets.py
nice -n 5 python lab/data/labdata.py up
lab_vars=$(python lab/serving/labserving.py vars)

step "buckets, team policies and team users"
ansible-playbook lab/serving/provision.yml -i inventories/lab -e "@$lab_vars"

step "train and register iris-bare-metal"
summary=$(nice -n 5 python lab/serving/labserving.py train)
version=$(python -c 'import json, sys; print(json.loads(sys.argv[1])["model_version"])' "$summary")
echo "$summary"

step "promote version $version to champion"
ansible-playbook lab/serving/promote.yml -i inventories/lab -e "@$lab_vars" -e "lab_model_version=$version"

step "serve champion (MLServer) and scrape it (Prometheus)"
# A running MLServer may serve an older champion: restart it on this one.
$serving_was_up && python lab/serving/labserving.py down mlserver
nice -n 5 python lab/serving/labserving.py up

step "50 predictions"
python lab/serving/labserving.py predict --count 50

step "verify (playbooks/verify.yml)"
ansible-playbook playbooks/verify.yml -i inventories/lab -e "@$lab_vars"
