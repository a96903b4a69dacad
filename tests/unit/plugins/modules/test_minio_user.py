"""minio_user run in-process against an in-memory admin API."""

from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.modules import minio_user
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import FakeAdmin, FakeS3, run_module

CONNECTION = dict(endpoint="http://127.0.0.1:19000", access_key="admin", secret_key="admin-secret")


@pytest.fixture
def admin(monkeypatch):
    fake = FakeAdmin()
    monkeypatch.setattr(minio_user, "connect", lambda params, **kw: (FakeS3(), fake))
    # The S3 signature check: the fake server accepts exactly the stored secret.
    monkeypatch.setattr(
        minio_user, "secret_matches", lambda params, name, secret: fake.users[name].get("secret") == secret
    )
    return fake


def run(args, **kwargs):
    return run_module(minio_user.main, dict(CONNECTION, **args), **kwargs)


def test_create_with_policies_then_idempotent(admin):
    args = dict(name="team-a", secret="team-a-secret", policies=["team-a-rw"])
    result, failed = run(args, diff=True)
    assert not failed
    assert result["changed"] is True
    assert result["steps"] == ["create", "policies"]
    assert result["user"] == dict(name="team-a", status="enabled", policies=["team-a-rw"])
    assert "team-a-secret" not in str(result)
    writes = list(admin.writes)
    result, failed = run(args)
    assert (failed, result["changed"]) == (False, False)
    assert admin.writes == writes


def test_policies_are_made_exact(admin):
    admin.users["u"] = dict(status="enabled", policies=["old", "keep"], secret="u-secret-1")
    result, failed = run(dict(name="u", secret="u-secret-1", policies=["keep", "new"]))
    assert not failed
    assert result["steps"] == ["policies"]
    assert admin.users["u"]["policies"] == ["keep", "new"]
    assert ("detach_policy", "u", ("old",)) in admin.writes
    assert ("attach_policy", "u", ("new",)) in admin.writes


def test_secret_rotation(admin):
    admin.users["u"] = dict(status="enabled", policies=[], secret="u-secret-1")
    result, _failed = run(dict(name="u", secret="u-secret-2", update_secret="on_create"))
    assert result["changed"] is False
    result, _failed = run(dict(name="u", secret="u-secret-2"), check_mode=True)
    assert (result["changed"], result["steps"]) == (True, ["secret"])
    assert admin.users["u"]["secret"] == "u-secret-1"
    result, _failed = run(dict(name="u", secret="u-secret-2"))
    assert admin.users["u"]["secret"] == "u-secret-2"


def test_disable_and_remove(admin):
    admin.users["u"] = dict(status="enabled", policies=[], secret="u-secret-1")
    result, _failed = run(dict(name="u", status="disabled"), diff=True)
    assert result["diff"] == dict(
        before=dict(name="u", status="enabled", policies=[]), after=dict(name="u", status="disabled", policies=[])
    )
    result, _failed = run(dict(name="u", state="absent"))
    assert (result["changed"], result["user"]) == (True, None)
    result, _failed = run(dict(name="u", state="absent"))
    assert result["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(name="new"), "user new: secret is required to create user new"),
        (dict(name="new", secret="short"), "user new: secret must be 8 to 40 characters long"),
    ],
)
def test_bad_input(admin, args, message):
    result, failed = run(args)
    assert failed
    assert result["msg"] == message


def test_secrets_are_no_log():
    spec = minio_user.argument_spec()
    assert spec["secret"]["no_log"] is True
    assert spec["secret_key"]["no_log"] is True
