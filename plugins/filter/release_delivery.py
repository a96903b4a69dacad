# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the release_delivery role: one rendering of Helm releases and objects."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.plugin_utils import chart_check, images, release_record, release_render


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


def gitops_root_application(settings: dict) -> dict:
    """The root Application (app of apps) that gitops delivery writes as root.yaml."""
    try:
        return release_render.root_application(release_render.plain(settings))
    except release_render.RenderError as exc:
        raise AnsibleFilterError(f"gitops_root_application: {exc}") from exc


def gitops_serving_applications(teams: list, settings: dict) -> list:
    """One Application per team, syncing the team's serving folder of the tree into its namespace."""
    try:
        return [
            release_render.serving_application(team, release_render.plain(settings))
            for team in release_render.plain(teams or [])
        ]
    except (KeyError, release_render.RenderError) as exc:
        raise AnsibleFilterError(f"gitops_serving_applications: {exc}") from exc


def gitops_serving_file(obj: dict, team: str) -> dict:
    """{path: content} of an object (an InferenceService) in the team's serving folder of the tree."""
    try:
        return release_render.serving_file(release_render.plain(obj), str(team))
    except (KeyError, release_render.RenderError) as exc:
        raise AnsibleFilterError(f"gitops_serving_file: {exc}") from exc


def release_images(manifests: str, chart_path: str, values: dict | None = None) -> list:
    """Images one release runs, from its `helm template` output and the chart's values."""
    try:
        defaults = chart_check.chart_defaults(chart_path)
    except chart_check.ChartError as exc:
        raise AnsibleFilterError(f"release_images: {exc}") from exc
    merged = [defaults, release_render.plain(values or {})]
    return images.release_images(images.parse_manifests(str(manifests)), merged)


def missing_chart_archives(releases: list, chart_folder: str) -> list:
    """The releases whose chart archive (`<folder>/<chart>-<version>.tgz`) is not a file on the controller."""
    return [
        release
        for release in releases or []
        if not os.path.isfile(os.path.join(str(chart_folder), f"{release['chart']}-{release['version']}.tgz"))
    ]


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


def helm_releases(helm_list_json: str) -> dict:
    """`helm list --all --output json` -> {"namespace/name": {status, revision, chart}}."""
    try:
        return release_record.helm_releases(json.loads(helm_list_json or "[]") or [])
    except (ValueError, release_record.RecordError) as exc:
        raise AnsibleFilterError(f"helm_releases: not the output of helm list --output json: {exc}") from exc


def pending_releases(plan: dict, releases_now: dict, record: dict) -> list:
    """The plan's releases Helm must see this run: new, not deployed, changed since the recorded
    delivery, or changed outside it (plugin_utils/release_record.py)."""
    return release_record.pending(
        release_render.plain(plan["releases"]), release_render.plain(releases_now), release_render.plain(record)
    )


def delivery_record(configmaps: list) -> dict:
    """The delivery record ConfigMaps (k8s_info resources) -> {"namespace/name": {digest, revision}}."""
    return release_record.read(release_render.plain(configmaps))


def delivery_record_configmap(plan: dict, helm_results: list, releases_now: dict, record: dict, namespace: str) -> dict:
    """The component's record ConfigMap after its Helm step (helm_results: the registered loop results)."""
    entries = release_record.delivered(
        release_render.plain(plan["releases"]),
        release_render.plain(helm_results),
        release_render.plain(releases_now),
        release_render.plain(record),
    )
    return release_record.configmap(plan["component"], str(namespace), entries)


def delivery_state_after(plan: dict, releases_now: dict, record: dict, configmap: dict) -> dict:
    """{releases_now, record}: the run's view of Helm and the record once this component is delivered."""
    entries = release_record.read([release_render.plain(configmap)])
    now, kept = release_record.after_step(
        release_render.plain(releases_now),
        release_render.plain(record),
        release_render.plain(plan["releases"]),
        entries,
    )
    return {"releases_now": now, "record": kept}


def established_crds(crds: list) -> list:
    """The CRDs among `crds` that are Established, reduced to what missing_crds and crds_to_apply read
    (name, group, kind, condition, recorded manifest digest)."""
    return release_render.established_crds(release_render.plain(crds))


def crds_to_apply(objects: list, established: list) -> list:
    """The CRDs among `objects` absent from `established` or recorded there from another manifest,
    each annotated with its manifest digest."""
    return release_render.crds_to_apply(release_render.plain(objects), release_render.plain(established))


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
            "gitops_root_application": gitops_root_application,
            "gitops_serving_applications": gitops_serving_applications,
            "gitops_serving_file": gitops_serving_file,
            "release_images": release_images,
            "chart_value_problems": chart_value_problems,
            "missing_chart_archives": missing_chart_archives,
            "image_list": image_list,
            "missing_crds": missing_crds,
            "node_label_patches": node_label_patches,
            "helm_releases": helm_releases,
            "pending_releases": pending_releases,
            "delivery_record": delivery_record,
            "delivery_record_configmap": delivery_record_configmap,
            "delivery_state_after": delivery_state_after,
            "established_crds": established_crds,
            "crds_to_apply": crds_to_apply,
        }
