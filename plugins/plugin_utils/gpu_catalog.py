# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each GPU product supports, keyed by the value of the node label
``nvidia.com/gpu.product`` that GPU feature discovery publishes.

Used to refuse inventories that ask for MIG on a GPU without MIG, or for MIG
profiles a product cannot create. Products not listed here are accepted as
long as nothing MIG-specific is asked of them.
"""

from __future__ import annotations

import re

# MIG instance profiles per memory size, as the products publish them.
_A100_40GB = ("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")
_A100_80GB = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
_H100_94GB = ("1g.12gb", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb")
_H20_96GB = ("1g.12gb", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb")
_H200_141GB = ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb")
_B200_180GB = ("1g.23gb", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb")
_A30_24GB = ("1g.6gb", "2g.12gb", "4g.24gb")

# product label -> (memory in GiB, compute slices, MIG profiles or () without MIG)
PRODUCTS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "NVIDIA-A100-SXM4-40GB": (40, 7, _A100_40GB),
    "NVIDIA-A100-PCIE-40GB": (40, 7, _A100_40GB),
    "NVIDIA-A100-SXM4-80GB": (80, 7, _A100_80GB),
    "NVIDIA-A100-80GB-PCIe": (80, 7, _A100_80GB),
    "NVIDIA-A30": (24, 4, _A30_24GB),
    "NVIDIA-H100-80GB-HBM3": (80, 7, _A100_80GB),
    "NVIDIA-H100-PCIe": (80, 7, _A100_80GB),
    "NVIDIA-H100-NVL": (94, 7, _H100_94GB),
    "NVIDIA-H20": (96, 7, _H20_96GB),
    "NVIDIA-H200": (141, 7, _H200_141GB),
    "NVIDIA-H200-NVL": (141, 7, _H200_141GB),
    "NVIDIA-B200": (180, 7, _B200_180GB),
    "NVIDIA-L4": (24, 0, ()),
    "NVIDIA-L40": (48, 0, ()),
    "NVIDIA-L40S": (48, 0, ()),
    "NVIDIA-A10": (24, 0, ()),
    "NVIDIA-A40": (48, 0, ()),
    "Tesla-T4": (16, 0, ()),
    "Tesla-V100-SXM2-32GB": (32, 0, ()),
    "Tesla-V100-PCIE-32GB": (32, 0, ()),
    "NVIDIA-RTX-A6000": (48, 0, ()),
    "NVIDIA-RTX-6000-Ada-Generation": (48, 0, ()),
    "NVIDIA-GeForce-RTX-3090": (24, 0, ()),
    "NVIDIA-GeForce-RTX-4090": (24, 0, ()),
}

# MIG configurations that the GPU Operator's default mig-parted config offers
# on every MIG-capable product, besides one `all-<profile>` per profile.
GENERIC_MIG_CONFIGS = ("all-disabled", "all-enabled", "all-balanced")
MIG_DISABLED = ("none", "all-disabled")

_PROFILE = re.compile(r"^(?P<slices>\d)g\.(?P<memory>\d+)gb$")


def known(product: str) -> bool:
    return product in PRODUCTS


def mig_capable(product: str) -> bool:
    """True when the product is known to support MIG."""
    return bool(PRODUCTS.get(product, (0, 0, ()))[2])


def mig_profiles(product: str) -> tuple[str, ...]:
    """The MIG profiles a product can create; () when it has no MIG or is unknown."""
    return PRODUCTS.get(product, (0, 0, ()))[2]


def compute_slices(product: str) -> int:
    return PRODUCTS.get(product, (0, 0, ()))[1]


def mig_config_names(product: str, custom: dict | None = None) -> list[str]:
    """Every MIG configuration name valid for the product."""
    names = [*GENERIC_MIG_CONFIGS, *(f"all-{p}" for p in mig_profiles(product))]
    return names + sorted(custom or {})


def profile_slices(profile: str) -> int | None:
    """Compute slices a MIG profile uses ("3g.40gb" -> 3), None when malformed."""
    match = _PROFILE.match(profile)
    return int(match.group("slices")) if match else None
