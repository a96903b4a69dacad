from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils import file_tree


def test_writes_changed_files_and_removes_stale_ones_only_in_owned_folders(tmp_path):
    (tmp_path / "apps/x").mkdir(parents=True)
    (tmp_path / "apps/x/old.yaml").write_text("old")
    (tmp_path / "apps/x/same.yaml").write_text("same")
    (tmp_path / "apps/y").mkdir()
    (tmp_path / "apps/y/other.yaml").write_text("other")
    files = {"apps/x/same.yaml": "same", "apps/x/new.yaml": "new"}
    result = file_tree.ensure_tree(str(tmp_path), files, ["apps/x"], 0o644, False, True)
    assert result["written"] == ["apps/x/new.yaml"]
    assert result["removed"] == ["apps/x/old.yaml"]
    assert result["diff"][0] == {
        "before_header": "apps/x/new.yaml",
        "after_header": "apps/x/new.yaml",
        "before": "",
        "after": "new",
    }
    assert sorted(p.name for p in (tmp_path / "apps/x").iterdir()) == ["new.yaml", "same.yaml"]
    assert (tmp_path / "apps/y/other.yaml").read_text() == "other"
    again = file_tree.ensure_tree(str(tmp_path), files, ["apps/x"], 0o644, False, False)
    assert again == {"changed": False, "written": [], "removed": []}


def test_check_mode_writes_nothing(tmp_path):
    result = file_tree.ensure_tree(str(tmp_path / "tree"), {"a/b.yaml": "x"}, ["a"], 0o644, True, False)
    assert result == {"changed": True, "written": ["a/b.yaml"], "removed": []}
    assert not (tmp_path / "tree").exists()


@pytest.mark.parametrize("path", ["../escape.yaml", "/etc/passwd", "a/../../b"])
def test_paths_stay_inside_the_tree(tmp_path, path):
    with pytest.raises(file_tree.FileTreeError, match="is not a relative path inside"):
        file_tree.ensure_tree(str(tmp_path), {path: "x"}, [], 0o644, True, False)
