"""The node_identity filter and the one definition behind it (plugin_utils/node_identity.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.filter.node_identity import FilterModule, node_identity
from ansible_collections.baremetal.mlops.plugins.plugin_utils import node_identity as identity

ROOT = Path(__file__).resolve().parents[4]
HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize(
    ("variables", "hostname", "expected"),
    [
        (
            {"inventory_hostname": "CP-01.dc1", "ansible_host": "10.20.0.11"},
            None,
            ("cp-01.dc1", "10.20.0.11", "ansible_host"),
        ),
        (
            {"inventory_hostname": "cp-01", "ansible_host": "192.168.1.1", "node_name": "a", "node_ip": "10.20.0.5"},
            None,
            ("a", "10.20.0.5", "node_ip"),
        ),
        (
            {"node_name": "", "node_ip": None, "ansible_host": "10.20.0.31"},
            "G-1",
            ("g-1", "10.20.0.31", "ansible_host"),
        ),
        ({"ansible_host": "gpu-01.mgmt.example.com"}, "gpu-01", ("gpu-01", None, None)),
        ({"ansible_host": "fd00::31"}, "gpu-01", ("gpu-01", "fd00::31", "ansible_host")),
        ({"ansible_host": 10}, "gpu-01", ("gpu-01", None, None)),
        ({"node_ip": "not-an-ip"}, "gpu-01", ("gpu-01", "not-an-ip", "node_ip")),
        ({}, "gpu-01", ("gpu-01", None, None)),
    ],
)
def test_identity(variables, hostname, expected):
    result = node_identity(variables, hostname)
    assert (result["name"], result["address"], result["address_variable"]) == expected
    assert result == identity.node_identity(variables, hostname)


def test_filter_is_registered():
    assert FilterModule().filters() == {"node_identity": node_identity}


@pytest.mark.parametrize(
    ("value", "hostname", "message"),
    [
        ("x", None, "node_identity expects a host's variables such as hostvars[inventory_hostname], got str"),
        (["x"], None, "node_identity expects a host's variables such as hostvars[inventory_hostname], got list"),
        ({"node_ip": "10.20.0.1"}, None, "node_identity needs inventory_hostname, in the variables or as its argument"),
    ],
)
def test_bad_input_is_refused_with_its_reason(value, hostname, message):
    with pytest.raises(AnsibleFilterError) as error:
        node_identity(value, hostname)
    assert error.value.message == message


def test_contract_host_uses_the_same_name():
    from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract import Host

    assert Host("CPU-01.dc1").kubernetes_name == identity.node_name(None, "CPU-01.dc1") == "cpu-01.dc1"
    assert Host("CPU-01.dc1", node_name="k8s-a").kubernetes_name == "k8s-a"


@pytest.mark.e2e
def test_data_driven_assert_playbook():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(HERE / "node_identity.yml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout
