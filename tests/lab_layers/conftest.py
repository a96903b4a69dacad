"""The cluster layers converged once on the lab, shared by every test in this folder.

`playbooks/site.yml --tags networking,storage,gpu,orchestration,observability` runs against
inventories/lab in direct delivery (the lab's data services up, for the
storage layer's S3 side), then `python -m lab cluster up` starts the real
controllers of the charts it installed (lab/controllers.py: MetalLB, the Argo
workflow-controller). `layers.play()` re-runs layers 2-4 only unless told.
Tests that change the cluster through the inventory run the playbook again
with extra vars (`layers.play`) and restore what they changed.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import pytest
from lab_support import LAB_INVENTORY, ROOT, Lab, ansible_env, labctl

LAYERS = "networking,storage,gpu"
CONVERGED = f"{LAYERS},serving,tracking,orchestration,observability"


@dataclass
class Layers:
    lab: Lab
    env: dict
    first: subprocess.CompletedProcess

    def play(self, *args: str, tags: str = LAYERS, check: bool = True, playbook: str = "playbooks/site.yml"):
        """A playbook (site.yml unless told) on the lab inventory with these tags and extra arguments."""
        result = subprocess.run(
            ["ansible-playbook", playbook, "-i", str(LAB_INVENTORY), "--tags", tags, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"{playbook} --tags {tags} {' '.join(args)} failed:\n{(result.stdout + result.stderr)[-8000:]}")
        return result

    def play_with(self, extra: dict, tags: str = LAYERS, check: bool = True) -> subprocess.CompletedProcess:
        return self.play("-e", json.dumps(extra), tags=tags, check=check)

    def controllers_up(self) -> None:
        labctl("up")


@pytest.fixture(scope="session")
def layers(lab: Lab, running_data_services) -> Layers:
    found = Layers(lab, ansible_env(lab), None)
    found.first = found.play(tags=CONVERGED)
    found.controllers_up()
    return found
