"""Secrets never reach the output of the provisioning and verify playbooks, even with -v."""

from __future__ import annotations

import json
import os
import secrets

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def planted(tmp_path, provisioned, playbook, lab_vars):
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
    restored = playbook("lab/serving/provision.yml", "-e", f"@{lab_vars}")
    assert restored.returncode == 0, restored.stdout[-4000:]


def test_planted_secrets_stay_out_of_playbook_output(planted, predictions, playbook, lab_vars, data_services):
    path, team_keys = planted
    root_password = data_services.credentials()["minio_root_password"]
    for run in (
        playbook("lab/serving/provision.yml", "-e", f"@{lab_vars}", "-e", f"@{path}", verbose=True),
        playbook("playbooks/verify.yml", "-e", f"@{lab_vars}", "-e", f"@{path}", verbose=True),
    ):
        assert run.returncode == 0, run.stdout[-6000:]
        for secret in [*team_keys, root_password]:
            assert secret not in run.stdout, f"a planted secret appears in: {run.args}"
    # The planted keys were really used: verify passed the team access check with them.
    assert "team keys scoped to team buckets" in run.stdout
