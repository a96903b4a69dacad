# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of the inventory contract.

Every check reads plain data (variables already templated, hosts reduced to
what the contract needs) and adds problems to a Report; nothing stops at the
first problem, so one run names all of them. Each problem is one line that
names the variable, shows the value and says what is expected. Secret values
are never shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations

from ansible_collections.baremetal.mlops.plugins.plugin_utils import gpu_catalog, node_identity
from ansible_collections.baremetal.mlops.plugins.plugin_utils.netcheck import (
    AddressError,
    contains,
    overlaps,
    parse_address,
    parse_network,
    parse_pool_entry,
)
from ansible_collections.baremetal.mlops.plugins.plugin_utils.versions import VersionsError, release

DELIVERY_MODES = ("direct", "gitops")
METALLB_MODES = ("l2", "bgp")
# 0, AS_TRANS (23456, RFC 6793), 65535 and 4294967295 are reserved.
RESERVED_ASNS = {0, 23456, 65535, 4294967295}
CLUSTER_GROUPS = ("control_plane", "workers", "gpu_nodes")
ADDRESSED_GROUPS = (*CLUSTER_GROUPS, "storage_nodes", "bgp_routers")
_K8S_VERSION = re.compile(r"^v?(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_URL = re.compile(r"^(https?|oci|file)://\S+$")
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+(/\S*)?$")
# Where release files lie: a web server or mirror, or a folder on the controller.
_MIRROR_URL = re.compile(r"^(https?://[^\s/?#]+|file://)(/\S*)?$")
# Git remotes Argo CD reads: a URL, or scp-like user@host:path.
_GIT_URL = re.compile(r"^((https?|ssh|git|file)://[^\s/?#]*(/\S*)?|[\w.-]+@[\w.-]+:\S+)$")
_GPU_RESOURCE = re.compile(r"^nvidia\.com/(gpu|mig-\S+)$")
# A Kubernetes qualified name's name part, and a label value (which may also be empty).
_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TAINT_FIELDS = ("key", "value", "effect")
GPU_TAINT_EXPECTED = "a mapping with key, value and effect, such as nvidia.com/gpu, present, NoSchedule"
# The StorageClass the longhorn role's chart creates (roles/longhorn).
LONGHORN_STORAGE_CLASS = "longhorn"
EDGE_NAMESPACE_EXPECTED = "the namespace of the inference edge (its Gateway and authentication proxy)"
DNS_LABEL_EXPECTED = "a DNS-1123 label: lower case letters, digits and '-', at most 63 characters"
SECRET_SHOWN_AS = "<secret>"


@dataclass(frozen=True)
class Undefined:
    """A variable that is absent or could not be templated."""

    reason: str = "is not defined"


@dataclass
class Host:
    """What the contract needs to know about one inventory host.

    address and node_name come from the node identity (plugin_utils/node_identity.py):
    address is node_ip, else ansible_host when it is an IP address, else None;
    address_variable names the variable it came from.
    """

    name: str
    groups: frozenset = frozenset()
    address: object = None
    gpu_node_class: object = None
    node_name: object = None
    address_variable: str = "ansible_host"

    @property
    def kubernetes_name(self):
        """The node name kubeadm registers: node_name, else inventory_hostname in lower case."""
        return node_identity.node_name(self.node_name, self.name)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)

    def add(self, variable: str, value, problem: str, expected: str) -> None:
        self.problems.append(f"{variable}: {show(value)} {problem}; expected {expected}")

    def missing(self, variable: str, value: Undefined, expected: str) -> None:
        self.problems.append(f"{variable}: {value.reason}; expected {expected}")


def show(value) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Undefined):
        return "(undefined)"
    return repr(value)


def type_name(value) -> str:
    """The built-in type a value is, as YAML calls it in Python (str, int, ...), not Ansible's tagged subclass."""
    for kind in type(value).__mro__:
        if kind.__module__ == "builtins":
            return kind.__name__
    return type(value).__name__


def is_missing(value) -> bool:
    return value is None or isinstance(value, Undefined)


class Contract:
    """Checks an inventory's variables and hosts; collects every problem."""

    def __init__(self, variables, hosts, versions, required_charts=(), required_secrets=()):
        self.vars = variables
        self.hosts = list(hosts)
        self.versions = versions
        self.required_charts = list(required_charts)
        self.required_secrets = list(required_secrets)
        self.report = Report()
        # Parsed networks that later checks build on; None when invalid.
        self.networks: dict[str, object] = {}
        # (variable, entry as written, IPSet) for every valid MetalLB pool entry
        self.pools: list[tuple[str, str, object]] = []
        self.api_address = None

    # -- helpers -------------------------------------------------------------
    def get(self, name):
        return self.vars.get(name, Undefined())

    def require(self, name, expected):
        """Return the value, or None after reporting that it is missing."""
        value = self.get(name)
        if is_missing(value):
            self.report.missing(name, value if isinstance(value, Undefined) else Undefined(), expected)
            return None
        return value

    def require_type(self, name, kind, expected):
        value = self.require(name, expected)
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.report.add(name, value, f"is a {type_name(value)}", expected)
            return None
        return value

    def hosts_in(self, *groups):
        return [h for h in self.hosts if h.groups.intersection(groups)]

    # -- checks --------------------------------------------------------------
    def run(self) -> list[str]:
        self.check_delivery()
        self.check_kubernetes_version()
        self.check_networks()
        self.check_api_endpoint()
        self.check_pools()
        self.check_hosts()
        self.check_bgp()
        self.check_gpu_classes()
        self.check_gpu_nodes()
        self.check_gpu_taint()
        self.check_storage_and_teams()
        self.check_gitops()
        self.check_cluster_services()
        self.check_edge()
        self.check_chart_repositories()
        self.check_chart_versions()
        self.check_secrets()
        return self.report.problems

    def check_delivery(self):
        expected = f"one of {', '.join(DELIVERY_MODES)}"
        value = self.require("platform_delivery", expected)
        if value is not None and value not in DELIVERY_MODES:
            self.report.add("platform_delivery", value, "is not a delivery mode", expected)

    def check_kubernetes_version(self):
        name = "platform_kubernetes_version"
        value = self.require(name, "a Kubernetes release such as 'v1.36.3'")
        if value is None:
            return
        match = _K8S_VERSION.match(str(value))
        if not match:
            self.report.add(name, value, "is not a Kubernetes release", "a version such as 'v1.36.3'")
            return
        release_name = self.vars.get("platform_release")
        if is_missing(release_name):
            release_name = None
        try:
            chosen, entry = release(self.versions, release_name)
        except VersionsError as exc:
            self.report.add("platform_release", release_name, f"is unknown ({exc})", "a release of versions.yml")
            return
        minor = f"{match.group('major')}.{match.group('minor')}"
        supported = [str(v) for v in entry.get("kubernetes", [])]
        if minor not in supported:
            self.report.add(
                name,
                value,
                f"is outside the compatibility matrix of release {chosen}",
                f"a {' / '.join(supported)} release (versions.yml)",
            )

    def check_networks(self):
        for name in ("platform_node_network", "platform_pod_cidr", "platform_service_cidr"):
            value = self.require(name, "a network in CIDR notation")
            if value is None:
                continue
            try:
                self.networks[name] = parse_network(value)
            except AddressError as exc:
                self.report.add(name, value, str(exc), "a network in CIDR notation such as '10.20.0.0/24'")
        for left, right in combinations(list(self.networks), 2):
            if overlaps(self.networks[left], self.networks[right]):
                self.report.add(
                    left,
                    str(self.networks[left]),
                    f"overlaps {right} {show(str(self.networks[right]))}",
                    "the node, pod and service networks to be disjoint",
                )

    def check_api_endpoint(self):
        name = "platform_api_endpoint"
        value = self.require(name, "a mapping with address and port")
        if value is None:
            return
        if not isinstance(value, dict):
            self.report.add(name, value, "is not a mapping", "a mapping with address and port")
            return
        address, port = value.get("address"), value.get("port")
        try:
            self.api_address = parse_address(address)
        except AddressError as exc:
            self.report.add(f"{name}.address", address, str(exc), "the API VIP as an IP address")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            self.report.add(f"{name}.port", port, "is not a TCP port", "an integer from 1 to 65535")
        node_network = self.networks.get("platform_node_network")
        if self.api_address is not None and node_network is not None and self.api_address not in node_network:
            self.report.add(
                f"{name}.address",
                str(self.api_address),
                f"is outside platform_node_network {show(str(node_network))}",
                "the API VIP on the node network",
            )

    def check_pools(self):
        mode = self.require("metallb_mode", f"one of {', '.join(METALLB_MODES)}")
        if mode is not None and mode not in METALLB_MODES:
            self.report.add("metallb_mode", mode, "is not a MetalLB mode", f"one of {', '.join(METALLB_MODES)}")
        pools = self.require_type("metallb_pools", list, "a list of pools with name and addresses")
        if pools is None:
            return
        if not pools:
            self.report.add("metallb_pools", pools, "is empty", "at least one address pool")
        seen = set()
        for index, pool in enumerate(pools):
            where = f"metallb_pools[{index}]"
            if not isinstance(pool, dict) or not isinstance(pool.get("name"), str):
                self.report.add(where, pool, "has no name", "a mapping with name and addresses")
                continue
            where = f"metallb_pools[{pool['name']}]"
            if pool["name"] in seen:
                self.report.add(where, pool["name"], "is defined twice", "unique pool names")
            seen.add(pool["name"])
            addresses = pool.get("addresses")
            if not isinstance(addresses, list) or not addresses:
                self.report.add(
                    f"{where}.addresses", addresses, "is not a list of ranges", "CIDRs or 'first-last' ranges"
                )
                continue
            for entry in addresses:
                try:
                    self.pools.append((where, entry, parse_pool_entry(entry)))
                except AddressError as exc:
                    self.report.add(f"{where}.addresses", entry, str(exc), "CIDRs or 'first-last' ranges")
        node_network = self.networks.get("platform_node_network")
        for pool, entry, addresses in self.pools:
            for name in ("platform_pod_cidr", "platform_service_cidr"):
                if name in self.networks and overlaps(addresses, self.networks[name]):
                    self.report.add(
                        pool,
                        entry,
                        f"overlaps {name} {show(str(self.networks[name]))}",
                        "MetalLB pools outside the pod and service networks",
                    )
            if node_network is not None and not contains(node_network, addresses):
                self.report.add(
                    pool,
                    entry,
                    f"is outside platform_node_network {show(str(node_network))}",
                    "MetalLB pools inside the node network",
                )
        for (left, left_entry, left_set), (right, right_entry, right_set) in combinations(self.pools, 2):
            if overlaps(left_set, right_set):
                self.report.add(
                    left,
                    left_entry,
                    f"overlaps {right} {show(right_entry)}",
                    "MetalLB pools that share no address",
                )

    def check_hosts(self):
        node_network = self.networks.get("platform_node_network")
        by_address: dict[str, list[Host]] = {}
        by_name: dict[str, list[str]] = {}
        control_planes = self.hosts_in("control_plane")
        if not control_planes:
            self.problem_plain("groups.control_plane", "has no hosts", "at least one control plane host")
        elif len(control_planes) % 2 == 0:
            self.report.add(
                "groups.control_plane",
                len(control_planes),
                "hosts cannot keep etcd quorum better than one less would",
                "an odd number of control plane hosts (1, 3 or 5)",
            )
        # Names are checked with or without an address: kubeadm registers every cluster host.
        for host in self.hosts_in(*CLUSTER_GROUPS):
            name = self.check_node_name(host)
            if name is not None:
                by_name.setdefault(name, []).append(host.name)
        for host in self.hosts_in(*ADDRESSED_GROUPS):
            if host.address is None:
                continue
            variable = f"hostvars[{host.name}].{host.address_variable}"
            expected = "the node's IP address on the node network"
            if isinstance(host.address, Undefined):
                self.report.missing(variable, host.address, expected)
                continue
            try:
                address = parse_address(host.address)
            except AddressError as exc:
                self.report.add(variable, host.address, str(exc), expected)
                continue
            by_address.setdefault(str(address), []).append(host)
            if node_network is not None and address not in node_network:
                self.report.add(
                    variable,
                    str(address),
                    f"is outside platform_node_network {show(str(node_network))}",
                    "every host address on the node network",
                )
            for pool, entry, addresses in self.pools:
                if address in addresses:
                    self.report.add(
                        pool,
                        entry,
                        f"contains the address of host {host.name} ({address})",
                        "MetalLB pools that hold no host address",
                    )
            if self.api_address is not None and address == self.api_address and len(control_planes) > 1:
                self.report.add(
                    "platform_api_endpoint.address",
                    str(address),
                    f"is the address of host {host.name}",
                    "a free virtual IP in front of the control planes",
                )
        if self.api_address is not None:
            for pool, entry, addresses in self.pools:
                if self.api_address in addresses:
                    self.report.add(
                        pool,
                        entry,
                        f"contains the API VIP {self.api_address}",
                        "MetalLB pools that hold neither host addresses nor the API VIP",
                    )
        for address, hosts in sorted(by_address.items()):
            if len(hosts) > 1:
                self.report.add(
                    "/".join(sorted({host.address_variable for host in hosts})),
                    address,
                    f"is used by {len(hosts)} hosts ({', '.join(host.name for host in hosts)})",
                    "unique addresses",
                )
        for name, hosts in sorted(by_name.items()):
            if len(hosts) > 1:
                self.report.add(
                    "node_name",
                    name,
                    f"is the node name of {len(hosts)} hosts ({', '.join(hosts)})",
                    "unique Kubernetes node names (node_name, else inventory_hostname in lower case)",
                )

    def check_node_name(self, host):
        """The host's Kubernetes node name, or None after reporting why it cannot be one."""
        name = host.kubernetes_name
        given = node_identity.is_set(host.node_name)
        variable = f"hostvars[{host.name}].{'node_name' if given else 'inventory_hostname'}"
        if isinstance(name, Undefined):
            self.report.missing(variable, name, "a Kubernetes node name")
            return None
        if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            self.report.add(
                variable,
                name,
                "is not a Kubernetes node name",
                "a DNS-1123 subdomain: lower case letters, digits, '-' and '.', at most 253 characters"
                + ("" if given else " (set node_name)"),
            )
            return name if isinstance(name, str) else None
        return name

    def problem_plain(self, variable, problem, expected):
        self.report.problems.append(f"{variable}: {problem}; expected {expected}")

    def check_asn(self, variable, value):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**32 or value in RESERVED_ASNS:
            self.report.add(
                variable,
                value,
                "is not a usable AS number",
                "an integer from 1 to 4294967294, not 23456 or 65535 (private: 64512-65534, 4200000000-4294967294)",
            )
            return False
        return True

    def check_bgp(self):
        mode = self.vars.get("metallb_mode")
        routers = self.hosts_in("bgp_routers")
        needs_bgp = mode == "bgp" or bool(routers)
        asn = self.vars.get("bgp_local_asn")
        if needs_bgp or not is_missing(asn):
            asn = self.require("bgp_local_asn", "the AS number of the cluster's speakers")
            if asn is not None:
                self.check_asn("bgp_local_asn", asn)
        peers = self.vars.get("bgp_peers", [])
        if is_missing(peers):
            peers = []
        if not isinstance(peers, list):
            self.report.add("bgp_peers", peers, "is not a list", "a list of peers with name, address and asn")
            return
        if mode == "bgp" and not peers:
            self.report.add("bgp_peers", peers, "is empty while metallb_mode is 'bgp'", "at least one BGP peer")
        node_network = self.networks.get("platform_node_network")
        seen = set()
        for index, peer in enumerate(peers):
            if not isinstance(peer, dict) or not isinstance(peer.get("name"), str):
                self.report.add(f"bgp_peers[{index}]", peer, "has no name", "a mapping with name, address and asn")
                continue
            where = f"bgp_peers[{peer['name']}]"
            if peer["name"] in seen:
                self.report.add(where, peer["name"], "is defined twice", "unique peer names")
            seen.add(peer["name"])
            self.check_asn(f"{where}.asn", peer.get("asn"))
            try:
                address = parse_address(peer.get("address"))
            except AddressError as exc:
                self.report.add(f"{where}.address", peer.get("address"), str(exc), "the peer's IP address")
                continue
            if node_network is not None and address not in node_network:
                self.report.add(
                    f"{where}.address",
                    str(address),
                    f"is outside platform_node_network {show(str(node_network))}",
                    "BGP peers reachable on the node network",
                )
            if "password" in peer:
                self.check_secret(f"{where}.password", peer["password"])

    def check_gpu_classes(self):
        classes = self.vars.get("gpu_node_classes", {})
        if is_missing(classes):
            classes = {}
        if not isinstance(classes, dict):
            self.report.add("gpu_node_classes", classes, "is not a mapping", "class name -> product, mig_config, ...")
            return
        custom = self.vars.get("gpu_mig_configs", {})
        custom = custom if isinstance(custom, dict) else {}
        for name, spec in classes.items():
            where = f"gpu_node_classes[{name}]"
            if not isinstance(spec, dict) or not isinstance(spec.get("product"), str) or not spec["product"]:
                self.report.add(
                    f"{where}.product",
                    (spec or {}).get("product") if isinstance(spec, dict) else spec,
                    "is not a GPU product label",
                    "the nvidia.com/gpu.product value, e.g. 'NVIDIA-L4'",
                )
                continue
            product = spec["product"]
            mig = spec.get("mig_config", "none")
            mig = "none" if mig in (None, False) else mig
            replicas = spec.get("time_slicing_replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                self.report.add(
                    f"{where}.time_slicing_replicas",
                    replicas,
                    "is not a replica count",
                    "0 (no sharing) or the number of pods sharing one GPU",
                )
                replicas = 0
            if mig in gpu_catalog.MIG_DISABLED:
                continue
            if gpu_catalog.known(product) and not gpu_catalog.mig_capable(product):
                self.report.add(
                    f"{where}.mig_config",
                    mig,
                    f"asks for MIG on {product}, which has no MIG",
                    "'none' (use time_slicing_replicas to share this GPU)",
                )
                continue
            if not gpu_catalog.known(product):
                self.report.add(
                    f"{where}.product",
                    product,
                    "is not a GPU product known to support MIG",
                    f"mig_config 'none', or a MIG-capable product ({', '.join(self.mig_products())})",
                )
                continue
            if replicas > 1:
                self.report.add(
                    f"{where}.time_slicing_replicas",
                    replicas,
                    f"enables time-slicing together with MIG config {mig!r}",
                    "either MIG or time-slicing on one GPU class, not both",
                )
            valid = gpu_catalog.mig_config_names(product, custom)
            if mig not in valid:
                self.report.add(
                    f"{where}.mig_config",
                    mig,
                    f"is not a MIG configuration for {product}",
                    f"one of {', '.join(valid)}",
                )
            elif mig in custom:
                self.check_custom_mig(mig, custom[mig], product, where)

    @staticmethod
    def mig_products():
        return [*[p for p in gpu_catalog.PRODUCTS if gpu_catalog.mig_capable(p)][:4], "..."]

    def check_custom_mig(self, name, layout, product, where):
        variable = f"gpu_mig_configs[{name}]"
        if not isinstance(layout, dict) or not layout:
            self.report.add(variable, layout, "is not a layout", "a mapping of MIG profile -> count per GPU")
            return
        profiles = gpu_catalog.mig_profiles(product)
        used = 0
        for profile, count in layout.items():
            if profile not in profiles:
                self.report.add(
                    f"{variable}.{profile}",
                    count,
                    f"names a profile {product} cannot create (used by {where})",
                    f"profiles of {product}: {', '.join(profiles)}",
                )
                continue
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                self.report.add(f"{variable}.{profile}", count, "is not an instance count", "a positive integer")
                continue
            used += gpu_catalog.profile_slices(profile) * count
        limit = gpu_catalog.compute_slices(product)
        if used > limit:
            self.report.add(
                variable,
                layout,
                f"uses {used} compute slices (used by {where})",
                f"at most {limit} slices per {product}",
            )

    def check_gpu_nodes(self):
        classes = self.vars.get("gpu_node_classes", {})
        classes = classes if isinstance(classes, dict) else {}
        for host in self.hosts_in("gpu_nodes"):
            value = host.gpu_node_class
            if is_missing(value):
                self.report.missing(
                    f"hostvars[{host.name}].gpu_node_class",
                    Undefined(),
                    f"a class of gpu_node_classes ({', '.join(classes) or 'none defined'})",
                )
            elif value not in classes:
                self.report.add(
                    f"hostvars[{host.name}].gpu_node_class",
                    value,
                    "is not defined in gpu_node_classes",
                    f"one of {', '.join(classes) or '(none defined)'}",
                )

    def check_gpu_taint(self):
        """The taint GPU nodes register with (roles/kubeadm) and the GPU daemonsets tolerate."""
        name = "gpu_node_taint"
        value = self.vars.get(name)
        if is_missing(value) and not self.hosts_in("gpu_nodes"):
            return
        value = self.require(name, f"the taint of the gpu_nodes, {GPU_TAINT_EXPECTED}")
        if value is None:
            return
        if not isinstance(value, dict):
            self.report.add(name, value, "is not a mapping", GPU_TAINT_EXPECTED)
            return
        unknown = [field for field in value if field not in TAINT_FIELDS]
        if unknown:
            self.report.add(name, sorted(map(str, unknown)), "are not taint fields", "only key, value and effect")
        key = value.get("key", Undefined())
        expected = (
            "a Kubernetes qualified name: an optional DNS subdomain prefix and '/', then at most 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
        if is_missing(key):
            self.report.missing(f"{name}.key", Undefined(), expected)
        elif self.check_string(f"{name}.key", key, expected) and not qualified_name(key):
            self.report.add(f"{name}.key", key, "is not a qualified name", expected)
        if "value" in value and value["value"] is not None:
            self.check_string(
                f"{name}.value",
                value["value"],
                "a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter "
                "or digit, or empty",
                _LABEL_VALUE,
                "is not a label value",
            )
        effect = value.get("effect", Undefined())
        expected = f"one of {', '.join(TAINT_EFFECTS)}"
        if is_missing(effect):
            self.report.missing(f"{name}.effect", Undefined(), expected)
        elif effect not in TAINT_EFFECTS:
            self.report.add(f"{name}.effect", effect, "is not a taint effect", expected)

    def check_storage_and_teams(self):
        owners: dict[str, list[str]] = {}
        buckets = self.vars.get("minio_buckets", [])
        buckets = [] if is_missing(buckets) else buckets
        if not isinstance(buckets, list):
            self.report.add("minio_buckets", buckets, "is not a list", "a list of buckets with name")
            buckets = []
        for index, bucket in enumerate(buckets):
            name = bucket.get("name") if isinstance(bucket, dict) else bucket
            if not isinstance(name, str):
                self.report.add(f"minio_buckets[{index}]", bucket, "has no name", "a mapping with name")
                continue
            owners.setdefault(name, []).append("minio_buckets")
        teams = self.vars.get("platform_teams", [])
        teams = [] if is_missing(teams) else teams
        if not isinstance(teams, list):
            self.report.add("platform_teams", teams, "is not a list", "a list of teams")
            teams = []
        classes = self.vars.get("gpu_node_classes", {})
        classes = classes if isinstance(classes, dict) else {}
        names: dict[str, int] = {}
        namespaces: dict[str, list[str]] = {}
        for index, team in enumerate(teams):
            if not isinstance(team, dict) or not isinstance(team.get("name"), str):
                self.report.add(f"platform_teams[{index}]", team, "has no name", "a mapping with name and namespace")
                continue
            where = f"platform_teams[{team['name']}]"
            names[team["name"]] = names.get(team["name"], 0) + 1
            namespace = team.get("namespace")
            if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace):
                self.report.add(f"{where}.namespace", namespace, "is not a namespace name", DNS_LABEL_EXPECTED)
            else:
                namespaces.setdefault(namespace, []).append(team["name"])
            team_buckets = team.get("buckets", [])
            if not isinstance(team_buckets, list):
                self.report.add(f"{where}.buckets", team_buckets, "is not a list", "a list of bucket names")
                team_buckets = []
            for bucket in team_buckets:
                owners.setdefault(bucket, []).append(where)
            gpu_classes = team.get("gpu_classes", [])
            for gpu_class in gpu_classes if isinstance(gpu_classes, list) else [gpu_classes]:
                if gpu_class not in classes:
                    self.report.add(
                        f"{where}.gpu_classes",
                        gpu_class,
                        "is not defined in gpu_node_classes",
                        f"one of {', '.join(classes) or '(none defined)'}",
                    )
            self.check_team_access(team, where)
            self.check_secret(f"{where}.s3_secret_key", team.get("s3_secret_key", Undefined()))
        for name, count in names.items():
            if count > 1:
                self.report.add("platform_teams", name, f"is defined {count} times", "unique team names")
        for namespace, users in namespaces.items():
            if len(users) > 1:
                self.report.add(
                    "platform_teams[*].namespace",
                    namespace,
                    f"is claimed by {len(users)} teams ({', '.join(users)})",
                    "one namespace per team",
                )
        for bucket, users in owners.items():
            if not isinstance(bucket, str) or not _BUCKET.match(bucket) or _IPV4_LIKE.match(bucket) or ".." in bucket:
                self.report.add(
                    "bucket",
                    bucket,
                    f"is not a valid S3 bucket name (in {users[0]})",
                    "3-63 lower case letters, digits, '.' or '-', starting and ending with a letter or digit",
                )
            if len(users) > 1:
                self.report.add(
                    "bucket", bucket, f"is defined {len(users)} times ({', '.join(users)})", "each bucket defined once"
                )

    def check_team_access(self, team, where):
        """The team's optional GPU quota map and RBAC group (roles/platform_tenancy)."""
        if "group" in team:
            group = team["group"]
            if not isinstance(group, str) or not group.strip():
                self.report.add(
                    f"{where}.group", group, "is not a group name", "the name of the team's group in the API server"
                )
        if "gpu_quota" not in team:
            return
        quota = team["gpu_quota"]
        expected = "a mapping of GPU resource (nvidia.com/gpu, nvidia.com/mig-<profile>) -> count"
        if not isinstance(quota, dict):
            self.report.add(f"{where}.gpu_quota", quota, "is not a mapping", expected)
            return
        for resource, count in quota.items():
            if not isinstance(resource, str) or not _GPU_RESOURCE.match(resource):
                self.report.add(f"{where}.gpu_quota", resource, "is not a GPU resource", expected)
            elif not isinstance(count, int) or isinstance(count, bool) or count < 0:
                self.report.add(f"{where}.gpu_quota[{resource}]", count, "is not a quota", "an integer of 0 or more")

    def check_string(self, name, value, expected, pattern=None, problem="is not valid"):
        """Report a value that is not a string (or does not match pattern); True when it is good."""
        if not isinstance(value, str):
            self.report.add(name, value, f"is a {type_name(value)}", expected)
            return False
        if pattern is not None and not pattern.match(value):
            self.report.add(name, value, problem, expected)
            return False
        return True

    def check_gitops(self):
        """The Git working tree and Argo CD settings; dir and repo URL are needed for gitops delivery."""
        gitops = self.vars.get("platform_delivery") == "gitops"
        when = "for platform_delivery gitops"
        name = "platform_gitops_dir"
        expected = f"the path of the Git working tree the platform is written to ({when})"
        # Direct delivery ignores both; an empty string there means "unset", as in release_delivery.
        value = self.require(name, expected) if gitops else self.vars.get(name) or None
        if not is_missing(value) and self.check_string(name, value, expected) and not value.strip():
            self.problem_plain(name, "is empty", expected)
        name = "platform_gitops_repo_url"
        expected = f"the Git URL Argo CD reads the tree from, e.g. 'https://git.example.com/platform.git' ({when})"
        value = self.require(name, expected) if gitops else self.vars.get(name) or None
        if not is_missing(value):
            self.check_string(name, value, expected, _GIT_URL, "is not a Git repository URL")
        value = self.vars.get("platform_gitops_revision")
        if not is_missing(value):
            expected = "a branch, tag or commit of that repository (default HEAD)"
            if self.check_string("platform_gitops_revision", value, expected) and not value.strip():
                self.problem_plain("platform_gitops_revision", "is empty", expected)
        value = self.vars.get("platform_gitops_path")
        if not is_missing(value):
            expected = "a folder relative to the repository root, '' for the root itself"
            if self.check_string("platform_gitops_path", value, expected) and (
                value.startswith("/") or ".." in value.split("/")
            ):
                self.report.add("platform_gitops_path", value, "leaves the repository", expected)
        value = self.vars.get("platform_argocd_namespace")
        if not is_missing(value):
            self.check_string(
                "platform_argocd_namespace", value, DNS_LABEL_EXPECTED, _DNS_LABEL, "is not a namespace name"
            )

    def check_cluster_services(self):
        """Facts the networking, storage and GPU layers share (roles cilium, longhorn, minio)."""
        self.require_type("platform_kube_proxy_replacement", bool, "true or false")
        name = "platform_edge_namespace"
        value = self.require(name, EDGE_NAMESPACE_EXPECTED)
        if value is not None:
            self.check_string(name, value, DNS_LABEL_EXPECTED, _DNS_LABEL, "is not a namespace name")
        name = "platform_storage_class"
        expected = f"{LONGHORN_STORAGE_CLASS!r} (the StorageClass the longhorn role creates)"
        value = self.require(name, expected)
        if value is not None and value != LONGHORN_STORAGE_CLASS:
            self.report.add(name, value, "is not the class the storage layer creates", expected)
        name = "platform_storage_replicas"
        storage_nodes = len(self.hosts_in("storage_nodes"))
        expected = f"an integer from 1 to the number of storage_nodes ({storage_nodes})"
        value = self.require_type(name, int, expected)
        if value is not None and value < 1:
            self.report.add(name, value, "keeps no copy of a volume", expected)
        elif value is not None and value > storage_nodes:
            self.report.add(name, value, f"copies need more than the {storage_nodes} storage_nodes", expected)
        for name, what in (("platform_s3_endpoint", "S3"), ("platform_mlflow_tracking_uri", "MLflow")):
            expected = f"the {what} URL workloads in the cluster reach, http:// or https://"
            value = self.require(name, expected)
            if value is not None:
                self.check_string(name, value, expected, _HTTP_URL, "is not an http(s) URL")

    def check_edge(self):
        """The inference edge: Cilium's Gateway API (needs kube-proxy replacement), where its CRDs come from,
        and a namespace of its own (team namespaces take traffic only from it)."""
        enabled = self.vars.get("platform_edge_enabled")
        enabled = True if is_missing(enabled) else enabled  # on unless the inventory turns it off
        if not isinstance(enabled, bool):
            self.report.add("platform_edge_enabled", enabled, f"is a {type_name(enabled)}", "true or false")
        elif enabled and self.vars.get("platform_kube_proxy_replacement") is False:
            self.report.add(
                "platform_edge_enabled",
                enabled,
                "needs Cilium's kube-proxy replacement, but platform_kube_proxy_replacement is false",
                "platform_kube_proxy_replacement true for Cilium's Gateway API, or the edge off (false)",
            )
        value = self.vars.get("platform_gateway_api_url")
        if not is_missing(value):
            self.check_string(
                "platform_gateway_api_url",
                value,
                "an http(s):// or file:// URL under which <version>/standard-install.yaml lies (the Gateway API "
                "release files, upstream or the site's mirror)",
                _MIRROR_URL,
                "is not an http(s) or file URL",
            )
        edge = self.vars.get("platform_edge_namespace")
        teams = self.vars.get("platform_teams")
        if isinstance(edge, str) and isinstance(teams, list):
            owners = [t.get("name") for t in teams if isinstance(t, dict) and t.get("namespace") == edge]
            if owners:
                self.report.add(
                    "platform_edge_namespace",
                    edge,
                    f"is the namespace of team {owners[0]}",
                    "a namespace of the edge alone: team namespaces take traffic only from it",
                )

    def check_chart_repositories(self):
        name = "platform_chart_repositories"
        repos = self.require(name, "a mapping of chart name -> repository URL")
        if repos is None:
            return
        if not isinstance(repos, dict):
            self.report.add(name, repos, "is not a mapping", "a mapping of chart name -> repository URL")
            return
        for chart in self.required_charts:
            if chart not in repos:
                self.problem_plain(f"{name}[{chart}]", "is not set", "the URL of the repository that serves this chart")
        for chart, url in repos.items():
            if not isinstance(url, str) or not _URL.match(url):
                self.report.add(
                    f"{name}[{chart}]", url, "is not a repository URL", "an http(s)://, oci:// or file:// URL"
                )

    def check_chart_versions(self):
        """platform_chart_versions (optional) moves single charts of the release: known chart keys only."""
        name = "platform_chart_versions"
        moves = self.get(name)
        if is_missing(moves):
            return
        expected = "a mapping of versions.yml chart key -> chart version"
        if not isinstance(moves, dict):
            self.report.add(name, moves, "is not a mapping", expected)
            return
        release_name = self.vars.get("platform_release")
        try:
            chosen, entry = release(self.versions, None if is_missing(release_name) else release_name)
        except VersionsError:
            return  # reported by check_kubernetes_version
        charts = sorted(entry.get("charts") or {})
        for chart, version in moves.items():
            if chart not in charts:
                self.problem_plain(
                    f"{name}[{chart}]", f"is not a chart of release {chosen}", f"one of {', '.join(charts)}"
                )
            elif isinstance(version, bool) or not isinstance(version, (str, int, float)) or not str(version).strip():
                self.report.add(f"{name}[{chart}]", version, "is not a chart version", "a version such as '0.16.2'")

    def check_secret(self, variable, value):
        if isinstance(value, Undefined):
            self.report.missing(variable, value, "a secret from the vault (see docs/secrets.md)")
        elif value is None or (isinstance(value, str) and not value.strip()):
            self.problem_plain(variable, "is empty", "a secret from the vault (see docs/secrets.md)")
        elif not isinstance(value, str):
            self.problem_plain(variable, f"is a {type_name(value)}", "a secret string from the vault")

    def check_secrets(self):
        for name in self.required_secrets:
            self.check_secret(name, self.get(name))


def qualified_name(text: str) -> bool:
    """A Kubernetes qualified name (label and taint keys): [DNS subdomain prefix '/'] name."""
    prefix, slash, name = text.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return bool(_QUALIFIED_NAME.match(name))


def validate(variables, hosts, versions, required_charts=(), required_secrets=()) -> list[str]:
    """Return one line per problem found in the inventory contract."""
    return Contract(variables, hosts, versions, required_charts, required_secrets).run()
