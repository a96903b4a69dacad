"""Session fixtures for tests against the real lab data services.

`data_services` starts MinIO, PostgreSQL and MLflow with the lab package
(lab/data.py; building MinIO and the MLflow environment the first time) and, at the end
of the session, stops exactly the services it started: ones already running
before the session are left running.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from s3_support import ansible_json_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def data_services(running_data_services):
    """The client environment of the running services (endpoints and the lab's MinIO root account)."""
    return running_data_services.credentials_env()


@pytest.fixture
def unique():
    """A short random suffix, so names from earlier sessions never collide."""
    return uuid.uuid4().hex[:8]


class TaskRunner:
    """Run one module of this collection through `ansible` on localhost and return its result."""

    def __init__(self, env: dict):
        self.env = ansible_json_env(env)
        self.ansible = str(Path(sys.executable).parent / "ansible")

    def __call__(self, module: str, args: dict, check: bool = False, diff: bool = False, env: dict | None = None):
        argv = [self.ansible, "localhost", "-c", "local", "-i", "localhost,"]
        argv += ["-e", json.dumps({"ansible_python_interpreter": sys.executable})]
        argv += ["-m", f"baremetal.mlops.{module}", "-a", json.dumps(args)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        run_env = dict(self.env, **(env or {}))
        proc = subprocess.run(argv, env=run_env, cwd=ROOT, capture_output=True, text=True, check=False)
        try:
            report = json.loads(proc.stdout)
            return report["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            raise AssertionError(  # noqa: B904 - the JSON error adds nothing to ansible's own output
                f"ansible failed (rc={proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )


@pytest.fixture(scope="session")
def run_task(data_services):
    return TaskRunner(data_services)
