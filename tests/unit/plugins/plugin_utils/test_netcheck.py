from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.plugin_utils.netcheck import (
    AddressError,
    contains,
    overlaps,
    parse_address,
    parse_network,
    parse_pool_entry,
)


@pytest.mark.parametrize("value", ["10.0.0.1", "fd00::1"])
def test_addresses(value):
    assert str(parse_address(value)) == value


@pytest.mark.parametrize("value", ["", "10.0.0.256", "host.example.com", None, 10])
def test_not_addresses(value):
    with pytest.raises(AddressError, match=r"^is not an IP address$"):
        parse_address(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10.0.0.0", "is not a network in CIDR notation"),
        ("10.0.0.0/33", "is not a network in CIDR notation"),
        ("10.0.1.0/16", r"has host bits set \(the network is 10.0.0.0/16\)"),
    ],
)
def test_bad_networks(value, message):
    with pytest.raises(AddressError, match=f"^{message}$"):
        parse_network(value)


def test_pool_entries_as_range_and_cidr():
    assert parse_pool_entry("10.0.0.10-10.0.0.12").size == 3
    assert parse_pool_entry("10.0.0.8/30").size == 4
    assert parse_pool_entry("fd00::1-fd00::2").size == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10.0.0.12-10.0.0.10", "ends before it starts"),
        ("10.0.0.1-fd00::1", "mixes IPv4 and IPv6 in one range"),
        ("10.0.0.1-nope", "is not an address range 'first-last'"),
        ("pool", "is neither a CIDR nor an address range 'first-last'"),
    ],
)
def test_bad_pool_entries(value, message):
    with pytest.raises(AddressError, match=f"^{message}$"):
        parse_pool_entry(value)


def test_overlap_and_containment():
    node = parse_network("10.20.0.0/24")
    assert overlaps(node, "10.20.0.255-10.20.1.3")
    assert not overlaps(node, "10.20.1.0/24")
    assert contains(node, "10.20.0.200-10.20.0.210")
    assert not contains(node, "10.20.0.250-10.20.1.1")
