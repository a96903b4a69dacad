# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Would a client-side apply change this object? Decided from a read, without a module process.

kubernetes.core.k8s with `apply: true` applies as `kubectl apply` does: it keeps
the applied manifest in the last-applied-configuration annotation and patches
the live object with what the manifest sets, and deletes what the previous
manifest set and this one no longer does. Such an apply changes nothing
exactly when

- the object exists,
- its last-applied annotation holds this very manifest (nothing to delete,
  nothing rendered differently since), and
- every field the manifest sets has that value on the live object (nobody
  changed it in the cluster since).

The check is stricter than the apply where the API server writes a value in
another form than the manifest's (a quantity "0.5" stored as "500m"): such an
object is reported as needing an apply, and the apply then reports no change.
It is never laxer: an object this check passes is one the apply would leave
as it is, so skipping that apply loses no drift correction.
"""

from __future__ import annotations

import base64
import json

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def apply_needed(desired: dict, live: dict | None) -> str | None:
    """Why applying `desired` would change `live` (the object as the API server returns it); None if it would not."""
    if live is None:
        return "absent"
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    if LAST_APPLIED not in annotations:
        return "not applied before"
    try:
        last_applied = json.loads(annotations[LAST_APPLIED])
    except ValueError:
        return "its last-applied annotation is not JSON"
    if last_applied != desired:
        return "rendered differently since its last apply"
    if not contains(live, _encoded_string_data(desired)):
        return "changed in the cluster since its last apply"
    return None


def contains(live, desired) -> bool:
    """Every value `desired` sets has that value in `live`: dicts by key, lists element by element (same length).

    A key `desired` sets to null must be absent or null in `live`. A number in `desired` matches the same number
    written as a string (the API server returns quantities as strings: 4 GPUs come back as "4").
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        for key, value in desired.items():
            if key == "metadata" and isinstance(value, dict):
                value = _without_last_applied(value)
            if value is None:
                if live.get(key) is not None:
                    return False
            elif key not in live or not contains(live[key], value):
                return False
        return True
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(have, want) for have, want in zip(live, desired, strict=True))
        )
    if isinstance(desired, bool) or isinstance(live, bool):
        return live is desired
    if isinstance(desired, (int, float)) and isinstance(live, str):
        return live == str(desired)
    return live == desired


def _without_last_applied(metadata: dict) -> dict:
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
        return metadata
    return {**metadata, "annotations": {k: v for k, v in annotations.items() if k != LAST_APPLIED}}


def _encoded_string_data(desired: dict) -> dict:
    """A Secret's stringData as the API server stores it: base64 under data (stringData is never returned)."""
    if desired.get("kind") != "Secret" or not isinstance(desired.get("stringData"), dict):
        return desired
    data = dict(desired.get("data") or {})
    for key, value in desired["stringData"].items():
        data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
    return {**{k: v for k, v in desired.items() if k != "stringData"}, "data": data}
