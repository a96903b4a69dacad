# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seeded random inventories that set the contract's host variables every way Ansible allows.

Used by the differential tests of preflight (unit: HostVariables against
Ansible's VariableManager in-process; e2e: ansible-playbook with and without
the full merge). Each inventory mixes, at random:

- YAML or INI inventory files, and an optional constructed inventory (an
  inventory plugin other than YAML and INI) that composes variables and groups;
- inline host variables, YAML ``vars:`` blocks and INI ``[group:vars]``, the
  ``all`` group's variables, ``ansible_group_priority``;
- group_vars and host_vars next to the inventory and next to the playbook,
  as files and as folders of several files;
- extra vars; a legacy vars plugin next to the playbook (needs no enabling);
- templated node_ip / node_name (from ansible_host, inventory_hostname,
  groups, an undefined variable), one value for a whole group (duplicates),
  addresses inside and outside the node network, DNS names, hosts without
  any address, unknown GPU classes, node names kubeadm would refuse.
"""

from __future__ import annotations

import json
import random
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import yaml

NODE_NETWORK = "10.20.0.0/24"
CLUSTER_GROUPS = ("control_plane", "workers", "gpu_nodes")
POOL_GROUPS = ("pool_a", "pool_b", "rack_1")
GPU_CLASSES = ("a100-training", "a100-inference-mig", "l4-inference")

# Values of the four host variables, as templates or plain values.
NODE_IP_TEMPLATES = (
    "10.20.0.{{ ansible_host.split('.')[-1] }}",
    "{{ '10.20.0.%d' % (100 + groups['all'].index(inventory_hostname)) }}",
    "{{ node_ip_base }}.{{ 60 + group_names | length }}",
    "{{ not_defined_anywhere }}",
)
NODE_NAME_TEMPLATES = (
    "{{ inventory_hostname.split('.')[0] }}",
    "{{ inventory_hostname | replace('.', '-') }}",
    "node-{{ group_names | first }}",
)
VARIABLES = ("ansible_host", "node_ip", "node_name", "gpu_node_class")


@dataclass
class Generated:
    """Paths and options of one generated inventory."""

    seed: int
    inventory: Path
    playbook_dir: Path
    extra_vars: dict = field(default_factory=dict)
    vars_plugin: bool = False
    constructed: bool = False
    features: set = field(default_factory=set)

    def extra_vars_args(self) -> list[str]:
        return ["-e", json.dumps(self.extra_vars)] if self.extra_vars else []


def _address(rng: random.Random, size: int) -> str:
    roll = rng.random()
    if roll < 0.75:
        return f"10.20.0.{rng.randrange(11, 11 + size * 2)}"  # a small range: duplicates happen
    if roll < 0.85:
        return f"192.168.7.{rng.randrange(1, 250)}"  # a management network
    return f"mgmt-{rng.randrange(1, 9)}.example.com"  # a DNS name


def _value(rng: random.Random, variable: str, size: int, features: set):
    """One value for a variable; templates and group-wide constants included."""
    if variable == "ansible_host":
        return _address(rng, size)
    if variable == "node_ip":
        if rng.random() < 0.4:
            features.add("templated node_ip")
            return rng.choice(NODE_IP_TEMPLATES)
        return _address(rng, size) if rng.random() < 0.8 else ""
    if variable == "node_name":
        if rng.random() < 0.4:
            features.add("templated node_name")
            return rng.choice(NODE_NAME_TEMPLATES)
        return rng.choice(("cp-x", "worker-a", "gpu-b", "Bad_Name", "node-1", ""))
    return rng.choice((*GPU_CLASSES, "h100-unknown"))


def _hosts(rng: random.Random):
    """{host: set of direct groups}."""
    size = rng.randrange(6, 16)
    names = []
    for index in range(size):
        prefix = rng.choice(("cpu", "gpu", "node", "Node"))
        domain = rng.choice(("dc1", "dc2"))
        names.append(f"{prefix}-{index % 5:02d}-{index}.{domain}.example.com" if rng.random() < 0.9 else f"n{index}")
    membership = {}
    control = rng.choice((1, 1, 3, 2))
    for index, name in enumerate(names):
        if index < control:
            groups = {"control_plane"}
        elif name.lower().startswith("gpu") or rng.random() < 0.2:
            groups = {"gpu_nodes"}
        else:
            groups = {"workers"}
        if "workers" in groups and rng.random() < 0.3:
            groups.add("storage_nodes")
        for pool in POOL_GROUPS:
            if rng.random() < 0.25:
                groups.add(pool)
        if rng.random() < 0.1:
            groups = {"bgp_routers"}
        membership[name] = groups
    return membership


def generate(seed: int, root: Path, *, vars_plugin: bool = False, constructed: bool | None = None) -> Generated:
    """Write one inventory (and a playbook folder) under root."""
    rng = random.Random(seed)
    inventory = root / "inventory"
    playbook_dir = root / "playbook"
    for folder in (inventory, playbook_dir):
        folder.mkdir(parents=True, exist_ok=True)
    features: set = set()
    membership = _hosts(rng)
    size = len(membership)
    hosts = list(membership)

    # Where each (entity, variable) value goes: inline, vars block, files.
    inline_host: dict[str, dict] = {name: {} for name in hosts}
    group_inline: dict[str, dict] = {}
    files: dict[Path, dict] = {}

    def put_file(base: Path, kind: str, entity: str, values: dict):
        if rng.random() < 0.5:
            path = base / kind / f"{entity}.yml"
            features.add(f"{kind} file")
        else:
            path = base / kind / entity / f"{rng.choice(('10', '20'))}-part.yml"
            features.add(f"{kind} folder")
        files.setdefault(path, {}).update(values)

    for name in hosts:
        if "bgp_routers" in membership[name] or rng.random() < 0.85:
            inline_host[name]["ansible_host"] = _address(rng, size)
        for variable in VARIABLES:
            roll = rng.random()
            if roll < 0.12:
                inline_host[name][variable] = _value(rng, variable, size, features)
                features.add("inline host vars")
            elif roll < 0.17:
                put_file(inventory, "host_vars", name, {variable: _value(rng, variable, size, features)})
            elif roll < 0.21:
                put_file(playbook_dir, "host_vars", name, {variable: _value(rng, variable, size, features)})
                features.add("playbook-adjacent vars")

    groups = ["all", "k8s_cluster", *CLUSTER_GROUPS, "storage_nodes", "bgp_routers", *POOL_GROUPS]
    for group in groups:
        for variable in VARIABLES[1:] if group == "all" else VARIABLES:
            roll = rng.random()
            if roll < 0.1:
                group_inline.setdefault(group, {})[variable] = _value(rng, variable, size, features)
                features.add("inline group vars")
            elif roll < 0.18 and group != "all":
                put_file(inventory, "group_vars", group, {variable: _value(rng, variable, size, features)})
            elif roll < 0.24 and group != "all":
                put_file(playbook_dir, "group_vars", group, {variable: _value(rng, variable, size, features)})
                features.add("playbook-adjacent vars")
        if group in POOL_GROUPS and rng.random() < 0.4:
            group_inline.setdefault(group, {})["ansible_group_priority"] = rng.randrange(1, 5)
            features.add("group priority")
    group_inline.setdefault("all", {})["node_ip_base"] = "10.20.0"

    ini = rng.random() < 0.5
    features.add("INI inventory" if ini else "YAML inventory")
    if ini:
        (inventory / "hosts.ini").write_text(_ini(membership, inline_host, group_inline))
    else:
        (inventory / "hosts.yml").write_text("---\n" + yaml.safe_dump(_yaml(membership, inline_host, group_inline)))
    if constructed is None:
        constructed = rng.random() < 0.3
    if constructed:
        features.add("constructed inventory")
        (inventory / "zz-constructed.yml").write_text(
            "---\nplugin: ansible.builtin.constructed\nstrict: false\n"
            "compose:\n  node_name: \"'c-' ~ inventory_hostname.split('.')[0] | lower\"\n"
            "groups:\n  pool_a: \"'dc2' in inventory_hostname\"\n"
        )
    for path, values in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n" + yaml.safe_dump(values))

    extra_vars = {}
    if rng.random() < 0.15:
        variable = rng.choice(VARIABLES[1:])
        extra_vars[variable] = _value(rng, variable, size, features)
        features.add("extra vars")
    if vars_plugin:
        features.add("legacy vars plugin")
        chosen = {name: {"node_ip": f"10.20.0.{rng.randrange(11, 11 + size)}"} for name in rng.sample(hosts, 2)}
        plugin = playbook_dir / "vars_plugins" / "site_overrides.py"
        plugin.parent.mkdir(exist_ok=True)
        plugin.write_text(_VARS_PLUGIN.format(overrides=json.dumps(chosen)))
    return Generated(seed, inventory, playbook_dir, extra_vars, vars_plugin, constructed, features)


def _yaml(membership, inline_host, group_inline) -> dict:
    def group(name):
        return {"hosts": {}, **({"vars": dict(group_inline[name])} if name in group_inline else {})}

    tree = {name: group(name) for name in (*CLUSTER_GROUPS, "storage_nodes", "bgp_routers", *POOL_GROUPS)}
    for host, groups in membership.items():
        for name in sorted(groups):
            tree[name]["hosts"][host] = inline_host[host] or None
    cluster = group("k8s_cluster")
    cluster["children"] = {name: tree.pop(name) for name in CLUSTER_GROUPS}
    cluster.pop("hosts")
    children = {"k8s_cluster": cluster, **tree}
    return {"all": {"children": children, **({"vars": group_inline["all"]} if "all" in group_inline else {})}}


def _ini(membership, inline_host, group_inline) -> str:
    def scalar(value):
        return json.dumps(value) if isinstance(value, str) else str(value)

    lines = []
    named = (*CLUSTER_GROUPS, "storage_nodes", "bgp_routers", *POOL_GROUPS)
    placed = set()
    for name in named:
        lines.append(f"[{name}]")
        for host, groups in membership.items():
            if name in groups:
                values = "" if host in placed else " ".join(f"{k}={scalar(v)}" for k, v in inline_host[host].items())
                placed.add(host)
                lines.append(f"{host} {values}".rstrip())
        lines.append("")
    lines += ["[k8s_cluster:children]", *CLUSTER_GROUPS, ""]
    for name, values in group_inline.items():
        lines.append(f"[{name}:vars]")
        lines += [f"{key}={scalar(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


_VARS_PLUGIN = textwrap.dedent(
    '''\
    """A site's legacy vars plugin next to the playbook: runs without being enabled."""
    from ansible.inventory.host import Host
    from ansible.plugins.vars import BaseVarsPlugin

    OVERRIDES = {overrides}


    class VarsModule(BaseVarsPlugin):
        def get_vars(self, loader, path, entities, cache=True):
            super().get_vars(loader, path, entities)
            data = {{}}
            for entity in entities:
                if isinstance(entity, Host):
                    data.update(OVERRIDES.get(entity.name, {{}}))
            return data
    '''
)
