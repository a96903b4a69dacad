# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared client code for the minio_* modules: connection, buckets, users, policies.

The S3 side (buckets, versioning, lifecycle, object lock) and the admin side
(users, canned policies) both go through the `minio` Python package; its
MinioAdmin client implements the admin API's encrypted payloads. Everything
here that decides what to change is a pure function over plain dicts, so the
modules stay thin and the decisions are unit-tested without a server.
"""

from __future__ import absolute_import, division, print_function

import json
import time
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible.module_utils.six.moves.urllib.parse import urlsplit

MINIO_IMPORT_ERROR = None
try:
    from minio import Minio
    from minio.commonconfig import DISABLED, ENABLED, Filter
    from minio.credentials import StaticProvider
    from minio.deleteobjects import DeleteObject
    from minio.error import MinioAdminException, MinioException, S3Error
    from minio.lifecycleconfig import (
        Expiration,
        LifecycleConfig,
        NoncurrentVersionExpiration,
        Rule,
    )
    from minio.minioadmin import MinioAdmin
    from minio.objectlockconfig import DAYS, ObjectLockConfig
    from minio.versioningconfig import SUSPENDED, VersioningConfig
    from urllib3.exceptions import HTTPError as Urllib3Error

    HAS_MINIO = True
except ImportError:
    HAS_MINIO = False
    MINIO_IMPORT_ERROR = traceback.format_exc()


class MinioModuleError(Exception):
    """A MinIO request failed or the asked state cannot be reached."""


def minio_argument_spec():
    """Connection options shared by every minio_* module (see doc fragment baremetal.mlops.minio)."""
    return dict(
        endpoint=dict(type="str", required=True, fallback=(env_fallback, ["MINIO_ENDPOINT"])),
        # An account name, not a secret.
        access_key=dict(type="str", required=True, no_log=False, fallback=(env_fallback, ["MINIO_ACCESS_KEY"])),
        secret_key=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["MINIO_SECRET_KEY"])),
        region=dict(type="str", default="us-east-1"),
        validate_certs=dict(type="bool", default=True),
    )


def wait_argument_spec():
    """wait_timeout, of the modules that make a site's first calls to a server that may still be starting
    (doc fragment baremetal.mlops.minio.wait)."""
    return dict(wait_timeout=dict(type="int", default=0))


def require_minio(module):
    if not HAS_MINIO:
        module.fail_json(msg=missing_required_lib("minio"), exception=MINIO_IMPORT_ERROR)


class MinioItemError(MinioModuleError):
    """One item of a list form failed; names the item and keeps the results of the items before it."""

    def __init__(self, what, cause, results):
        super().__init__("%s: %s" % (what, describe(cause)))
        self.results = results


def domain_errors():
    """The exceptions a failed request or a refused state raises (known only once minio is imported)."""
    return (MinioModuleError, ValueError, MinioException, MinioAdminException, Urllib3Error)


def run_minio_module(module, work, what):
    """Run `work(module)` and exit with its result; every domain error becomes one fail_json here."""
    require_minio(module)
    try:
        result = work(module)
    except MinioItemError as exc:
        # The items before the failed one may have changed: say so, and what they did.
        changed = any(item["changed"] for item in exc.results)
        module.fail_json(msg=str(exc), exception=traceback.format_exc(), changed=changed, results=exc.results)
    except domain_errors() as exc:
        module.fail_json(msg="%s: %s" % (what, describe(exc)), exception=traceback.format_exc())
    module.exit_json(**result)


def subject(params, kind, list_option):
    """What a failure outside any one item names: 'bucket NAME' in the single form, 'buckets' in the list form."""
    return list_option if params[list_option] is not None else "%s %s" % (kind, params["name"])


def converge(module, kind, list_option, converge_item):
    """Converge the single item given by the module's own options, or every item of `list_option`.

    `converge_item(desired)` plans, applies (unless in check mode) and returns
    the item's result: name, changed, and diff in diff mode. The single form
    returns that result without the name; the list form returns
    `changed` (any item changed), `results` (one per item, in order) and, in
    diff mode, one diff per changed item. Items run in order over the
    module's one connection; the first that fails stops the run with an
    error naming it (MinioItemError).
    """
    items = module.params[list_option]
    if items is None:
        result = converge_item(module.params)
        result.pop("name", None)
        return result
    results = []
    for item in items:
        try:
            results.append(converge_item(item))
        except domain_errors() as exc:
            raise MinioItemError("%s %s" % (kind, item["name"]), exc, results) from exc
    result = dict(changed=any(item["changed"] for item in results), results=results)
    if module._diff:
        header = "%s %%s" % kind
        result["diff"] = [
            dict(item["diff"], before_header=header % item["name"], after_header=header % item["name"])
            for item in results
            if item["changed"]
        ]
    return result


def list_form_checks(item_options, list_option):
    """AnsibleModule checks for a module with a list form: the name or the list, never both forms at once."""
    return dict(
        mutually_exclusive=[(list_option, option) for option in item_options],
        required_one_of=[("name", list_option)],
    )


def split_endpoint(endpoint):
    """'https://host:9000' -> ('host:9000', True). A bare host:port means http."""
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MinioModuleError("endpoint must look like http(s)://host[:port], got %r" % endpoint)
    if parts.path not in ("", "/"):
        raise MinioModuleError("endpoint must not carry a path, got %r" % endpoint)
    return parts.netloc, parts.scheme == "https"


# Any S3 server answers an unsigned GET / : 403 AccessDenied, 400, or a listing.
ANSWERING_STATUSES = (200, 400, 403)


def wait_for_endpoint(endpoint, validate_certs, timeout, pool=None, clock=time.monotonic, sleep=time.sleep):
    """Return once `endpoint` answers an unsigned GET / as an S3 server does; waits at most `timeout` seconds.

    Refused connections and other statuses (a proxy's 502 or 503 while the server starts) are waited out,
    every 2 seconds. `pool` is a urllib3 PoolManager (a parameter for the tests).
    """
    netloc, secure = split_endpoint(endpoint)
    url = "%s://%s/" % ("https" if secure else "http", netloc)
    if pool is None:
        import urllib3

        pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED" if validate_certs else "CERT_NONE")
    deadline = clock() + timeout
    while True:
        try:
            response = pool.request("GET", url, retries=False, timeout=5.0, preload_content=True)
            last = "HTTP %s" % response.status
            if response.status in ANSWERING_STATUSES:
                return
        except Urllib3Error as exc:
            last = str(exc)
        if clock() >= deadline:
            raise MinioModuleError("the S3 endpoint %s did not answer within %s s (last: %s)" % (url, timeout, last))
        sleep(2)


def connect(params, access_key=None, secret_key=None):
    """Return (s3 client, admin client) for the module's connection options.

    A module with wait_timeout (wait_argument_spec) first waits that long for the endpoint to answer.
    """
    if params.get("wait_timeout"):
        wait_for_endpoint(params["endpoint"], params["validate_certs"], params["wait_timeout"])
    netloc, secure = split_endpoint(params["endpoint"])
    access_key = access_key or params["access_key"]
    secret_key = secret_key or params["secret_key"]
    s3 = Minio(
        netloc,
        access_key=access_key,
        secret_key=secret_key,
        region=params["region"],
        secure=secure,
        cert_check=params["validate_certs"],
    )
    admin = MinioAdmin(
        endpoint=netloc,
        credentials=StaticProvider(access_key, secret_key),
        region=params["region"],
        secure=secure,
        cert_check=params["validate_certs"],
    )
    return s3, admin


def describe(exc):
    """One line for a failed request, without the credentials."""
    if HAS_MINIO and isinstance(exc, S3Error):
        return "%s: %s" % (exc.code, exc.message)
    if HAS_MINIO and isinstance(exc, MinioAdminException):
        try:
            body = json.loads(exc._body)
            return "%s: %s (HTTP %s)" % (body.get("Code"), body.get("Message"), exc._code)
        except (ValueError, AttributeError):
            return "HTTP %s: %s" % (getattr(exc, "_code", "?"), getattr(exc, "_body", exc))
    return str(exc)


def admin_error_code(exc):
    try:
        return json.loads(exc._body).get("Code")
    except (ValueError, AttributeError):
        return None


# ---------------------------------------------------------------- buckets


def lifecycle_rule_to_dict(rule):
    """A minio lifecycle Rule as the module's rule dict."""
    prefix = ""
    if rule.rule_filter is not None and rule.rule_filter.prefix is not None:
        prefix = rule.rule_filter.prefix
    expiration = rule.expiration.days if rule.expiration else None
    noncurrent = rule.noncurrent_version_expiration.noncurrent_days if rule.noncurrent_version_expiration else None
    return normalize_rule(
        dict(
            id=rule.rule_id,
            prefix=prefix,
            enabled=rule.status == ENABLED,
            expiration_days=expiration,
            noncurrent_expiration_days=noncurrent,
        )
    )


# MinIO accepts but drops AbortIncompleteMultipartUpload (it expires stale
# uploads itself, setting api.stale_uploads_expiry), so the module offers
# only the two actions a re-read returns.
RULE_ACTIONS = ("expiration_days", "noncurrent_expiration_days")


def normalize_rule(rule):
    keys = RULE_ACTIONS
    out = dict(id=rule["id"], prefix=rule.get("prefix") or "", enabled=bool(rule.get("enabled", True)))
    for key in keys:
        out[key] = rule.get(key) or None
    return out


def validate_rules(rules):
    """Raise MinioModuleError for rules a server would reject, naming the rule."""
    seen = set()
    for rule in rules:
        if rule["id"] in seen:
            raise MinioModuleError("lifecycle rule id %r is used twice" % rule["id"])
        seen.add(rule["id"])
        actions = RULE_ACTIONS
        if not any(rule.get(key) for key in actions):
            raise MinioModuleError("lifecycle rule %r needs at least one of %s" % (rule["id"], ", ".join(actions)))
        for key in actions:
            if rule.get(key) is not None and rule[key] < 1:
                raise MinioModuleError("lifecycle rule %r: %s must be at least 1" % (rule["id"], key))


def rule_to_minio(rule):
    return Rule(
        ENABLED if rule["enabled"] else DISABLED,
        rule_filter=Filter(prefix=rule["prefix"]),
        rule_id=rule["id"],
        expiration=Expiration(days=rule["expiration_days"]) if rule["expiration_days"] else None,
        noncurrent_version_expiration=(
            NoncurrentVersionExpiration(noncurrent_days=rule["noncurrent_expiration_days"])
            if rule["noncurrent_expiration_days"]
            else None
        ),
    )


# Answers to GetObjectLockConfiguration that mean "this bucket has none".
NO_OBJECT_LOCK_CODES = ("ObjectLockConfigurationNotFoundError", "NotImplemented")


def read_bucket(s3, name):
    """The bucket's state as a plain dict, or None when it does not exist."""
    if not s3.bucket_exists(name):
        return None
    versioning = s3.get_bucket_versioning(name).status
    lifecycle = s3.get_bucket_lifecycle(name)
    rules = [lifecycle_rule_to_dict(r) for r in lifecycle.rules] if lifecycle else []
    try:
        lock = s3.get_object_lock_config(name)
        object_lock = True
        retention = dict(mode=lock.mode, days=lock.duration) if lock.mode else None
    except S3Error as exc:
        # Not configured (AWS, MinIO), or a store without object lock at all.
        if exc.code not in NO_OBJECT_LOCK_CODES:
            raise
        object_lock, retention = False, None
    return dict(
        name=name,
        versioning=versioning_name(versioning),
        object_lock=object_lock,
        object_lock_retention=retention,
        lifecycle_rules=sorted(rules, key=lambda r: r["id"]),
    )


def versioning_name(status):
    """S3's Enabled/Suspended/Off (never set) as the module's enabled/suspended/disabled."""
    return {"Enabled": "enabled", "Suspended": "suspended"}.get(status or "", "disabled")


def plan_bucket(current, desired):
    """What to change to get from `current` (read_bucket or None) to `desired` (module params).

    Returns a list of step names, in the order they must run. Options left
    at None in `desired` are not managed.
    """
    if desired["state"] == "absent":
        return ["delete"] if current is not None else []
    steps = []
    creating = current is None
    if creating:
        current = dict(versioning="disabled", object_lock=bool(desired["object_lock"]), lifecycle_rules=[])
        current["object_lock_retention"] = None
        steps.append("create")
    elif desired["object_lock"] is not None and desired["object_lock"] != current["object_lock"]:
        raise MinioModuleError(
            "object lock of bucket %r can only be chosen when the bucket is created (it is %s)"
            % (desired["name"], "on" if current["object_lock"] else "off")
        )
    versioning = desired["versioning"]
    if current["object_lock"] and versioning not in (None, "enabled"):
        raise MinioModuleError("bucket %r has object lock, which needs versioning enabled" % desired["name"])
    if creating and desired["object_lock"]:
        # MinIO turns versioning on with object lock.
        current["versioning"] = "enabled"
    if versioning == "disabled" and current["versioning"] != "disabled":
        raise MinioModuleError(
            "versioning of bucket %r cannot go back to disabled once on; use suspended" % desired["name"]
        )
    if versioning is not None and versioning != current["versioning"]:
        steps.append("versioning")
    if desired["lifecycle_rules"] is not None:
        wanted = sorted((normalize_rule(r) for r in desired["lifecycle_rules"]), key=lambda r: r["id"])
        validate_rules(wanted)
        if wanted != current["lifecycle_rules"]:
            steps.append("lifecycle")
    retention = desired.get("object_lock_retention")
    if retention is not None:
        if not (current["object_lock"] or desired["object_lock"]):
            raise MinioModuleError("object_lock_retention needs object_lock on bucket %r" % desired["name"])
        if dict(mode=retention["mode"], days=retention["days"]) != current["object_lock_retention"]:
            steps.append("retention")
    return steps


def desired_bucket_view(current, desired):
    """The bucket as it will be after the plan: the diff's `after`."""
    if desired["state"] == "absent":
        return None
    after = dict(current) if current else dict(name=desired["name"], versioning="disabled", lifecycle_rules=[])
    after.setdefault("object_lock", bool(desired["object_lock"]))
    after.setdefault("object_lock_retention", None)
    if current is None and desired["object_lock"]:
        after["versioning"] = "enabled"
    if desired["versioning"] is not None:
        after["versioning"] = desired["versioning"]
    if desired["lifecycle_rules"] is not None:
        after["lifecycle_rules"] = sorted(
            (normalize_rule(r) for r in desired["lifecycle_rules"]), key=lambda r: r["id"]
        )
    if desired.get("object_lock_retention") is not None:
        retention = desired["object_lock_retention"]
        after["object_lock_retention"] = dict(mode=retention["mode"], days=retention["days"])
    return after


def apply_bucket(s3, desired, steps):
    name = desired["name"]
    for step in steps:
        if step == "delete":
            if desired["force"]:
                empty_bucket(s3, name)
            s3.remove_bucket(name)
        elif step == "create":
            s3.make_bucket(name, location=desired["region"], object_lock=bool(desired["object_lock"]))
        elif step == "versioning":
            status = ENABLED if desired["versioning"] == "enabled" else SUSPENDED
            s3.set_bucket_versioning(name, VersioningConfig(status))
        elif step == "lifecycle":
            rules = [rule_to_minio(normalize_rule(r)) for r in desired["lifecycle_rules"]]
            if rules:
                s3.set_bucket_lifecycle(name, LifecycleConfig(rules))
            else:
                s3.delete_bucket_lifecycle(name)
        elif step == "retention":
            retention = desired["object_lock_retention"]
            s3.set_object_lock_config(name, ObjectLockConfig(retention["mode"], retention["days"], DAYS))


def empty_bucket(s3, name):
    """Delete every object version and delete marker (force: true on state absent)."""
    objects = [
        DeleteObject(obj.object_name, obj.version_id)
        for obj in s3.list_objects(name, recursive=True, include_version=True)
    ]
    for failure in s3.remove_objects(name, iter(objects)):
        raise MinioModuleError("cannot delete %s from bucket %r: %s" % (failure.name, name, failure.message))


# --------------------------------------------------------------- policies


def _as_sorted_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return sorted(value)
    return [value]


def normalize_policy(document):
    """A policy document in a canonical form, so two equal policies compare equal.

    MinIO may store Action/Resource as a string or list, in any order, and
    add the Version; statement order does not matter.
    """
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    canonical = []
    for statement in statements:
        item = {}
        for key, value in statement.items():
            if key in ("Action", "NotAction", "Resource", "NotResource"):
                item[key] = _as_sorted_list(value)
            else:
                item[key] = value
        canonical.append(item)
    canonical.sort(key=lambda s: json.dumps(s, sort_keys=True))
    return {"Version": document.get("Version", "2012-10-17"), "Statement": canonical}


BUCKET_ACCESS_ACTIONS = {
    "read": ["s3:GetBucketLocation", "s3:ListBucket"],
    "read_objects": ["s3:GetObject"],
    "write": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
    "write_objects": [
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:ListMultipartUploadParts",
        "s3:PutObject",
    ],
}


def bucket_policy(buckets, access):
    """A policy granting `access` (read-only or read-write) on whole buckets and their objects."""
    if not buckets:
        raise MinioModuleError("buckets must name at least one bucket")
    bucket_arns = ["arn:aws:s3:::%s" % b for b in buckets]
    object_arns = ["arn:aws:s3:::%s/*" % b for b in buckets]
    kind = "write" if access == "read-write" else "read"
    return normalize_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": BUCKET_ACCESS_ACTIONS[kind], "Resource": bucket_arns},
                {"Effect": "Allow", "Action": BUCKET_ACCESS_ACTIONS[kind + "_objects"], "Resource": object_arns},
            ],
        }
    )


def read_policy(admin, name):
    """The canned policy's document (normalized), or None when it does not exist."""
    try:
        info = json.loads(admin.policy_info(name))
    except MinioAdminException as exc:
        if admin_error_code(exc) in ("XMinioAdminNoSuchPolicy",):
            return None
        raise
    # Newer servers wrap the document: {"PolicyName": ..., "Policy": {...}}.
    document = info.get("Policy", info) if isinstance(info, dict) else info
    return normalize_policy(document)


# ------------------------------------------------------------------ users


def read_user(admin, access_key):
    """{'status': 'enabled'|'disabled', 'policies': [...]} or None when the user does not exist."""
    try:
        info = json.loads(admin.user_info(access_key))
    except MinioAdminException as exc:
        if admin_error_code(exc) in ("XMinioAdminNoSuchUser",):
            return None
        raise
    policies = [p for p in (info.get("policyName") or "").split(",") if p]
    return dict(status=info.get("status", "enabled"), policies=sorted(policies))


def secret_matches(params, access_key, secret_key):
    """True when the S3 endpoint accepts this key pair (a wrong secret fails the signature check)."""
    # the connection of `params` already waited for the endpoint (wait_timeout); this one need not again
    s3, _admin = connect(dict(params, wait_timeout=0), access_key=access_key, secret_key=secret_key)
    try:
        s3.list_buckets()
    except S3Error as exc:
        if exc.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId"):
            return False
        if exc.code == "AccessDenied":
            return True
        raise
    return True


def plan_user(current, desired, secret_ok):
    """Steps to reach `desired` from `current` (read_user or None).

    `secret_ok` tells whether the stored secret already matches (None when
    it was not checked). `policies` None means the policies are not managed.
    """
    if desired["state"] == "absent":
        return ["delete"] if current is not None else []
    if current is None:
        steps = ["create"]
        if desired["policies"]:
            steps.append("policies")
        if desired["status"] == "disabled":
            steps.append("status")
        return steps
    steps = []
    if desired["update_secret"] == "always" and secret_ok is False:
        steps.append("secret")
    if desired["policies"] is not None and sorted(desired["policies"]) != current["policies"]:
        steps.append("policies")
    if desired["status"] != current["status"]:
        steps.append("status")
    return steps


def apply_user(admin, desired, current, steps):
    name = desired["name"]
    current_policies = set(current["policies"]) if current else set()
    for step in steps:
        if step == "delete":
            admin.user_remove(name)
        elif step in ("create", "secret"):
            # Adding an existing user sets its secret.
            admin.user_add(name, desired["secret"])
        elif step == "policies":
            wanted = set(desired["policies"])
            if current_policies - wanted:
                admin.detach_policy(sorted(current_policies - wanted), user=name)
            if wanted - current_policies:
                admin.attach_policy(sorted(wanted - current_policies), user=name)
        elif step == "status":
            if desired["status"] == "enabled":
                admin.user_enable(name)
            else:
                admin.user_disable(name)


# ------------------------------------------------ items of the list forms
# The options of one item, and the planning of one item, shared by the
# modules (which then apply the plan) and by lookup minio_pending (which
# only asks whether there is one, in the task's own process).


def bucket_options():
    """The options of one bucket: the module's own (single form) and those of each O(buckets) item."""
    return dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        versioning=dict(type="str", choices=["enabled", "suspended", "disabled"]),
        object_lock=dict(type="bool"),
        object_lock_retention=dict(
            type="dict",
            options=dict(
                mode=dict(type="str", required=True, choices=["GOVERNANCE", "COMPLIANCE"]),
                days=dict(type="int", required=True),
            ),
        ),
        lifecycle_rules=dict(
            type="list",
            elements="dict",
            options=dict(
                id=dict(type="str", required=True),
                prefix=dict(type="str", default=""),
                enabled=dict(type="bool", default=True),
                expiration_days=dict(type="int"),
                noncurrent_expiration_days=dict(type="int"),
            ),
        ),
        force=dict(type="bool", default=False),
    )


def bucket_list_spec():
    """The O(buckets) option of minio_bucket (and of lookup minio_pending)."""
    return dict(type="list", elements="dict", options=bucket_options())


def bucket_steps(s3, desired):
    """(current, steps) of one bucket: read_bucket and plan_bucket. `desired` holds the bucket's options and the
    connection's region."""
    current = read_bucket(s3, desired["name"])
    return current, plan_bucket(current, desired)


def policy_options():
    """The options of one policy: the module's own (single form) and those of each O(policies) item."""
    return dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        policy=dict(type="raw"),
        buckets=dict(type="list", elements="str"),
        access=dict(type="str", default="read-write", choices=["read-only", "read-write"]),
    )


def policy_list_spec():
    """The O(policies) option of minio_policy (and of lookup minio_pending)."""
    return dict(
        type="list",
        elements="dict",
        options=policy_options(),
        mutually_exclusive=[("policy", "buckets")],
        required_if=[("state", "present", ("policy", "buckets"), True)],
    )


def wanted_policy(params):
    if params["buckets"] is not None:
        return bucket_policy(params["buckets"], params["access"])
    document = params["policy"]
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise MinioModuleError("policy is not valid JSON: %s" % exc) from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise MinioModuleError("policy must be a mapping with a Statement list")
    return normalize_policy(document)


def policy_change(admin, desired):
    """(current, after, changed) of one canned policy; `after` is None when it is to be absent."""
    current = read_policy(admin, desired["name"])
    if desired["state"] == "absent":
        return current, None, current is not None
    after = wanted_policy(desired)
    return current, after, after != current


def user_options():
    """The options of one user: the module's own (single form) and those of each O(users) item."""
    return dict(
        name=dict(type="str", required=True),
        secret=dict(type="str", no_log=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        status=dict(type="str", default="enabled", choices=["enabled", "disabled"]),
        policies=dict(type="list", elements="str"),
        update_secret=dict(type="str", default="always", choices=["always", "on_create"], no_log=False),
    )


def user_list_spec():
    """The O(users) option of minio_user (and of lookup minio_pending)."""
    return dict(type="list", elements="dict", options=user_options())


def user_steps(params, admin, desired):
    """(current, steps) of one user. `params` are the connection options: the user's secret is checked by
    signing a request with it (secret_matches)."""
    name = desired["name"]
    current = read_user(admin, name)
    if desired["state"] == "present":
        if current is None and not desired["secret"]:
            raise MinioModuleError("secret is required to create user %s" % name)
        if desired["secret"] is not None and not 8 <= len(desired["secret"]) <= 40:
            raise MinioModuleError("secret must be 8 to 40 characters long")
    secret_ok = None
    check_secret = desired["state"] == "present" and desired["update_secret"] == "always" and desired["secret"]
    # A disabled user cannot sign requests, so its secret cannot be checked; it is left as is.
    if current is not None and current["status"] == "enabled" and check_secret:
        secret_ok = secret_matches(params, name, desired["secret"])
    return current, plan_user(current, desired, secret_ok)
