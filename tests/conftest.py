"""Make `ansible_collections.baremetal.mlops` importable in tests.

The repo root is the collection; collections/ansible_collections/baremetal/mlops
links back to it, so putting collections/ on sys.path is enough.
"""

from __future__ import annotations

import importlib.util
import os
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


# Shared fixture: where a test's charts come from.
UPSTREAM_CHARTS = ROOT / "lab" / "upstream-charts.yml"


def _chart_repository(chart: str) -> str:
    """The repository a lab test installs `chart` from.

    The lab serves ../shared/mirror on loopback. Without it (a user's clone)
    the lab falls back to the upstream repositories (docs/lab.md), and so do
    the tests; in CI a missing mirror is a failure, never a quiet fallback.
    """
    import yaml

    mirror = Path(os.environ.get("LAB_CHART_MIRROR", ROOT.parent / "shared" / "mirror" / "charts"))
    if mirror.is_dir():
        charts = yaml.safe_load((ROOT / "inventories/lab/group_vars/all/charts.yml").read_text())
        return charts["lab_chart_mirror_url"]
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but the chart mirror {mirror} is missing: CI runs with ../shared beside the clone")
    return yaml.safe_load(UPSTREAM_CHARTS.read_text())["platform_chart_repositories"][chart]


@pytest.fixture(scope="session")
def chart_repository():
    """chart name -> repository URL: the lab's mirror, or upstream outside CI (see _chart_repository)."""
    return _chart_repository


# Skip policy: a skip is a failure unless it names missing hardware. An
# allowed skip's reason starts with HARDWARE_SKIP, e.g.
#   pytest.mark.skipif(no_gpu, reason=HARDWARE_SKIP + "no NVIDIA GPU on this machine")
# Every skip is listed at the end of the run; any other skip (or xfail) turns
# the run red, so a check can never silently not check.
HARDWARE_SKIP = "missing hardware: "
_SKIPS: list[tuple[str, str]] = []


def _skip_reason(report) -> str:
    if hasattr(report, "wasxfail"):
        return f"xfail: {report.wasxfail}"
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_runtest_logreport(report):
    if report.skipped or hasattr(report, "wasxfail"):
        _SKIPS.append((report.nodeid, _skip_reason(report)))


def _unexpected_skips() -> list[tuple[str, str]]:
    return [(node, reason) for node, reason in _SKIPS if not reason.startswith(HARDWARE_SKIP)]


def pytest_terminal_summary(terminalreporter):
    if not _SKIPS:
        return
    terminalreporter.section("skip list")
    for node, reason in _SKIPS:
        verdict = "allowed" if reason.startswith(HARDWARE_SKIP) else "NOT ALLOWED"
        terminalreporter.write_line(f"{verdict:<12} {node}: {reason}")
    bad = _unexpected_skips()
    if bad:
        terminalreporter.write_line(
            f"{len(bad)} skip(s) do not name missing hardware: a skip is a failure here (tests/conftest.py)", red=True
        )


def pytest_sessionfinish(session, exitstatus):
    if _unexpected_skips() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
