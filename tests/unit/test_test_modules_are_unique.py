"""pytest imports test modules by basename (rootdir-relative "prepend" mode, no
packages under tests/): two test files with one name anywhere in the tree stop
the whole run at collection. This test fails in a unit-only run, before the
full suite meets the clash."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_a_unique_basename():
    seen = defaultdict(list)
    for path in sorted(TESTS.rglob("*.py")):
        if path.name.startswith("test_") or path.name.endswith("_test.py"):
            seen[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"test modules sharing a basename (rename one of each): {clashes}"
