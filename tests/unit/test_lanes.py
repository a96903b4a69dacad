"""The lane guard of tests/conftest.py: a test reaching the lab without a cluster-lane marker is refused."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

SPEC = importlib.util.spec_from_file_location("root_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
root_conftest = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(root_conftest)


def item(nodeid, fixtures, markers=()):
    marks = [SimpleNamespace(name=name) for name in markers]
    return SimpleNamespace(nodeid=nodeid, fixturenames=list(fixtures), iter_markers=lambda: iter(marks))


@pytest.mark.parametrize("fixture", ["lab", "labdata", "running_data_services"])
def test_a_cluster_fixture_without_a_cluster_marker_is_named(fixture):
    problems = root_conftest.lane_problems([item("tests/x.py::test_a", ["tmp_path", fixture])])
    assert problems == [
        f"tests/x.py::test_a uses {fixture} but has none of the markers ['integration', 'lab', 'molecule']"
    ]


@pytest.mark.parametrize("marker", ["lab", "integration", "molecule"])
def test_any_cluster_marker_puts_the_test_in_the_cluster_lane(marker):
    assert root_conftest.lane_problems([item("tests/x.py::test_a", ["lab", "labdata"], [marker, "e2e"])]) == []


def test_tests_without_cluster_fixtures_may_go_to_any_lane():
    assert root_conftest.lane_problems([item("tests/x.py::test_a", ["tmp_path"]), item("t::b", [], ["e2e"])]) == []


def test_host_scenarios_that_wait_for_go_builds_run_last():
    spec = importlib.util.spec_from_file_location(
        "test_scenarios_order", Path(__file__).resolve().parents[1] / "molecule" / "test_scenarios.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    host = [p.id for p in module.scenarios() if any(m.name == "molecule_host" for m in p.marks)]
    building = [name for name in host if module.waits_for_go_builds(module.ROOT / "molecule" / name)]
    assert "kubeadm_cluster" in building and "bgp_router" not in building
    assert host == sorted(set(host) - set(building)) + sorted(building)
