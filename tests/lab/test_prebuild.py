"""`python -m lab prebuild`: the order it builds in (no Go build runs here; the build steps are recorded)."""

from __future__ import annotations

import lab.__main__ as cli
from lab.settings import load


def test_prebuild_builds_in_the_order_the_test_lanes_first_need_it(monkeypatch):
    settings = load()
    pins = settings.versions["lab_tools"]
    calls = []
    monkeypatch.setattr(cli.toolchain, "build_minio", lambda pin: calls.append(("minio", pin["version"])))
    monkeypatch.setattr(
        cli.toolchain, "build_components", lambda comps: calls.extend((c.name, c.version) for c in comps) or {}
    )
    monkeypatch.setattr(
        cli.node_runtime, "build", lambda p, kubernetes: calls.append(("node-runtime", kubernetes)) or {}
    )
    assert cli.prebuild(settings) == 0
    names = [name for name, _ in calls]
    # the data services' MinIO, then Helm (the GitOps render tests), then the rest of the lab's tool chain,
    # each in its own turn of the build lock, then both real-node releases
    assert names[:3] == ["minio", "helm", "kubernetes"]
    assert sorted(names[1:-2]) == sorted(c.name for c in cli.toolchain.components(pins))
    assert calls[-2:] == [("node-runtime", pins["kubernetes"]), ("node-runtime", pins["kubernetes_upgrade_from"])]
