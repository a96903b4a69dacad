"""The lab's one source of settings: inventories/lab, read as Ansible reads it (no cluster needed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab import credentials
from lab.settings import ROOT, Endpoint, Inventory, Renderer, Settings, SettingsError

LAB = ROOT / "inventories" / "lab"
NUMBER = re.compile(r"(?<![\w.])(\d{4,5})(?![\w.])")


def ansible_inventory(path: Path) -> dict:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    tool = str(Path(sys.executable).parent / "ansible-inventory")
    out = subprocess.run([tool, "-i", str(path), "--list"], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_host_variables_merge_exactly_as_ansible_merges_them(tmp_path):
    inventory = tmp_path / "lab"
    shutil.copytree(LAB, inventory, ignore=shutil.ignore_patterns("secrets.yml"))
    # a group file overriding `all`, a deeper group overriding its parent, a host file on top
    (inventory / "group_vars" / "k8s_cluster.yml").write_text("lab_gpu_count: 2\nnode_flavour: cluster\n")
    (inventory / "group_vars" / "gpu_nodes").mkdir()
    (inventory / "group_vars" / "gpu_nodes" / "x.yml").write_text("node_flavour: gpu\n")
    (inventory / "host_vars").mkdir()
    (inventory / "host_vars" / "lab-a100-2.yml").write_text("node_flavour: special\n")
    expected = ansible_inventory(inventory)["_meta"]["hostvars"]
    ours = Inventory.read(inventory)
    assert set(expected) == ours.group_hosts("all")
    for host, hostvars in expected.items():
        assert ours.raw_vars(host) == hostvars, host
    assert ours.raw_vars("lab-a100-2")["node_flavour"] == "special"
    assert ours.raw_vars("lab-l4-1")["lab_gpu_count"] == 4


def test_templated_values_render_like_the_playbooks_see_them():
    settings = Settings(ROOT, LAB)
    minio = settings.endpoint("minio")
    assert settings.var("platform_verify_minio_endpoint") == f"http://{minio.host}:{minio.port}"
    serving = settings.endpoint("mlserver_http")
    assert settings.var("platform_verify_predict_url") == serving.url("/v2/models/iris-bare-metal/infer")
    assert settings.chart_mirror_url == settings.endpoint("chart_mirror").url()
    assert settings.api == Endpoint("127.0.10.10", 6443)


def test_missing_secret_names_the_generator():
    renderer = Renderer({"minio_root_password": "{{ vault_minio_root_password }}"})
    with pytest.raises(SettingsError, match=r"vault_minio_root_password.*python -m lab secrets"):
        renderer.get("minio_root_password")


def test_every_lab_listener_is_loopback_and_unique():
    settings = Settings(ROOT, LAB)
    listeners = [*settings.listen.values(), settings.api]
    assert len({e.address for e in listeners}) == len(listeners)
    assert all(e.host.startswith("127.") for e in listeners)


def test_no_lab_port_is_written_outside_the_inventory():
    """The inventory is the only place a lab port is spelled out."""
    ports = {str(e.port) for e in Settings(ROOT, LAB).listen.values()}
    offenders = []
    for folder in ("lab", "mk", "tests/lab", "tests/integration", "tests/e2e_data", "tests/lab_verify"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".yml", ".yaml", ".mk", ".sh") or "__pycache__" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                found = ports & set(NUMBER.findall(line))
                if found:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {', '.join(sorted(found))}")
    assert offenders == []


def test_secrets_file_is_generated_once_with_mode_0600(tmp_path):
    inventory = tmp_path / "lab"
    shutil.copytree(LAB, inventory, ignore=shutil.ignore_patterns("secrets.yml"))
    target = inventory / "group_vars" / "all" / "secrets.yml"
    lab_secrets = LAB / "group_vars" / "all" / "secrets.yml"
    lab_before = lab_secrets.read_bytes() if lab_secrets.exists() else None
    # by default the secrets go to the given inventory's own file, never to inventories/lab's
    added = credentials.ensure(inventory)
    assert (lab_secrets.read_bytes() if lab_secrets.exists() else None) == lab_before
    assert "vault_minio_root_password" in added
    assert "vault_lab_postgres_superuser_password" in added
    assert target.stat().st_mode & 0o777 == 0o600
    first = yaml.safe_load(target.read_text())
    assert credentials.ensure(inventory, target) == []
    assert yaml.safe_load(target.read_text()) == first
    settings = Settings(ROOT, inventory)
    assert settings.minio_root_password == first["vault_minio_root_password"]
    assert settings.mlflow_db["password"] == first["vault_mlflow_db_password"]
    assert set(settings.secret_values()) <= set(first.values())
