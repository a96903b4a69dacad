"""Pure decisions of module_utils/minio.py: endpoints, lifecycle rules, policies, plans."""

from __future__ import annotations

import pytest

from ansible_collections.baremetal.mlops.plugins.module_utils import minio as mu


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://127.0.0.1:9000", ("127.0.0.1:9000", False)),
        ("https://minio.example:443", ("minio.example:443", True)),
        ("minio.ml-storage.svc:9000", ("minio.ml-storage.svc:9000", False)),
        ("http://minio:9000/", ("minio:9000", False)),
    ],
)
def test_split_endpoint(endpoint, expected):
    assert mu.split_endpoint(endpoint) == expected


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("ftp://minio:21", "endpoint must look like http(s)://host[:port], got 'ftp://minio:21'"),
        ("http://minio:9000/bucket", "endpoint must not carry a path, got 'http://minio:9000/bucket'"),
    ],
)
def test_split_endpoint_rejects(endpoint, message):
    with pytest.raises(mu.MinioModuleError) as err:
        mu.split_endpoint(endpoint)
    assert str(err.value) == message


def bucket_params(**kwargs):
    params = dict(
        name="b",
        state="present",
        region="us-east-1",
        versioning=None,
        object_lock=None,
        object_lock_retention=None,
        lifecycle_rules=None,
        force=False,
    )
    params.update(kwargs)
    return params


def existing(**kwargs):
    bucket = dict(name="b", versioning="disabled", object_lock=False, object_lock_retention=None, lifecycle_rules=[])
    bucket.update(kwargs)
    return bucket


RULE = dict(id="scratch", prefix="scratch/", enabled=True, expiration_days=30, noncurrent_expiration_days=None)


@pytest.mark.parametrize(
    ("current", "params", "steps"),
    [
        (None, bucket_params(), ["create"]),
        (None, bucket_params(versioning="enabled", lifecycle_rules=[RULE]), ["create", "versioning", "lifecycle"]),
        (None, bucket_params(object_lock=True, versioning="enabled"), ["create"]),
        (existing(), bucket_params(), []),
        (existing(versioning="enabled"), bucket_params(versioning="enabled"), []),
        (existing(versioning="enabled"), bucket_params(versioning="suspended"), ["versioning"]),
        (existing(lifecycle_rules=[RULE]), bucket_params(lifecycle_rules=[dict(RULE)]), []),
        (existing(lifecycle_rules=[RULE]), bucket_params(lifecycle_rules=[]), ["lifecycle"]),
        (existing(lifecycle_rules=[RULE]), bucket_params(), []),
        (
            existing(object_lock=True, versioning="enabled"),
            bucket_params(object_lock_retention=dict(mode="GOVERNANCE", days=7)),
            ["retention"],
        ),
        (
            existing(object_lock=True, versioning="enabled", object_lock_retention=dict(mode="GOVERNANCE", days=7)),
            bucket_params(object_lock_retention=dict(mode="GOVERNANCE", days=7)),
            [],
        ),
        (existing(), bucket_params(state="absent"), ["delete"]),
        (None, bucket_params(state="absent"), []),
    ],
)
def test_plan_bucket(current, params, steps):
    assert mu.plan_bucket(current, params) == steps


@pytest.mark.parametrize(
    ("current", "params", "message"),
    [
        (
            existing(),
            bucket_params(object_lock=True),
            "object lock of bucket 'b' can only be chosen when the bucket is created (it is off)",
        ),
        (
            existing(versioning="enabled"),
            bucket_params(versioning="disabled"),
            "versioning of bucket 'b' cannot go back to disabled once on; use suspended",
        ),
        (
            existing(object_lock=True, versioning="enabled"),
            bucket_params(versioning="suspended"),
            "bucket 'b' has object lock, which needs versioning enabled",
        ),
        (
            existing(),
            bucket_params(object_lock_retention=dict(mode="COMPLIANCE", days=1)),
            "object_lock_retention needs object_lock on bucket 'b'",
        ),
        (
            existing(),
            bucket_params(lifecycle_rules=[dict(id="x", prefix="")]),
            "lifecycle rule 'x' needs at least one of expiration_days, noncurrent_expiration_days",
        ),
        (
            existing(),
            bucket_params(lifecycle_rules=[RULE, RULE]),
            "lifecycle rule id 'scratch' is used twice",
        ),
        (
            existing(),
            bucket_params(lifecycle_rules=[dict(RULE, expiration_days=0, noncurrent_expiration_days=-1)]),
            "lifecycle rule 'scratch': noncurrent_expiration_days must be at least 1",
        ),
    ],
)
def test_plan_bucket_refuses(current, params, message):
    with pytest.raises(mu.MinioModuleError) as err:
        mu.plan_bucket(current, params)
    assert str(err.value) == message


def test_desired_view_matches_a_created_locked_bucket():
    params = bucket_params(object_lock=True, object_lock_retention=dict(mode="COMPLIANCE", days=3))
    assert mu.desired_bucket_view(None, params) == dict(
        name="b",
        versioning="enabled",
        object_lock=True,
        object_lock_retention=dict(mode="COMPLIANCE", days=3),
        lifecycle_rules=[],
    )
    assert mu.desired_bucket_view(existing(), bucket_params(state="absent")) is None


def test_lifecycle_rule_round_trip():
    rule = dict(id="old", prefix="", enabled=False, expiration_days=None, noncurrent_expiration_days=90)
    assert mu.lifecycle_rule_to_dict(mu.rule_to_minio(rule)) == rule


def test_normalize_policy_ignores_order_and_shape():
    one = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::a/*"]},
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": "arn:aws:s3:::a"},
        ]
    }
    two = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"], "Resource": ["arn:aws:s3:::a"]},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::a/*"},
        ],
    }
    assert mu.normalize_policy(one) == mu.normalize_policy(two)
    assert mu.normalize_policy('{"Statement": {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}}') == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": ["s3:*"], "Resource": ["*"]}],
    }


def test_bucket_policy_scopes_to_the_buckets():
    policy = mu.bucket_policy(["team-a"], "read-only")
    resources = sorted(r for s in policy["Statement"] for r in s["Resource"])
    assert resources == ["arn:aws:s3:::team-a", "arn:aws:s3:::team-a/*"]
    actions = sorted(a for s in policy["Statement"] for a in s["Action"])
    assert "s3:PutObject" not in actions
    assert "s3:PutObject" in str(mu.bucket_policy(["team-a"], "read-write"))
    with pytest.raises(mu.MinioModuleError, match="buckets must name at least one bucket"):
        mu.bucket_policy([], "read-only")


def user_params(**kwargs):
    params = dict(name="u", secret="s3cretkey", state="present", status="enabled", policies=None)
    params["update_secret"] = "always"
    params.update(kwargs)
    return params


@pytest.mark.parametrize(
    ("current", "params", "secret_ok", "steps"),
    [
        (None, user_params(), None, ["create"]),
        (None, user_params(policies=["p"], status="disabled"), None, ["create", "policies", "status"]),
        (dict(status="enabled", policies=["p"]), user_params(policies=["p"]), True, []),
        (dict(status="enabled", policies=["p"]), user_params(), False, ["secret"]),
        (dict(status="enabled", policies=["p"]), user_params(update_secret="on_create"), False, []),
        (dict(status="enabled", policies=["p", "q"]), user_params(policies=["q"]), True, ["policies"]),
        (dict(status="enabled", policies=[]), user_params(status="disabled"), None, ["status"]),
        (dict(status="enabled", policies=[]), user_params(state="absent"), None, ["delete"]),
        (None, user_params(state="absent"), None, []),
    ],
)
def test_plan_user(current, params, secret_ok, steps):
    assert mu.plan_user(current, params, secret_ok) == steps


class Answers:
    """A urllib3 PoolManager stand-in: each request takes the next answer (a status, or an exception to raise)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.urls = []

    def request(self, method, url, **kwargs):
        self.urls.append((method, url))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return type("Response", (), {"status": answer})()


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_wait_for_endpoint_waits_out_refusals_and_proxy_errors_until_an_s3_answer():
    from urllib3.exceptions import NewConnectionError

    clock = Clock()
    pool = Answers(NewConnectionError(None, "Connection refused"), 503, 403)
    mu.wait_for_endpoint("https://minio.example:9000/", True, 60, pool=pool, clock=clock, sleep=clock.sleep)
    assert pool.urls == [("GET", "https://minio.example:9000/")] * 3
    assert clock.slept == [2, 2]


def test_wait_for_endpoint_gives_up_at_its_timeout_naming_the_last_answer():
    clock = Clock()
    pool = Answers(*[502] * 10)
    with pytest.raises(mu.MinioModuleError, match=r"http://minio:9000/ did not answer within 5 s \(last: HTTP 502\)"):
        mu.wait_for_endpoint("minio:9000", False, 5, pool=pool, clock=clock, sleep=clock.sleep)
    assert clock.now >= 5 and len(pool.urls) == 4


def test_wait_for_endpoint_against_real_sockets():
    """A server that answers as S3 does is ready at once; a port nobody listens on is named with the refusal."""
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Denied(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Denied)
    threading.Thread(target=server.handle_request, daemon=True).start()
    mu.wait_for_endpoint(f"http://127.0.0.1:{server.server_address[1]}", True, 0)
    server.server_close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(mu.MinioModuleError, match=r"did not answer within 0 s .*(refused|Connection)"):
        mu.wait_for_endpoint(f"http://127.0.0.1:{closed}", True, 0)


def test_connect_waits_only_when_the_module_has_a_wait_timeout(monkeypatch):
    waited = []
    monkeypatch.setattr(mu, "wait_for_endpoint", lambda endpoint, verify, timeout: waited.append((endpoint, timeout)))
    params = dict(endpoint="http://127.0.0.1:19000", access_key="a", secret_key="b", region="us-east-1")
    mu.connect(dict(params, validate_certs=True))
    mu.connect(dict(params, validate_certs=True, wait_timeout=0))
    assert waited == []
    mu.connect(dict(params, validate_certs=True, wait_timeout=300))
    assert waited == [("http://127.0.0.1:19000", 300)]


def test_a_secret_check_does_not_wait_for_the_endpoint_again(monkeypatch):
    """The module's own connection waited already; each user's signature check connects without waiting."""
    seen = []

    class S3:
        def list_buckets(self):
            return []

    monkeypatch.setattr(
        mu, "connect", lambda params, access_key=None, secret_key=None: seen.append(params) or (S3(), None)
    )
    params = dict(endpoint="http://127.0.0.1:19000", access_key="a", secret_key="b", wait_timeout=300)
    assert mu.secret_matches(params, "team-a", "team-a-secret") is True
    assert seen[0]["wait_timeout"] == 0 and params["wait_timeout"] == 300
