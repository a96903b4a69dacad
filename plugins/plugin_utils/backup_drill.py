# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore drill proves, as pure functions over a backup manifest and what the restore holds."""

from __future__ import annotations


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
