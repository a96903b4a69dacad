# Copyright: contributors to baremetal.mlops
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""nvidia_gpu_facts end to end in-process: sysfs trees and fake nvidia-smi/lspci."""

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils.nvidia_gpu import normalize_pci_address, product_label
from ansible_collections.baremetal.mlops.plugins.modules import nvidia_gpu_facts
from ansible_collections.baremetal.mlops.tests.unit.plugins.module_utils.test_nvidia_gpu import make_sysfs
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import run_module

FIXTURES = Path(__file__).resolve().parents[3] / "unit" / "fixtures" / "nvidia-smi"

A100_SYSFS = {
    "0000:00:00.0": ("0x1022", "0x1480", "0x060000", None),
    "0000:07:00.0": ("0x10de", "0x20b2", "0x030200", "nvidia"),
    "0000:0f:00.0": ("0x10de", "0x20b2", "0x030200", "nvidia"),
}


def fake_tool(path, stdout_file=None, rc=0):
    """An executable that prints a fixture and exits with rc."""
    body = "#!/bin/sh\n"
    if stdout_file:
        body += "/bin/cat '%s'\n" % (FIXTURES / stdout_file)
    body += f"exit {rc}\n"
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def gather(args, check_mode=False):
    result, failed = run_module(nvidia_gpu_facts.main, args, check_mode=check_mode)
    assert not failed, result
    assert result["changed"] is False
    return result["ansible_facts"]["nvidia_gpu"]


@pytest.mark.parametrize(
    ("fixture", "sysfs", "labels", "count", "mig_capable"),
    [
        ("a100-sxm4-80gb-mig-enabled.xml", A100_SYSFS, ["NVIDIA-A100-SXM4-80GB"], 2, True),
        (
            "a100-sxm4-80gb-mig-disabled.xml",
            {"0000:07:00.0": ("0x10de", "0x20b2", "0x030200", "nvidia")},
            ["NVIDIA-A100-SXM4-80GB"],
            1,
            True,
        ),
        ("h100-80gb-hbm3.xml", {}, ["NVIDIA-H100-80GB-HBM3"], 2, True),
        ("l4.xml", {"0000:41:00.0": ("0x10de", "0x27b8", "0x030200", "nvidia")}, ["NVIDIA-L4"], 1, False),
        (
            "geforce-rtx-4090.xml",
            {"0000:01:00.0": ("0x10de", "0x2684", "0x030000", "nvidia")},
            ["NVIDIA-GeForce-RTX-4090"],
            1,
            False,
        ),
    ],
)
def test_gpus_with_a_working_driver(tmp_path, fixture, sysfs, labels, count, mig_capable):
    smi = fake_tool(tmp_path / "nvidia-smi", fixture)
    facts = gather({"sysfs_pci_devices_path": make_sysfs(tmp_path, sysfs), "nvidia_smi_path": smi})
    assert facts["count"] == count
    assert facts["product_labels"] == labels
    assert facts["mig_capable"] is mig_capable
    assert facts["driver_version"] is not None
    assert facts["nvidia_smi"] == smi
    assert facts["nvidia_smi_error"] is None
    assert facts["pci_source"] == "sysfs"
    assert all(gpu["memory_total_mib"] for gpu in facts["gpus"])


def test_no_gpu_is_an_empty_list_not_an_error(tmp_path):
    facts = gather(
        {
            "sysfs_pci_devices_path": make_sysfs(tmp_path, {"0000:00:00.0": ("0x8086", "0x1237", "0x060000", None)}),
            "nvidia_smi_path": str(tmp_path / "no-nvidia-smi"),
        }
    )
    assert facts["gpus"] == []
    assert facts["count"] == 0
    assert facts["nvidia_smi"] is None


def test_gpus_without_a_loaded_driver(tmp_path):
    smi = fake_tool(tmp_path / "nvidia-smi", "nvidia-smi-no-driver.txt", rc=9)
    facts = gather({"sysfs_pci_devices_path": make_sysfs(tmp_path, A100_SYSFS), "nvidia_smi_path": smi})
    assert facts["count"] == 2
    assert facts["driver_version"] is None
    assert facts["nvidia_smi_error"].startswith("NVIDIA-SMI has failed because it couldn't communicate")
    assert [gpu["product_name"] for gpu in facts["gpus"]] == [None, None]
    assert [gpu["kernel_driver"] for gpu in facts["gpus"]] == ["nvidia", "nvidia"]


def test_use_nvidia_smi_false_skips_it(tmp_path):
    smi = fake_tool(tmp_path / "nvidia-smi", "l4.xml")
    facts = gather(
        {"sysfs_pci_devices_path": make_sysfs(tmp_path, A100_SYSFS), "nvidia_smi_path": smi, "use_nvidia_smi": False}
    )
    assert facts["nvidia_smi"] is None
    assert facts["count"] == 2


def test_check_mode_reads_the_same(tmp_path):
    smi = fake_tool(tmp_path / "nvidia-smi", "a100-sxm4-80gb-mig-enabled.xml")
    args = {"sysfs_pci_devices_path": make_sysfs(tmp_path, A100_SYSFS), "nvidia_smi_path": smi}
    assert gather(args, check_mode=True) == gather(args)


def test_lspci_when_sysfs_is_absent(tmp_path, monkeypatch):
    lspci = fake_tool(tmp_path / "lspci", "lspci-dgx-a100.txt")
    monkeypatch.setenv("PATH", str(tmp_path))
    facts = gather({"sysfs_pci_devices_path": str(tmp_path / "no-sysfs"), "use_nvidia_smi": False})
    assert lspci
    assert facts["pci_source"] == "lspci"
    assert [gpu["pci_address"] for gpu in facts["gpus"]] == ["0000:07:00.0", "0000:0f:00.0"]


def test_no_sysfs_and_no_lspci_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result, failed = run_module(
        nvidia_gpu_facts.main, {"sysfs_pci_devices_path": str(tmp_path / "no-sysfs"), "use_nvidia_smi": False}
    )
    assert failed
    assert result["msg"] == "%s does not exist and lspci (package pciutils) is not installed" % (tmp_path / "no-sysfs")


def test_broken_nvidia_smi_output_fails(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<nvidia_smi_log><gpu><product_name>x</product_name></gpu></nvidia_smi_log>")
    smi = tmp_path / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\n/bin/cat '{bad}'\n")
    smi.chmod(0o755)
    result, failed = run_module(
        nvidia_gpu_facts.main, {"sysfs_pci_devices_path": make_sysfs(tmp_path, {}), "nvidia_smi_path": str(smi)}
    )
    assert failed
    assert result["msg"] == "nvidia-smi output has a <gpu> without a PCI bus id"


NVIDIA_SMI = shutil.which("nvidia-smi")


@pytest.mark.skipif(  # hardware: the only kind of skip tests/conftest.py allows
    NVIDIA_SMI is None, reason="missing hardware: no NVIDIA GPU (nvidia-smi) on this machine"
)
def test_real_gpus_match_nvidia_smi():
    names = subprocess.run(
        [NVIDIA_SMI, "--query-gpu=pci.bus_id,name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    facts = gather({})
    by_address = {gpu["pci_address"]: gpu for gpu in facts["gpus"]}
    assert facts["count"] >= len(names) > 0
    assert facts["driver_version"]
    for line in names:
        bus_id, name = (field.strip() for field in line.split(",", 1))
        gpu = by_address[normalize_pci_address(bus_id)]
        assert gpu["product_name"] == name
        assert gpu["product_label"] == product_label(name)
        assert gpu["memory_total_mib"] > 0
        assert gpu["kernel_driver"] == "nvidia"
