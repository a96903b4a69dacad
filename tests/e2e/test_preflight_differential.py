"""Preflight's problems are Ansible's: fast path and full merge agree, through ansible-playbook.

Each generated inventory (tests/unit/plugins/plugin_utils/inventory_generator.py:
YAML, INI and constructed inventories, inline and vars-block group variables,
group_vars/host_vars files and folders next to the inventory and next to the
playbook, extra vars, templated node_ip/node_name, duplicates, addresses
inside and outside the node network, hosts without an address, a legacy vars
plugin next to the playbook) is judged twice by the preflight role: as it
runs by default, and with BAREMETAL_MLOPS_PREFLIGHT_FULL_MERGE=1, which reads
every host through Ansible's hostvars. The problem lists must be identical.
The in-process twin (tests/unit/plugins/plugin_utils/test_host_variables.py)
compares whole variable dictionaries on more seeds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils.contract_hosts import FULL_MERGE_ENV
from ansible_collections.baremetal.mlops.tests.unit.plugins.plugin_utils.inventory_generator import generate

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SEEDS = range(12)
PLAY = """---
- name: Preflight - validate the inventory contract
  hosts: localhost
  gather_facts: false
  roles:
    - role: baremetal.mlops.preflight
"""
INVENTORY_PLUGINS = "ansible.builtin.yaml,ansible.builtin.ini,ansible.builtin.host_list,ansible.builtin.constructed"
SECRETS = (
    "vault_minio_root_password",
    "vault_mlflow_db_password",
    "vault_team_vision_s3_secret_key",
    "vault_team_fraud_s3_secret_key",
    "vault_bgp_rtr_01_password",
    "vault_bgp_rtr_02_password",
    "vault_longhorn_backup_secret_key",
    "vault_inference_edge_oidc_client_secret",
    "vault_inference_edge_cookie_secret",
)


def write_contract(inventory):
    """The example inventory's contract as group_vars/all, its vault replaced by plain test secrets."""
    target = inventory / "group_vars" / "all"
    shutil.copytree(ROOT / "inventories" / "example" / "group_vars" / "all", target)
    (target / "vault.yml").unlink()
    (target / "secrets.yml").write_text("---\n" + yaml.safe_dump({name: f"test-{name}" for name in SECRETS}))


def preflight_problems(playbook, generated, full_merge: bool) -> list[str]:
    """The problems the preflight role reports for the generated inventory (parsed from the json callback)."""
    play = generated.playbook_dir / "preflight.yml"
    play.write_text(PLAY)
    env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_INVENTORY_ENABLED": INVENTORY_PLUGINS}
    if full_merge:
        env[FULL_MERGE_ENV] = "1"
    result = playbook(play, "-i", generated.inventory, *generated.extra_vars_args(), env=env)
    report = json.loads(result.stdout)
    task = next(t for t in report["plays"][0]["tasks"] if t["task"]["name"].endswith("Validate the inventory contract"))
    outcome = task["hosts"]["localhost"]
    assert "problems" in outcome, result.stdout[-3000:] + result.stderr[-3000:]
    assert outcome["host_variables"] == ("full" if full_merge else "shared")
    assert result.returncode == (2 if outcome["problems"] else 0), result.stderr[-3000:]
    return outcome["problems"]


@pytest.mark.parametrize("seed", SEEDS)
def test_fast_path_and_full_merge_report_the_same_problems(seed, tmp_path, playbook):
    generated = generate(seed, tmp_path, vars_plugin=seed % 2 == 0)
    write_contract(generated.inventory)
    assert preflight_problems(playbook, generated, full_merge=False) == preflight_problems(
        playbook, generated, full_merge=True
    )


def test_a_legacy_vars_plugin_next_to_the_playbook_is_seen(tmp_path, playbook):
    generated = generate(0, tmp_path, vars_plugin=True, constructed=False)
    write_contract(generated.inventory)
    for stale in ("hosts.yml", "hosts.ini"):
        (generated.inventory / stale).unlink(missing_ok=True)
    for stale in ("host_vars", "group_vars"):
        shutil.rmtree(generated.playbook_dir / stale, ignore_errors=True)
    generated.extra_vars = {}
    (generated.inventory / "hosts.yml").write_text(
        "---\nall:\n  children:\n    k8s_cluster:\n      children:\n"
        "        control_plane:\n          hosts:\n            cp-1: {ansible_host: 10.20.0.11}\n"
        "        workers:\n          hosts:\n            w-1: {ansible_host: 10.20.0.21}\n"
        "            w-2: {ansible_host: 10.20.0.22}\n            w-3: {ansible_host: 10.20.0.23}\n"
        "    storage_nodes:\n      hosts:\n        w-1: {}\n        w-2: {}\n        w-3: {}\n"
    )
    plugin = generated.playbook_dir / "vars_plugins" / "site_overrides.py"
    text = plugin.read_text()
    start = text.index("OVERRIDES = ")
    overrides = {"w-1": {"node_ip": "10.20.0.250"}, "w-3": {"node_ip": "10.20.0.250"}}
    plugin.write_text(text[:start] + f"OVERRIDES = {json.dumps(overrides)}" + text[text.index("\n", start) :])
    expected = ["node_ip: '10.20.0.250' is used by 2 hosts (w-1, w-3); expected unique addresses"]
    assert preflight_problems(playbook, generated, full_merge=False) == expected
    assert preflight_problems(playbook, generated, full_merge=True) == expected
