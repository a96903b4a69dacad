from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.plugin_utils import images


@pytest.mark.parametrize(
    ("node", "image"),
    [
        ({"image": "quay.io/metallb/controller:v0.16.1"}, "quay.io/metallb/controller:v0.16.1"),
        ({"repository": "nvcr.io/nvidia/", "image": "driver", "version": "595"}, "nvcr.io/nvidia/driver:595"),
        ({"repository": "nvcr.io/nvidia", "image": "driver", "version": "595", "enabled": False}, None),
        ({"repository": "", "image": "vgpu", "version": ""}, None),
        ({"image": "vgpu-manager", "enabled": False}, None),
        ({"image": "vgpu-manager", "version": "1"}, None),
        ({"image": ""}, None),
        ({"image": {"repository": "x"}}, None),
    ],
)
def test_split_image(node, image):
    assert images.split_image(node) == image


def test_release_images_takes_containers_operator_parts_and_mentioned_value_images():
    manifests = [
        {
            "kind": "Deployment",
            "spec": {
                "template": {
                    "spec": {
                        "initContainers": [{"name": "i", "image": "busybox:1"}],
                        "containers": [
                            {
                                "name": "m",
                                "image": "docker.io/longhornio/longhorn-manager:v1",
                                "args": ["--engine-image", "longhornio/longhorn-engine:v1"],
                            }
                        ],
                    }
                }
            },
        },
        {"kind": "ClusterPolicy", "spec": {"toolkit": {"repository": "nvcr.io/k8s", "image": "tk", "version": "v2"}}},
    ]
    values = [
        {"image": {"engine": {"repository": "longhornio/longhorn-engine", "tag": "v1"}}},
        {"manager": {"repository": "longhornio/longhorn-manager", "tag": "v1"}},  # listed already, not again
        {"ui": {"repository": "longhornio/longhorn-ui", "tag": "v1"}},  # never rendered: left out
    ]
    assert images.release_images(manifests, values) == [
        "busybox:1",
        "docker.io/longhornio/longhorn-manager:v1",
        "longhornio/longhorn-engine:v1",
        "nvcr.io/k8s/tk:v2",
    ]


def test_value_images_with_a_registry():
    assert images.value_images({"a": {"registry": "docker.io/", "repository": "x/y", "tag": 3}}) == {"docker.io/x/y:3"}


def test_image_list_is_sorted_and_unique():
    text = images.image_list([{"release": "b", "images": ["z:1", "a:1"]}, {"release": "a", "images": ["a:1", "a:1"]}])
    assert text.splitlines()[1:] == ["a:1 a", "a:1 b", "z:1 b"]


def test_parse_manifests_drops_empty_documents():
    assert images.parse_manifests("---\n# Source: x\n---\nkind: A\n---\n") == [{"kind": "A"}]


def test_image_list_carries_the_fingerprint_of_its_rendering_in_the_header():
    entries = [{"release": "a", "images": ["a:1"]}]
    text = images.image_list(entries, "f00d")
    assert text.splitlines()[1] == "# rendering f00d"
    assert text.splitlines()[2:] == ["a:1 a"]
    assert "rendering" not in images.image_list(entries)
