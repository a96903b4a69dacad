# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the release_delivery role: one rendering of Helm releases and objects."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.plugin_utils import chart_check, images, release_render


def release_plan(inputs: dict) -> dict:
    """{component, layer, releases, objects, chart_versions, repositories, node_labels?, secrets?,
    objects_sync_wave?} -> the plan."""
    try:
        return release_render.plan(
            inputs["component"],
            inputs["layer"],
            inputs.get("releases") or [],
            inputs.get("objects") or [],
            release_render.plain(inputs["chart_versions"]),
            release_render.plain(inputs["repositories"]),
            node_labels=inputs.get("node_labels"),
            secrets=inputs.get("secrets"),
            objects_wave_offset=int(inputs.get("objects_sync_wave", release_render.OBJECTS_WAVE_OFFSET)),
        )
    except (KeyError, release_render.RenderError) as exc:
        raise AnsibleFilterError(f"release_plan: {exc}") from exc


def gitops_files(plan: dict, settings: dict) -> dict:
    """The component's files of the GitOps tree: relative path -> content."""
    try:
        return release_render.gitops_files(release_render.plain(plan), release_render.plain(settings))
    except release_render.RenderError as exc:
        raise AnsibleFilterError(f"gitops_files: {exc}") from exc


def release_images(manifests: str, chart_path: str, values: dict | None = None) -> list:
    """Images one release runs, from its `helm template` output and the chart's values."""
    try:
        defaults = chart_check.chart_defaults(chart_path)
    except chart_check.ChartError as exc:
        raise AnsibleFilterError(f"release_images: {exc}") from exc
    merged = [defaults, release_render.plain(values or {})]
    return images.release_images(images.parse_manifests(str(manifests)), merged)


def chart_value_problems(values: dict, chart_path: str) -> list:
    """Keys of `values` the chart does not have (empty when the values fit the chart)."""
    try:
        return chart_check.value_problems(release_render.plain(values or {}), chart_check.checked_defaults(chart_path))
    except chart_check.ChartError as exc:
        raise AnsibleFilterError(f"chart_value_problems: {exc}") from exc


def image_list(template_results: list, chart_folder: str, fingerprint: str | None = None) -> str:
    """The image list file's content from the registered `helm template` results (item: the release);
    `fingerprint` (of the rendering's inputs) goes into the header so an unchanged rendering can be skipped."""
    entries = []
    for result in template_results:
        release = result["item"]
        chart = f"{chart_folder}/{release['chart']}-{release['version']}.tgz"
        entries.append(
            {"release": release["name"], "images": release_images(result["stdout"], chart, release.get("values"))}
        )
    return images.image_list(entries, fingerprint)


def missing_crds(objects: list, crds: list) -> list:
    """`Kind.group` of the custom resources among `objects` whose CRD is not Established in `crds`."""
    return release_render.missing_crds(release_render.plain(objects), release_render.plain(crds))


def helm_release_status(helm_list_json: str) -> dict:
    """`helm list --output json` -> {"namespace/name": status}."""
    try:
        return {f"{r['namespace']}/{r['name']}": r["status"] for r in json.loads(helm_list_json or "[]") or []}
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"helm_release_status: not the output of helm list --output json: {exc}") from exc


def established_crds(crds: list) -> list:
    """The CRDs among `crds` that are Established, reduced to what missing_crds reads (group, kind, condition)."""
    return release_render.established_crds(release_render.plain(crds))


def node_label_patches(entry: dict, nodes: list | None = None) -> list:
    """One node-label entry of a plan -> the Node patches that set its labels (only on the nodes among
    `nodes`, the cluster's Node objects, that lack one of them, when given)."""
    return release_render.node_label_patches(
        release_render.plain(entry), release_render.plain(nodes) if nodes is not None else None
    )


class FilterModule:
    def filters(self):
        return {
            "release_plan": release_plan,
            "gitops_files": gitops_files,
            "release_images": release_images,
            "chart_value_problems": chart_value_problems,
            "image_list": image_list,
            "missing_crds": missing_crds,
            "node_label_patches": node_label_patches,
            "helm_release_status": helm_release_status,
            "established_crds": established_crds,
        }
