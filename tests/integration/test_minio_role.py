"""The minio role's S3 side (roles/minio/tasks/s3.yml) against the lab's real MinIO.

Each test converges the role's `s3` entry point with its own buckets and
teams (random names), then checks from outside with S3 and admin clients:
buckets, versioning, lifecycle rules (and the expiry MinIO predicts for an
object under a scratch prefix), team users confined to their own buckets,
a no-op second run, and check mode that predicts a change without making it.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from minio.credentials import StaticProvider
from minio.deleteobjects import DeleteObject
from minio.error import MinioAdminException, S3Error
from minio.minioadmin import MinioAdmin
from s3_support import ansible_json_env, s3_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

PLAYBOOK = """\
---
- name: The minio role's S3 side, as the storage layer runs it
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: S3 side of the minio role
      ansible.builtin.include_role:
        name: baremetal.mlops.minio
        tasks_from: s3
"""


def admin_client(env):
    return MinioAdmin(
        endpoint=urlsplit(env["MINIO_ENDPOINT"]).netloc,
        credentials=StaticProvider(env["MINIO_ACCESS_KEY"], env["MINIO_SECRET_KEY"]),
        secure=False,
    )


def user_policies(admin, name):
    """The user's attached policies, or None when MinIO has no such user."""
    try:
        info = json.loads(admin.user_info(name))
    except MinioAdminException as exc:
        if "XMinioAdminNoSuchUser" in str(exc._body):
            return None
        raise
    return sorted(p for p in (info.get("policyName") or "").split(",") if p)


def lifecycle(s3, bucket):
    """{rule id: (prefix, expiration days, noncurrent days)} as the server returns it."""
    config = s3.get_bucket_lifecycle(bucket)
    if config is None:
        return {}
    return {
        rule.rule_id: (
            rule.rule_filter.prefix,
            rule.expiration.days if rule.expiration else None,
            rule.noncurrent_version_expiration.noncurrent_days if rule.noncurrent_version_expiration else None,
        )
        for rule in config.rules
    }


class Converge:
    """Run the role's `s3` entry point with the given variables; return the play's stats and task results."""

    def __init__(self, env, tmp_path):
        self.env = ansible_json_env(env)
        self.tmp_path = tmp_path
        self.playbook = tmp_path / "s3.yml"
        self.playbook.write_text(PLAYBOOK)
        self.base = {
            "ansible_python_interpreter": sys.executable,
            "minio_s3_endpoint": env["MINIO_ENDPOINT"],
            "minio_root_user": env["MINIO_ACCESS_KEY"],
            "minio_root_password": env["MINIO_SECRET_KEY"],
            "minio_s3_wait_timeout": 30,
        }

    def __call__(self, variables, check=False):
        extra = self.tmp_path / "vars.json"
        extra.write_text(json.dumps({**self.base, **variables}))
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(self.playbook)]
        argv += ["-e", f"@{extra}"]
        if check:
            argv.append("--check")
        proc = subprocess.run(argv, env=self.env, cwd=ROOT, capture_output=True, text=True, check=False)
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(  # noqa: B904 - the JSON error adds nothing to ansible's own output
                f"ansible-playbook failed (rc={proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        # Task names without their role prefix ("baremetal.mlops.minio : ").
        tasks = {t["task"]["name"].split(" : ", 1)[-1]: t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]}
        return proc.returncode, report["stats"]["localhost"], tasks


@pytest.fixture
def converge(data_services, tmp_path):
    return Converge(data_services, tmp_path)


@pytest.fixture
def cleanup(data_services):
    """Register buckets, team users and policies made by a test; they are removed afterwards."""
    made = {"buckets": set(), "users": set(), "policies": set()}
    yield made
    s3, admin = s3_client(data_services), admin_client(data_services)
    for user in made["users"]:
        if user_policies(admin, user) is not None:
            admin.user_remove(user)
    for policy in made["policies"]:
        with contextlib.suppress(MinioAdminException):
            admin.policy_remove(policy)
    for bucket in made["buckets"]:
        if s3.bucket_exists(bucket):
            objects = [
                DeleteObject(o.object_name, o.version_id)
                for o in s3.list_objects(bucket, recursive=True, include_version=True)
            ]
            list(s3.remove_objects(bucket, iter(objects)))
            s3.remove_bucket(bucket)


def inventory(unique):
    """Shared buckets with and without versioning and scratch prefixes, and two teams."""
    teams = [
        {
            "name": f"ta-{unique}",
            "namespace": f"team-a-{unique}",
            "buckets": [f"ta-{unique}-data", f"ta-{unique}-models"],
            "s3_secret_key": f"secret-a-{unique}",
        },
        {
            "name": f"tb-{unique}",
            "namespace": f"team-b-{unique}",
            "buckets": [f"tb-{unique}-data"],
            "s3_access_key": f"tb-{unique}-svc",
            "s3_secret_key": f"secret-b-{unique}",
        },
    ]
    buckets = [
        {"name": f"artifacts-{unique}", "versioning": True, "noncurrent_expiration_days": 30},
        {"name": f"runs-{unique}", "scratch_prefixes": ["tmp/", "runs/scratch/"], "scratch_expiration_days": 3},
        {"name": f"datasets-{unique}", "scratch_prefixes": []},
    ]
    return {"minio_buckets": buckets, "minio_teams": teams}


def register(cleanup, variables):
    cleanup["buckets"].update(b["name"] for b in variables["minio_buckets"])
    for team in variables["minio_teams"]:
        cleanup["buckets"].update(team["buckets"])
        cleanup["users"].add(team.get("s3_access_key", team["name"]))
        cleanup["policies"].add(f"{team['name']}-rw")


MODULE_TASKS = (
    "Buckets with their versioning and scratch-prefix expiry",
    "Team policies, read-write on the team's own buckets (MinIO admin API)",
    "Team users holding only their team's policy (MinIO admin API)",
)


def test_converge_makes_what_the_inventory_asks_then_changes_nothing(converge, cleanup, data_services, unique):
    variables = inventory(unique)
    register(cleanup, variables)
    rc, stats, tasks = converge(variables)
    assert rc == 0, tasks
    assert stats["changed"] == 3, stats  # buckets, policies, users: one module run each, every item in it
    results = tasks["Buckets with their versioning and scratch-prefix expiry"]["results"]
    assert [(r["name"], r["changed"]) for r in results] == [
        (name, True)
        for name in [b["name"] for b in variables["minio_buckets"]]
        + [name for team in variables["minio_teams"] for name in team["buckets"]]
    ], results
    users = tasks["Team users holding only their team's policy (MinIO admin API)"]["results"]
    assert [(u["name"], u["steps"]) for u in users] == [
        (f"ta-{unique}", ["create", "policies"]),
        (f"tb-{unique}-svc", ["create", "policies"]),
    ], users
    # no_log: the results say what changed, never a secret.
    output = json.dumps(tasks)
    assert data_services["MINIO_SECRET_KEY"] not in output
    assert all(team["s3_secret_key"] not in output for team in variables["minio_teams"])

    s3, admin = s3_client(data_services), admin_client(data_services)
    assert s3.get_bucket_versioning(f"artifacts-{unique}").status == "Enabled"
    for plain in (f"runs-{unique}", f"datasets-{unique}", f"ta-{unique}-data", f"tb-{unique}-data"):
        assert s3.get_bucket_versioning(plain).status is None, plain  # never turned on

    assert lifecycle(s3, f"artifacts-{unique}") == {
        "expire-scratch": ("scratch/", 7, None),
        "expire-noncurrent": ("", None, 30),
    }
    assert lifecycle(s3, f"runs-{unique}") == {
        "expire-tmp": ("tmp/", 3, None),
        "expire-runs-scratch": ("runs/scratch/", 3, None),
    }
    assert lifecycle(s3, f"datasets-{unique}") == {}
    for team_bucket in (f"ta-{unique}-data", f"ta-{unique}-models", f"tb-{unique}-data"):
        assert lifecycle(s3, team_bucket) == {"expire-scratch": ("scratch/", 7, None)}, team_bucket

    # MinIO applies the rule to objects: it predicts their expiry, naming the rule.
    team_a, team_b = variables["minio_teams"]
    bucket = f"ta-{unique}-data"
    s3.put_object(bucket, "scratch/epoch-1.ckpt", io.BytesIO(b"w"), 1)
    s3.put_object(bucket, "models/final.pkl", io.BytesIO(b"w"), 1)
    expiring = s3.stat_object(bucket, "scratch/epoch-1.ckpt").metadata.get("x-amz-expiration", "")
    assert 'rule-id="expire-scratch"' in expiring, expiring
    assert "x-amz-expiration" not in s3.stat_object(bucket, "models/final.pkl").metadata

    # One user per team (access key s3_access_key, else the team name), holding only its team's policy.
    assert user_policies(admin, team_a["name"]) == [f"{team_a['name']}-rw"]
    assert user_policies(admin, team_b["s3_access_key"]) == [f"{team_b['name']}-rw"]
    policy = json.loads(admin.policy_info(f"{team_a['name']}-rw"))
    resources = {r for s in policy.get("Policy", policy)["Statement"] for r in s["Resource"]}
    assert resources == {f"arn:aws:s3:::{b}{tail}" for b in team_a["buckets"] for tail in ("", "/*")}

    as_a = s3_client(data_services, team_a["name"], team_a["s3_secret_key"])
    as_a.put_object(f"ta-{unique}-models", "model.pkl", io.BytesIO(b"weights"), 7)
    assert as_a.get_object(f"ta-{unique}-models", "model.pkl").read() == b"weights"
    with pytest.raises(S3Error) as denied:
        as_a.put_object(f"tb-{unique}-data", "model.pkl", io.BytesIO(b"weights"), 7)
    assert denied.value.code == "AccessDenied"
    as_b = s3_client(data_services, team_b["s3_access_key"], team_b["s3_secret_key"])
    with pytest.raises(S3Error) as denied:
        as_b.get_object(f"ta-{unique}-models", "model.pkl")
    assert denied.value.code == "AccessDenied"

    # converged: the comparison finds nothing, so no module runs at all
    rc, stats, tasks = converge(variables)
    assert rc == 0
    assert stats["changed"] == 0, stats
    for task in MODULE_TASKS:
        assert tasks[task].get("skipped") is True, (task, tasks[task])

    # one team's secret changed outside the collection: only that user is handed to its module, which puts the
    # inventory's secret back
    admin.user_add(team_a["name"], "changed-elsewhere-1")
    rc, stats, tasks = converge(variables)
    assert (rc, stats["changed"]) == (0, 1), stats
    users = tasks["Team users holding only their team's policy (MinIO admin API)"]["results"]
    assert [(u["name"], u["steps"]) for u in users] == [(team_a["name"], ["secret"])], users
    assert all(tasks[task].get("skipped") is True for task in MODULE_TASKS[:2])
    s3_client(data_services, team_a["name"], team_a["s3_secret_key"]).list_buckets()


def test_check_mode_reports_a_changed_inventory_and_changes_nothing(converge, cleanup, data_services, unique):
    variables = inventory(unique)
    register(cleanup, variables)
    assert converge(variables)[0] == 0
    rc, stats, _ = converge(variables, check=True)
    assert (rc, stats["changed"]) == (0, 0), stats  # converged: check mode predicts no change

    changed = json.loads(json.dumps(variables))
    changed["minio_buckets"][1]["scratch_expiration_days"] = 1
    changed["minio_buckets"].append({"name": f"new-{unique}", "versioning": True})
    changed["minio_teams"].append(
        {"name": f"tc-{unique}", "buckets": [f"tc-{unique}-data"], "s3_secret_key": f"secret-c-{unique}"}
    )
    register(cleanup, changed)

    rc, stats, tasks = converge(changed, check=True)
    assert rc == 0, tasks
    # The runs bucket's rules and the two new buckets; the new team's policy; its user.
    assert stats["changed"] == 3, stats
    # Only the buckets that differ reach the module (the comparison found them), each with its prediction: the
    # runs bucket's rules and the two new buckets.
    results = tasks["Buckets with their versioning and scratch-prefix expiry"]["results"]
    assert [(r["name"], r["changed"], r["steps"]) for r in results] == [
        (f"runs-{unique}", True, ["lifecycle"]),
        (f"new-{unique}", True, ["create", "versioning", "lifecycle"]),
        (f"tc-{unique}-data", True, ["create", "lifecycle"]),
    ], results

    s3, admin = s3_client(data_services), admin_client(data_services)
    assert not s3.bucket_exists(f"new-{unique}")
    assert not s3.bucket_exists(f"tc-{unique}-data")
    assert lifecycle(s3, f"runs-{unique}")["expire-tmp"] == ("tmp/", 3, None)
    assert user_policies(admin, f"tc-{unique}") is None

    rc, stats, _ = converge(changed)
    assert rc == 0
    assert stats["changed"] == 3, stats
    assert lifecycle(s3, f"runs-{unique}")["expire-tmp"] == ("tmp/", 1, None)
    assert s3.get_bucket_versioning(f"new-{unique}").status == "Enabled"
    assert user_policies(admin, f"tc-{unique}") == [f"tc-{unique}-rw"]
    assert converge(changed)[1]["changed"] == 0


def test_access_off_leaves_users_and_policies_alone(converge, cleanup, data_services, unique):
    """minio_access_enabled false, as for an S3 store that is not MinIO: only S3 calls are made."""
    variables = inventory(unique)
    register(cleanup, variables)
    rc, stats, tasks = converge({**variables, "minio_access_enabled": False})
    assert rc == 0, tasks
    assert stats["changed"] == 1, stats
    access = [name for name in tasks if name.endswith("(MinIO admin API)")]
    assert len(access) == 2, sorted(tasks)
    assert all(tasks[name].get("skipped") is True for name in access), [tasks[name] for name in access]
    s3, admin = s3_client(data_services), admin_client(data_services)
    assert s3.bucket_exists(f"ta-{unique}-data")
    assert user_policies(admin, f"ta-{unique}") is None


def test_a_bucket_named_twice_fails_before_any_change(converge, data_services, unique):
    variables = inventory(unique)
    variables["minio_buckets"].append({"name": f"ta-{unique}-data"})
    rc, stats, tasks = converge(variables)
    assert rc == 2
    check = tasks["Check the S3 provisioning settings"]
    assert check.get("failed") is True
    assert f"twice: ta-{unique}-data" in check["msg"]
    assert stats["changed"] == 0
    assert not s3_client(data_services).bucket_exists(f"artifacts-{unique}")


def test_an_endpoint_that_never_answers_fails_naming_it_after_the_wait(converge, unique):
    """The comparison with the endpoint waits for it first (minio_s3_wait_timeout): a port nobody serves fails
    it after that wait, naming the endpoint and what it last saw."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    variables = {**inventory(unique), "minio_s3_endpoint": f"http://127.0.0.1:{closed}", "minio_s3_wait_timeout": 3}
    rc, stats, tasks = converge(variables)
    assert rc == 2
    assert tasks["Compare the S3 endpoint with the inventory"].get("failed") is True
    # the comparison's task hides its result (no_log); the rescue says what failed, without a secret
    told = tasks["Say which S3 step failed and why"]["msg"]
    assert told.startswith("storage layer, minio: Compare the S3 endpoint with the inventory against")
    assert f"the S3 endpoint http://127.0.0.1:{closed}/ did not answer within 3 s" in told
    assert converge.base["minio_root_password"] not in told
    assert stats["changed"] == 0
