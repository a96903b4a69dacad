# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container images a rendered release will run, for a site's registry mirror (air gap).

Three sources, all read from the release's rendered manifests:

- every ``image`` field (containers, init containers, custom resources that
  name a full image such as a MinIO Tenant);
- operator custom resources that split an image into ``repository``,
  ``image`` and ``version`` (the GPU Operator's ClusterPolicy), unless that
  part is ``enabled: false``;
- images named in the chart's values as ``repository`` + ``tag`` (optionally
  ``registry``) that the templates pass on as arguments or settings (the
  Longhorn manager starts engine and instance-manager images it is told about),
  counted only when the rendered manifests mention them.
"""

from __future__ import annotations

import yaml


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def split_image(node: dict) -> str | None:
    """The image a mapping names: `image`, or `repository/image:version` (GPU Operator style).

    None when the mapping names no image, or names a part that is off (`enabled: false`) or not
    configured (an operator-style part without repository or version).
    """
    image = node.get("image")
    if not isinstance(image, str) or not image or node.get("enabled") is False:
        return None
    if "repository" in node or "version" in node:
        repository, version = node.get("repository"), node.get("version")
        if not (isinstance(repository, str) and repository and isinstance(version, str) and version):
            return None
        return f"{repository.rstrip('/')}/{image}:{version}"
    return image


def manifest_images(manifests: list) -> set[str]:
    """Every image field of the manifests (containers, init containers, operator CRs)."""
    images = set()
    for node in _walk(manifests):
        ref = split_image(node)
        if ref:
            images.add(ref)
    return images


def value_images(values) -> set[str]:
    """Images a chart's values name as repository + tag (with an optional registry)."""
    found = set()
    for node in _walk(values):
        repository, tag = node.get("repository"), node.get("tag")
        if isinstance(repository, str) and repository and isinstance(tag, (str, int, float)) and str(tag):
            registry = node.get("registry")
            prefix = f"{registry.rstrip('/')}/" if isinstance(registry, str) and registry else ""
            found.add(f"{prefix}{repository}:{tag}")
    return found


def release_images(manifests: list, values=None) -> list[str]:
    """Sorted images of one rendered release (see the module's three sources)."""
    images = manifest_images(manifests)
    text = set(_strings(manifests))
    for candidate in value_images(values or {}):
        # Already listed in full (with a registry in front or a digest behind): not again.
        if any(candidate in image for image in images):
            continue
        if any(candidate in string for string in text):
            images.add(candidate)
    return sorted(images)


def parse_manifests(text: str) -> list[dict]:
    """The documents of `helm template` output (empty ones dropped)."""
    return [document for document in yaml.safe_load_all(text) if isinstance(document, dict)]


def image_list(entries: list[dict], fingerprint: str | None = None) -> str:
    """The image list file: one `image release` line per pair, sorted, with a header (and the
    fingerprint of the rendering it came from, when given)."""
    lines = sorted({f"{image} {entry['release']}" for entry in entries for image in entry["images"]})
    header = "# Container images the releases run: `image release`, one per line (baremetal.mlops).\n"
    if fingerprint:
        header += f"# rendering {fingerprint}\n"
    return header + "".join(f"{line}\n" for line in lines)
