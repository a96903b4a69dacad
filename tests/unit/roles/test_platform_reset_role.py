"""platform_reset's layer catalogue agrees with the layer playbooks and the roles' own chart lists."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
RESET_VARS = yaml.safe_load((ROOT / "roles" / "platform_reset" / "vars" / "main.yml").read_text())


def included_roles(playbook: Path) -> list[str]:
    roles = []
    for play in yaml.safe_load(playbook.read_text()):
        for task in play.get("tasks") or []:
            include = task.get("ansible.builtin.include_role")
            if include:
                roles.append(include["name"].removeprefix("baremetal.mlops."))
    return roles


def test_layer_roles_are_those_the_layer_playbooks_include():
    layers = RESET_VARS["__platform_reset_layer_roles"]
    assert list(layers) == RESET_VARS["__platform_reset_layer_order"][1:]
    for layer, roles in layers.items():
        assert roles == included_roles(ROOT / "playbooks" / f"{layer}.yml"), layer


def test_site_yml_imports_the_layers_in_this_order():
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    imported = [play["ansible.builtin.import_playbook"].removesuffix(".yml") for play in site]
    assert imported[1:] == RESET_VARS["__platform_reset_layer_order"]


def test_every_cluster_layer_has_charts_in_its_roles():
    for layer, roles in RESET_VARS["__platform_reset_layer_roles"].items():
        charts = []
        for role in roles:
            role_vars = yaml.safe_load((ROOT / "roles" / role / "vars" / "main.yml").read_text()) or {}
            charts += [release["chart"] for release in role_vars.get(f"__{role}_releases", [])]
        assert charts, layer
        assert all("{" not in chart for chart in charts), (layer, charts)  # read literally at run time
