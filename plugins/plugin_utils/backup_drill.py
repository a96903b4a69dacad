# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore drill proves, as pure functions over a backup manifest and what the restore holds."""

from __future__ import annotations

from ansible_collections.baremetal.mlops.plugins.module_utils.mlflow_runs import FINISHED_RUN_STATUSES


def registry_problems(models: list, restored: dict) -> list:
    """Every registered model version and alias of the manifest that the restored database lacks, one line each.

    `restored` holds the restored database's rows: `versions` [{name, version}] and
    `aliases` [{name, alias, version}].
    """
    versions = {(row["name"], str(row["version"])) for row in restored.get("versions") or []}
    aliases = {(row["name"], row["alias"]): str(row["version"]) for row in restored.get("aliases") or []}
    problems = []
    for model in models:
        for version in model.get("versions", []):
            if (model["name"], str(version["version"])) not in versions:
                problems.append(f"model {model['name']} version {version['version']}: missing")
        for alias, version in sorted(model.get("aliases", {}).items()):
            found = aliases.get((model["name"], alias))
            if found is None:
                problems.append(f"model {model['name']} alias {alias}: missing")
            elif found != str(version):
                problems.append(
                    f"model {model['name']} alias {alias}: points at version {found}, the manifest says {version}"
                )
    return problems


def _differences(recorded: dict, restored: dict, fields: tuple) -> list:
    return [
        f"{field.replace('_', ' ')} {restored.get(field)!r} in the restored database, "
        f"the manifest says {recorded.get(field)!r}"
        for field in fields
        if recorded.get(field) != restored.get(field)
    ]


def tracking_problems(experiments: list, runs: list, restored: dict) -> list:
    """Every experiment and run of the manifest that the restored database lacks or holds differently.

    `restored` holds `experiments` [{experiment_id, name, lifecycle_stage, artifact_location}] and `runs`
    [{run_id, experiment_id, status, lifecycle_stage, start_time, end_time, artifact_uri, params, metrics,
    tags}], the last three {count, sha256} computed as module_utils/mlflow.py's data_digest does. A run the
    manifest records as finished (FINISHED, FAILED, KILLED) must come back with the same status, end time
    and data; one still running when the backup read it had data still changing: its existence, experiment,
    start and artifact root are proven. Deleted experiments and runs must come back deleted.
    """
    found_experiments = {str(e["experiment_id"]): e for e in restored.get("experiments") or []}
    found_runs = {r["run_id"]: dict(r, experiment_id=str(r["experiment_id"])) for r in restored.get("runs") or []}
    names = {str(e["experiment_id"]): e.get("name", "") for e in experiments}
    problems = []
    for experiment in experiments:
        label = f"experiment {experiment['name']} (id {experiment['experiment_id']})"
        found = found_experiments.get(str(experiment["experiment_id"]))
        if found is None:
            problems.append(f"{label}: missing")
            continue
        fields = ("name", "lifecycle_stage", "artifact_location")
        problems += [f"{label}: {text}" for text in _differences(experiment, found, fields)]
    for run in runs:
        experiment = names.get(str(run["experiment_id"]), "")
        label = f"run {run['run_id']} ({run.get('name') or 'no name'}, experiment {experiment or run['experiment_id']})"
        found = found_runs.get(run["run_id"])
        if found is None:
            problems.append(f"{label}: missing")
            continue
        fields = ("experiment_id", "lifecycle_stage", "start_time", "artifact_uri")
        finished = run.get("status") in FINISHED_RUN_STATUSES
        if finished:
            fields += ("status", "end_time")
        texts = _differences(dict(run, experiment_id=str(run["experiment_id"])), found, fields)
        for kind in ("params", "metrics", "tags") if finished else ():
            recorded, restored_kind = run[kind], found.get(kind) or {}
            if recorded["sha256"] != restored_kind.get("sha256"):
                texts.append(
                    f"{kind} differ ({restored_kind.get('count', 0)} restored, {recorded['count']} in the manifest)"
                )
        problems += [f"{label}: {text}" for text in texts]
    return problems


def storage_uri(version: dict) -> str:
    """Where a version's files are: its storage location when MLflow recorded one in S3, else its source."""
    location = version.get("storage_location") or ""
    return location if location.startswith("s3://") else version.get("source") or ""


def served_versions(models: list) -> list:
    """The versions an alias points at (what serving may use): {model, alias, version, uri}."""
    served = []
    for model in models:
        by_number = {str(v["version"]): v for v in model.get("versions", [])}
        for alias, number in sorted(model.get("aliases", {}).items()):
            version = by_number.get(str(number), {})
            served.append(dict(model=model["name"], alias=alias, version=str(number), uri=storage_uri(version)))
    return served


def traffic(models: list, alias: str) -> list:
    """One line per model: the version that should receive traffic (the one `alias` points at)."""
    lines = []
    for model in models:
        if alias in model.get("aliases", {}):
            lines.append(f"{model['name']}: version {model['aliases'][alias]} (alias {alias})")
        elif model.get("versions"):
            newest = model["versions"][-1]["version"]
            lines.append(f"{model['name']}: no alias {alias}; its newest version is {newest} (not promoted)")
    return lines
