# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find NVIDIA GPUs on a host and describe them.

Two sources, merged by PCI address:

* the PCI bus (sysfs, or ``lspci`` output where sysfs is not available): every
  NVIDIA display controller, whether or not a driver is loaded;
* ``nvidia-smi -q -x`` (the ``nvidia_smi_log`` XML document): product name,
  memory, MIG mode, driver and CUDA versions, once the driver runs.

Everything here is pure parsing of text and files, so it is tested on recorded
outputs; the module only runs the commands.
"""

import os
import re
import shlex
import xml.etree.ElementTree as ET

NVIDIA_VENDOR_ID = "10de"
# PCI base class 0x03: display controllers (0x0300 VGA, 0x0302 3D controller).
DISPLAY_CLASS_PREFIX = "03"
# Characters a Kubernetes label value may hold; the GPU Operator's feature
# discovery publishes the product name with the others turned into dashes.
_LABEL_INVALID = re.compile(r"[^A-Za-z0-9._-]+")
_PCI_ADDRESS = re.compile(r"^(?:([0-9A-Fa-f]{4,8}):)?([0-9A-Fa-f]{2}):([0-9A-Fa-f]{2})\.([0-7])$")
_MEMORY = re.compile(r"^\s*(\d+)\s*MiB\s*$")


class NvidiaGpuError(Exception):
    """A source that should describe the GPUs could not be read."""


def normalize_pci_address(address):
    """Return the sysfs form ``dddd:bb:dd.f`` (lower case) of a PCI address.

    nvidia-smi writes an eight-digit domain (``00000000:07:00.0``), sysfs and
    lspci a four-digit one; both name the same device.
    """
    match = _PCI_ADDRESS.match(address.strip())
    if not match:
        raise NvidiaGpuError(f"not a PCI address: {address!r}")
    domain, bus, device, function = match.groups()
    return "{:04x}:{}:{}.{}".format(int(domain or "0", 16), bus.lower(), device.lower(), function)


def product_label(product_name):
    """Return the product name as the GPU Operator labels nodes with it.

    ``NVIDIA A100-SXM4-80GB`` becomes ``NVIDIA-A100-SXM4-80GB``: runs of
    characters a label value cannot hold become one dash, the ends are
    trimmed to alphanumerics and the value to 63 characters.
    """
    if not product_name:
        return None
    label = _LABEL_INVALID.sub("-", product_name.strip())[:63]
    label = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", label)
    return label or None


def _hex_id(text):
    """``0x10de\\n`` -> ``10de``."""
    value = text.strip().lower()
    if value.startswith("0x"):
        value = value[2:]
    return value


def _pci_device(address, vendor, device, pci_class, kernel_driver=None, numa_node=None):
    return {
        "pci_address": address,
        "vendor_id": vendor,
        "device_id": device,
        "pci_class": pci_class,
        "kernel_driver": kernel_driver,
        "numa_node": numa_node,
    }


def _is_nvidia_display(vendor, pci_class):
    return vendor == NVIDIA_VENDOR_ID and pci_class.startswith(DISPLAY_CLASS_PREFIX)


def scan_sysfs(devices_path):
    """List NVIDIA display controllers under ``/sys/bus/pci/devices``.

    Returns a list of dicts sorted by PCI address; an empty list when the
    folder holds none.
    """

    def read(device_dir, name):
        path = os.path.join(device_dir, name)
        try:
            with open(path) as handle:
                return handle.read().strip()
        except OSError:
            return None

    try:
        entries = sorted(os.listdir(devices_path))
    except OSError as error:
        raise NvidiaGpuError(f"cannot list PCI devices in {devices_path}: {error}") from error
    found = []
    for entry in entries:
        device_dir = os.path.join(devices_path, entry)
        vendor = read(device_dir, "vendor")
        pci_class = read(device_dir, "class")
        if vendor is None or pci_class is None:
            continue
        vendor = _hex_id(vendor)
        # sysfs class is 0xCCSSPP (class, subclass, programming interface).
        pci_class = _hex_id(pci_class)[:4]
        if not _is_nvidia_display(vendor, pci_class):
            continue
        driver_link = os.path.join(device_dir, "driver")
        kernel_driver = os.path.basename(os.path.realpath(driver_link)) if os.path.islink(driver_link) else None
        numa = read(device_dir, "numa_node")
        found.append(
            _pci_device(
                normalize_pci_address(entry),
                vendor,
                _hex_id(read(device_dir, "device") or ""),
                pci_class,
                kernel_driver,
                int(numa) if numa is not None and numa.lstrip("-").isdigit() and int(numa) >= 0 else None,
            )
        )
    return found


def parse_lspci(output):
    """Parse ``lspci -D -n -mm`` (machine-readable, numeric) output.

    Each line reads ``0000:07:00.0 "0302" "10de" "20b2" -ra1 "10de" "147f"``;
    ``lspci -k`` driver lines are not in this format, so the kernel driver is
    unknown here.
    """
    found = []
    for line in output.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            fields = shlex.split(line)
        except ValueError as error:
            raise NvidiaGpuError(f"cannot parse lspci line {line!r}: {error}") from error
        if len(fields) < 4:
            raise NvidiaGpuError(f"cannot parse lspci line {line!r}: expected address, class, vendor and device")
        address, pci_class, vendor, device = fields[:4]
        pci_class, vendor, device = pci_class.lower(), vendor.lower(), device.lower()
        if _is_nvidia_display(vendor, pci_class):
            found.append(_pci_device(normalize_pci_address(address), vendor, device, pci_class))
    return sorted(found, key=lambda gpu: gpu["pci_address"])


def _text(element, path):
    """Text at ``path`` under ``element``; None when absent, empty or N/A."""
    if element is None:
        return None
    found = element.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    if not value or value in ("N/A", "[N/A]", "Not Supported", "[Not Supported]"):
        return None
    return value


def _mib(element, path):
    value = _text(element, path)
    if value is None:
        return None
    match = _MEMORY.match(value)
    if not match:
        raise NvidiaGpuError(f"unexpected memory value {value!r} at {path}")
    return int(match.group(1))


def _int(element, path):
    value = _text(element, path)
    return int(value) if value is not None and value.isdigit() else None


def _mig_devices(gpu):
    devices = []
    for mig in gpu.findall("mig_devices/mig_device"):
        devices.append(
            {
                "index": _int(mig, "index"),
                "gpu_instance_id": _int(mig, "gpu_instance_id"),
                "compute_instance_id": _int(mig, "compute_instance_id"),
                "multiprocessor_count": _int(mig, "device_attributes/shared/multiprocessor_count"),
                "memory_total_mib": _mib(mig, "fb_memory_usage/total"),
            }
        )
    return devices


def parse_nvidia_smi_xml(document):
    """Parse ``nvidia-smi -q -x`` output.

    Returns ``{"driver_version", "cuda_version", "gpus": [...]}``; each GPU
    dict is keyed like the PCI scan's plus what only the driver knows.
    """
    try:
        root = ET.fromstring(document)
    except ET.ParseError as error:
        raise NvidiaGpuError(f"nvidia-smi output is not valid XML: {error}") from error
    if root.tag != "nvidia_smi_log":
        raise NvidiaGpuError(f"nvidia-smi output has root element <{root.tag}>, expected <nvidia_smi_log>")
    gpus = []
    for index, gpu in enumerate(root.findall("gpu")):
        bus_id = gpu.get("id") or _text(gpu, "pci/pci_bus_id")
        if not bus_id:
            raise NvidiaGpuError("nvidia-smi output has a <gpu> without a PCI bus id")
        # pci_device_id is device and vendor, e.g. 20B210DE.
        combined = (_text(gpu, "pci/pci_device_id") or "").lower()
        if combined.startswith("0x"):
            combined = combined[2:]
        current_mig = _text(gpu, "mig_mode/current_mig")
        pending_mig = _text(gpu, "mig_mode/pending_mig")
        name = _text(gpu, "product_name")
        gpus.append(
            {
                "index": _int(gpu, "minor_number") if _int(gpu, "minor_number") is not None else index,
                "pci_address": normalize_pci_address(bus_id),
                "vendor_id": combined[4:] if len(combined) == 8 else NVIDIA_VENDOR_ID,
                "device_id": combined[:4] if len(combined) == 8 else None,
                "product_name": name,
                "product_label": product_label(name),
                "product_brand": _text(gpu, "product_brand"),
                "architecture": _text(gpu, "product_architecture"),
                "uuid": _text(gpu, "uuid"),
                "serial": _text(gpu, "serial"),
                "vbios_version": _text(gpu, "vbios_version"),
                "memory_total_mib": _mib(gpu, "fb_memory_usage/total"),
                "persistence_mode": _text(gpu, "persistence_mode"),
                # N/A (absent here) means the GPU cannot do MIG at all.
                "mig_capable": current_mig is not None,
                "mig_mode_current": current_mig,
                "mig_mode_pending": pending_mig,
                "mig_devices": _mig_devices(gpu),
            }
        )
    return {
        "driver_version": _text(root, "driver_version"),
        "cuda_version": _text(root, "cuda_version"),
        "gpus": gpus,
    }


# What the PCI scan cannot know; filled with None when only the bus saw a GPU.
_DRIVER_KEYS = (
    "product_name",
    "product_label",
    "product_brand",
    "architecture",
    "uuid",
    "serial",
    "vbios_version",
    "memory_total_mib",
    "persistence_mode",
    "mig_capable",
    "mig_mode_current",
    "mig_mode_pending",
)


def merge(pci_devices, smi):
    """Merge the PCI scan with parsed nvidia-smi output (or None).

    Every GPU either source saw appears once, sorted by PCI address, with
    ``index`` renumbered in that order when nvidia-smi did not give one.
    """
    by_address = {}
    for device in pci_devices:
        entry = dict(device)
        for key in _DRIVER_KEYS:
            entry[key] = None
        entry["mig_devices"] = []
        entry["index"] = None
        by_address[device["pci_address"]] = entry
    for gpu in (smi or {}).get("gpus", []):
        entry = by_address.setdefault(
            gpu["pci_address"], _pci_device(gpu["pci_address"], gpu["vendor_id"], gpu["device_id"], None)
        )
        for key, value in gpu.items():
            if value is not None or key not in entry:
                entry[key] = value
    gpus = [by_address[address] for address in sorted(by_address)]
    next_index = 0
    for gpu in gpus:
        if gpu.get("index") is None:
            gpu["index"] = next_index
        next_index = gpu["index"] + 1
    return gpus


def gpu_facts(pci_devices, smi=None, nvidia_smi_path=None, nvidia_smi_error=None, source="sysfs"):
    """Build the facts dict the module returns."""
    gpus = merge(pci_devices, smi)
    return {
        "count": len(gpus),
        "gpus": gpus,
        "driver_version": (smi or {}).get("driver_version"),
        "cuda_version": (smi or {}).get("cuda_version"),
        "nvidia_smi": nvidia_smi_path,
        "nvidia_smi_error": nvidia_smi_error,
        "pci_source": source,
        "product_labels": sorted({gpu["product_label"] for gpu in gpus if gpu.get("product_label")}),
        "mig_capable": any(gpu.get("mig_capable") for gpu in gpus),
    }
