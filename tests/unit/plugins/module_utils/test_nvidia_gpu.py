# Copyright: contributors to baremetal.mlops
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Parsing of the PCI bus and of nvidia-smi -q -x, on recorded outputs."""

from pathlib import Path

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils.nvidia_gpu import (
    NvidiaGpuError,
    gpu_facts,
    merge,
    normalize_pci_address,
    parse_lspci,
    parse_nvidia_smi_xml,
    product_label,
    scan_sysfs,
)

FIXTURES = Path(__file__).resolve().parents[3] / "unit" / "fixtures" / "nvidia-smi"


def fixture(name):
    return (FIXTURES / name).read_text()


def make_sysfs(root, devices):
    """Lay out /sys/bus/pci/devices: {address: (vendor, device, class, driver or None)}."""
    devices_dir = root / "devices"
    devices_dir.mkdir()
    drivers_dir = root / "drivers"
    drivers_dir.mkdir()
    for address, (vendor, device, pci_class, driver) in devices.items():
        device_dir = devices_dir / address
        device_dir.mkdir()
        (device_dir / "vendor").write_text(vendor + "\n")
        (device_dir / "device").write_text(device + "\n")
        (device_dir / "class").write_text(pci_class + "\n")
        (device_dir / "numa_node").write_text("1\n")
        if driver:
            (drivers_dir / driver).mkdir(exist_ok=True)
            (device_dir / "driver").symlink_to(drivers_dir / driver)
    return str(devices_dir)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("NVIDIA A100-SXM4-80GB", "NVIDIA-A100-SXM4-80GB"),
        ("NVIDIA H100 80GB HBM3", "NVIDIA-H100-80GB-HBM3"),
        ("NVIDIA L4", "NVIDIA-L4"),
        ("NVIDIA GeForce RTX 4090", "NVIDIA-GeForce-RTX-4090"),
        ("NVIDIA A100 80GB PCIe", "NVIDIA-A100-80GB-PCIe"),
        ("  NVIDIA  RTX A6000 ", "NVIDIA-RTX-A6000"),
        ("NVIDIA H100 NVL (x)", "NVIDIA-H100-NVL-x"),
        ("", None),
        (None, None),
    ],
)
def test_product_label_matches_the_gpu_operator_convention(name, label):
    assert product_label(name) == label


def test_product_label_fits_a_label_value():
    assert len(product_label("NVIDIA " + "X" * 80)) == 63


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        ("00000000:07:00.0", "0000:07:00.0"),
        ("00000000:2A:00.0", "0000:2a:00.0"),
        ("0000:c1:00.1", "0000:c1:00.1"),
        ("07:00.0", "0000:07:00.0"),
        ("00000001:07:00.0", "0001:07:00.0"),
    ],
)
def test_normalize_pci_address(address, normalized):
    assert normalize_pci_address(address) == normalized


@pytest.mark.parametrize("address", ["", "07:00", "0000:07:00.8", "gpu0"])
def test_normalize_pci_address_rejects_garbage(address):
    with pytest.raises(NvidiaGpuError, match="not a PCI address"):
        normalize_pci_address(address)


def test_a100_with_mig_enabled():
    parsed = parse_nvidia_smi_xml(fixture("a100-sxm4-80gb-mig-enabled.xml"))
    assert parsed["driver_version"] == "550.127.05"
    assert parsed["cuda_version"] == "12.4"
    first, second = parsed["gpus"]
    assert first["pci_address"] == "0000:07:00.0"
    assert first["device_id"] == "20b2"
    assert first["vendor_id"] == "10de"
    assert first["product_name"] == "NVIDIA A100-SXM4-80GB"
    assert first["product_label"] == "NVIDIA-A100-SXM4-80GB"
    assert first["architecture"] == "Ampere"
    assert first["memory_total_mib"] == 81920
    assert first["mig_capable"] is True
    assert (first["mig_mode_current"], first["mig_mode_pending"]) == ("Enabled", "Enabled")
    assert len(first["mig_devices"]) == 7
    assert first["mig_devices"][0] == {
        "index": 0,
        "gpu_instance_id": 7,
        "compute_instance_id": 0,
        "multiprocessor_count": 14,
        "memory_total_mib": 9728,
    }
    # The second GPU waits for a reset to enter MIG mode.
    assert (second["mig_mode_current"], second["mig_mode_pending"]) == ("Disabled", "Enabled")
    assert second["mig_devices"] == []
    assert second["index"] == 1


def test_a100_with_mig_disabled():
    (gpu,) = parse_nvidia_smi_xml(fixture("a100-sxm4-80gb-mig-disabled.xml"))["gpus"]
    assert gpu["mig_capable"] is True
    assert (gpu["mig_mode_current"], gpu["mig_mode_pending"]) == ("Disabled", "Disabled")
    assert gpu["mig_devices"] == []
    assert gpu["persistence_mode"] == "Enabled"


def test_h100():
    parsed = parse_nvidia_smi_xml(fixture("h100-80gb-hbm3.xml"))
    assert parsed["driver_version"] == "570.172.08"
    assert parsed["cuda_version"] == "12.8"
    assert [gpu["pci_address"] for gpu in parsed["gpus"]] == ["0000:18:00.0", "0000:2a:00.0"]
    assert {gpu["product_label"] for gpu in parsed["gpus"]} == {"NVIDIA-H100-80GB-HBM3"}
    assert all(gpu["architecture"] == "Hopper" and gpu["mig_capable"] for gpu in parsed["gpus"])
    assert parsed["gpus"][0]["memory_total_mib"] == 81559
    assert parsed["gpus"][0]["device_id"] == "2330"


def test_l4_is_not_mig_capable():
    (gpu,) = parse_nvidia_smi_xml(fixture("l4.xml"))["gpus"]
    assert gpu["product_label"] == "NVIDIA-L4"
    assert gpu["mig_capable"] is False
    assert gpu["mig_mode_current"] is None
    assert gpu["mig_mode_pending"] is None
    assert gpu["memory_total_mib"] == 23034


def test_geforce_rtx_4090():
    (gpu,) = parse_nvidia_smi_xml(fixture("geforce-rtx-4090.xml"))["gpus"]
    assert gpu["product_label"] == "NVIDIA-GeForce-RTX-4090"
    assert gpu["product_brand"] == "GeForce"
    assert gpu["mig_capable"] is False
    assert gpu["serial"] is None
    assert gpu["persistence_mode"] == "Disabled"
    assert gpu["memory_total_mib"] == 24564


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("NVIDIA-SMI has failed", "not valid XML"),
        ("<log><gpu/></log>", "root element <log>, expected <nvidia_smi_log>"),
        ("<nvidia_smi_log><gpu><product_name>x</product_name></gpu></nvidia_smi_log>", "without a PCI bus id"),
        (
            '<nvidia_smi_log><gpu id="00000000:07:00.0"><fb_memory_usage><total>80 GB</total>'
            "</fb_memory_usage></gpu></nvidia_smi_log>",
            "unexpected memory value '80 GB'",
        ),
    ],
)
def test_bad_nvidia_smi_output(document, message):
    with pytest.raises(NvidiaGpuError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_nvidia_smi_xml(document)


def test_no_gpus_in_nvidia_smi_output():
    parsed = parse_nvidia_smi_xml(
        "<nvidia_smi_log><driver_version>550.127.05</driver_version><attached_gpus>0</attached_gpus></nvidia_smi_log>"
    )
    assert parsed["gpus"] == []


def test_lspci_keeps_nvidia_display_controllers_only():
    devices = parse_lspci(fixture("lspci-dgx-a100.txt"))
    # The NVSwitch (class 0680) and the BMC's VGA (vendor 1a03) are not GPUs.
    assert [d["pci_address"] for d in devices] == ["0000:07:00.0", "0000:0f:00.0"]
    assert devices[0]["device_id"] == "20b2"
    assert devices[0]["pci_class"] == "0302"
    assert devices[0]["kernel_driver"] is None


def test_lspci_bad_line():
    with pytest.raises(NvidiaGpuError, match="expected address, class, vendor and device"):
        parse_lspci('0000:07:00.0 "0302"\n')


def test_sysfs_scan(tmp_path):
    path = make_sysfs(
        tmp_path,
        {
            "0000:00:00.0": ("0x1022", "0x1480", "0x060000", None),
            "0000:07:00.0": ("0x10de", "0x20b2", "0x030200", "nvidia"),
            "0000:0f:00.0": ("0x10de", "0x20b2", "0x030200", "nouveau"),
            "0000:11:00.0": ("0x10de", "0x1af1", "0x068000", None),
            "0000:41:00.0": ("0x10de", "0x27b8", "0x030000", None),
        },
    )
    devices = scan_sysfs(path)
    assert [(d["pci_address"], d["kernel_driver"]) for d in devices] == [
        ("0000:07:00.0", "nvidia"),
        ("0000:0f:00.0", "nouveau"),
        ("0000:41:00.0", None),
    ]
    assert devices[0]["numa_node"] == 1
    assert devices[2]["pci_class"] == "0300"


def test_sysfs_scan_without_gpus_is_empty(tmp_path):
    path = make_sysfs(tmp_path, {"0000:00:00.0": ("0x8086", "0x1237", "0x060000", None)})
    assert scan_sysfs(path) == []


def test_sysfs_scan_missing_folder(tmp_path):
    with pytest.raises(NvidiaGpuError, match="cannot list PCI devices"):
        scan_sysfs(str(tmp_path / "absent"))


def test_merge_fills_driver_fields_by_pci_address():
    pci = parse_lspci(fixture("lspci-dgx-a100.txt"))
    smi = parse_nvidia_smi_xml(fixture("a100-sxm4-80gb-mig-disabled.xml"))
    gpus = merge(pci, smi)
    assert [g["pci_address"] for g in gpus] == ["0000:07:00.0", "0000:0f:00.0"]
    assert gpus[0]["product_label"] == "NVIDIA-A100-SXM4-80GB"
    assert gpus[0]["pci_class"] == "0302"
    # nvidia-smi did not list the second GPU (fallen off the bus, say): it stays, unnamed.
    assert gpus[1]["product_name"] is None
    assert gpus[1]["index"] == 1


def test_facts_without_gpus():
    facts = gpu_facts([], None)
    assert facts["count"] == 0
    assert facts["gpus"] == []
    assert facts["product_labels"] == []
    assert facts["mig_capable"] is False
    assert facts["driver_version"] is None


def test_facts_with_gpus_and_driver():
    facts = gpu_facts([], parse_nvidia_smi_xml(fixture("a100-sxm4-80gb-mig-enabled.xml")), nvidia_smi_path="/usr/bin/x")
    assert facts["count"] == 2
    assert facts["product_labels"] == ["NVIDIA-A100-SXM4-80GB"]
    assert facts["mig_capable"] is True
    assert facts["nvidia_smi"] == "/usr/bin/x"
