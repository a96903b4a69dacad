# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the collection's versions.yml (the one versions file)."""

from __future__ import annotations

import os

import yaml

VERSIONS_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "versions.yml")


class VersionsError(Exception):
    """versions.yml is missing, malformed, or lacks the asked key."""


def load_versions(path: str = VERSIONS_FILE) -> dict:
    """Return versions.yml as a dict."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise VersionsError(f"cannot read {os.path.normpath(path)}: {exc.strerror}") from exc
    if not isinstance(data, dict):
        raise VersionsError(f"{os.path.normpath(path)} must hold a mapping at its top level")
    return data


def lookup_key(data: dict, dotted: str):
    """Return data[a][b][c] for the dotted key 'a.b.c'."""
    node = data
    walked = []
    for part in dotted.split("."):
        walked.append(part)
        if not isinstance(node, dict) or part not in node:
            raise VersionsError(f"versions.yml has no key {'.'.join(walked)!r}")
        node = node[part]
    return node


def release(data: dict, name: str | None = None) -> tuple[str, dict]:
    """Return (name, release mapping) for the named or default platform release."""
    name = name or data.get("platform_release_default")
    releases = data.get("platform_releases") or {}
    if name not in releases:
        known = ", ".join(sorted(releases)) or "none"
        raise VersionsError(f"platform release {name!r} is not in versions.yml (known: {known})")
    return name, releases[name]
