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
  - Give one policy with O(name) and its options, or many with O(policies); the list form converges
    every policy in one module run over one connection, which is much faster than a loop.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
extends_documentation_fragment:
  - baremetal.mlops.minio
  - baremetal.mlops.minio.wait
attributes:
  check_mode:
    support: full
    description: Reports what would change without changing anything.
  diff_mode:
    support: full
    description: Shows the policy document before and after.
options:
  name:
    description:
      - Name of the policy.
      - Required unless O(policies) is given; the other options of one policy go with it.
    type: str
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
  policies:
    description:
      - Many policies in one run, instead of O(name) and the options of a single policy.
      - Each item takes the options of one policy, with the same meaning and defaults.
      - Policies are converged in order; the first that fails stops the run, and the error names it.
    type: list
    elements: dict
    suboptions:
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
          - With O(policies[].state=present), this or O(policies[].buckets) is required.
        type: raw
      buckets:
        description: Buckets the policy grants O(policies[].access) to, instead of O(policies[].policy).
        type: list
        elements: str
      access:
        description:
          - With O(policies[].buckets), V(read-only) lets the holder list and read objects;
            V(read-write) also write and delete them.
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

- name: A read-write policy per team, in one module run
  baremetal.mlops.minio_policy:
    policies:
      - name: team-a-rw
        buckets: [team-a, team-a-models]
      - name: team-b-rw
        buckets: [team-b]
      - name: datasets-read
        buckets: [training-datasets]
        access: read-only

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
  returned: with O(name)
  type: dict
  sample:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:GetObject"]
        Resource: ["arn:aws:s3:::training-datasets/*"]
results:
  description:
    - One result per item of O(policies), in order; when an item fails, the results of the items before it.
    - The task is changed when any item changed.
  returned: with O(policies)
  type: list
  elements: dict
  contains:
    name:
      description: Policy name.
      type: str
    changed:
      description: Whether this policy changed (would change, in check mode).
      type: bool
    policy:
      description: This policy's document after the task, as RV(policy).
      type: dict
    diff:
      description: This policy's document before and after.
      type: dict
      returned: in diff mode
  sample:
    - name: team-a-rw
      changed: false
      policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
            Resource: ["arn:aws:s3:::team-a"]
          - Effect: Allow
            Action: ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject",
                     "s3:ListMultipartUploadParts", "s3:PutObject"]
            Resource: ["arn:aws:s3:::team-a/*"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import (
    connect,
    converge,
    list_form_checks,
    minio_argument_spec,
    policy_change,
    policy_list_spec,
    policy_options,
    run_minio_module,
    subject,
    wait_argument_spec,
)


def argument_spec():
    spec = minio_argument_spec()
    spec.update(wait_argument_spec())
    spec.update(policy_options())
    # Required in the single form only; required_one_of asks for it or the list.
    spec["name"] = dict(type="str")
    spec["policies"] = policy_list_spec()
    return spec


def converge_policy(module, admin, desired):
    """Compare one policy with the server's, write or delete it unless in check mode, and return its result."""
    name = desired["name"]
    current, after, changed = policy_change(admin, desired)
    if changed and not module.check_mode:
        if after is None:
            admin.policy_remove(name)
        else:
            admin.policy_add(name, policy=after)
    result = dict(name=name, changed=changed, policy=after)
    if module._diff:
        result["diff"] = dict(before=current or {}, after=after or {})
    return result


def ensure_policy(module):
    _s3, admin = connect(module.params)
    return converge(module, "policy", "policies", lambda desired: converge_policy(module, admin, desired))


def main():
    checks = list_form_checks(policy_options(), "policies")
    checks["mutually_exclusive"].append(("policy", "buckets"))
    module = AnsibleModule(
        argument_spec=argument_spec(),
        # In the list form each item asks this of itself; the list stands in for the single form's document.
        required_if=[("state", "present", ("policy", "buckets", "policies"), True)],
        supports_check_mode=True,
        **checks,
    )
    run_minio_module(module, ensure_policy, subject(module.params, "policy", "policies"))


if __name__ == "__main__":
    main()
