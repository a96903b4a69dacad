"""`python -m lab prebuild`: the order it builds in (no Go build runs here; the build steps are recorded)."""

from __future__ import annotations

import pytest

import lab.__main__ as cli
from lab.settings import load


@pytest.fixture
def recorded(monkeypatch):
    """prebuild's build steps, recorded instead of run: a function of TEST_SHARD -> [(component, version)]."""
    settings = load()

    def run(shard: str | None) -> list[tuple[str, str]]:
        calls = []
        monkeypatch.setattr(cli.toolchain, "build_minio", lambda pin: calls.append(("minio", pin["version"])))
        monkeypatch.setattr(
            cli.toolchain, "build_components", lambda comps: calls.extend((c.name, c.version) for c in comps) or {}
        )
        monkeypatch.setattr(
            cli.node_runtime, "build", lambda p, kubernetes: calls.append(("node-runtime", kubernetes)) or {}
        )
        if shard is None:
            monkeypatch.delenv("TEST_SHARD", raising=False)
        else:
            monkeypatch.setenv("TEST_SHARD", shard)
        assert cli.prebuild(settings) == 0
        return calls

    return run


def shard_holding(scenario: str, holds: bool) -> str:
    shards = cli.yaml.safe_load((cli.load().root / "tests" / "shards.yml").read_text())["shards"]
    return next(str(name) for name, entries in shards.items() if (scenario in entries) == holds)


@pytest.mark.parametrize("shard", [None, "all"])
def test_without_a_shard_prebuild_builds_everything_lab_tools_first(recorded, shard):
    pins = load().versions["lab_tools"]
    calls = recorded(shard)
    names = [name for name, _ in calls]
    # the data services' MinIO, then Helm (the GitOps render tests), then the rest of the lab's tool chain,
    # each in its own turn of the build lock, then both real-node releases
    assert names[:3] == ["minio", "helm", "kubernetes"]
    assert sorted(names[1:-2]) == sorted(c.name for c in cli.toolchain.components(pins))
    assert calls[-2:] == [("node-runtime", pins["kubernetes"]), ("node-runtime", pins["kubernetes_upgrade_from"])]


def test_a_shard_with_the_real_nodes_builds_their_runtimes_right_after_the_kube_binaries(recorded):
    versions = load().versions
    pins = versions["lab_tools"]
    calls = recorded(shard_holding(cli.REAL_NODES_SCENARIO, True))
    assert calls[:5] == [
        ("minio", versions["data_services"]["minio"]["version"]),
        ("helm", pins["helm"]),
        ("kubernetes", pins["kubernetes"]),
        ("node-runtime", pins["kubernetes"]),
        ("node-runtime", pins["kubernetes_upgrade_from"]),
    ]
    assert sorted(name for name, _ in calls[5:]) == sorted(
        c.name for c in cli.toolchain.components(pins) if c.name not in ("helm", "kubernetes")
    )


def test_a_shard_without_the_real_nodes_builds_no_older_release(recorded):
    pins = load().versions["lab_tools"]
    calls = recorded(shard_holding(cli.REAL_NODES_SCENARIO, False))
    assert [name for name, _ in calls[:3]] == ["minio", "helm", "kubernetes"]
    assert calls[-1] == ("node-runtime", pins["kubernetes"])
    assert ("node-runtime", pins["kubernetes_upgrade_from"]) not in calls
    assert sorted(name for name, _ in calls[1:-1]) == sorted(c.name for c in cli.toolchain.components(pins))
