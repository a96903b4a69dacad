"""minio_user run in-process against an in-memory admin API."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.baremetal.mlops.plugins.module_utils import minio as minio_utils
from ansible_collections.baremetal.mlops.plugins.modules import minio_user
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import FakeAdmin, FakeS3, run_module

CONNECTION = dict(endpoint="http://127.0.0.1:19000", access_key="admin", secret_key="admin-secret")


@pytest.fixture
def admin(monkeypatch):
    fake = FakeAdmin()
    monkeypatch.setattr(minio_user, "connect", lambda params, **kw: (FakeS3(), fake))
    # The S3 signature check: the fake server accepts exactly the stored secret.
    monkeypatch.setattr(
        minio_utils, "secret_matches", lambda params, name, secret: fake.users[name].get("secret") == secret
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


# ------------------------------------------------------------ list form


def test_list_form_converges_every_user_over_one_connection(admin, monkeypatch):
    opened = []
    monkeypatch.setattr(minio_user, "connect", lambda params, **kw: opened.append(1) or (FakeS3(), admin))
    admin.users["kept"] = dict(status="enabled", policies=["kept-rw"], secret="kept-secret")
    admin.users["gone"] = dict(status="enabled", policies=[], secret="gone-secret")
    users = [
        dict(name="team-a", secret="team-a-secret", policies=["team-a-rw"]),
        dict(name="kept", secret="kept-secret", policies=["kept-rw"]),
        dict(name="locked", secret="locked-secret", status="disabled"),
        dict(name="gone", state="absent"),
    ]
    result, failed = run(dict(users=users), diff=True)
    assert not failed, result
    assert opened == [1]
    assert [(r["name"], r["changed"], r["steps"]) for r in result["results"]] == [
        ("team-a", True, ["create", "policies"]),
        ("kept", False, []),
        ("locked", True, ["create", "status"]),
        ("gone", True, ["delete"]),
    ]
    assert result["results"][0]["user"] == dict(name="team-a", status="enabled", policies=["team-a-rw"])
    assert result["results"][3]["user"] is None
    assert [d["before_header"] for d in result["diff"]] == ["user team-a", "user locked", "user gone"]
    assert not any(user["secret"] in str(result) for user in users if "secret" in user)
    assert admin.users["locked"]["status"] == "disabled"

    writes = list(admin.writes)
    result, failed = run(dict(users=users))
    assert (failed, result["changed"]) == (False, False)
    assert admin.writes == writes


def test_list_form_check_mode_predicts_each_user_without_writing(admin):
    admin.users["u"] = dict(status="enabled", policies=["old"], secret="u-secret-1")
    users = [
        dict(name="u", secret="u-secret-2", policies=["new"]),
        dict(name="v", secret="v-secret-1"),
        dict(name="w", state="absent"),
    ]
    result, failed = run(dict(users=users), check_mode=True, diff=True)
    assert not failed, result
    assert [(r["name"], r["changed"], r["steps"]) for r in result["results"]] == [
        ("u", True, ["secret", "policies"]),
        ("v", True, ["create"]),
        ("w", False, []),
    ]
    assert result["results"][0]["diff"]["after"]["policies"] == ["new"]
    assert admin.writes == []


def test_list_form_failure_names_the_user(admin):
    result, failed = run(dict(users=[dict(name="ok", secret="ok-secret"), dict(name="new")]))
    assert failed
    assert result["msg"] == "user new: secret is required to create user new"
    assert [(r["name"], r["changed"]) for r in result["results"]] == [("ok", True)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(name="a", users=[dict(name="b")]), "parameters are mutually exclusive: users|name"),
        (dict(users=[dict(name="b")], secret="some-secret"), "parameters are mutually exclusive: users|secret"),
        (dict(), "one of the following is required: name, users"),
    ],
)
def test_list_form_bad_input(admin, args, message):
    result, failed = run(args)
    assert failed
    assert result["msg"] == message


def test_list_form_secrets_are_no_log():
    spec = minio_user.argument_spec()
    assert spec["users"]["options"]["secret"]["no_log"] is True
    # AnsibleModule masks every item's secret in whatever the module returns or logs.
    params = dict(CONNECTION, users=[dict(name="a", secret="secret-of-a"), dict(name="b", secret="secret-of-b")])
    validated = ArgumentSpecValidator(spec).validate(params)
    assert validated.error_messages == []
    assert {"secret-of-a", "secret-of-b", CONNECTION["secret_key"]} <= validated._no_log_values
