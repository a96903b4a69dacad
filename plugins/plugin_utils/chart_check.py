# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check rendered Helm values and custom resources against the charts they are for.

Values rule (``value_problems``): a key we set must exist in the chart's own
values.yaml (subcharts' values.yaml under their name or alias, plus ``global``),
except below a map whose default is empty (``{}``: the chart takes any keys
there, e.g. nodeSelector, annotations) or a key whose default is null (its
shape is not fixed by the chart). A map where the chart has a scalar or a list
is a problem too. Lists are not looked into: their element shapes are not in
values.yaml. The chart's values.schema.json, when it has one, is Helm's to
enforce (`helm template`).

A few values are documented only as comments in values.yaml (the tenant
chart's ``configSecret.existingSecret``). They are listed in
``DOCUMENTED_IN_COMMENTS`` per chart, and accepted only while the chart's
values.yaml still shows them as a commented-out key.

CRDs (``chart_crds``) are read from the chart archive itself: ``crds/`` folders,
templates holding a CustomResourceDefinition (their few template actions
are blanked; only the schema is used) and plain files a template renders
(kserve-crd keeps one under ``files/``).
"""

from __future__ import annotations

import io
import re
import tarfile

import yaml

DOCUMENTED_IN_COMMENTS = {
    "tenant": ("tenant.configSecret.existingSecret",),
}

# Maps a chart copies as they are into a ConfigMap of the application, whose
# keys are the application's settings, not the chart's (Argo CD's argocd-cm:
# dex.config, resource.customizations.*). Any key is accepted below them.
OPEN_MAPS = {
    "argo-cd": (("configs", "cm"), ("configs", "params"), ("configs", "rbac")),
}


class ChartError(Exception):
    """The chart archive cannot be read."""


def _members(path: str) -> dict[str, bytes]:
    try:
        with tarfile.open(path, "r:gz") as archive:
            return {
                member.name: archive.extractfile(member).read()
                for member in archive.getmembers()
                if member.isfile() and member.name.endswith((".yaml", ".yml", ".json", ".tgz"))
            }
    except (OSError, tarfile.TarError) as exc:
        raise ChartError(f"cannot read chart archive {path}: {exc}") from exc


def _charts(files: dict[str, bytes], prefix: str = "") -> dict[str, dict[str, bytes]]:
    """Chart folder -> its files; nested packed subcharts are unpacked into the same map."""
    result: dict[str, dict[str, bytes]] = {}
    for name, data in files.items():
        if name.endswith(".tgz"):
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as inner:
                nested = {
                    f"{name.rsplit('/', 1)[0]}/{member.name}": inner.extractfile(member).read()
                    for member in inner.getmembers()
                    if member.isfile()
                }
            for folder, chart_files in _charts(nested).items():
                result.setdefault(folder, {}).update(chart_files)
            continue
        parts = name.split("/")
        # <chart>/... or <chart>/charts/<sub>/...: the folder is everything before the last charts/<sub>.
        folder = parts[0]
        index = 1
        while index + 1 < len(parts) and parts[index] == "charts":
            folder += f"/charts/{parts[index + 1]}"
            index += 2
        result.setdefault(prefix + folder, {})[name[len(folder) + 1 :]] = data
    return result


def _load(data: bytes):
    return yaml.safe_load(data.decode("utf-8")) if data else None


def chart_defaults(path: str) -> dict:
    """The chart's default values with every subchart's defaults under its name or alias."""
    charts = _charts(_members(path))
    top = min(charts, key=len)
    return _defaults(charts, top)


def commented_keys(path: str) -> dict:
    """Dotted keys of DOCUMENTED_IN_COMMENTS that the chart's values.yaml shows as comments, as a tree of None."""
    charts = _charts(_members(path))
    files = charts[min(charts, key=len)]
    meta = _load(files.get("Chart.yaml", b"")) or {}
    text = files.get("values.yaml", b"").decode("utf-8")
    tree: dict = {}
    for dotted in DOCUMENTED_IN_COMMENTS.get(meta.get("name"), ()):
        leaf = dotted.rsplit(".", 1)[-1]
        if re.search(rf"^\s*#\s*{re.escape(leaf)}:", text, re.MULTILINE):
            node = tree
            *parents, last = dotted.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = None
    return tree


def checked_defaults(path: str) -> dict:
    """What `value_problems` compares against: the defaults plus the keys documented in comments,
    with the chart's OPEN_MAPS emptied (any key accepted there)."""
    defaults = _merge_missing(chart_defaults(path), commented_keys(path))
    charts = _charts(_members(path))
    meta = _load(charts[min(charts, key=len)].get("Chart.yaml", b"")) or {}
    for keys in OPEN_MAPS.get(meta.get("name"), ()):
        node = defaults
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node.get(key), dict) else None
            if node is None:
                break
        if node is not None and isinstance(node.get(keys[-1]), dict):
            node[keys[-1]] = {}
    return defaults


def _merge_missing(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _merge_missing(out[key], value)
    return out


def _defaults(charts: dict, folder: str) -> dict:
    files = charts[folder]
    values = _load(files.get("values.yaml", b"")) or {}
    meta = _load(files.get("Chart.yaml", b"")) or {}
    aliases = {dep["name"]: dep.get("alias") or dep["name"] for dep in meta.get("dependencies") or []}
    for sub in sorted(
        name for name in charts if name.startswith(folder + "/charts/") and name.count("/") == folder.count("/") + 2
    ):
        sub_name = sub.rsplit("/", 1)[1]
        sub_meta = _load(charts[sub].get("Chart.yaml", b"")) or {}
        key = aliases.get(sub_meta.get("name", sub_name), sub_meta.get("name", sub_name))
        merged = _defaults(charts, sub)
        override = values.get(key)
        values[key] = _merge(merged, override) if isinstance(override, dict) else merged
    values.setdefault("global", {})
    return values


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def value_problems(values: dict, defaults: dict, path: str = "") -> list[str]:
    """Keys in `values` that the chart's defaults do not have (see the module's rule)."""
    problems = []
    for key in sorted(values or {}):
        here = f"{path}.{key}" if path else str(key)
        if key == "global" and not path:
            continue
        if key not in defaults:
            problems.append(f"{here}: the chart has no such value")
            continue
        default, value = defaults[key], values[key]
        if default is None or value is None:
            continue
        if isinstance(value, dict):
            if not isinstance(default, dict):
                problems.append(f"{here}: the chart has a {type(default).__name__} here, not a map")
            elif default:
                problems.extend(value_problems(value, default, here))
    return problems


_ACTION_LINE = re.compile(r"^\s*\{\{-?[^}]*-?\}\}\s*$")
_ACTION = re.compile(r"\{\{-?.*?-?\}\}")


_KEY_THEN_ACTION = re.compile(r"^(\s*[\w.-]+:)\s*\{\{-?.*-?\}\}\s*$")


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads the YAML 1.1 `=` (value) scalar some CRDs carry in enums."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _blank_actions(line: str) -> str:
    # `labels: {{- include ... | nindent 4 }}` continues on the next lines: keep `labels:` only.
    match = _KEY_THEN_ACTION.match(line)
    if match and "nindent" in line:
        return match.group(1)
    return _ACTION.sub('""', line)


def _crd_documents(text: str) -> list[dict]:
    if "CustomResourceDefinition" not in text:
        return []
    lines = [_blank_actions(line) for line in text.splitlines() if not _ACTION_LINE.match(line)]
    documents = []
    for document in yaml.load_all("\n".join(lines), Loader=_Loader):  # a SafeLoader subclass
        if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
            documents.append(document)
    return documents


def chart_crds(path: str) -> list[dict]:
    """Every CustomResourceDefinition the chart archive (and its subcharts) carries."""
    crds = []
    for name, data in sorted(_members(path).items()):
        if not name.endswith((".yaml", ".yml")):
            continue
        if "/crds/" in name or "/templates/" in name:
            try:
                crds.extend(_crd_documents(data.decode("utf-8")))
            except yaml.YAMLError as exc:
                raise ChartError(f"{path}: {name} holds a CRD that does not parse: {exc}") from exc
        elif "/files/" in name:
            # a template may render a CRD kept as a plain file (kserve-crd: `.Files.Get`); other files are
            # anything at all, so one that does not parse is no CRD
            try:
                crds.extend(_crd_documents(data.decode("utf-8")))
            except (yaml.YAMLError, UnicodeDecodeError):
                continue
    seen, unique = set(), []
    for crd in crds:  # a CRD both in files/ and rendered from a template counts once
        key = (crd.get("metadata") or {}).get("name")
        if key not in seen:
            seen.add(key)
            unique.append(crd)
    return unique
