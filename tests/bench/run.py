#!/usr/bin/env python3
"""Run every benchmark script tests/bench/bench_*.py in turn (`make bench`).

Benchmarks print what they measure; they assert nothing. Pass names to run
a subset: `python tests/bench/run.py preflight`. They run from the repo root
with it on PYTHONPATH, so they import the `lab` package as `python -m lab` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    status = 0
    for script in scripts:
        print(f"\n### {script.stem.removeprefix('bench_')}", flush=True)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        status |= subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
