"""scripts/test-shard.sh: each run of the suite takes the shard the previous run on the machine did not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "test-shard.sh"


def choose(cache: Path, shard: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "TEST_SHARD"}
    env["XDG_CACHE_HOME"] = str(cache)
    if shard is not None:
        env["TEST_SHARD"] = shard
    return subprocess.run([str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


SHARDS = len(yaml.safe_load((ROOT / "tests" / "shards.yml").read_text())["shards"])


def commit_count_shard() -> str:
    count = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    return str(int(count.stdout) % SHARDS + 1)


def test_runs_take_the_shards_in_turn_and_the_first_follows_the_commit_count(tmp_path):
    first = int(choose(tmp_path).stdout)
    assert str(first) == commit_count_shard()
    taken = [first] + [int(choose(tmp_path).stdout) for _ in range(SHARDS)]
    assert taken == [(first - 1 + turn) % SHARDS + 1 for turn in range(SHARDS + 1)]
    assert sorted(set(taken)) == list(range(1, SHARDS + 1))  # every shard within SHARDS runs in a row
    record = (tmp_path / "baremetal-mlops" / "test-shard").read_text().split()
    assert record[0] == str(taken[-1]) and len(record) == 3  # shard, commit, time


def test_a_named_shard_is_taken_and_recorded_and_all_leaves_the_record_alone(tmp_path):
    assert choose(tmp_path, str(SHARDS)).stdout.strip() == str(SHARDS)
    assert choose(tmp_path, "all").stdout.strip() == "all"
    assert choose(tmp_path).stdout.strip() == "1"  # the run after the last shard, however many full runs between


@pytest.mark.parametrize("shard", [str(SHARDS + 1), "both", "0"])
def test_anything_else_is_refused_with_the_variable_named(tmp_path, shard):
    result = choose(tmp_path, shard)
    assert result.returncode == 2
    assert f"TEST_SHARD must be all or a shard of tests/shards.yml, 1 to {SHARDS}" in result.stderr
    assert not (tmp_path / "baremetal-mlops" / "test-shard").exists()
