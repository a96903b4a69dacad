"""The lab: a real Kubernetes control plane with kwok nodes, the data services
and the serving path, all on loopback on one machine (docs/lab.md).

Run from the repository root as `python -m lab <component> <action>`; the
settings (endpoints, ports, credentials) come from `inventories/lab` only
(lab/settings.py), every process is started and stopped by lab/processes.py.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path


@contextlib.contextmanager
def exclusive(state: Path):
    """One command that changes the lab at a time (a pytest session and a make target may ask together)."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
