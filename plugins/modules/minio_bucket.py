#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: minio_bucket
short_description: Manage MinIO buckets, their versioning, lifecycle rules and object lock
version_added: 0.1.0
description:
  - Create or delete a bucket on a MinIO (S3-compatible) server.
  - Set its versioning, its lifecycle rules (expiry of objects and of
    noncurrent versions) and, for buckets created with object lock, the
    default retention.
  - Options left unset are not managed, so a task may own only part of a bucket's configuration.
  - Give one bucket with O(name) and its options, or many with O(buckets); the list form converges
    every bucket in one module run over one connection, which is much faster than a loop.
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
    description: Shows the bucket's configuration before and after.
options:
  name:
    description:
      - Name of the bucket.
      - Required unless O(buckets) is given; the other options of one bucket go with it.
    type: str
  state:
    description:
      - V(present) creates the bucket when it is missing; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  versioning:
    description:
      - V(enabled) keeps every version of every object; V(suspended) stops keeping new versions.
      - A bucket's versioning cannot go back to V(disabled) once it was on.
    type: str
    choices: [enabled, suspended, disabled]
  object_lock:
    description:
      - Create the bucket with object lock (WORM), which also turns versioning on.
      - Object lock is chosen at creation; asking for a different value on an existing bucket fails.
    type: bool
  object_lock_retention:
    description:
      - Default retention applied to new objects of a bucket with object lock.
    type: dict
    suboptions:
      mode:
        description: V(GOVERNANCE) lets privileged users shorten retention; V(COMPLIANCE) lets nobody.
        type: str
        choices: [GOVERNANCE, COMPLIANCE]
        required: true
      days:
        description: Retention in days.
        type: int
        required: true
  lifecycle_rules:
    description:
      - The bucket's whole lifecycle configuration; an empty list removes it.
      - Each rule needs O(lifecycle_rules[].expiration_days), O(lifecycle_rules[].noncurrent_expiration_days) or both.
      - MinIO removes abandoned multipart uploads by itself (server setting C(api.stale_uploads_expiry)),
        and drops that S3 lifecycle action, so the module does not offer it.
    type: list
    elements: dict
    suboptions:
      id:
        description: Unique name of the rule.
        type: str
        required: true
      prefix:
        description: Object key prefix the rule applies to; empty means the whole bucket.
        type: str
        default: ""
      enabled:
        description: Whether the rule is in force.
        type: bool
        default: true
      expiration_days:
        description: Delete current objects this many days after creation.
        type: int
      noncurrent_expiration_days:
        description: Delete noncurrent versions this many days after they became noncurrent.
        type: int
  force:
    description:
      - With O(state=absent), delete every object and object version first; without it a non-empty bucket is an error.
    type: bool
    default: false
  buckets:
    description:
      - Many buckets in one run, instead of O(name) and the options of a single bucket.
      - Each item takes the options of one bucket, with the same meaning and defaults.
      - Buckets are converged in order; the first that fails stops the run, and the error names it.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the bucket.
        type: str
        required: true
      state:
        description: V(present) creates the bucket when it is missing; V(absent) deletes it.
        type: str
        choices: [present, absent]
        default: present
      versioning:
        description:
          - V(enabled) keeps every version of every object; V(suspended) stops keeping new versions.
          - A bucket's versioning cannot go back to V(disabled) once it was on.
        type: str
        choices: [enabled, suspended, disabled]
      object_lock:
        description: Create the bucket with object lock (WORM), which also turns versioning on; chosen at creation.
        type: bool
      object_lock_retention:
        description: Default retention applied to new objects of a bucket with object lock.
        type: dict
        suboptions:
          mode:
            description: V(GOVERNANCE) lets privileged users shorten retention; V(COMPLIANCE) lets nobody.
            type: str
            choices: [GOVERNANCE, COMPLIANCE]
            required: true
          days:
            description: Retention in days.
            type: int
            required: true
      lifecycle_rules:
        description: The bucket's whole lifecycle configuration, as O(lifecycle_rules); an empty list removes it.
        type: list
        elements: dict
        suboptions:
          id:
            description: Unique name of the rule.
            type: str
            required: true
          prefix:
            description: Object key prefix the rule applies to; empty means the whole bucket.
            type: str
            default: ""
          enabled:
            description: Whether the rule is in force.
            type: bool
            default: true
          expiration_days:
            description: Delete current objects this many days after creation.
            type: int
          noncurrent_expiration_days:
            description: Delete noncurrent versions this many days after they became noncurrent.
            type: int
      force:
        description: With O(buckets[].state=absent), delete every object and object version first.
        type: bool
        default: false
notes:
  - Uses S3 API calls only (no MinIO admin API), so it works with any S3-compatible store;
    a store that does not implement object lock reads as a bucket without it.
"""

EXAMPLES = r"""
- name: MLflow's artifact root, versioned, with scratch artifacts pruned
  baremetal.mlops.minio_bucket:
    endpoint: http://ml-artifacts-hl.ml-storage.svc:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: mlflow-artifacts
    versioning: enabled
    lifecycle_rules:
      - id: scratch-30d
        prefix: scratch/
        expiration_days: 30
      - id: old-versions-90d
        noncurrent_expiration_days: 90

- name: Released models, write once
  baremetal.mlops.minio_bucket:
    name: kserve-models
    object_lock: true
    object_lock_retention:
      mode: GOVERNANCE
      days: 365

- name: Every bucket of the platform in one module run
  baremetal.mlops.minio_bucket:
    buckets:
      - name: mlflow-artifacts
        versioning: enabled
        lifecycle_rules:
          - id: scratch-30d
            prefix: scratch/
            expiration_days: 30
      - name: team-a
      - name: team-b-old
        state: absent
        force: true

- name: Remove a team's scratch bucket and everything in it
  baremetal.mlops.minio_bucket:
    name: team-a-scratch
    state: absent
    force: true
"""

RETURN = r"""
bucket:
  description: The bucket's configuration after the task (as predicted in check mode); null when absent.
  returned: with O(name)
  type: dict
  contains:
    name:
      description: Bucket name.
      type: str
    versioning:
      description: V(enabled), V(suspended) or V(disabled).
      type: str
    object_lock:
      description: Whether the bucket has object lock.
      type: bool
    object_lock_retention:
      description: Default retention (mode, days), or null.
      type: dict
    lifecycle_rules:
      description: Lifecycle rules, sorted by id.
      type: list
      elements: dict
  sample:
    name: mlflow-artifacts
    versioning: enabled
    object_lock: false
    object_lock_retention: null
    lifecycle_rules:
      - id: scratch-30d
        prefix: scratch/
        enabled: true
        expiration_days: 30
        noncurrent_expiration_days: null
steps:
  description: What the task changed (or would change in check mode), in order.
  returned: with O(name)
  type: list
  elements: str
  sample: [create, versioning, lifecycle]
results:
  description:
    - One result per item of O(buckets), in order; when an item fails, the results of the items before it.
    - The task is changed when any item changed.
  returned: with O(buckets)
  type: list
  elements: dict
  contains:
    name:
      description: Bucket name.
      type: str
    changed:
      description: Whether this bucket changed (would change, in check mode).
      type: bool
    steps:
      description: What was changed for this bucket, as RV(steps).
      type: list
      elements: str
    bucket:
      description: This bucket's configuration after the task, as RV(bucket).
      type: dict
    diff:
      description: This bucket's configuration before and after.
      type: dict
      returned: in diff mode
  sample:
    - name: mlflow-artifacts
      changed: true
      steps: [create, versioning, lifecycle]
      bucket:
        name: mlflow-artifacts
        versioning: enabled
        object_lock: false
        object_lock_retention: null
        lifecycle_rules: []
    - name: team-a
      changed: false
      steps: []
      bucket:
        name: team-a
        versioning: disabled
        object_lock: false
        object_lock_retention: null
        lifecycle_rules: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import (
    apply_bucket,
    bucket_list_spec,
    bucket_options,
    bucket_steps,
    connect,
    converge,
    desired_bucket_view,
    list_form_checks,
    minio_argument_spec,
    read_bucket,
    run_minio_module,
    subject,
    wait_argument_spec,
)


def argument_spec():
    spec = minio_argument_spec()
    spec.update(wait_argument_spec())
    spec.update(bucket_options())
    # Required in the single form only; required_one_of asks for it or the list.
    spec["name"] = dict(type="str")
    spec["buckets"] = bucket_list_spec()
    return spec


def converge_bucket(module, s3, desired):
    """Plan one bucket, apply the plan unless in check mode, and return the bucket's result."""
    desired = dict(desired, region=module.params["region"])
    current, steps = bucket_steps(s3, desired)
    after = desired_bucket_view(current, desired)
    if steps and not module.check_mode:
        apply_bucket(s3, desired, steps)
        after = read_bucket(s3, desired["name"])
    result = dict(name=desired["name"], changed=bool(steps), steps=steps, bucket=after)
    if module._diff:
        result["diff"] = dict(before=current or {}, after=after or {})
    return result


def ensure_bucket(module):
    s3, _admin = connect(module.params)
    return converge(module, "bucket", "buckets", lambda desired: converge_bucket(module, s3, desired))


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        **list_form_checks(bucket_options(), "buckets"),
    )
    run_minio_module(module, ensure_bucket, subject(module.params, "bucket", "buckets"))


if __name__ == "__main__":
    main()
