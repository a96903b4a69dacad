# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every host's ``hostvars[host]``, with the group-level merge shared by hosts of the same groups.

Ansible computes ``hostvars[host]`` with ``VariableManager.get_vars(host=host,
include_hostvars=False)``: the group variables of the host's groups (inventory
and vars plugins, for inventory sources and the playbook directory, in
``VARIABLE_PRECEDENCE`` order), then the host's own layers (inventory, vars
plugins, facts, include_vars and set_fact caches, extra vars, magic
variables), and templates a value on access with that dictionary as context.
That costs about a millisecond per host, most of it spent on the group layers
(identical for every host with the same groups) and on cleaning an empty fact
cache.

``HostVariables`` builds the same dictionary layer by layer with Ansible's own
functions, in Ansible's order, but merges the group layers once per distinct
set of groups, skips the host-level vars plugin calls only where they provably
return nothing (the builtin host_group_vars plugin is the only one that runs
and no host_vars file or folder of that host exists), and skips
``clean_facts`` only for an empty fact cache (it returns ``{}`` for ``{}``).
Values are templated as ``HostVarsVars`` templates them, with Ansible's
TemplateEngine; only the compiled form of a template string shared by many
hosts is reused (see _compile_once_engine). What this leaves out is display
only: the warnings get_vars prints for reserved variable names.

It mirrors ansible-core functions line by line; ``MIRRORED_DIGEST`` pins their
source. Under any other ansible-core, ``available()`` is false and callers use
``hostvars`` itself: exact, only slower. tests/unit/plugins/plugin_utils
compares the two on generated inventories and fails when the digest no longer
matches the installed ansible-core.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import linecache
import os
from collections.abc import Mapping

from ansible import constants as C
from ansible._internal._templating._engine import TemplateEngine
from ansible.inventory.helpers import get_group_vars, sort_groups
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import vars_loader
from ansible.plugins.vars import host_group_vars
from ansible.utils.path import basedir
from ansible.utils.vars import combine_vars
from ansible.vars import manager, plugins
from ansible.vars.clean import clean_facts, namespace_facts
from ansible.vars.hostvars import HostVars, HostVarsVars

STAGE = "task"  # what HostVars.raw_get asks get_vars for (its default)
# The VARIABLE_PRECEDENCE entries HostVariables merges; any other entry (get_vars
# warns about it, or fails on it) leaves the work to hostvars.
GROUP_LAYERS = frozenset(
    (
        "all_inventory",
        "all_plugins_inventory",
        "all_plugins_play",
        "groups_inventory",
        "groups_plugins_inventory",
        "groups_plugins_play",
    )
)
HOST_GROUP_VARS = "ansible.builtin.host_group_vars"

# The ansible-core code HostVariables reproduces. A change to any of it turns
# the fast path off until someone re-reads it and updates MIRRORED_DIGEST.
MIRRORED = (
    manager.VariableManager.get_vars,
    manager.VariableManager._get_magic_variables,
    HostVars.raw_get,
    HostVars.__getitem__,
    HostVarsVars.__init__,
    HostVarsVars.__getitem__,
    plugins.get_vars_from_path,
    plugins.get_vars_from_inventory_sources,
    host_group_vars.VarsModule.get_vars,
    DataLoader.find_vars_files,
    basedir,
    TemplateEngine.__init__,
    TemplateEngine.template,
    TemplateEngine._compile_template,
)
MIRRORED_DIGEST = "cbb8c346c1faf88022a637a5359a290b63938d08a471893478cf426042ffa4f0"  # ansible-core 2.19.14


def _last_line(code) -> int:
    """The last source line of a code object and the code objects nested in it."""
    last = max((span[2] for span in code.co_lines() if span[2]), default=code.co_firstlineno)
    return max([last, *(_last_line(const) for const in code.co_consts if inspect.iscode(const))])


@functools.cache
def mirrored_digest() -> str:
    """SHA-256 of the source lines of the mirrored ansible-core functions ('' when unreadable).

    From each function's def line to its last line of code: what inspect.getsource
    would give, without the tokenizing that costs tens of milliseconds.
    """
    digest = hashlib.sha256()
    for function in MIRRORED:
        code = function.__code__
        lines = linecache.getlines(code.co_filename)
        if not lines:
            return ""
        digest.update("".join(lines[code.co_firstlineno - 1 : _last_line(code)]).encode())
    return digest.hexdigest()


def _combine(data, new_data):
    # VariableManager.get_vars' _combine_and_track
    if new_data == {}:
        return data
    return combine_vars(data, new_data)


class HostVariables:
    """``hostvars[name]`` for the hosts of one inventory, sharing the group-level merge."""

    def __init__(self, hostvars):
        self._inventory = hostvars._inventory
        self._manager = hostvars._variable_manager
        self._loader = hostvars._loader
        self._by_groups: dict[tuple, dict] = {}
        self._basedirs = [self._loader.get_basedir()] if self._manager.safe_basedir else []
        self._sources = self._inventory._sources
        self._host_vars_listings = self._host_vars_listings_or_none()
        self._engine_class = _compile_once_engine()

    @staticmethod
    def available(hostvars) -> bool:
        """True when hostvars is Ansible's and this ansible-core is the one mirrored."""
        return (
            isinstance(hostvars, HostVars)
            and set(C.VARIABLE_PRECEDENCE) <= GROUP_LAYERS
            and mirrored_digest() == MIRRORED_DIGEST
        )

    def __getitem__(self, name: str) -> Mapping:
        """What ``hostvars[name]`` returns: the host's variables, templated on access."""
        variables = self.raw(self._inventory.get_host(name))
        return _TemplatedVars(variables, self._engine_class(loader=self._loader, variables=variables))

    # -- the merge, in VariableManager.get_vars' order ---------------------------
    def raw(self, host) -> dict:
        """What ``HostVars.raw_get(host.name)`` returns."""
        variables = self._manager
        magic_variables = variables._get_magic_variables(play=None, host=host, task=None, include_hostvars=False)
        all_vars = dict(self._group_layers(host))
        all_vars = _combine(all_vars, host.get_vars())
        all_vars = _combine(all_vars, self._host_plugins_inventory(host))
        all_vars = _combine(all_vars, self._host_plugins_play(host))
        try:
            try:
                facts = variables._fact_cache.get(host.name)
            except KeyError:
                facts = {}
            all_vars |= namespace_facts(facts)
            if C.INJECT_FACTS_AS_VARS:
                if facts:  # clean_facts({}) is {}, and costs a plugin scan
                    deprecated_facts_vars = {
                        k: (manager._deprecate_top_level_fact(v) if k != "ansible_local" else v)
                        for k, v in clean_facts(facts).items()
                    }
                    all_vars = _combine(all_vars, deprecated_facts_vars)
            else:
                all_vars = _combine(all_vars, {"ansible_local": facts.get("ansible_local", {})})
        except KeyError:
            pass
        all_vars = _combine(all_vars, variables._vars_cache.get(host.get_name(), dict()))
        all_vars = _combine(all_vars, variables._nonpersistent_fact_cache.get(host.name, dict()))
        all_vars = _combine(all_vars, variables._extra_vars)
        return _combine(all_vars, magic_variables)

    def _group_layers(self, host) -> dict:
        """The VARIABLE_PRECEDENCE layers of the host's groups, merged once per set of groups."""
        host_groups = sort_groups([g for g in host.get_groups() if g.name != "all"])
        key = tuple(group.name for group in host_groups)
        merged = self._by_groups.get(key)
        if merged is None:
            merged = self._by_groups[key] = self._merge_group_layers(host_groups)
        return merged

    def _merge_group_layers(self, host_groups) -> dict:
        all_group = self._inventory.groups.get("all")
        layers = {
            "all_inventory": all_group.get_vars,
            "all_plugins_inventory": lambda: self._plugins_inventory([all_group]),
            "all_plugins_play": lambda: self._plugins_play([all_group]),
            "groups_inventory": lambda: get_group_vars(host_groups),
            "groups_plugins_inventory": lambda: self._plugins_inventory(host_groups),
            "groups_plugins_play": lambda: self._plugins_play(host_groups),
        }
        all_vars: dict = {}
        for entry in C.VARIABLE_PRECEDENCE:  # only GROUP_LAYERS entries (available())
            all_vars = _combine(all_vars, layers[entry]())
        return all_vars

    def _plugins_inventory(self, entities) -> dict:
        return plugins.get_vars_from_inventory_sources(self._loader, self._sources, entities, STAGE)

    def _plugins_play(self, entities) -> dict:
        data: dict = {}
        for path in self._basedirs:
            data = _combine(data, plugins.get_vars_from_path(self._loader, path, entities, STAGE))
        return data

    # -- host-level vars plugins, skipped where they provably find nothing -------
    def _host_plugins_inventory(self, host) -> dict:
        if self._no_host_vars(host):
            return {}
        return self._plugins_inventory([host])

    def _host_plugins_play(self, host) -> dict:
        if self._no_host_vars(host):
            return {}
        return self._plugins_play([host])

    def _no_host_vars(self, host) -> bool:
        """True when no vars plugin can return anything for this host."""
        if self._host_vars_listings is None or os.path.sep in host.name:
            return False
        # the names DataLoader.find_vars_files looks for: the bare name, then one per extension
        extensions = C.YAML_FILENAME_EXTENSIONS
        names = {host.name, *(host.name + ext if "." in ext else f"{host.name}.{ext}" for ext in extensions)}
        return not any(names & listing for listing in self._host_vars_listings)

    def _host_vars_listings_or_none(self):
        """The entries of every host_vars folder host_group_vars reads, or None when unsure.

        None unless host_group_vars is the only vars plugin that runs at this
        stage (any other plugin is asked for every host).
        """
        if vars_loader._paths is None:
            plugins._prime_vars_loader()
        for plugin_name in vars_loader._plugin_instance_cache:
            plugin = vars_loader.get(plugin_name)
            if plugin is None or not plugins._plugin_should_run(plugin, STAGE):
                continue
            if plugin.ansible_name != HOST_GROUP_VARS:
                return None
        paths = []
        for path in self._sources:  # as get_vars_from_inventory_sources passes them
            if path is None or ("," in path and not os.path.exists(path)):
                continue
            paths.append(path if os.path.isdir(path) else os.path.dirname(path))
        paths.extend(self._basedirs)
        listings = []
        for path in paths:
            base = basedir(path)
            if not base:
                return None
            folder = os.path.join(os.path.realpath(base), "host_vars")
            if os.path.isdir(folder):
                listings.append(set(os.listdir(folder)))
            elif os.path.exists(folder):
                return None
        return listings


class _TemplatedVars(Mapping):
    """HostVarsVars with a given TemplateEngine: templates a value on access."""

    def __init__(self, variables: dict, templar: TemplateEngine):
        self._vars = variables
        self._templar = templar

    def __getitem__(self, key: str):
        return self._templar.template(self._vars[key])

    def __contains__(self, item: object) -> bool:
        return item in self._vars

    def __iter__(self):
        yield from self._vars

    def __len__(self) -> int:
        return len(self._vars)


def _compile_once_engine() -> type[TemplateEngine]:
    """A TemplateEngine class whose instances share compiled templates.

    Jinja's from_string compiles on every call, and compiling is most of the
    cost of templating one value. A compiled template holds no variables (they
    are passed when it is called), so the template object every host of a
    group shares (the same string object, with its origin) is compiled once.
    Keyed by identity, so a template is never reused for another string, even
    an equal one from another file.
    """
    compiled: dict = {}

    class CompileOnceEngine(TemplateEngine):
        def _compile_template(self, template, options):
            try:
                key = (id(template), options)
                hit = compiled.get(key)
            except TypeError:  # options that cannot be hashed: compile as Ansible does
                return super()._compile_template(template, options)
            if hit is not None and hit[0] is template:
                return hit[1]
            function = super()._compile_template(template, options)
            compiled[key] = (template, function)
            return function

    return CompileOnceEngine
