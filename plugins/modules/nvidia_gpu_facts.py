#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: nvidia_gpu_facts
short_description: Gather facts about the NVIDIA GPUs of a host
version_added: 0.1.0
description:
  - Finds NVIDIA display controllers on the PCI bus (vendor C(0x10de), class C(0x03xx)) through
    sysfs, or through C(lspci) where sysfs is not mounted, whether or not a driver is loaded.
  - When C(nvidia-smi) is installed and the driver answers, adds what only the driver knows from
    C(nvidia-smi -q -x) - product name, memory, MIG mode, persistence mode, driver and CUDA versions.
  - Reports each product name as the NVIDIA GPU Operator labels nodes with it (C(nvidia.com/gpu.product)),
    for example C(NVIDIA A100-SXM4-80GB) as C(NVIDIA-A100-SXM4-80GB).
  - A host without NVIDIA GPUs gets an empty list, not an error. An installed C(nvidia-smi) that cannot
    reach the driver is reported in RV(ansible_facts.nvidia_gpu.nvidia_smi_error), not as a failure.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
attributes:
  check_mode:
    support: full
    description: Only reads; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing.
  facts:
    support: full
    description: Sets RV(ansible_facts.nvidia_gpu).
options:
  sysfs_pci_devices_path:
    description:
      - Folder of PCI devices in sysfs.
      - When it does not exist the module runs C(lspci -D -n -mm) instead.
    type: path
    default: /sys/bus/pci/devices
  nvidia_smi_path:
    description:
      - Path of C(nvidia-smi). By default it is looked up in E(PATH) and C(/usr/bin).
      - Set O(use_nvidia_smi=false) to skip it.
    type: path
  use_nvidia_smi:
    description: Ask C(nvidia-smi) for the driver's view of the GPUs when it is installed.
    type: bool
    default: true
notes:
  - Product labels follow the GPU Operator's convention for the base product; with the MIG
    C(single) strategy the operator appends the MIG profile (C(-MIG-1g.10gb)) to the node label.
"""

EXAMPLES = r"""
- name: Gather the GPU facts
  baremetal.mlops.nvidia_gpu_facts:

- name: Check the host has the GPU its node class promises
  ansible.builtin.assert:
    that:
      - gpu_node_classes[gpu_node_class].product in ansible_facts.nvidia_gpu.product_labels
    fail_msg: >-
      {{ inventory_hostname }} is in GPU class {{ gpu_node_class }}
      ({{ gpu_node_classes[gpu_node_class].product }}) but has {{ ansible_facts.nvidia_gpu.product_labels }}.
  when: ansible_facts.nvidia_gpu.driver_version is not none

- name: Only look at the PCI bus
  baremetal.mlops.nvidia_gpu_facts:
    use_nvidia_smi: false
"""

RETURN = r"""
ansible_facts:
  description: Facts about the host's NVIDIA GPUs.
  returned: always
  type: dict
  contains:
    nvidia_gpu:
      description: The host's NVIDIA GPUs and driver.
      returned: always
      type: dict
      contains:
        count:
          description: Number of NVIDIA GPUs found.
          type: int
          sample: 8
        gpus:
          description:
            - One item per GPU, sorted by PCI address. Keys that only the driver knows are V(null)
              when C(nvidia-smi) is absent or failed.
          type: list
          elements: dict
          contains:
            index:
              description: Minor number (C(/dev/nvidiaN)) when known, else the position.
              type: int
            pci_address:
              description: PCI address in sysfs form.
              type: str
              sample: "0000:07:00.0"
            vendor_id:
              description: PCI vendor id, hexadecimal.
              type: str
              sample: 10de
            device_id:
              description: PCI device id, hexadecimal.
              type: str
              sample: 20b2
            pci_class:
              description: PCI class and subclass, hexadecimal; V(null) when only nvidia-smi saw the GPU.
              type: str
              sample: "0302"
            kernel_driver:
              description: Kernel driver bound to the device (C(nvidia), C(nouveau), C(vfio-pci)), from sysfs.
              type: str
              sample: nvidia
            numa_node:
              description: NUMA node of the device, from sysfs.
              type: int
            product_name:
              description: Product name as nvidia-smi reports it.
              type: str
              sample: NVIDIA A100-SXM4-80GB
            product_label:
              description: Product name as the GPU Operator's C(nvidia.com/gpu.product) label writes it.
              type: str
              sample: NVIDIA-A100-SXM4-80GB
            product_brand:
              description: Brand (C(NVIDIA), C(GeForce), ...).
              type: str
            architecture:
              description: GPU architecture (C(Ampere), C(Hopper), ...).
              type: str
            uuid:
              description: GPU UUID.
              type: str
            serial:
              description: Board serial number.
              type: str
            vbios_version:
              description: VBIOS version.
              type: str
            memory_total_mib:
              description: Frame buffer memory in MiB.
              type: int
              sample: 81920
            persistence_mode:
              description: V(Enabled) or V(Disabled).
              type: str
            mig_capable:
              description: Whether the GPU supports MIG.
              type: bool
            mig_mode_current:
              description: Current MIG mode (V(Enabled), V(Disabled)); V(null) when not MIG capable.
              type: str
            mig_mode_pending:
              description: MIG mode after the next GPU reset; differs from the current one until then.
              type: str
            mig_devices:
              description: MIG devices configured on the GPU.
              type: list
              elements: dict
        driver_version:
          description: NVIDIA driver version; V(null) without a working nvidia-smi.
          type: str
          sample: 550.127.05
        cuda_version:
          description: Highest CUDA version the driver supports.
          type: str
          sample: "12.4"
        nvidia_smi:
          description: Path of the nvidia-smi that was run, or V(null).
          type: str
        nvidia_smi_error:
          description: Why nvidia-smi gave no answer although installed (driver not loaded, ...), or V(null).
          type: str
        pci_source:
          description: Where the PCI scan came from, V(sysfs) or V(lspci).
          type: str
        product_labels:
          description: Distinct product labels of the host's GPUs.
          type: list
          elements: str
          sample: [NVIDIA-A100-SXM4-80GB]
        mig_capable:
          description: Whether any GPU supports MIG.
          type: bool
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.nvidia_gpu import (
    NvidiaGpuError,
    gpu_facts,
    parse_lspci,
    parse_nvidia_smi_xml,
    scan_sysfs,
)


def _pci_devices(module):
    path = module.params["sysfs_pci_devices_path"]
    if os.path.isdir(path):
        return scan_sysfs(path), "sysfs"
    lspci = module.get_bin_path("lspci")
    if lspci is None:
        raise NvidiaGpuError(f"{path} does not exist and lspci (package pciutils) is not installed")
    rc, out, err = module.run_command([lspci, "-D", "-n", "-mm", "-d", "10de:"])
    if rc != 0:
        raise NvidiaGpuError(f"lspci failed (rc={rc}): {err.strip()}")
    return parse_lspci(out), "lspci"


def _nvidia_smi(module):
    """Return (path, parsed output or None, error text or None)."""
    if not module.params["use_nvidia_smi"]:
        return None, None, None
    path = module.params["nvidia_smi_path"] or module.get_bin_path("nvidia-smi", opt_dirs=["/usr/bin"])
    if not path or not os.path.exists(path):
        return None, None, None
    rc, out, err = module.run_command([path, "-q", "-x"])
    if rc != 0:
        # nvidia-smi prints why on stdout ("couldn't communicate with the NVIDIA driver").
        return path, None, (err.strip() or out.strip() or f"nvidia-smi exited with rc={rc}")
    return path, parse_nvidia_smi_xml(out), None


def gather(module):
    pci_devices, source = _pci_devices(module)
    path, smi, error = _nvidia_smi(module)
    return gpu_facts(pci_devices, smi, nvidia_smi_path=path, nvidia_smi_error=error, source=source)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sysfs_pci_devices_path=dict(type="path", default="/sys/bus/pci/devices"),
            nvidia_smi_path=dict(type="path"),
            use_nvidia_smi=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    try:
        facts = gather(module)
    except NvidiaGpuError as error:
        module.fail_json(msg=str(error), exception=traceback.format_exc())
    module.exit_json(changed=False, ansible_facts=dict(nvidia_gpu=facts))


if __name__ == "__main__":
    main()
