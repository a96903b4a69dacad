"""Make `ansible_collections.baremetal.mlops` importable in tests, and share the lab fixtures.

The repo root is the collection; collections/ansible_collections/baremetal/mlops
links back to it, so collections/ on pytest's `pythonpath` (pyproject.toml)
is enough. The lab is the `lab` package at the repo root, on the same path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

import lab as lab_package
from lab import credentials
from lab.data import Data, DataError
from lab.settings import load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lab_settings():
    """The lab's settings, read from inventories/lab (its secrets generated when absent)."""
    credentials.ensure()
    return load()


def lab_component_running(status_stdout: str) -> bool:
    """Whether `python -m lab cluster status` shows any lab process alive (running or unhealthy)."""
    return any(line.split()[1:2] in (["running"], ["unhealthy"]) for line in status_stdout.splitlines())


@pytest.fixture(scope="session")
def lab(tmp_path_factory, lab_settings):
    """The lab cluster, one for every test folder of the session (tests/lab_support.Lab).

    Started through `python -m lab cluster up` when it is not healthy. Any
    component already running means the lab is someone else's (a developer,
    another session): it is brought up to health but never stopped here;
    a lab this fixture started from nothing is stopped at the end.
    """
    import lab_support

    status = lab_support.labctl("status", check=False)
    was_running = status.returncode == 0 or lab_component_running(status.stdout)
    if status.returncode != 0:
        lab_support.labctl("up")
    pins = lab_settings.versions["lab_tools"]
    binaries = {name: lab_support.labctl("bin", name).stdout.strip() for name in ("kubectl", "helm", "kubeadm")}
    helm_home = tmp_path_factory.mktemp("helm")
    env = {
        **os.environ,
        "KUBECONFIG": str(lab_settings.kubeconfig),
        "HELM_CACHE_HOME": str(helm_home / "cache"),
        "HELM_CONFIG_HOME": str(helm_home / "config"),
        "HELM_DATA_HOME": str(helm_home / "data"),
    }
    yield lab_support.Lab(ROOT, lab_settings.kubeconfig, pins, binaries, env)
    if not was_running:
        lab_support.labctl("down")


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
        with lab_package.exclusive(lab_settings.state):
            started = labdata.up()
    except DataError as exc:
        pytest.fail(f"lab data services did not start: {exc}")
    yield labdata
    with lab_package.exclusive(lab_settings.state):
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


# Lanes: scripts/run-tests.sh runs the suite as three pytest processes at once,
# split by marker. Only the lane of CLUSTER_LANE_MARKERS may touch the lab
# cluster or the lab's data services, because tests there stop, break and
# restore them. A test that reaches them through a fixture without one of those
# markers would run in another lane, against a cluster or a database that is
# mid-change: collection refuses it.
CLUSTER_LANE_MARKERS = {"lab", "integration", "molecule"}
CLUSTER_LANE_FIXTURES = ("lab", "labdata", "running_data_services")


def lane_problems(items) -> list[str]:
    """One line for each test that uses a cluster-lane fixture without a cluster-lane marker."""
    problems = []
    for item in items:
        if CLUSTER_LANE_MARKERS & {mark.name for mark in item.iter_markers()}:
            continue
        used = [name for name in CLUSTER_LANE_FIXTURES if name in getattr(item, "fixturenames", ())]
        if used:
            problems.append(
                f"{item.nodeid} uses {', '.join(used)} but has none of the markers {sorted(CLUSTER_LANE_MARKERS)}"
            )
    return problems


# Shards: the lab and host-container tests (every test of CLUSTER_LANE_MARKERS,
# Molecule's host scenarios included) are split in two by tests/shards.yml, and
# scripts/run-tests.sh runs one shard a run, in turn, where the whole suite no
# longer fits CI's time on two cores (docs/development.md, "Shards"). Every such
# test belongs to exactly one shard, checked at every collection, so a new test
# file cannot fall out of both.
SHARDS_FILE = ROOT / "tests" / "shards.yml"


def pytest_addoption(parser):
    parser.addoption(
        "--shard",
        default="all",
        help="run only this shard (all, or a number) of the lab and host-container tests (tests/shards.yml); "
        "the other tests run whole",
    )


def shard_key(item) -> str:
    """What tests/shards.yml names: a Molecule scenario as molecule/<scenario>, any other test by its file."""
    callspec = getattr(item, "callspec", None)
    if item.nodeid.startswith("tests/molecule/test_scenarios.py::") and callspec is not None:
        return f"molecule/{callspec.params['scenario']}"
    return item.nodeid.split("::", 1)[0]


def sharded(item) -> bool:
    return bool((CLUSTER_LANE_MARKERS | {"molecule_host"}) & {mark.name for mark in item.iter_markers()})


def shards_of(key: str, shards: dict) -> list[str]:
    """The shards whose entries name this key: the key itself, or a folder above it (an entry ending in /)."""
    return sorted(
        name
        for name, entries in shards.items()
        if any(key == entry or (entry.endswith("/") and key.startswith(entry)) for entry in entries)
    )


def shard_problems(keys, shards: dict) -> list[str]:
    """One line for each key in no shard or in more than one."""
    problems = []
    for key in sorted(set(keys)):
        found = shards_of(key, shards)
        if len(found) != 1:
            where = f"shards {', '.join(found)}" if found else "no shard"
            problems.append(f"{key} is in {where}: name it in exactly one shard of tests/shards.yml")
    return problems


def load_shards() -> dict:
    return {str(name): list(entries) for name, entries in yaml.safe_load(SHARDS_FILE.read_text())["shards"].items()}


# Order within the cluster lane: on a cold cache the lab cluster cannot start
# before the builder (`python -m lab prebuild`) has compiled its whole tool
# chain, the controllers included, while the data services need only MinIO.
# So the test files that need neither the lab cluster nor a Molecule scenario
# (markers lab, molecule) run first, in their usual order, and the builder
# works meanwhile; the order of the others is kept. A file moves as a whole,
# so its module fixtures are set up once.
CLUSTER_MARKERS = {"lab", "molecule"}


def data_services_first(items) -> list:
    """`items` reordered (stable): the files without a test marked lab or molecule first."""
    files_needing_the_cluster = {
        item.nodeid.split("::", 1)[0] for item in items if CLUSTER_MARKERS & {mark.name for mark in item.iter_markers()}
    }
    return sorted(items, key=lambda item: item.nodeid.split("::", 1)[0] in files_needing_the_cluster)


def pytest_collection_modifyitems(config, items):
    problems = lane_problems(items)
    if problems:
        raise pytest.UsageError("tests/conftest.py lanes:\n" + "\n".join(problems))
    items[:] = data_services_first(items)
    heavy = [item for item in items if sharded(item)]
    if not heavy:
        return
    shards = load_shards()
    problems = shard_problems([shard_key(item) for item in heavy], shards)
    if problems:
        raise pytest.UsageError("tests/conftest.py shards:\n" + "\n".join(problems))
    chosen = config.getoption("shard")
    if chosen == "all":
        return
    if chosen not in shards:
        raise pytest.UsageError(f"--shard must be all or one of the shards of tests/shards.yml: {', '.join(shards)}")
    left_out = [item for item in heavy if shards_of(shard_key(item), shards) != [chosen]]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        dropped = set(map(id, left_out))
        items[:] = [item for item in items if id(item) not in dropped]
