#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: minio_user
short_description: Manage MinIO users and the policies attached to them
version_added: 0.1.0
description:
  - Create, update, disable or delete a user of a MinIO server's built-in identity provider, through its admin API.
  - Attach exactly the listed policies (see M(baremetal.mlops.minio_policy)),
    giving each team its own credentials scoped to its own buckets.
  - The server never returns a user's secret key; with O(update_secret=always)
    the module checks it by signing a request with it, so a re-run with the
    same secret reports no change.
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
    description: Shows the user's status and policies before and after; never the secret.
options:
  name:
    description: The user's access key (its name).
    type: str
    required: true
  secret:
    description:
      - The user's secret key, 8 to 40 characters. Required to create the user.
    type: str
  state:
    description: V(present) creates or updates the user; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  status:
    description: Whether the user may sign in.
    type: str
    choices: [enabled, disabled]
    default: enabled
  policies:
    description:
      - Names of the policies the user holds; policies not listed are detached. An empty list detaches all.
      - Left unset, the user's policies are not managed.
    type: list
    elements: str
  update_secret:
    description:
      - V(always) sets O(secret) whenever the server does not accept it.
      - V(on_create) sets it only when creating the user.
      - The secret of a disabled user cannot be checked and is left unchanged.
    type: str
    choices: [always, on_create]
    default: always
"""

EXAMPLES = r"""
- name: A user per team, holding its team's bucket policy
  baremetal.mlops.minio_user:
    endpoint: http://ml-artifacts-hl.ml-storage.svc:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: "{{ item.name }}"
    secret: "{{ item.secret }}"
    policies: ["{{ item.name }}-rw"]
  loop: "{{ minio_teams }}"
  loop_control:
    label: "{{ item.name }}"
  no_log: true

- name: Lock out a user without deleting it
  baremetal.mlops.minio_user:
    name: team-b
    status: disabled
"""

RETURN = r"""
user:
  description: The user after the task (as predicted in check mode), without its secret; null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Access key.
      type: str
    status:
      description: V(enabled) or V(disabled).
      type: str
    policies:
      description: Attached policies, sorted.
      type: list
      elements: str
  sample:
    name: team-a
    status: enabled
    policies: [team-a-rw]
steps:
  description: What the task changed (or would change in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [create, policies]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import (
    MinioModuleError,
    apply_user,
    connect,
    minio_argument_spec,
    plan_user,
    read_user,
    run_minio_module,
    secret_matches,
)


def argument_spec():
    spec = minio_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        secret=dict(type="str", no_log=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        status=dict(type="str", default="enabled", choices=["enabled", "disabled"]),
        policies=dict(type="list", elements="str"),
        update_secret=dict(type="str", default="always", choices=["always", "on_create"], no_log=False),
    )
    return spec


def user_view(name, user):
    return dict(name=name, status=user["status"], policies=sorted(user["policies"])) if user else None


def ensure_user(module):
    params = module.params
    name = params["name"]
    _s3, admin = connect(params)
    current = read_user(admin, name)
    if params["state"] == "present":
        if current is None and not params["secret"]:
            raise MinioModuleError("secret is required to create user %s" % name)
        if params["secret"] is not None and not 8 <= len(params["secret"]) <= 40:
            raise MinioModuleError("secret must be 8 to 40 characters long")
    secret_ok = None
    check_secret = params["state"] == "present" and params["update_secret"] == "always" and params["secret"]
    # A disabled user cannot sign requests, so its secret cannot be checked; it is left as is.
    if current is not None and current["status"] == "enabled" and check_secret:
        secret_ok = secret_matches(params, name, params["secret"])
    steps = plan_user(current, params, secret_ok)
    after = None
    if params["state"] == "present":
        after = dict(status=params["status"], policies=current["policies"] if current else [])
        if params["policies"] is not None:
            after["policies"] = sorted(set(params["policies"]))
    if steps and not module.check_mode:
        apply_user(admin, params, current, steps)
        after = read_user(admin, name)
    result = dict(changed=bool(steps), steps=steps, user=user_view(name, after))
    if module._diff:
        # The secret never appears: a changed secret shows as the step 'secret'.
        result["diff"] = dict(before=user_view(name, current) or {}, after=user_view(name, after) or {})
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_minio_module(module, ensure_user, "user %s" % module.params["name"])


if __name__ == "__main__":
    main()
