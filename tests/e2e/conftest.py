"""Helpers for tests that run ansible-playbook against real inventories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VAULT_PASSWORD = ROOT / "tests" / "fixtures" / "example-vault-password"


def _playbook(*args, env=None):
    """Run ansible-playbook from the repo root; return the CompletedProcess."""
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    environment["ANSIBLE_FORCE_COLOR"] = "0"
    environment["ANSIBLE_NOCOLOR"] = "1"
    environment.update(env or {})
    return subprocess.run(
        ["ansible-playbook", *map(str, args)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def example_inventory(tmp_path):
    """A private copy of inventories/example to plant problems in."""
    target = tmp_path / "example"
    shutil.copytree(ROOT / "inventories" / "example", target)
    return target


@pytest.fixture(scope="session")
def lab_secrets():
    """The lab's generated secrets file, as `make lab` writes it."""
    subprocess.run([sys.executable, "-m", "lab", "secrets"], cwd=ROOT, check=True)


@pytest.fixture(scope="session")
def playbook():
    """ansible-playbook from the repo root: playbook(*args, env=None) -> CompletedProcess."""
    return _playbook


@pytest.fixture(scope="session")
def vault_password():
    """The password of the example inventory's vault (an example, not a secret)."""
    return VAULT_PASSWORD
