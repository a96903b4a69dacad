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


SHARDS = {"1": ["tests/lab/", "molecule/kubeadm_cluster"], "2": ["tests/lab_layers/test_tenancy.py", "molecule/lab"]}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("tests/lab/test_cluster.py", ["1"]),  # under a folder entry
        ("tests/lab_layers/test_tenancy.py", ["2"]),  # a file entry
        ("molecule/lab", ["2"]),  # a scenario, not the folder tests/lab/
        ("tests/lab_layers/test_serving.py", []),
        ("molecule/kubeadm", []),  # a scenario entry is no prefix of another scenario
    ],
)
def test_a_key_is_in_the_shards_that_name_it_or_a_folder_above_it(key, expected):
    assert root_conftest.shards_of(key, SHARDS) == expected


def test_a_test_in_no_shard_or_in_two_is_named():
    shards = {**SHARDS, "2": [*SHARDS["2"], "tests/lab/test_helm.py"]}
    problems = root_conftest.shard_problems(["tests/lab/test_helm.py", "tests/new/test_x.py", "molecule/lab"], shards)
    assert problems == [
        "tests/lab/test_helm.py is in shards 1, 2: name it in exactly one shard of tests/shards.yml",
        "tests/new/test_x.py is in no shard: name it in exactly one shard of tests/shards.yml",
    ]


def test_every_molecule_scenario_is_in_exactly_one_shard_of_the_real_file():
    spec = importlib.util.spec_from_file_location(
        "test_scenarios_shards", Path(__file__).resolve().parents[1] / "molecule" / "test_scenarios.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    keys = [f"molecule/{p.id}" for p in module.scenarios()]
    assert len(keys) > 20
    assert root_conftest.shard_problems(keys, root_conftest.load_shards()) == []


def test_molecule_scenarios_are_keyed_by_scenario_and_other_tests_by_file():
    scenario = SimpleNamespace(
        nodeid="tests/molecule/test_scenarios.py::test_molecule_scenario[lab]",
        callspec=SimpleNamespace(params={"scenario": "lab"}),
    )
    other = SimpleNamespace(
        nodeid="tests/lab/test_cluster.py::test_nodes[a]", callspec=SimpleNamespace(params={"a": 1})
    )
    assert root_conftest.shard_key(scenario) == "molecule/lab"
    assert root_conftest.shard_key(other) == "tests/lab/test_cluster.py"


def test_files_that_need_only_the_data_services_run_before_those_that_need_the_lab_cluster():
    items = [
        item("tests/e2e_data/test_data_path.py::test_a", [], ["integration", "e2e"]),
        item("tests/e2e_data/test_lab_processes.py::test_b", [], ["lab", "integration"]),
        item("tests/e2e_data/test_lab_processes.py::test_c", [], ["integration"]),  # moves with its file
        item("tests/integration/test_minio_role.py::test_d", [], ["integration"]),
        item("tests/lab/test_cluster.py::test_e", [], ["lab"]),
        item("tests/molecule/test_scenarios.py::test_scenario[lab]", [], ["molecule"]),
        item("tests/unit/test_x.py::test_f", []),
    ]
    order = [i.nodeid.rsplit("::", 1)[1] for i in root_conftest.data_services_first(items)]
    assert order == ["test_a", "test_d", "test_f", "test_b", "test_c", "test_e", "test_scenario[lab]"]
