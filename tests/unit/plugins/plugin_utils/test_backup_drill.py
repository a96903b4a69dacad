"""backup_drill: what a restore drill compares, as pure functions."""

from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.plugin_utils import backup_drill

MODELS = [
    {
        "name": "iris",
        "aliases": {"champion": "2"},
        "versions": [
            {"version": "1", "source": "s3://artifacts/1/m", "storage_location": ""},
            {"version": "2", "source": "models:/m-2", "storage_location": "s3://artifacts/1/models/m-2/artifacts"},
        ],
    },
    {"name": "wine", "aliases": {}, "versions": [{"version": "1", "source": "s3://artifacts/2/m"}]},
]


def test_nothing_missing_when_every_version_and_alias_is_there():
    restored = {
        "versions": [
            {"name": "iris", "version": "1"},
            {"name": "iris", "version": "2"},
            {"name": "wine", "version": 1},
        ],
        "aliases": [{"name": "iris", "alias": "champion", "version": 2}],
    }
    assert backup_drill.registry_problems(MODELS, restored) == []


@pytest.mark.parametrize(
    ("restored", "problems"),
    [
        (
            {"versions": [], "aliases": []},
            [
                "model iris version 1: missing",
                "model iris version 2: missing",
                "model iris alias champion: missing",
                "model wine version 1: missing",
            ],
        ),
        (
            {
                "versions": [
                    {"name": "iris", "version": "1"},
                    {"name": "iris", "version": "2"},
                    {"name": "wine", "version": "1"},
                ],
                "aliases": [{"name": "iris", "alias": "champion", "version": "1"}],
            },
            ["model iris alias champion: points at version 1, the manifest says 2"],
        ),
    ],
)
def test_missing_versions_and_aliases_are_named(restored, problems):
    assert backup_drill.registry_problems(MODELS, restored) == problems


def test_served_versions_prefer_an_s3_storage_location():
    assert backup_drill.served_versions(MODELS) == [
        {"model": "iris", "alias": "champion", "version": "2", "uri": "s3://artifacts/1/models/m-2/artifacts"}
    ]
    assert backup_drill.storage_uri({"source": "s3://a/b", "storage_location": "file:///x"}) == "s3://a/b"


def test_traffic_names_the_aliased_version_or_says_there_is_none():
    assert backup_drill.traffic(MODELS, "champion") == [
        "iris: version 2 (alias champion)",
        "wine: no alias champion; its newest version is 1 (not promoted)",
    ]
