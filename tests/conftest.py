"""Make `ansible_collections.baremetal.mlops` importable in tests.

The repo root is the collection; collections/ansible_collections/baremetal/mlops
links back to it, so putting collections/ on sys.path is enough.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = str(ROOT / "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


def load_lab_tool(name: str, relative: str):
    """A lab tool (lab/...py) as module `name`, shared by every test that loads it."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def lab_tool():
    """load_lab_tool(name, relative path) for tests in other folders."""
    return load_lab_tool


@pytest.fixture(scope="session")
def labdata():
    """lab/data/labdata.py: the lab's MinIO, PostgreSQL and MLflow."""
    return load_lab_tool("labdata", "lab/data/labdata.py")


@pytest.fixture(scope="session")
def running_data_services(labdata):
    """The lab data services, started for the session when they are not running.

    At the end of the session only the services this fixture started are
    stopped; ones already running before it are left running.
    """
    try:
        started = labdata.up()
    except labdata.LabError as exc:
        pytest.fail(f"lab data services did not start: {exc}")
    yield labdata
    labdata.down(started)
