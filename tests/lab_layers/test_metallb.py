"""LoadBalancer addresses from the real MetalLB controller, with pools from the lab inventory.

The metallb role installs the chart and the inventory's IPAddressPool and
L2Advertisement; the lab runs MetalLB's own controller binary for the
chart's pod (lab/controllers.py). Addresses, events and re-assignment below
are the controller's answers, not anything a test writes.
"""

from __future__ import annotations

import ipaddress
import json
import time

import pytest
from lab_support import inventory_var, recap

pytestmark = pytest.mark.lab

NARROW = "127.0.10.230-127.0.10.231"


def pool_addresses(ranges: list[str]) -> set[ipaddress.IPv4Address]:
    found = set()
    for entry in ranges:
        if "-" in entry:
            first, last = (ipaddress.ip_address(x.strip()) for x in entry.split("-"))
            found |= {ipaddress.ip_address(n) for n in range(int(first), int(last) + 1)}
        else:
            found |= set(ipaddress.ip_network(entry).hosts())
    return found


def inventory_pool() -> set[ipaddress.IPv4Address]:
    return pool_addresses([a for pool in inventory_var("metallb_pools") for a in pool["addresses"]])


def service(name: str, annotations: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def create(lab, namespace: str, obj: dict) -> None:
    lab.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(obj))


def address(lab, namespace: str, name: str) -> str | None:
    svc = lab.get("service", name, "-n", namespace)
    ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None


def events(lab, namespace: str, name: str) -> list[dict]:
    items = lab.get("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    return [{"reason": e.get("reason"), "message": e.get("message", ""), "source": e.get("source", {})} for e in items]


def wait_for_event(lab, namespace: str, name: str, reason: str) -> dict:
    return lab.wait_until(
        lambda: next((e for e in events(lab, namespace, name) if e["reason"] == reason), None),
        f"a {reason} event on service {namespace}/{name}",
        timeout=60,
    )


@pytest.fixture
def namespace(layers, request):
    lab = layers.lab
    name = "lb-" + request.node.name.lower().replace("_", "-")[5:40].strip("-")
    lab.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=true")
    lab.kubectl("create", "namespace", name)
    yield name
    lab.kubectl("delete", "namespace", name, "--wait=false")


def test_a_load_balancer_service_gets_an_address_from_the_inventory_pool(layers, namespace):
    lab = layers.lab
    create(lab, namespace, service("web"))
    ip = lab.wait_until(lambda: address(lab, namespace, "web"), "an address for the LoadBalancer Service", 60)
    assert ipaddress.ip_address(ip) in inventory_pool(), f"{ip} is not in the inventory's pools"
    allocated = wait_for_event(lab, namespace, "web", "IPAllocated")
    assert ip in allocated["message"] and allocated["source"].get("component") == "metallb-controller", allocated
    pools = lab.get("ipaddresspools", "-n", "metallb-system")["items"]
    assert {p["metadata"]["name"] for p in pools} == {p["name"] for p in inventory_var("metallb_pools")}


def test_an_address_outside_every_pool_is_never_assigned(layers, namespace):
    lab = layers.lab
    outside = "127.0.10.250"
    assert ipaddress.ip_address(outside) not in inventory_pool()
    create(lab, namespace, service("stray", {"metallb.io/loadBalancerIPs": outside}))
    failed = wait_for_event(lab, namespace, "stray", "AllocationFailed")
    assert outside in failed["message"], failed
    time.sleep(3)  # the controller has answered; nothing assigns later
    assert address(lab, namespace, "stray") is None


def test_pool_change_reassigns_and_an_exhausted_pool_leaves_services_pending(layers, namespace):
    """Narrow the inventory's pool to two addresses and re-run: MetalLB moves a Service whose address left
    every pool to one in the new pool; a third Service stays pending with MetalLB's no-available-IPs event;
    restoring the inventory's pool and re-running gives it an address."""
    lab = layers.lab
    original = inventory_var("metallb_pools")
    create(lab, namespace, service("first"))
    before = lab.wait_until(lambda: address(lab, namespace, "first"), "an address for first", 60)
    narrow = [{**original[0], "addresses": [NARROW]}]
    try:
        changed = layers.play_with({"metallb_pools": narrow}, tags="metallb")
        assert recap(changed)["changed"] >= 1
        new_pool = pool_addresses([NARROW])
        assert ipaddress.ip_address(before) not in new_pool
        moved = lab.wait_until(
            lambda: (ip := address(lab, namespace, "first")) and ipaddress.ip_address(ip) in new_pool and ip,
            "first to move into the narrowed pool",
            60,
        )
        create(lab, namespace, service("second"))
        second = lab.wait_until(lambda: address(lab, namespace, "second"), "an address for second", 60)
        assert {moved, second} == {str(a) for a in new_pool}
        create(lab, namespace, service("third"))
        failed = wait_for_event(lab, namespace, "third", "AllocationFailed")
        assert "no available IPs" in failed["message"], failed
        assert address(lab, namespace, "third") is None
    finally:
        restored = layers.play(tags="metallb")
    assert recap(restored)["changed"] >= 1
    third = lab.wait_until(lambda: address(lab, namespace, "third"), "an address for third after the restore", 60)
    assert ipaddress.ip_address(third) in inventory_pool()
