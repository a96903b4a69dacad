from __future__ import annotations

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.baremetal.mlops.plugins.lookup.versions import LookupModule
from ansible_collections.baremetal.mlops.plugins.plugin_utils.versions import VersionsError, load_versions, release


def test_lookup_reads_versions_file():
    data = load_versions()
    lookup = LookupModule()
    default = data["platform_release_default"]
    assert lookup.run(["lab_tools.kubernetes"]) == [data["lab_tools"]["kubernetes"]]
    # release names contain dots and still resolve as one key
    assert lookup.run([f"platform_releases.{default}.charts.cilium"]) == [
        data["platform_releases"][default]["charts"]["cilium"]
    ]


def test_lookup_names_the_missing_key():
    with pytest.raises(AnsibleLookupError, match=r"versions\.yml has no key 'lab_tools\.nothing'"):
        LookupModule().run(["lab_tools.nothing"])


def test_release_selection():
    data = {"platform_release_default": "a", "platform_releases": {"a": {"kubernetes": ["1.36"]}}}
    assert release(data) == ("a", {"kubernetes": ["1.36"]})
    with pytest.raises(VersionsError, match=r"platform release 'b' is not in versions.yml \(known: a\)"):
        release(data, "b")


def test_missing_file(tmp_path):
    with pytest.raises(VersionsError, match="cannot read"):
        load_versions(str(tmp_path / "nope.yml"))
