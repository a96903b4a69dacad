"""Run every Molecule scenario under molecule/ as one pytest case each.

Each scenario's own test sequence (syntax, create, prepare, check, converge,
idempotence, verify, destroy) is the assertion: `molecule test` exits
non-zero when any step fails, including a non-idempotent second run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def waits_for_go_builds(scenario: Path) -> bool:
    """Whether the scenario's dependency step builds lab programs (`python -m lab ...`, under the build lock)."""
    script = scenario / "dependency.sh"
    return script.is_file() and " -m lab " in script.read_text()


def scenarios() -> list:
    """Every scenario; those on podman host containers (no lab) carry the molecule_host mark:
    scripts/run-tests.sh runs them in a second pytest beside the rest of the suite.

    Scenarios whose dependency step builds Go programs come last: on a cold cache the build
    lock is busy with the lab's tool chain for the first half hour, and the others need none."""
    found = []
    paths = sorted((ROOT / "molecule").glob("*/molecule.yml"), key=lambda p: (waits_for_go_builds(p.parent), p))
    for path in paths:
        driver = (yaml.safe_load(path.read_text()).get("driver") or {}).get("name")
        marks = [pytest.mark.molecule_host] if driver == "podman" else []
        found.append(pytest.param(path.parent.name, marks=marks, id=path.parent.name))
    return found


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", scenarios())
def test_molecule_scenario(scenario):
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    env["ANSIBLE_ROLES_PATH"] = str(ROOT / "roles")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    result = subprocess.run(
        ["molecule", "test", "-s", scenario],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-12000:]
        pytest.fail(f"molecule test -s {scenario} failed (rc={result.returncode}):\n{tail}")
