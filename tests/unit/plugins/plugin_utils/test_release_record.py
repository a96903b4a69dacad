"""The delivery record: which releases a direct delivery hands to Helm, and what it records."""

from __future__ import annotations

import json

import pytest

from ansible_collections.baremetal.mlops.plugins.plugin_utils import release_record as rr

METALLB = {
    "name": "metallb",
    "namespace": "metallb-system",
    "chart": "metallb",
    "version": "0.16.1",
    "repository": "https://example.test/charts",
    "values": {"speaker": {"enabled": True}},
    "sync_wave": 20,
}
LONGHORN = {**METALLB, "name": "longhorn", "namespace": "longhorn-system", "chart": "longhorn", "version": "1.12.1"}


def deployed(release, revision=3, status="deployed", chart=None):
    return {
        rr.key(release): {
            "status": status,
            "revision": revision,
            "chart": chart or f"{release['chart']}-{release['version']}",
        }
    }


def recorded(release, revision=3, digest=None):
    return {rr.key(release): {"digest": digest or rr.digest(release), "revision": revision}}


def test_a_release_deployed_at_the_recorded_revision_with_the_recorded_values_is_skipped():
    assert rr.pending([METALLB], deployed(METALLB), recorded(METALLB)) == []


@pytest.mark.parametrize(
    ("now", "record", "why"),
    [
        ({}, recorded(METALLB), "not installed"),
        (deployed(METALLB, status="failed"), recorded(METALLB), "left failed"),
        (deployed(METALLB, status="pending-upgrade"), recorded(METALLB), "left pending"),
        (deployed(METALLB, chart="metallb-0.15.0"), recorded(METALLB), "another chart version deployed"),
        (deployed(METALLB, revision=4), recorded(METALLB), "upgraded or rolled back outside the collection"),
        (deployed(METALLB), {}, "no record"),
        (deployed(METALLB), recorded(METALLB, digest="0" * 64), "values changed since the record"),
    ],
)
def test_a_release_goes_to_helm_when(now, record, why):
    assert rr.pending([METALLB], now, record) == [METALLB], why


def test_changed_values_change_the_digest_and_other_fields_do_not():
    assert rr.digest(METALLB) != rr.digest({**METALLB, "values": {"speaker": {"enabled": False}}})
    assert rr.digest(METALLB) != rr.digest({**METALLB, "version": "0.16.2"})
    assert rr.digest(METALLB) == rr.digest({**METALLB, "sync_wave": 21, "repository": "https://mirror.test"})


def test_only_the_releases_that_need_helm_are_pending_in_plan_order():
    now = {**deployed(LONGHORN), **deployed(METALLB)}
    assert rr.pending([LONGHORN, METALLB], now, recorded(METALLB)) == [LONGHORN]


def test_the_record_configmap_round_trips_and_keeps_entries_helm_did_not_see():
    results = [{"item": LONGHORN, "changed": True, "status": {"revision": "5", "status": "deployed"}}]
    entries = rr.delivered([METALLB, LONGHORN], results, deployed(LONGHORN, revision=4), recorded(METALLB))
    assert entries == {**recorded(METALLB), **recorded(LONGHORN, revision=5)}
    configmap = rr.configmap("storage-things", "kube-system", entries)
    assert configmap["metadata"]["name"] == "baremetal-mlops-delivery-storage-things"
    assert configmap["metadata"]["labels"][rr.RECORD_LABEL] == "true"
    assert set(configmap["data"]) == {"metallb-system.metallb", "longhorn-system.longhorn"}
    assert rr.read([configmap]) == entries


def test_failed_or_skipped_helm_results_record_nothing():
    results = [{"item": METALLB, "failed": True}, {"item": LONGHORN, "skipped": True}]
    assert rr.delivered([METALLB, LONGHORN], results, {}, {}) == {}


def test_an_unchanged_release_records_the_revision_helm_lists():
    results = [{"item": METALLB, "changed": False, "status": {}}]
    assert rr.delivered([METALLB], results, deployed(METALLB, revision=7), {}) == recorded(METALLB, revision=7)


def test_damaged_record_entries_are_ignored():
    configmap = {
        "data": {
            "a": "not json",
            "b": json.dumps({"name": "x"}),
            "c": json.dumps({"name": "metallb", "namespace": "metallb-system"}),
        }
    }
    assert rr.read([configmap]) == {}


def test_after_step_the_run_sees_the_delivered_releases_as_deployed_at_their_new_revision():
    entries = recorded(METALLB, revision=9)
    now, kept = rr.after_step(deployed(METALLB, status="failed", revision=8), {}, [METALLB], entries)
    assert rr.pending([METALLB], now, kept) == []


def test_helm_list_entries_without_their_fields_are_refused():
    with pytest.raises(rr.RecordError):
        rr.helm_releases([{"name": "x", "namespace": "y"}])
