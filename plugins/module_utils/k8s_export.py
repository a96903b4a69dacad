# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Export a cluster's objects to a backup site, through the API, one JSON document per object.

What is exported: each listed namespace that exists (the Namespace object),
its ConfigMaps (and any other core resources asked for), every namespaced
resource of the API groups asked for (the CRs of KServe, Argo, MinIO,
Longhorn, CloudNativePG...), and the NAMES of its Secrets. Secrets are listed
as metadata only (PartialObjectMetadataList): their values never leave the
API server. Server-set fields and status are dropped so a document can be
applied again. Decisions are pure functions; module_utils/kube_api's KubeApi
is the only I/O to the cluster.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json

from ansible_collections.baremetal.mlops.plugins.module_utils.kube_api import resource_path
from ansible_collections.baremetal.mlops.plugins.module_utils.s3_backup import ensure_bucket, put_bytes

# Set by the API server; an object applied again gets its own.
SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def select_resources(group_list, resource_lists, groups):
    """The namespaced, listable resources of the wanted groups (preferred version), sorted.

    group_list: the body of GET /apis; resource_lists: {groupVersion: body of GET /apis/<gv>}.
    """
    selected = []
    for group in group_list.get("groups", []):
        if group["name"] not in groups:
            continue
        version = group["preferredVersion"]["groupVersion"]
        for resource in (resource_lists.get(version) or {}).get("resources", []):
            if "/" in resource["name"] or not resource.get("namespaced") or "list" not in resource.get("verbs", []):
                continue
            selected.append(
                dict(group=group["name"], api_version=version, resource=resource["name"], kind=resource["kind"])
            )
    return sorted(selected, key=lambda r: (r["group"], r["resource"]))


def preferred_versions(group_list, groups):
    return sorted(g["preferredVersion"]["groupVersion"] for g in group_list.get("groups", []) if g["name"] in groups)


def clean(obj, api_version, kind):
    """The object as it can be applied again: no status, no server-set metadata, no last-applied copy."""
    meta = dict(obj.get("metadata") or {})
    for field in SERVER_FIELDS:
        meta.pop(field, None)
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    document = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
    document.update(apiVersion=api_version, kind=kind, metadata=meta)
    return document


def document_bytes(document):
    """The bytes stored for one document (stable: keys sorted)."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def object_key(prefix, namespace, resource, group, name):
    """<prefix>/cluster/<namespace>/<resource>[.<group>]/<name>.json"""
    head = "%s/" % prefix.strip("/") if prefix.strip("/") else ""
    folder = resource if not group else "%s.%s" % (resource, group)
    return "%scluster/%s/%s/%s.json" % (head, namespace, folder, name)


def secret_names_document(namespace, listing):
    """The names of a namespace's Secrets (from a metadata-only listing): never a value."""
    names = sorted(item["metadata"]["name"] for item in listing.get("items") or [])
    return dict(apiVersion="v1", kind="SecretNames", metadata=dict(namespace=namespace), names=names)


def plan_export(api, namespaces, groups, core_resources):
    """[(entry, document)] for every object to export, and the namespaces that do not exist."""
    group_list = api.get("/apis") or {}
    lists = {version: api.get("/apis/%s" % version) for version in preferred_versions(group_list, groups)}
    custom = select_resources(group_list, lists, groups)
    resources = [dict(group="", api_version="v1", resource=r, kind=None) for r in core_resources] + custom
    planned, absent = [], []
    for namespace in sorted(set(namespaces)):
        found = api.get("/api/v1/namespaces/%s" % namespace)
        if found is None:
            absent.append(namespace)
            continue
        planned.append(_entry(clean(found, "v1", "Namespace"), namespace, "namespaces", "", namespace))
        for resource in resources:
            listing = api.get(resource_path(resource["api_version"], resource["resource"], namespace)) or {}
            kind = resource["kind"] or listing.get("kind", "").replace("List", "") or resource["resource"]
            for item in listing.get("items") or []:
                document = clean(item, resource["api_version"], kind)
                planned.append(_entry(document, namespace, resource["resource"], resource["group"]))
        names = api.get(resource_path("v1", "secrets", namespace), metadata_only=True) or {}
        planned.append(_entry(secret_names_document(namespace, names), namespace, "secrets", "", "names"))
    return planned, absent, custom


def _entry(document, namespace, resource, group, name=None):
    name = name or document["metadata"]["name"]
    return dict(
        api_version=document["apiVersion"],
        kind=document["kind"],
        namespace=namespace,
        name=name,
        resource=resource if not group else "%s.%s" % (resource, group),
        group=group,
    ), document


def export_cluster(api, s3, bucket, prefix, namespaces, groups, core_resources, check_mode):
    """Write every planned document under <prefix>/cluster/ of bucket; the manifest's cluster part."""
    planned, absent, custom = plan_export(api, namespaces, groups, core_resources)
    if not check_mode:
        ensure_bucket(s3, bucket)
    objects = []
    for entry, document in planned:
        data = document_bytes(document)
        group = entry.pop("group")
        resource = entry["resource"]
        entry.update(
            key=object_key(prefix, entry["namespace"], resource.split(".", 1)[0], group, entry["name"]),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        if not check_mode:
            put_bytes(s3, bucket, entry["key"], data)
        objects.append(entry)
    return dict(
        method="export",
        namespaces=sorted(set(namespaces) - set(absent)),
        namespaces_absent=absent,
        resources=sorted("%s.%s" % (r["resource"], r["group"]) for r in custom),
        object_count=len(objects),
        objects=objects,
    )
