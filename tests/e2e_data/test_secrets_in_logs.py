"""Secrets never reach the output of the lab's playbooks, at -v or at -vvv.

Every playbook of the data path (provision, promote, verify) runs with
distinctive planted team keys on top of the lab inventory; neither those
nor any credential of the lab inventory (MinIO root, PostgreSQL, MLflow's
database, team keys) may appear in its output.
"""

from __future__ import annotations

import json
import os
import secrets

import pytest

from lab.e2e import PLAYBOOKS

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def planted(tmp_path, provisioned, pipeline):
    """Extra vars giving every team a distinctive secret key; the inventory's keys are restored afterwards."""
    values = {
        "vault_team_vision_s3_secret_key": f"PLANTEDvision{secrets.token_hex(12)}",
        "vault_team_tabular_s3_secret_key": f"PLANTEDtabular{secrets.token_hex(12)}",
    }
    path = tmp_path / "planted.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    yield path, list(values.values())
    pipeline.provision()


@pytest.mark.parametrize("verbosity", [1, 3])
def test_planted_secrets_stay_out_of_playbook_output(planted, predictions, promoted, pipeline, lab_settings, verbosity):
    path, team_keys = planted
    known = [*team_keys, *lab_settings.secret_values()]
    runs = {
        "provision.yml": pipeline.playbook(PLAYBOOKS / "provision.yml", "-e", f"@{path}", verbose=verbosity),
        "promote.yml": pipeline.playbook(
            PLAYBOOKS / "promote.yml", "-e", f"lab_model_version={promoted}", verbose=verbosity
        ),
        "verify.yml": pipeline.verify("-e", f"@{path}", verbose=verbosity),
    }
    for name, run in runs.items():
        assert run.returncode == 0, run.stdout[-6000:]
        leaked = [index for index, secret in enumerate(known) if secret in run.stdout]
        assert leaked == [], f"{name} at -{'v' * verbosity} prints secret(s) number {leaked} of {len(known)}"
    # The planted keys were really used: verify passed the team access check with them.
    assert "team keys scoped to team buckets" in runs["verify.yml"].stdout
