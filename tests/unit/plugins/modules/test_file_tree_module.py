from __future__ import annotations

from ansible_collections.baremetal.mlops.plugins.modules import file_tree
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import run_module


def test_writes_then_reports_no_change(tmp_path):
    args = {"path": str(tmp_path), "files": {"a/b.yaml": "x\n"}, "owned": ["a"], "mode": "0600"}
    first, failed = run_module(file_tree.main, args)
    assert not failed
    assert first["changed"] is True and first["written"] == ["a/b.yaml"]
    assert oct((tmp_path / "a/b.yaml").stat().st_mode & 0o777) == "0o600"
    second, failed = run_module(file_tree.main, args)
    assert not failed
    assert second["changed"] is False


def test_check_mode_with_diff(tmp_path):
    result, failed = run_module(
        file_tree.main, {"path": str(tmp_path), "files": {"a.yaml": "x"}}, check_mode=True, diff=True
    )
    assert not failed
    assert result["changed"] is True
    assert result["diff"][0]["after"] == "x"
    assert not (tmp_path / "a.yaml").exists()


def test_a_path_outside_the_tree_fails(tmp_path):
    result, failed = run_module(file_tree.main, {"path": str(tmp_path), "files": {"../x": "x"}})
    assert failed
    assert "is not a relative path inside" in result["msg"]
