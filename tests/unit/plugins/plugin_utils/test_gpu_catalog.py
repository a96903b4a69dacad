from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.plugin_utils import gpu_catalog


@pytest.mark.parametrize(
    ("product", "capable"),
    [
        ("NVIDIA-A100-SXM4-80GB", True),
        ("NVIDIA-H100-80GB-HBM3", True),
        ("NVIDIA-L4", False),
        ("NVIDIA-GeForce-RTX-4090", False),
        ("NVIDIA-Unknown", False),
    ],
)
def test_mig_capability(product, capable):
    assert gpu_catalog.mig_capable(product) is capable


def test_mig_configs_follow_the_memory_size():
    names = gpu_catalog.mig_config_names("NVIDIA-A100-SXM4-40GB", {"site": {}})
    assert "all-1g.5gb" in names
    assert "all-1g.10gb" in names  # the 40GB part also has a 1g.10gb profile
    assert "all-7g.80gb" not in names
    assert names[-1] == "site"


@pytest.mark.parametrize(("profile", "slices"), [("1g.10gb", 1), ("7g.80gb", 7), ("big", None)])
def test_profile_slices(profile, slices):
    assert gpu_catalog.profile_slices(profile) == slices


def test_every_profile_fits_its_product():
    for product, (_memory, limit, profiles) in gpu_catalog.PRODUCTS.items():
        for profile in profiles:
            assert gpu_catalog.profile_slices(profile) <= limit, (product, profile)
