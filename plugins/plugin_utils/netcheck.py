# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address arithmetic for the inventory contract, on netaddr."""

from __future__ import annotations

try:
    import netaddr

    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported by callers
    HAS_NETADDR = False


class AddressError(ValueError):
    """A value is not the address, network or range it should be."""


def parse_address(value) -> netaddr.IPAddress:
    """One IPv4 or IPv6 address."""
    if not isinstance(value, str) or not value:
        raise AddressError("is not an IP address")
    try:
        return netaddr.IPAddress(value)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise AddressError("is not an IP address") from exc


def parse_network(value) -> netaddr.IPNetwork:
    """A network in CIDR notation whose host bits are zero."""
    if not isinstance(value, str) or "/" not in value:
        raise AddressError("is not a network in CIDR notation")
    try:
        network = netaddr.IPNetwork(value)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise AddressError("is not a network in CIDR notation") from exc
    if network.ip != network.network:
        raise AddressError(f"has host bits set (the network is {network.cidr})")
    return network


def parse_pool_entry(value) -> netaddr.IPSet:
    """A MetalLB pool entry: a CIDR or an inclusive 'first-last' range."""
    if isinstance(value, str) and "-" in value:
        first, last = (part.strip() for part in value.split("-", 1))
        try:
            start, end = netaddr.IPAddress(first), netaddr.IPAddress(last)
        except (netaddr.AddrFormatError, ValueError) as exc:
            raise AddressError("is not an address range 'first-last'") from exc
        if start.version != end.version:
            raise AddressError("mixes IPv4 and IPv6 in one range")
        if start > end:
            raise AddressError("ends before it starts")
        return netaddr.IPSet(netaddr.IPRange(start, end))
    try:
        return netaddr.IPSet([parse_network(value)])
    except AddressError as exc:
        raise AddressError("is neither a CIDR nor an address range 'first-last'") from exc


def as_set(value) -> netaddr.IPSet:
    """An IPSet for a network, a pool entry or an already built set."""
    if isinstance(value, netaddr.IPSet):
        return value
    if isinstance(value, netaddr.IPNetwork):
        return netaddr.IPSet([value])
    return parse_pool_entry(value)


def overlaps(left, right) -> bool:
    """True when two networks, ranges or sets share at least one address."""
    return not as_set(left).isdisjoint(as_set(right))


def contains(outer, inner) -> bool:
    """True when every address of inner lies in outer."""
    return as_set(inner).issubset(as_set(outer))
