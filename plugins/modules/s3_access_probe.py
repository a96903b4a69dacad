#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: s3_access_probe
short_description: Probe what a pair of S3 keys may do in a bucket
version_added: 0.1.0
description:
  - Try S3 operations (check the bucket, put, get, delete or list objects) on a
    MinIO or other S3-compatible server with the given keys, and report for each
    whether the server allowed or denied it.
  - A denial is a result, not a failure, so a play can assert both that a team's
    own keys may write its bucket and that another team's keys may not.
  - The module fails only when the server cannot be reached or answers with an
    error that says nothing about access.
  - A probe object that O(operations) puts is deleted again when V(delete) is listed too.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
extends_documentation_fragment:
  - baremetal.mlops.minio
attributes:
  check_mode:
    support: partial
    description: Can run in check mode and tells what it could read.
    details:
      - V(put) and V(delete) are skipped (reported as V(skipped)); the read
        operations run, and a V(get) of a missing object still proves read access.
  diff_mode:
    support: none
    description: The probe changes nothing it leaves behind, so there is nothing to show.
options:
  bucket:
    description: The bucket to probe.
    type: str
    required: true
  key:
    description: Object key used by V(put), V(get) and V(delete).
    type: str
    default: platform-verify/probe.txt
  content:
    description: Body of the probe object that V(put) writes and V(get) compares.
    type: str
    default: baremetal.mlops access probe
  operations:
    description:
      - The operations to try, in this order.
      - V(bucket) checks that the bucket exists; V(list) lists objects under O(prefix).
    type: list
    elements: str
    choices: [bucket, put, get, delete, list]
    default: [put, get, delete]
  prefix:
    description: Prefix of the objects V(list) returns.
    type: str
    default: ""
  max_keys:
    description: At most this many object names are returned by V(list).
    type: int
    default: 1000
notes:
  - Access key, secret key and the object's content are never returned.
"""

EXAMPLES = r"""
- name: The vision team may write its own bucket
  baremetal.mlops.s3_access_probe:
    endpoint: http://ml-artifacts-hl.ml-storage.svc:9000
    access_key: vision
    secret_key: "{{ vault_team_vision_s3_secret_key }}"
    bucket: vision-models
  register: own_keys
  no_log: true

- name: The tabular team's keys are refused there
  baremetal.mlops.s3_access_probe:
    endpoint: http://ml-artifacts-hl.ml-storage.svc:9000
    access_key: tabular
    secret_key: "{{ vault_team_tabular_s3_secret_key }}"
    bucket: vision-models
  register: foreign_keys
  no_log: true

- name: Both results say what they should
  ansible.builtin.assert:
    that:
      - own_keys.allowed
      - foreign_keys.denied

- name: List a model's artifacts
  baremetal.mlops.s3_access_probe:
    bucket: mlflow-artifacts
    operations: [list]
    prefix: 1/models/m-0123/artifacts/
  register: artifacts
"""

RETURN = r"""
outcomes:
  description:
    - Outcome of each operation tried, by name.
    - V(allowed) the server did it; V(denied) it refused the keys (access denied,
      unknown access key or bad signature); V(no_bucket) the bucket does not exist;
      V(not_found) a V(get) found no such object although reading was allowed;
      V(mismatch) a V(get) read other content than V(put) wrote; V(skipped) not tried (check mode).
  returned: always
  type: dict
  sample: {put: allowed, get: allowed, delete: allowed}
allowed:
  description: Whether every operation tried was allowed (V(not_found) counts as allowed, V(skipped) is ignored).
  returned: always
  type: bool
denied:
  description: Whether every operation tried was denied.
  returned: always
  type: bool
errors:
  description: The server's error code for each operation that did not succeed.
  returned: always
  type: dict
  sample: {put: AccessDenied}
objects:
  description: Object names found by V(list), at most O(max_keys).
  returned: when V(list) is in O(operations) and allowed
  type: list
  elements: str
  sample: [1/models/m-0123/artifacts/MLmodel]
"""

import io

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import (
    HAS_MINIO,
    MinioModuleError,
    connect,
    minio_argument_spec,
    run_minio_module,
)

if HAS_MINIO:
    from minio.error import S3Error

# Error codes by which a server refuses the keys rather than the request.
DENIED_CODES = frozenset(
    ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "AccountProblem"]
)
WRITES = ("put", "delete")


def argument_spec():
    spec = minio_argument_spec()
    spec.update(
        bucket=dict(type="str", required=True),
        key=dict(type="str", default="platform-verify/probe.txt", no_log=False),
        content=dict(type="str", default="baremetal.mlops access probe"),
        operations=dict(
            type="list",
            elements="str",
            choices=["bucket", "put", "get", "delete", "list"],
            default=["put", "get", "delete"],
        ),
        prefix=dict(type="str", default=""),
        max_keys=dict(type="int", default=1000, no_log=False),
    )
    return spec


def classify(code, operation):
    """An S3 error code as the probe's outcome for `operation`, or None when it says nothing about access."""
    if code in DENIED_CODES:
        return "denied"
    if code == "NoSuchBucket":
        return "no_bucket"
    if code == "NoSuchKey" and operation == "get":
        return "not_found"
    return None


def summarize(outcomes):
    """(allowed, denied) over the operations that were tried."""
    tried = [outcome for outcome in outcomes.values() if outcome != "skipped"]
    allowed = bool(tried) and all(outcome in ("allowed", "not_found") for outcome in tried)
    denied = bool(tried) and all(outcome == "denied" for outcome in tried)
    return allowed, denied


def run_operation(s3, params, operation, state):
    """Do one operation; return 'allowed' or 'mismatch', or raise the client's error."""
    bucket, key = params["bucket"], params["key"]
    if operation == "bucket":
        # HEAD carries no error body: a missing bucket is False, a refusal raises.
        if not s3.bucket_exists(bucket):
            raise MissingBucket()
        return "allowed"
    if operation == "put":
        body = to_bytes(params["content"])
        s3.put_object(bucket, key, io.BytesIO(body), len(body), content_type="text/plain")
        state["object_written"] = True
        return "allowed"
    if operation == "get":
        response = s3.get_object(bucket, key)
        try:
            body = response.read()
        finally:
            response.close()
            response.release_conn()
        if state.get("object_written") and to_text(body) != params["content"]:
            return "mismatch"
        return "allowed"
    if operation == "delete":
        s3.remove_object(bucket, key)
        state["object_written"] = False
        return "allowed"
    # list
    names = []
    for item in s3.list_objects(bucket, prefix=params["prefix"] or None, recursive=True):
        if len(names) >= params["max_keys"]:
            break
        names.append(item.object_name)
    state["objects"] = names
    return "allowed"


class MissingBucket(Exception):
    """bucket_exists() answered no."""


def probe(module):
    params = module.params
    s3, _admin = connect(params)
    outcomes, errors, state = {}, {}, {}
    for operation in params["operations"]:
        if module.check_mode and operation in WRITES:
            outcomes[operation] = "skipped"
            continue
        unexplained = None
        try:
            outcomes[operation] = run_operation(s3, params, operation, state)
        except MissingBucket:
            outcomes[operation], errors[operation] = "no_bucket", "NoSuchBucket"
        except S3Error as exc:
            outcome = classify(exc.code, operation)
            if outcome is None:
                unexplained = "%s %s: %s: %s" % (operation, params["bucket"], exc.code, exc.message)
            else:
                outcomes[operation], errors[operation] = outcome, exc.code
        if unexplained:
            raise MinioModuleError(unexplained)
    allowed, denied = summarize(outcomes)
    result = dict(changed=bool(state.get("object_written")), outcomes=outcomes, allowed=allowed, denied=denied)
    result["errors"] = errors
    if "objects" in state:
        result["objects"] = state["objects"]
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_minio_module(module, probe, "S3 probe of bucket %s" % module.params["bucket"])


if __name__ == "__main__":
    main()
