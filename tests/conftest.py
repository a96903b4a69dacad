"""Make `ansible_collections.baremetal.mlops` importable in tests, and share the lab fixtures.

The repo root is the collection; collections/ansible_collections/baremetal/mlops
links back to it, so collections/ on pytest's `pythonpath` (pyproject.toml)
is enough. The lab is the `lab` package at the repo root, on the same path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import lab
from lab import credentials
from lab.data import Data, DataError
from lab.settings import load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lab_settings():
    """The lab's settings, read from inventories/lab (its secrets generated when absent)."""
    credentials.ensure()
    return load()


@pytest.fixture(scope="session")
def labdata(lab_settings):
    """The lab's MinIO, PostgreSQL and MLflow (lab/data.py)."""
    return Data(lab_settings)


@pytest.fixture(scope="session")
def running_data_services(labdata, lab_settings):
    """The lab data services, started for the session when they are not running.

    At the end of the session only the services this fixture started are
    stopped; ones already running before it are left running.
    """
    try:
        with lab.exclusive(lab_settings.state):
            started = labdata.up()
    except DataError as exc:
        pytest.fail(f"lab data services did not start: {exc}")
    yield labdata
    with lab.exclusive(lab_settings.state):
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

    settings = load()
    mirror = settings.chart_mirror_dir
    if mirror.is_dir():
        return settings.chart_mirror_url
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
