from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils import k8s_schema

ROOT = Path(__file__).resolve().parents[4]

SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "port": {"x-kubernetes-int-or-string": True},
        "count": {"type": "integer", "minimum": 1, "maximum": 3},
        "note": {"type": "string", "nullable": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "items": {
            "type": "array",
            "maxItems": 2,
            "items": {"type": "object", "properties": {"x": {"type": "boolean"}}},
        },
        "either": {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
        },
    },
}


@pytest.mark.parametrize(
    ("value", "problems"),
    [
        ({"name": "ok", "mode": "a", "port": 80, "count": 2, "note": None, "labels": {"k": "v"}}, []),
        ({"name": "ok", "port": "http", "free": {"any": {"thing": 1}}, "items": [{"x": True}]}, []),
        ({}, ["s: missing required field 'name'"]),
        ({"name": "Bad"}, ["s.name: 'Bad' does not match '^[a-z]+$'"]),
        ({"name": "ok", "mode": "c"}, ["s.mode: 'c' is not one of ['a', 'b']"]),
        ({"name": "ok", "port": 1.5}, ["s.port: float 1.5 is not integer or string"]),
        ({"name": "ok", "count": 0}, ["s.count: 0 is below the minimum 1"]),
        ({"name": "ok", "count": True}, ["s.count: bool True is not integer"]),
        ({"name": "ok", "labels": {"k": 1}}, ["s.labels.k: int 1 is not string"]),
        ({"name": "ok", "typo": 1}, ["s.typo: unknown field (the schema does not declare it)"]),
        ({"name": "ok", "items": [{"y": 1}]}, ["s.items[0].y: unknown field (the schema does not declare it)"]),
        ({"name": "ok", "items": [{}, {}, {}]}, ["s.items: 3 items is outside the schema's bounds"]),
        ({"name": "ok", "either": {"a": "1", "b": "2"}}, ["s.either: matches 2 of the oneOf alternatives"]),
        ({"name": "ok", "either": {}}, ["s.either: matches 0 of the oneOf alternatives"]),
        ({"name": "ok", "mode": None}, ["s.mode: null is not allowed"]),
    ],
)
def test_structural_rules(value, problems):
    assert k8s_schema.validate(value, SCHEMA, "s") == problems


def crd_index():
    crd = yaml.safe_load((ROOT / "tests/fixtures/crds/ciliumnetworkpolicies.cilium.io.yaml").read_text())
    return k8s_schema.CrdIndex([crd])


def policy(spec):
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "p"}, "spec": spec}


def test_custom_resources_are_checked_against_their_crd():
    index = crd_index()
    good = policy({"endpointSelector": {}, "ingress": [{"fromEndpoints": [{"matchLabels": {"a": "b"}}]}]})
    assert index.validate(good) == []
    assert index.validate(policy({"endpointSelector": {}, "ingres": []})) == [
        "CiliumNetworkPolicy/p.spec.ingres: unknown field (the schema does not declare it)",
        "CiliumNetworkPolicy/p.spec: matches 0 of the anyOf alternatives",
    ]
    assert index.validate({**good, "apiVersion": "cilium.io/v3"}) == [
        "CiliumNetworkPolicy/p: no CRD serves cilium.io/v3 CiliumNetworkPolicy"
    ]
    no_spec = {key: value for key, value in good.items() if key != "spec"}
    assert index.validate(no_spec) == ["CiliumNetworkPolicy/p: missing required field 'spec'"]
