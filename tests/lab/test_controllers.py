"""CRDs of controllers that cannot run on kwok, registered by the lab from their Go modules (lab/controllers.py)."""

from __future__ import annotations

import json

import pytest
from lab_support import labctl

pytestmark = pytest.mark.lab


def cilium_crds(lab) -> dict[str, bool]:
    items = lab.get("crd")["items"]
    return {
        c["metadata"]["name"]: any(
            x["type"] == "Established" and x["status"] == "True" for x in c.get("status", {}).get("conditions", [])
        )
        for c in items
        if c["spec"]["group"] == "cilium.io"
    }


def test_cilium_crds_are_established_and_validate_policies(lab):
    crds = cilium_crds(lab)
    assert "ciliumnetworkpolicies.cilium.io" in crds
    assert len(crds) >= 10 and all(crds.values()), crds
    bad = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "schema-check", "namespace": "default"},
        "spec": {"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "80", "protocol": "SCTPX"}]}]}]},
    }
    result = lab.kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert "protocol" in result.stderr and "SCTPX" in result.stderr


def test_lab_up_registers_a_cilium_crd_that_went_missing_again(lab):
    lab.kubectl("delete", "crd", "ciliumnodes.cilium.io", "--wait=true")
    assert "ciliumnodes.cilium.io" not in cilium_crds(lab)
    up = labctl("up")
    assert "registered Cilium" in up.stdout + up.stderr
    lab.wait_until(lambda: cilium_crds(lab).get("ciliumnodes.cilium.io"), "ciliumnodes.cilium.io Established")
    again = labctl("up")
    assert "registered Cilium" not in again.stdout + again.stderr
