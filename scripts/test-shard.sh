#!/usr/bin/env bash
# Which shard of the lab and host-container tests this run of
# scripts/run-tests.sh takes (tests/shards.yml, docs/development.md "Shards"):
# prints all or a shard's number and, for a number, records it for the next
# run.
#
# TEST_SHARD=all or a number decides; unset (or auto), the shard after the one
# the previous run on this machine took, from a record under the user's cache
# (which outlives clones, as CI's runs do); without a record, the commit count
# modulo the number of shards.
set -euo pipefail
record=${XDG_CACHE_HOME:-$HOME/.cache}/baremetal-mlops/test-shard
cd "$(dirname "$0")/.."
python=.venv/bin/python
[[ -x $python ]] || python=python3
count=$("$python" -c 'import sys, yaml; print(len(yaml.safe_load(open(sys.argv[1]))["shards"]))' tests/shards.yml)
shard=${TEST_SHARD:-auto}
if [[ $shard == auto ]]; then
  last=$(cut -d' ' -f1 "$record" 2>/dev/null || true)
  if [[ $last =~ ^[0-9]+$ ]] && ((last >= 1 && last <= count)); then
    shard=$((last % count + 1))
  else
    shard=$(($(git rev-list --count HEAD 2>/dev/null || echo 0) % count + 1))
  fi
fi
case $shard in
  all) ;;
  [1-9])
    if ((shard > count)); then
      echo "test-shard: TEST_SHARD must be all or a shard of tests/shards.yml, 1 to $count (got '$shard')" >&2
      exit 2
    fi
    if [[ -s $record ]]; then
      echo "test-shard: the previous run here took shard $(cat "$record")" >&2
    fi
    mkdir -p "$(dirname "$record")"
    echo "$shard $(git rev-parse --short HEAD 2>/dev/null || echo unknown) $(date -u +%Y-%m-%dT%H:%MZ)" >"$record"
    ;;
  *)
    echo "test-shard: TEST_SHARD must be all or a shard of tests/shards.yml, 1 to $count (got '$shard')" >&2
    exit 2
    ;;
esac
echo "$shard"
