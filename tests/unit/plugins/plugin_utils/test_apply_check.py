"""apply_check: whether a client-side apply would change an object, decided from the object as read."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.baremetal.mlops.plugins.plugin_utils.apply_check import LAST_APPLIED, apply_needed, contains

QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "team-gpu", "namespace": "team-a", "labels": {"team": "a"}},
    "spec": {"hard": {"requests.nvidia.com/gpu": 4}},
}


def applied(desired: dict, **changes) -> dict:
    """`desired` as the API server returns it after kubernetes.core applied it: the last-applied annotation,
    server-set metadata and defaults, quantities as strings; `changes` replace top-level parts."""
    live = json.loads(json.dumps(desired))
    live["metadata"].update(uid="u-1", resourceVersion="9", creationTimestamp="2026-12-01T00:00:00Z")
    live["metadata"].setdefault("annotations", {})[LAST_APPLIED] = json.dumps(desired, sort_keys=True)
    if live["kind"] == "ResourceQuota":
        live["spec"]["hard"] = {k: str(v) for k, v in live["spec"]["hard"].items()}
        live["status"] = {"hard": live["spec"]["hard"], "used": {}}
    if live["kind"] == "Secret":
        live["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in live.pop("stringData").items()}
    live.update(changes)
    return live


def test_a_converged_object_needs_no_apply():
    assert apply_needed(QUOTA, applied(QUOTA)) is None


def test_an_absent_object_or_one_never_applied_needs_an_apply():
    assert apply_needed(QUOTA, None) == "absent"
    live = applied(QUOTA)
    del live["metadata"]["annotations"][LAST_APPLIED]
    assert apply_needed(QUOTA, live) == "not applied before"
    live["metadata"]["annotations"][LAST_APPLIED] = "{not json"
    assert apply_needed(QUOTA, live) == "its last-applied annotation is not JSON"


def test_a_rendering_that_changed_since_the_last_apply_needs_an_apply():
    """Also when the new rendering only drops a field: the apply must delete it, and the live object alone
    (which still has it) cannot tell."""
    live = applied(QUOTA)
    fewer = json.loads(json.dumps(QUOTA))
    del fewer["metadata"]["labels"]
    assert contains(live, fewer)
    assert apply_needed(fewer, live) == "rendered differently since its last apply"
    more = json.loads(json.dumps(QUOTA))
    more["spec"]["hard"]["requests.nvidia.com/mig-1g.10gb"] = 2
    assert apply_needed(more, live) == "rendered differently since its last apply"


@pytest.mark.parametrize(
    "edit",
    [
        lambda live: live["spec"]["hard"].update({"requests.nvidia.com/gpu": "99"}),
        lambda live: live["spec"]["hard"].pop("requests.nvidia.com/gpu"),
        lambda live: live["metadata"]["labels"].update(team="b"),
        lambda live: live["metadata"].pop("labels"),
    ],
    ids=["value changed", "key removed", "label changed", "labels removed"],
)
def test_a_field_the_rendering_sets_changed_in_the_cluster_needs_an_apply(edit):
    live = applied(QUOTA)
    edit(live)
    assert apply_needed(QUOTA, live) == "changed in the cluster since its last apply"


def test_what_the_server_or_others_add_beside_the_rendering_needs_no_apply():
    """Defaults, status, other controllers' labels and annotations: an apply would leave them as they are."""
    live = applied(QUOTA, status={"used": {"requests.nvidia.com/gpu": "1"}})
    live["metadata"]["labels"]["added-by"] = "someone"
    live["metadata"]["annotations"]["note"] = "kept"
    live["spec"]["scopes"] = ["NotTerminating"]
    assert apply_needed(QUOTA, live) is None


def test_lists_compare_element_by_element_and_by_length():
    desired = {"ports": [{"port": 80}, {"port": 443}]}
    assert contains({"ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}, desired)
    assert not contains({"ports": [{"port": 443}, {"port": 80}]}, desired)
    assert not contains({"ports": [{"port": 80}, {"port": 443}, {"port": 8080}]}, desired)
    assert not contains({"ports": [{"port": 80}]}, desired)
    assert not contains({"ports": {"port": 80}}, desired)


def test_scalars_compare_strictly_but_numbers_match_their_quantity_strings():
    assert contains({"hard": "4"}, {"hard": 4})
    assert contains({"cpu": "0.5"}, {"cpu": 0.5})
    assert not contains({"cpu": "500m"}, {"cpu": 0.5})  # another form: the apply runs and changes nothing
    assert not contains({"enabled": "true"}, {"enabled": True})
    assert not contains({"replicas": True}, {"replicas": 1})
    assert not contains({"replicas": 1}, {"replicas": True})
    assert contains({"x": None}, {"x": None}) and contains({}, {"x": None})
    assert not contains({"x": "set"}, {"x": None})


SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "type": "Opaque",
    "metadata": {"name": "s3", "namespace": "longhorn-system"},
    "stringData": {"AWS_ACCESS_KEY_ID": "longhorn", "AWS_SECRET_ACCESS_KEY": "s3cr3t"},
}


def test_a_secret_given_as_string_data_compares_with_the_stored_data():
    live = applied(SECRET)
    assert "stringData" not in live
    assert apply_needed(SECRET, live) is None
    live["data"]["AWS_SECRET_ACCESS_KEY"] = base64.b64encode(b"changed").decode()
    assert apply_needed(SECRET, live) == "changed in the cluster since its last apply"
    rotated = json.loads(json.dumps(SECRET))
    rotated["stringData"]["AWS_SECRET_ACCESS_KEY"] = "rotated"
    assert apply_needed(rotated, applied(SECRET)) == "rendered differently since its last apply"
