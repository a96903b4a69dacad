"""The lab's one source of settings: the inventory `inventories/lab`.

Every endpoint, port and credential of the lab's processes comes from the lab
inventory (hosts.yml and group_vars, including the generated, git-ignored
group_vars/all/secrets.yml) and versions come from versions.yml; nothing
else in the lab hard-codes them. Variables are merged the way Ansible merges
an inventory's group variables (group `all` first, then groups by depth and
name, then host variables) and `{{ ... }}` references are rendered with
Jinja2 on demand, so a value reads the same here as in a playbook.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Undefined, meta
from jinja2.nativetypes import NativeEnvironment

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventories" / "lab"
SECRETS_FILE = INVENTORY / "group_vars" / "all" / "secrets.yml"


class SettingsError(Exception):
    """The lab inventory lacks a value the lab needs, or a value cannot be rendered."""


def cache_root() -> Path:
    """Where built programs and virtual environments are cached, outside the repo."""
    base = os.environ.get("BAREMETAL_CACHE") or os.path.join(Path.home(), ".cache", "baremetal-mlops")
    return Path(base)


@dataclass(frozen=True)
class Endpoint:
    """Where a lab process listens."""

    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, path: str = "", scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"


# --- reading an inventory the way Ansible merges it ---------------------------------------------


def _load_yaml(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of variables")
    return data


def _vars_files(inventory: Path, kind: str, name: str) -> list[Path]:
    """group_vars/<name>.yml and group_vars/<name>/*.yml, as Ansible's host_group_vars plugin reads them."""
    base = inventory / kind
    found = [base / f"{name}{ext}" for ext in (".yml", ".yaml") if (base / f"{name}{ext}").is_file()]
    if (base / name).is_dir():
        found += sorted(p for p in (base / name).rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    return found


@dataclass
class Inventory:
    """A YAML inventory's groups, hosts and merged, renderable variables."""

    path: Path
    groups: dict[str, dict] = field(default_factory=dict)  # name -> {hosts: {...}, children: [...], vars: {...}}
    host_inline: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path = INVENTORY) -> Inventory:
        inv = cls(path)
        hosts_file = next((path / n for n in ("hosts.yml", "hosts.yaml") if (path / n).is_file()), None)
        if hosts_file is None:
            raise SettingsError(f"{path}: no hosts.yml")
        inv._walk("all", _load_yaml(hosts_file).get("all") or {})
        return inv

    def _walk(self, name: str, body: dict) -> None:
        group = self.groups.setdefault(name, {"hosts": set(), "children": [], "vars": {}})
        group["vars"].update(body.get("vars") or {})
        for host, hvars in (body.get("hosts") or {}).items():
            group["hosts"].add(host)
            self.host_inline.setdefault(host, {}).update(hvars or {})
        for child, child_body in (body.get("children") or {}).items():
            if child not in group["children"]:
                group["children"].append(child)
            self._walk(child, child_body or {})

    def group_hosts(self, name: str) -> set[str]:
        """Hosts of a group, including those of its child groups."""
        group = self.groups.get(name)
        if group is None:
            return set()
        hosts = set(group["hosts"])
        for child in group["children"]:
            hosts |= self.group_hosts(child)
        return hosts

    def _depth(self, name: str) -> int:
        parents = [g for g, body in self.groups.items() if name in body["children"]]
        return 0 if not parents else 1 + max(self._depth(p) for p in parents)

    def raw_vars(self, host: str | None = None) -> dict:
        """Unrendered variables: group `all`, or every group of `host` by depth then name, then the host's own."""
        names = ["all"]
        if host is not None:
            mine = [g for g in self.groups if g != "all" and host in self.group_hosts(g)]
            names += sorted(mine, key=lambda g: (self._depth(g), g))
        merged: dict = {}
        for name in names:
            merged.update(self.groups.get(name, {}).get("vars", {}))
            for path in _vars_files(self.path, "group_vars", name):
                merged.update(_load_yaml(path))
        if host is not None:
            merged.update(self.host_inline.get(host, {}))
            for path in _vars_files(self.path, "host_vars", host):
                merged.update(_load_yaml(path))
        return merged


class Renderer:
    """Render `{{ ... }}` in variables on demand, each variable once (Ansible's lazy templating)."""

    def __init__(self, variables: dict):
        self.raw = variables
        self.env = NativeEnvironment(undefined=StrictUndefined)
        self.done: dict[str, Any] = {}
        self.active: list[str] = []

    def get(self, name: str) -> Any:
        if name in self.done:
            return self.done[name]
        if name not in self.raw:
            raise SettingsError(f"the lab inventory ({INVENTORY.relative_to(ROOT)}) does not define {name}")
        if name in self.active:
            raise SettingsError(f"variable {name} refers to itself: {' -> '.join([*self.active, name])}")
        self.active.append(name)
        try:
            self.done[name] = self.render(self.raw[name], name)
        finally:
            self.active.pop()
        return self.done[name]

    def render(self, value: Any, name: str) -> Any:
        if isinstance(value, dict):
            return {k: self.render(v, name) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, name) for v in value]
        if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
            return value
        tree = self.env.parse(value)
        context = {ref: self.get(ref) for ref in meta.find_undeclared_variables(tree) if ref in self.raw}
        try:
            result = self.env.from_string(tree).render(context)
            if isinstance(result, Undefined):  # a native render hands back what it could not resolve
                str(result)
        except Exception as exc:  # jinja2 raises several kinds; name the variable either way
            hint = " (generate the lab's secrets: python -m lab secrets)" if "vault_" in str(exc) else ""
            raise SettingsError(f"cannot render {name}: {exc}{hint}") from exc
        return result


# --- the lab's settings ------------------------------------------------------------------------


@dataclass
class Settings:
    """What the lab needs to know, read from the lab inventory and versions.yml."""

    root: Path = ROOT
    inventory_path: Path = INVENTORY

    @cached_property
    def inventory(self) -> Inventory:
        return Inventory.read(self.inventory_path)

    @cached_property
    def vars(self) -> Renderer:
        return Renderer(self.inventory.raw_vars())

    def var(self, name: str) -> Any:
        return self.vars.get(name)

    def host_vars(self, host: str) -> Renderer:
        return Renderer(self.inventory.raw_vars(host))

    @cached_property
    def versions(self) -> dict:
        return yaml.safe_load((self.root / "versions.yml").read_text(encoding="utf-8"))

    # where things live
    @property
    def state(self) -> Path:
        return Path(os.environ.get("LAB_STATE_DIR", self.root / ".lab"))

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    @property
    def log_dir(self) -> Path:
        return self.state / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def chart_mirror_dir(self) -> Path:
        return Path(os.environ.get("LAB_CHART_MIRROR", self.root.parent / "shared" / "mirror" / "charts"))

    # endpoints
    @cached_property
    def listen(self) -> dict[str, Endpoint]:
        """lab_listen: process name -> where it listens."""
        found = self.var("lab_listen")
        try:
            return {name: Endpoint(str(e["host"]), int(e["port"])) for name, e in found.items()}
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise SettingsError(f"lab_listen: every entry needs a host and a port ({exc})") from exc

    def endpoint(self, name: str) -> Endpoint:
        if name not in self.listen:
            raise SettingsError(f"lab_listen has no entry {name!r} (has: {', '.join(self.listen)})")
        return self.listen[name]

    @cached_property
    def api(self) -> Endpoint:
        endpoint = self.var("platform_api_endpoint")
        return Endpoint(str(endpoint["address"]), int(endpoint["port"]))

    @property
    def chart_mirror_url(self) -> str:
        return str(self.var("lab_chart_mirror_url"))

    # credentials
    @property
    def minio_root_user(self) -> str:
        return str(self.var("minio_root_user"))

    @property
    def minio_root_password(self) -> str:
        return str(self.var("minio_root_password"))

    @property
    def minio_backup_root_user(self) -> str:
        return str(self.var("lab_minio_backup_root_user"))

    @property
    def minio_backup_root_password(self) -> str:
        return str(self.var("lab_minio_backup_root_password"))

    @property
    def postgres_superuser_password(self) -> str:
        return str(self.var("lab_postgres_superuser_password"))

    @property
    def mlflow_db(self) -> dict:
        """name, user and password of MLflow's database."""
        return {
            "name": str(self.var("lab_mlflow_db_name")),
            "user": str(self.var("lab_mlflow_db_user")),
            "password": str(self.var("mlflow_db_password")),
        }

    def secret_values(self) -> list[str]:
        """Every credential the lab's inventory holds (for tests that look for leaks)."""
        values = [self.minio_root_password, self.minio_backup_root_password, self.postgres_superuser_password]
        values.append(self.mlflow_db["password"])
        values += [str(team["s3_secret_key"]) for team in self.var("platform_teams")]
        return values


def load(root: Path = ROOT) -> Settings:
    """The lab's settings: inventories/lab, or the inventory LAB_INVENTORY names.

    A second inventory (other addresses and ports) with its own LAB_STATE_DIR
    runs a second lab beside the first on one machine.
    """
    return Settings(root=root, inventory_path=Path(os.environ.get("LAB_INVENTORY", root / "inventories" / "lab")))
