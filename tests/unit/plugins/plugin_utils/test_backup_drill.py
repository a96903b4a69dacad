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


DIGEST = {"count": 2, "sha256": "a" * 64}
EXPERIMENTS = [
    {"experiment_id": "1", "name": "tabular", "lifecycle_stage": "active", "artifact_location": "s3://a/1"},
    {"experiment_id": "2", "name": "gone", "lifecycle_stage": "deleted", "artifact_location": "s3://a/2"},
]


def recorded_run(run_id, experiment_id="1", status="FINISHED", **changes):
    run = dict(
        run_id=run_id,
        name=f"name-{run_id}",
        experiment_id=experiment_id,
        status=status,
        lifecycle_stage="active",
        start_time=100,
        end_time=200 if status == "FINISHED" else None,
        artifact_uri=f"s3://a/{experiment_id}/{run_id}/artifacts",
        params=DIGEST,
        metrics=DIGEST,
        tags=DIGEST,
    )
    return dict(run, **changes)


RUNS = [recorded_run("r1"), recorded_run("r2", lifecycle_stage="deleted"), recorded_run("r3", "2")]


def restored_tracking(experiments=None, runs=None):
    """The database's rows for those experiments and runs (default: the manifest's): numbers where the
    manifest has text, no run names."""
    experiments = EXPERIMENTS if experiments is None else experiments
    runs = RUNS if runs is None else runs
    return {
        "experiments": [dict(e, experiment_id=int(e["experiment_id"])) for e in experiments],
        "runs": [
            {k: v for k, v in dict(r, experiment_id=int(r["experiment_id"])).items() if k != "name"} for r in runs
        ],
    }


def test_nothing_missing_when_every_experiment_and_run_came_back_the_same():
    assert backup_drill.tracking_problems(EXPERIMENTS, RUNS, restored_tracking()) == []
    assert backup_drill.tracking_problems([], [], {}) == []


def test_every_missing_or_changed_experiment_and_run_is_named_at_once():
    changed_metric = dict(DIGEST, sha256="b" * 64)
    restored = restored_tracking(
        experiments=[dict(EXPERIMENTS[1], lifecycle_stage="active")],
        runs=[recorded_run("r1", metrics=changed_metric), recorded_run("r3", "2", end_time=None, status="RUNNING")],
    )
    assert backup_drill.tracking_problems(EXPERIMENTS, RUNS, restored) == [
        "experiment tabular (id 1): missing",
        "experiment gone (id 2): lifecycle stage 'active' in the restored database, the manifest says 'deleted'",
        "run r1 (name-r1, experiment tabular): metrics differ (2 restored, 2 in the manifest)",
        "run r2 (name-r2, experiment tabular): missing",
        "run r3 (name-r3, experiment gone): status 'RUNNING' in the restored database, the manifest says 'FINISHED'",
        "run r3 (name-r3, experiment gone): end time None in the restored database, the manifest says 200",
    ]


def test_a_run_still_running_at_backup_time_is_proven_to_exist_not_to_hold_the_same_data():
    running = [recorded_run("r9", status="RUNNING")]
    later = recorded_run("r9", status="FINISHED", params={"count": 5, "sha256": "c" * 64})
    assert backup_drill.tracking_problems(EXPERIMENTS, running, restored_tracking(runs=[later])) == []
    moved = recorded_run("r9", status="RUNNING", artifact_uri="s3://elsewhere")
    assert backup_drill.tracking_problems(EXPERIMENTS, running, restored_tracking(runs=[moved])) == [
        "run r9 (name-r9, experiment tabular): artifact uri 's3://elsewhere' in the restored database, "
        "the manifest says 's3://a/1/r9/artifacts'"
    ]
