#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: minio_policy
short_description: Manage MinIO canned (IAM) policies
version_added: 0.1.0
description:
  - Create, update or delete a named policy on a MinIO server through its admin API.
  - Give either a whole policy document, or buckets and an access level, from
    which the module writes a policy scoped to those buckets and their objects
    (the usual per-team grant).
  - Policies are compared in a canonical form (statement order, and the order
    of actions and resources, do not count), so re-runs report no change.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
extends_documentation_fragment:
  - baremetal.mlops.minio
attributes:
  check_mode:
    support: full
    description: Reports what would change without changing anything.
  diff_mode:
    support: full
    description: Shows the policy document before and after.
options:
  name:
    description: Name of the policy.
    type: str
    required: true
  state:
    description: V(present) creates or updates the policy; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  policy:
    description:
      - The policy document (IAM JSON, as a mapping or a JSON string).
    type: raw
  buckets:
    description:
      - Buckets the policy grants O(access) to, instead of O(policy).
    type: list
    elements: str
  access:
    description:
      - With O(buckets), V(read-only) lets the holder list and read objects; V(read-write) also write and delete them.
    type: str
    choices: [read-only, read-write]
    default: read-write
"""

EXAMPLES = r"""
- name: Team A may read and write its own bucket, and nothing else
  baremetal.mlops.minio_policy:
    endpoint: http://ml-artifacts-hl.ml-storage.svc:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: team-a-rw
    buckets: [team-a]
    access: read-write

- name: A policy written out in full
  baremetal.mlops.minio_policy:
    name: datasets-read
    policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: ["s3:GetObject"]
          Resource: ["arn:aws:s3:::training-datasets/*"]
"""

RETURN = r"""
policy:
  description: The policy document after the task, in canonical form; null when absent.
  returned: always
  type: dict
  sample:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:GetObject"]
        Resource: ["arn:aws:s3:::training-datasets/*"]
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import (
    MinioModuleError,
    bucket_policy,
    connect,
    minio_argument_spec,
    normalize_policy,
    read_policy,
    run_minio_module,
)


def argument_spec():
    spec = minio_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        policy=dict(type="raw"),
        buckets=dict(type="list", elements="str"),
        access=dict(type="str", default="read-write", choices=["read-only", "read-write"]),
    )
    return spec


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


def ensure_policy(module):
    params = module.params
    _s3, admin = connect(params)
    current = read_policy(admin, params["name"])
    if params["state"] == "absent":
        after = None
        changed = current is not None
        if changed and not module.check_mode:
            admin.policy_remove(params["name"])
    else:
        after = wanted_policy(params)
        changed = after != current
        if changed and not module.check_mode:
            admin.policy_add(params["name"], policy=after)
    result = dict(changed=changed, policy=after)
    if module._diff:
        result["diff"] = dict(before=current or {}, after=after or {})
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("policy", "buckets")],
        required_if=[("state", "present", ("policy", "buckets"), True)],
        supports_check_mode=True,
    )
    run_minio_module(module, ensure_policy, "policy %s" % module.params["name"])


if __name__ == "__main__":
    main()
