#!/usr/bin/env python3
"""Run every benchmark script tests/bench/bench_*.py in turn (`make bench`).

Benchmarks print what they measure; they assert nothing. Pass names to run
a subset: `python tests/bench/run.py preflight`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    status = 0
    for script in scripts:
        print(f"\n### {script.stem.removeprefix('bench_')}", flush=True)
        status |= subprocess.run([sys.executable, str(script)], check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
