# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rendering of a component's Helm releases and objects, for both delivery modes.

A cluster role (cilium, metallb, ...) hands over its releases (chart, values,
namespace, wave within the layer) and its own objects. ``plan`` resolves each
chart's version from the selected release of versions.yml and its repository
from the inventory, gives every release a global Argo CD sync wave in layer
order, and strips secret values. Direct delivery installs the plan; GitOps
delivery writes it with ``gitops_files``. Both read the same plan, so the Git
tree is also the oracle for what direct mode applies.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re

import yaml

# Layer -> first sync wave. Tenancy (namespaces, quotas, admission) comes
# before networking because the networking layer's policies live in the team
# namespaces. Releases take waves base+0 .. base+4, objects base+5; a
# component whose objects are API definitions the layer's releases need (the
# Gateway API CRDs before Cilium) puts them at base-1 instead.
LAYER_WAVES = {
    "tenancy": 10,
    "networking": 20,
    "storage": 30,
    "gpu": 40,
    "serving": 50,
    "tracking": 60,
    "orchestration": 70,
    "observability": 80,
    "ops": 90,
}
RELEASE_WAVE_OFFSETS = range(5)
OBJECTS_WAVE_OFFSET = 5
OBJECTS_WAVE_OFFSETS = (-1, OBJECTS_WAVE_OFFSET)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class RenderError(Exception):
    """The component's releases or objects cannot be rendered as given."""


def plain(value):
    """The same data with Ansible's str/int/dict subclasses turned into plain Python types."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def object_key(obj: dict) -> tuple[str, str, str, str]:
    """(apiVersion group, kind, namespace, name): identity and sort order of an object."""
    metadata = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return (group, str(obj.get("kind", "")), str(metadata.get("namespace", "")), str(metadata.get("name", "")))


def apply_order(obj: dict) -> tuple:
    """Namespaces first (the others may live in them), then by object_key."""
    return (obj.get("kind") != "Namespace", *object_key(obj))


def _check_object(obj, where: str) -> None:
    if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
        raise RenderError(f"{where}: every object needs apiVersion and kind")
    if not (obj.get("metadata") or {}).get("name"):
        raise RenderError(f"{where}: {obj['kind']} has no metadata.name")


def plan(
    component: str,
    layer: str,
    releases: list,
    objects: list,
    chart_versions: dict,
    repositories: dict,
    node_labels: list | None = None,
    secrets: list | None = None,
    objects_wave_offset: int = OBJECTS_WAVE_OFFSET,
) -> dict:
    """The component's rendering: releases resolved, waves set, objects sorted, secret values dropped."""
    if layer not in LAYER_WAVES:
        raise RenderError(f"layer {layer!r} is unknown; expected one of {', '.join(LAYER_WAVES)}")
    if not _NAME.match(component or ""):
        raise RenderError(f"component {component!r} is not a DNS label")
    if int(objects_wave_offset) not in OBJECTS_WAVE_OFFSETS:
        raise RenderError(
            f"{component}: objects sync wave offset {objects_wave_offset} is neither -1 (before the layer's releases) "
            f"nor {OBJECTS_WAVE_OFFSET} (after them)"
        )
    base = LAYER_WAVES[layer]
    resolved = []
    seen = set()
    for release in plain(releases or []):
        name = release.get("name", "")
        where = f"{component} release {name!r}"
        if not _NAME.match(name) or name in seen:
            raise RenderError(f"{where}: release names must be unique DNS labels")
        seen.add(name)
        chart = release["chart"]
        key = release.get("versions_key") or chart.replace("-", "_")
        if key not in chart_versions:
            raise RenderError(f"{where}: versions.yml has no chart version {key!r} in the selected release")
        if chart not in repositories:
            raise RenderError(f"{where}: platform_chart_repositories has no entry {chart!r}")
        offset = int(release.get("sync_wave", 0))
        if offset not in RELEASE_WAVE_OFFSETS:
            raise RenderError(f"{where}: sync_wave {offset} is outside 0-4 (the layer's release waves)")
        resolved.append(
            {
                "name": name,
                "chart": chart,
                "version": str(chart_versions[key]),
                "repository": str(repositories[chart]),
                "namespace": release["namespace"],
                "values": release.get("values") or {},
                "sync_wave": base + offset,
            }
        )
    resolved.sort(key=lambda item: (item["sync_wave"], item["name"]))

    rendered = plain(objects or [])
    identities = set()
    for index, obj in enumerate(rendered):
        _check_object(obj, f"{component} objects[{index}]")
        if object_key(obj) in identities:
            raise RenderError(f"{component} objects[{index}]: {obj['kind']} {obj['metadata']['name']} twice")
        identities.add(object_key(obj))
    rendered.sort(key=apply_order)

    labels = []
    for entry in plain(node_labels or []):
        nodes = sorted(set(entry.get("nodes") or []))
        if nodes and entry.get("labels"):
            labels.append({"nodes": nodes, "labels": dict(sorted(entry["labels"].items()))})
    labels.sort(key=lambda item: (sorted(item["labels"].items()), item["nodes"]))

    secret_refs = []
    for index, secret in enumerate(plain(secrets or [])):
        _check_object(secret, f"{component} secrets[{index}]")
        keys = sorted({*(secret.get("data") or {}), *(secret.get("stringData") or {})})
        secret_refs.append(
            {
                "name": secret["metadata"]["name"],
                "namespace": secret["metadata"].get("namespace", ""),
                "type": secret.get("type", "Opaque"),
                "keys": keys,
            }
        )
    secret_refs.sort(key=lambda item: (item["namespace"], item["name"]))

    return {
        "component": component,
        "layer": layer,
        "releases": resolved,
        "objects": rendered,
        "objects_sync_wave": base + int(objects_wave_offset),
        "node_labels": labels,
        "secrets": secret_refs,
    }


# Groups the API server serves itself; any other group is a custom resource.
BUILT_IN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)


def _is_established(crd: dict) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


# The annotation direct delivery puts on each CRD it applies: the digest of the
# manifest it applied, so a later run applies again only a CRD whose manifest
# changed (or that is gone or not Established), not every large schema again.
CRD_DIGEST_ANNOTATION = "baremetal.mlops/manifest-sha256"


def manifest_digest(obj: dict) -> str:
    """sha256 of an object's manifest as rendered (keys sorted), without our own digest annotation."""
    annotations = dict((obj.get("metadata") or {}).get("annotations") or {})
    annotations.pop(CRD_DIGEST_ANNOTATION, None)
    bare = {**obj, "metadata": {**(obj.get("metadata") or {}), "annotations": annotations}}
    if not annotations:
        del bare["metadata"]["annotations"]
    return hashlib.sha256(json.dumps(bare, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def established_crds(crds: list) -> list[dict]:
    """The Established CRDs of `crds`, each reduced to its name, group, kind, condition and the manifest digest
    direct delivery recorded on it (a small fact to keep)."""
    kept = []
    for crd in crds or []:
        if not _is_established(crd):
            continue
        metadata = crd.get("metadata") or {}
        digest = (metadata.get("annotations") or {}).get(CRD_DIGEST_ANNOTATION)
        kept.append(
            {
                "metadata": {"name": metadata.get("name", ""), **({"digest": digest} if digest else {})},
                "spec": {"group": crd["spec"]["group"], "names": {"kind": crd["spec"]["names"]["kind"]}},
                "status": {"conditions": [{"type": "Established", "status": "True"}]},
            }
        )
    return kept


def crds_to_apply(objects: list, established: list) -> list[dict]:
    """The CustomResourceDefinitions among `objects` that direct delivery must apply: absent, not Established,
    or Established from another manifest than this one (by the digest it recorded). Each comes with that
    digest as an annotation, for the next run to compare."""
    applied = {c["metadata"]["name"]: c["metadata"].get("digest") for c in established or [] if c.get("metadata")}
    found = []
    for obj in objects or []:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        digest = manifest_digest(obj)
        if applied.get(obj["metadata"]["name"]) == digest:
            continue
        metadata = obj["metadata"]
        annotations = {**(metadata.get("annotations") or {}), CRD_DIGEST_ANNOTATION: digest}
        found.append({**obj, "metadata": {**metadata, "annotations": annotations}})
    return found


def missing_crds(objects: list, crds: list) -> list[str]:
    """`Kind.group` of each custom resource among `objects` whose CRD is not Established in `crds`."""
    established = {(crd["spec"]["group"], crd["spec"]["names"]["kind"]) for crd in crds or [] if _is_established(crd)}
    needed = {object_key(obj)[:2] for obj in objects or []}
    return sorted(f"{kind}.{group}" for group, kind in needed - established if group not in BUILT_IN_GROUPS)


def node_label_patches(entry: dict, nodes: list | None = None) -> list[dict]:
    """The Node patches that give `entry["nodes"]` the labels `entry["labels"]`.

    With `nodes` (the cluster's Node objects, one list call), nodes that carry
    every label with its value already are left out, so a converged cluster
    needs no patch at all; a node the list does not hold is patched (and the
    API names it when it does not exist).
    """
    wanted = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
    current = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}) for n in nodes or []}
    return [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": entry["labels"]}}
        for node in entry.get("nodes") or []
        if nodes is None or node not in current or any(current[node].get(k) != v for k, v in wanted.items())
    ]


# --- stable YAML ----------------------------------------------------------

_FIRST_KEYS = ("apiVersion", "kind", "metadata")


class _Dumper(yaml.SafeDumper):
    """Block style, literal blocks for multi-line strings, lists indented under their key."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _ordered(value, top=False):
    if isinstance(value, dict):
        first = [key for key in _FIRST_KEYS if top and key in value]
        rest = sorted(key for key in value if key not in first)
        return {key: _ordered(value[key]) for key in [*first, *rest]}
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def to_yaml(document: dict) -> str:
    """One document as stable YAML: apiVersion, kind, metadata first, every other key sorted."""
    return "---\n" + yaml.dump(
        _ordered(plain(document), top=True), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000
    )


# --- GitOps tree ------------------------------------------------------------

GITOPS_DEFAULTS = {
    "repo_url": "",
    "revision": "HEAD",
    "path": "",
    "argocd_namespace": "argocd",
    "project": "default",
    "root_name": "platform",
    "root_prune": True,
    "root_self_heal": True,
    "destination_server": "https://kubernetes.default.svc",
}
# Folder of the tree holding each team's served models: serving/<team>/, written by
# playbooks/promote.yml and synced by the team's serving Application (argocd role).
SERVING_FOLDER = "serving"


def component_dirs(layer: str, component: str) -> list[str]:
    """The folders of the tree that one component owns entirely (stale files there are removed)."""
    return [f"apps/{layer}/{component}", f"layers/{layer}/{component}", f"site/{layer}/{component}"]


def _settings(settings: dict | None) -> dict:
    merged = {**GITOPS_DEFAULTS, **{k: v for k, v in plain(settings or {}).items() if v is not None}}
    if not merged["repo_url"]:
        raise RenderError("the GitOps repository URL (platform_gitops_repo_url) is empty")
    return merged


def _repo_path(settings: dict, *parts: str) -> str:
    return posixpath.normpath(posixpath.join(settings["path"] or ".", *parts))


def _application(name, settings, wave, source, namespace, labels) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": settings["argocd_namespace"],
            "annotations": {"argocd.argoproj.io/sync-wave": str(wave)},
            "labels": labels,
            # Deleting an Application deletes what it deployed, not only the Application.
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": settings["project"],
            "source": source,
            "destination": {"server": settings["destination_server"], "namespace": namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
                "retry": {"limit": 10, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
            },
        },
    }


def root_application(settings: dict | None) -> dict:
    """The app of apps: every Application under apps/, recursively."""
    settings = _settings(settings)
    app = _application(
        settings["root_name"],
        settings,
        0,
        {
            "repoURL": settings["repo_url"],
            "targetRevision": settings["revision"],
            "path": _repo_path(settings, "apps"),
            "directory": {"recurse": True},
        },
        settings["argocd_namespace"],
        {"app.kubernetes.io/part-of": "baremetal-mlops"},
    )
    del app["metadata"]["annotations"]
    app["spec"]["syncPolicy"]["automated"] = {
        "prune": bool(settings["root_prune"]),
        "selfHeal": bool(settings["root_self_heal"]),
    }
    return app


def serving_dir(team: str) -> str:
    """The folder of the tree holding the InferenceServices a team serves."""
    return f"{SERVING_FOLDER}/{team}"


def serving_application(team: dict, settings: dict | None) -> dict:
    """The Application that syncs a team's serving folder into the team's namespace."""
    settings = _settings(settings)
    source = {
        "repoURL": settings["repo_url"],
        "targetRevision": settings["revision"],
        "path": _repo_path(settings, serving_dir(team["name"])),
        "directory": {"recurse": True},
    }
    labels = {"app.kubernetes.io/part-of": "baremetal-mlops", "baremetal.mlops/team": team["name"]}
    app = _application(f"serving-{team['name']}", settings, 0, source, team["namespace"], labels)
    del app["metadata"]["annotations"]
    # The team's namespace comes from the tenancy layer; InferenceServices need KServe's CRD.
    app["spec"]["syncPolicy"]["syncOptions"] = ["ServerSideApply=true", "SkipDryRunOnMissingResource=true"]
    return app


def serving_file(obj: dict, team: str) -> dict[str, str]:
    """{path: content} of one object (an InferenceService) in the team's serving folder."""
    return {f"{serving_dir(team)}/{object_file_name(obj)}": to_yaml(obj)}


def release_application(release: dict, plan_: dict, settings: dict | None) -> dict:
    """One Helm release as an Argo CD Application (chart, version and values inline)."""
    settings = _settings(settings)
    repository = release["repository"]
    source = {"chart": release["chart"], "targetRevision": release["version"]}
    # Argo CD takes OCI chart repositories without their scheme.
    source["repoURL"] = repository[len("oci://") :] if repository.startswith("oci://") else repository
    source["helm"] = {"releaseName": release["name"], "valuesObject": release["values"]}
    labels = {
        "app.kubernetes.io/part-of": "baremetal-mlops",
        "baremetal.mlops/layer": plan_["layer"],
        "baremetal.mlops/component": plan_["component"],
    }
    return _application(release["name"], settings, release["sync_wave"], source, release["namespace"], labels)


def objects_application(plan_: dict, settings: dict | None) -> dict:
    """The Application that syncs the component's own objects from its folder."""
    settings = _settings(settings)
    layer, component = plan_["layer"], plan_["component"]
    source = {
        "repoURL": settings["repo_url"],
        "targetRevision": settings["revision"],
        "path": _repo_path(settings, "layers", layer, component),
        "directory": {"recurse": True},
    }
    labels = {
        "app.kubernetes.io/part-of": "baremetal-mlops",
        "baremetal.mlops/layer": layer,
        "baremetal.mlops/component": component,
    }
    app = _application(
        f"{component}-objects", settings, plan_["objects_sync_wave"], source, settings["argocd_namespace"], labels
    )
    # Custom resources whose CRDs an earlier wave (or an operator) registers.
    app["spec"]["syncPolicy"]["syncOptions"].append("SkipDryRunOnMissingResource=true")
    return app


def object_file_name(obj: dict) -> str:
    _group, kind, namespace, name = object_key(obj)
    scope = namespace or "cluster"
    return f"{kind.lower()}-{scope}-{name}.yaml"


def gitops_files(plan_: dict, settings: dict | None) -> dict[str, str]:
    """Relative path -> file content of everything the component contributes to the Git tree."""
    layer, component = plan_["layer"], plan_["component"]
    apps, objects, site = component_dirs(layer, component)
    files = {"root.yaml": to_yaml(root_application(settings))}
    for release in plan_["releases"]:
        files[f"{apps}/{release['name']}.yaml"] = to_yaml(release_application(release, plan_, settings))
    if plan_["objects"]:
        files[f"{apps}/{component}-objects.yaml"] = to_yaml(objects_application(plan_, settings))
    for obj in plan_["objects"]:
        path = f"{objects}/{object_file_name(obj)}"
        if path in files:
            raise RenderError(f"{component}: two objects would share the file {path}")
        files[path] = to_yaml(obj)
    if plan_["node_labels"]:
        files[f"{site}/node-labels.yaml"] = to_yaml(
            {
                "description": (
                    "Node labels this component needs; nodes are not Argo CD's to own. Direct delivery sets them "
                    "(one API call per entry); a GitOps site sets them with `kubectl label --overwrite`."
                ),
                "node_labels": plan_["node_labels"],
            }
        )
    if plan_["secrets"]:
        files[f"{site}/secrets.yaml"] = to_yaml(
            {
                "description": (
                    "Secrets this component reads. Their values never enter Git: the site creates them "
                    "(kubectl, Sealed Secrets or External Secrets) with these names and keys before the sync."
                ),
                "secrets": plan_["secrets"],
            }
        )
    return dict(sorted(files.items()))


def parse_gitops_tree(files: dict[str, str]) -> dict:
    """Read a tree back: {'applications': [...], 'objects': [...]} (used by tests and checks)."""
    applications, objects = [], []
    for path, text in sorted(files.items()):
        if not path.endswith(".yaml") or path.startswith("site/"):
            continue
        for document in yaml.safe_load_all(text):
            if not document:
                continue
            (applications if path.startswith("apps/") or path == "root.yaml" else objects).append(document)
    return {"applications": applications, "objects": objects}
