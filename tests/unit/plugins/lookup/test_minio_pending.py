"""lookup minio_pending: what the minio modules would change, asked of the same in-memory server they converge."""

from __future__ import annotations

import pytest
import yaml
from ansible import constants as C
from ansible.errors import AnsibleLookupError

from ansible_collections.baremetal.mlops.plugins.lookup import minio_pending
from ansible_collections.baremetal.mlops.plugins.module_utils import minio as minio_utils
from ansible_collections.baremetal.mlops.plugins.modules import minio_bucket, minio_policy, minio_user
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import FakeAdmin, FakeS3, run_module

CONNECTION = dict(endpoint="http://127.0.0.1:19000", access_key="admin", secret_key="admin-secret")
BUCKETS = [
    {"name": "team-a-data", "versioning": "enabled"},
    {"name": "scratch", "lifecycle_rules": [{"id": "expire-tmp", "prefix": "tmp/", "expiration_days": 7}]},
]
POLICIES = [{"name": "team-a-rw", "buckets": ["team-a-data"], "access": "read-write"}]
USERS = [{"name": "team-a", "secret": "team-a-secret-1", "policies": ["team-a-rw"]}]


@pytest.fixture
def server(monkeypatch):
    """One in-memory S3 and admin API behind the modules and the lookup alike; the signature check accepts
    exactly a user's stored secret."""
    s3, admin = FakeS3(), FakeAdmin()
    opened = []

    def connect(params, **kwargs):
        opened.append(params.get("wait_timeout"))
        return s3, admin

    for module in (minio_bucket, minio_policy, minio_user, minio_utils):
        monkeypatch.setattr(module, "connect", connect)
    monkeypatch.setattr(
        minio_utils, "secret_matches", lambda params, name, secret: admin.users[name].get("secret") == secret
    )
    return s3, admin, opened


def converge():
    for main, option, items in (
        (minio_bucket.main, "buckets", BUCKETS),
        (minio_policy.main, "policies", POLICIES),
        (minio_user.main, "users", USERS),
    ):
        result, failed = run_module(main, dict(CONNECTION, **{option: items}))
        assert not failed, result


def pending(**options):
    """The lookup as the plugin loader hands it out (options from its documentation)."""
    name = "baremetal.mlops.minio_pending"
    C.config.initialize_plugin_configuration_definitions(
        "lookup", name, yaml.safe_load(minio_pending.DOCUMENTATION)["options"]
    )
    plugin = minio_pending.LookupModule()
    plugin._load_name = name
    (found,) = plugin.run([], **dict(CONNECTION, **options))
    return found


def test_everything_is_pending_on_an_empty_server_and_nothing_once_the_modules_converged(server):
    s3, admin, opened = server
    assert pending(buckets=BUCKETS, policies=POLICIES, users=USERS, wait_timeout=30) == dict(
        buckets=BUCKETS, policies=POLICIES, users=USERS
    )
    assert opened == [30]
    assert not s3.bucket_exists("team-a-data") and admin.users == {} and admin.policies == {}  # it only reads
    converge()
    assert pending(buckets=BUCKETS, policies=POLICIES, users=USERS) == dict(buckets=[], policies=[], users=[])


def test_each_kind_of_difference_is_found_and_only_its_item_returned(server):
    s3, admin, _opened = server
    converge()
    # a bucket's lifecycle changed outside, a policy widened by hand, a user's secret rotated elsewhere
    s3.delete_bucket_lifecycle("scratch")
    admin.policies["team-a-rw"] = minio_utils.bucket_policy(["team-a-data", "other"], "read-write")
    admin.users["team-a"]["secret"] = "rotated-elsewhere"
    assert pending(buckets=BUCKETS, policies=POLICIES, users=USERS) == dict(
        buckets=[BUCKETS[1]], policies=POLICIES, users=USERS
    )


def test_a_new_inventory_value_is_pending_as_given_without_the_module_defaults(server):
    converge()
    wider = [{**POLICIES[0], "access": "read-only"}]
    more = [*BUCKETS, {"name": "new-bucket"}]
    found = pending(buckets=more, policies=wider)
    assert found == dict(buckets=[{"name": "new-bucket"}], policies=wider, users=[])


def test_an_item_the_module_would_refuse_is_refused_here_first(server):
    with pytest.raises(AnsibleLookupError, match=r"minio_pending: .*missing required arguments: name"):
        pending(buckets=[{"versioning": "enabled"}])
    with pytest.raises(AnsibleLookupError, match=r"minio_pending: .*mutually exclusive: policy\|buckets"):
        pending(policies=[{"name": "p", "buckets": ["a"], "policy": {"Statement": []}}])
    with pytest.raises(AnsibleLookupError, match="minio_pending: secret is required to create user new"):
        pending(users=[{"name": "new"}])


def test_a_server_that_does_not_answer_is_one_lookup_error(monkeypatch):
    def connect(params, **kwargs):
        raise minio_utils.MinioModuleError("the S3 endpoint http://127.0.0.1:19000/ did not answer within 3 s")

    monkeypatch.setattr(minio_utils, "connect", connect)
    with pytest.raises(AnsibleLookupError, match=r"^minio_pending: the S3 endpoint .* did not answer within 3 s"):
        pending(buckets=BUCKETS)
