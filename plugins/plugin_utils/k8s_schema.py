# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate custom resources against the structural OpenAPI v3 schema of their CRD.

What the API server checks before admission, without an API server: types
(with ``nullable`` and ``x-kubernetes-int-or-string``), ``required``,
``enum``, ``pattern``, bounds on numbers, strings and lists, and pruning:
a field the schema does not declare is reported unless
``x-kubernetes-preserve-unknown-fields`` keeps it. CEL rules
(``x-kubernetes-validations``) and ``format`` are left to the API server.
"""

from __future__ import annotations

import re

_TYPES = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
}
_TOP_LEVEL = ("apiVersion", "kind", "metadata")


class CrdIndex:
    """Served versions of CRDs, by (group, version, kind)."""

    def __init__(self, crds: list[dict] | None = None) -> None:
        self.schemas: dict[tuple[str, str, str], dict] = {}
        for crd in crds or []:
            self.add(crd)

    def add(self, crd: dict) -> None:
        spec = crd["spec"]
        for version in spec.get("versions") or []:
            if version.get("served", True):
                schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
                self.schemas[(spec["group"], version["name"], spec["names"]["kind"])] = schema

    def validate(self, obj: dict) -> list[str]:
        """Problems of one object; [] when it is valid. Objects of core or built-in APIs are not checked here."""
        group, _slash, version = str(obj.get("apiVersion", "")).rpartition("/")
        kind = obj.get("kind", "")
        name = (obj.get("metadata") or {}).get("name", "?")
        where = f"{kind}/{name}"
        schema = self.schemas.get((group, version, kind))
        if schema is None:
            return [f"{where}: no CRD serves {obj.get('apiVersion')} {kind}"]
        body = {key: value for key, value in obj.items() if key not in (*_TOP_LEVEL, "status")}
        properties = {k: v for k, v in (schema.get("properties") or {}).items() if k not in _TOP_LEVEL}
        top = {**schema, "properties": properties}
        top.pop("required", None)
        problems = validate(body, top, where)
        missing = [key for key in schema.get("required") or [] if key not in obj]
        problems.extend(f"{where}: missing required field {key!r}" for key in missing)
        return problems


def _type_ok(value, schema: dict) -> bool:
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    if kind is None:
        return True
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(kind, (object,)))


def validate(value, schema: dict, path: str) -> list[str]:
    """Problems of `value` against a structural schema node, each prefixed with its path."""
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null is not allowed"]
    if not _type_ok(value, schema):
        expected = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
        return [f"{path}: {type(value).__name__} {value!r} is not {expected}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {schema['pattern']!r}")
        if len(value) > schema.get("maxLength", len(value)) or len(value) < schema.get("minLength", 0):
            problems.append(f"{path}: {value!r} has a length outside the schema's bounds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            problems.append(f"{path}: {len(value)} items is outside the schema's bounds")
        for index, item in enumerate(value):
            problems.extend(validate(item, schema.get("items") or {}, f"{path}[{index}]"))
    if isinstance(value, dict):
        problems.extend(_validate_object(value, schema, path))
    for sub in schema.get("allOf") or []:
        problems.extend(validate(value, sub, path))
    for keyword, needed in (("anyOf", 1), ("oneOf", 1)):
        options = schema.get(keyword)
        if options:
            passing = sum(1 for sub in options if not _value_checks(value, sub, path))
            if passing < needed or (keyword == "oneOf" and passing > 1):
                problems.append(f"{path}: matches {passing} of the {keyword} alternatives")
    return problems


def _value_checks(value, schema: dict, path: str) -> list[str]:
    # anyOf/oneOf in structural schemas only constrain values (required, type of known fields);
    # they may not declare fields, so unknown-field pruning must not apply inside them.
    return validate(value, {**schema, "x-kubernetes-preserve-unknown-fields": True}, path)


def _validate_object(value: dict, schema: dict, path: str) -> list[str]:
    problems = []
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("x-kubernetes-embedded-resource")
    for key in schema.get("required") or []:
        if key not in value:
            problems.append(f"{path}: missing required field {key!r}")
    for key, item in value.items():
        here = f"{path}.{key}"
        if key in properties:
            problems.extend(validate(item, properties[key], here))
        elif isinstance(additional, dict):
            problems.extend(validate(item, additional, here))
        elif additional is True or preserve:
            continue
        elif schema.get("x-kubernetes-embedded-resource") is None and not properties and "type" not in schema:
            continue  # an empty schema: anything goes
        else:
            problems.append(f"{here}: unknown field (the schema does not declare it)")
    return problems
