# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Helm releases a direct delivery must hand to Helm, and the record that lets it skip the rest.

kubernetes.core.helm decides "unchanged" by comparing the release's chart and
values with the deployed ones, at the price of four Helm commands per release
(show chart, list, get values, plugin list) on every run. Direct delivery keeps
a record instead: per release, a digest of what it last delivered (chart,
version, namespace, values) and the Helm revision that delivery produced, in a
ConfigMap per component (kube-system by default). A release is skipped only
when all of these hold, read from one `helm list` and one ConfigMap listing per
run:

- Helm lists it as deployed, with the chart and version the plan names;
- the record holds the plan's digest for it;
- Helm's current revision is the recorded one (an upgrade, rollback or
  reinstall made outside this collection bumps the revision, so the release
  goes through Helm's own comparison again).

Everything else goes to kubernetes.core.helm as before, so a lost record
costs one slow run, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import json

RECORD_LABEL = "baremetal.mlops/delivery-record"


class RecordError(Exception):
    """Input that is not what the record expects (Helm's listing, a record ConfigMap)."""


def key(release: dict) -> str:
    return f"{release['namespace']}/{release['name']}"


def helm_releases(listing: list) -> dict:
    """`helm list --all --output json` (parsed) -> {"namespace/name": {status, revision, chart}}."""
    found = {}
    for entry in listing or []:
        try:
            found[key(entry)] = {
                "status": str(entry["status"]),
                "revision": int(entry["revision"]),
                "chart": str(entry.get("chart", "")),
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"not an entry of helm list --output json: {entry!r} ({exc})") from exc
    return found


def digest(release: dict) -> str:
    """sha256 of what a delivery of this release hands to Helm: name, namespace, chart, version, values."""
    payload = {field: release.get(field) for field in ("name", "namespace", "chart", "version", "values")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def pending(releases: list, releases_now: dict, record: dict) -> list:
    """The plan's releases Helm must see this run (see the module docstring); order kept."""
    due = []
    for release in releases:
        now = releases_now.get(key(release))
        kept = record.get(key(release)) or {}
        unchanged = (
            now is not None
            and now["status"] == "deployed"
            and now["chart"] == f"{release['chart']}-{release['version']}"
            and kept.get("digest") == digest(release)
            and kept.get("revision") == now["revision"]
        )
        if not unchanged:
            due.append(release)
    return due


def _data_key(release_key: str) -> str:
    # ConfigMap keys allow [-._a-zA-Z0-9]; namespaces and release names are DNS labels
    return release_key.replace("/", ".")


def read(configmaps: list) -> dict:
    """The record ConfigMaps (k8s_info resources) -> {"namespace/name": {digest, revision}}."""
    record = {}
    for configmap in configmaps or []:
        for value in ((configmap or {}).get("data") or {}).values():
            try:
                entry = json.loads(value)
                record[f"{entry['namespace']}/{entry['name']}"] = {
                    "digest": str(entry["digest"]),
                    "revision": int(entry["revision"]),
                }
            except (ValueError, KeyError, TypeError):
                continue  # an entry written by hand or damaged: that release takes the slow path
    return record


def delivered(releases: list, results: list, releases_now: dict, record: dict) -> dict:
    """The record entries of this component after its Helm step.

    `results` are the registered loop results of kubernetes.core.helm over the
    pending releases (item: the release; status.revision: the revision Helm
    reports after the step). Releases Helm did not see keep their entry.
    """
    entries = {}
    for release in releases:
        entry = record.get(key(release))
        if entry is not None:
            entries[key(release)] = entry
    for result in results or []:
        release = result.get("item") or {}
        if result.get("skipped") or result.get("failed") or not release:
            continue
        status = result.get("status") or {}
        revision = status.get("revision")
        if revision is None and key(release) in releases_now:
            revision = releases_now[key(release)]["revision"]
        if revision is None:
            continue
        entries[key(release)] = {"digest": digest(release), "revision": int(revision)}
    return entries


def configmap(component: str, namespace: str, entries: dict) -> dict:
    """The record ConfigMap of one component holding `entries` ({"namespace/name": {digest, revision}})."""
    data = {}
    for release_key, entry in sorted(entries.items()):
        release_namespace, name = release_key.split("/", 1)
        data[_data_key(release_key)] = json.dumps(
            {"namespace": release_namespace, "name": name, "digest": entry["digest"], "revision": entry["revision"]},
            sort_keys=True,
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"baremetal-mlops-delivery-{component}",
            "namespace": namespace,
            "labels": {RECORD_LABEL: "true", "app.kubernetes.io/managed-by": "baremetal.mlops"},
        },
        "data": data,
    }


def after_step(releases_now: dict, record: dict, releases: list, entries: dict) -> tuple[dict, dict]:
    """The run's view of Helm and of the record once this component's releases are delivered, so a
    later delivery of the same component in the same run compares against what is there now."""
    now = dict(releases_now)
    kept = dict(record)
    for release in releases:
        entry = entries.get(key(release))
        if entry is None:
            continue
        now[key(release)] = {
            "status": "deployed",
            "revision": entry["revision"],
            "chart": f"{release['chart']}-{release['version']}",
        }
        kept[key(release)] = entry
    return now, kept
