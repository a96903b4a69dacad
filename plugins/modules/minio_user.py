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
  - Give one user with O(name) and its options, or many with O(users); the list form converges
    every user in one module run over one connection, which is much faster than a loop.
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
    description: Shows the user's status and policies before and after; never the secret.
options:
  name:
    description:
      - The user's access key (its name).
      - Required unless O(users) is given; the other options of one user go with it.
    type: str
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
  users:
    description:
      - Many users in one run, instead of O(name) and the options of a single user.
      - Each item takes the options of one user, with the same meaning and defaults;
        the secrets inside the list are kept out of logs like O(secret).
      - Users are converged in order; the first that fails stops the run, and the error names it.
    type: list
    elements: dict
    suboptions:
      name:
        description: The user's access key (its name).
        type: str
        required: true
      secret:
        description: The user's secret key, 8 to 40 characters. Required to create the user.
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
          - V(always) sets O(users[].secret) whenever the server does not accept it;
            V(on_create) sets it only when creating the user.
        type: str
        choices: [always, on_create]
        default: always
"""

EXAMPLES = r"""
- name: A user per team holding its team's bucket policy, and one locked out, in one module run
  baremetal.mlops.minio_user:
    endpoint: http://ml-artifacts-hl.ml-storage.svc:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    users:
      - name: team-a
        secret: "{{ team_a_secret }}"
        policies: [team-a-rw]
      - name: team-b
        secret: "{{ team_b_secret }}"
        policies: [team-b-rw]
      - name: team-c
        status: disabled
  no_log: true  # the users' secrets and the root password

- name: Lock out a user without deleting it
  baremetal.mlops.minio_user:
    name: team-b
    status: disabled
"""

RETURN = r"""
user:
  description: The user after the task (as predicted in check mode), without its secret; null when absent.
  returned: with O(name)
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
  returned: with O(name)
  type: list
  elements: str
  sample: [create, policies]
results:
  description:
    - One result per item of O(users), in order, never with a secret; when an item fails, the results of the
      items before it.
    - The task is changed when any item changed.
  returned: with O(users)
  type: list
  elements: dict
  contains:
    name:
      description: Access key.
      type: str
    changed:
      description: Whether this user changed (would change, in check mode).
      type: bool
    steps:
      description: What was changed for this user, as RV(steps).
      type: list
      elements: str
    user:
      description: This user after the task, as RV(user).
      type: dict
    diff:
      description: This user's status and policies before and after.
      type: dict
      returned: in diff mode
  sample:
    - name: team-a
      changed: true
      steps: [create, policies]
      user:
        name: team-a
        status: enabled
        policies: [team-a-rw]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import (
    apply_user,
    connect,
    converge,
    list_form_checks,
    minio_argument_spec,
    read_user,
    run_minio_module,
    subject,
    user_list_spec,
    user_options,
    user_steps,
    wait_argument_spec,
)


def argument_spec():
    spec = minio_argument_spec()
    spec.update(wait_argument_spec())
    spec.update(user_options())
    # Required in the single form only; required_one_of asks for it or the list.
    spec["name"] = dict(type="str")
    spec["users"] = user_list_spec()
    return spec


def user_view(name, user):
    return dict(name=name, status=user["status"], policies=sorted(user["policies"])) if user else None


def converge_user(module, admin, desired):
    """Plan one user, apply the plan unless in check mode, and return the user's result (never its secret)."""
    name = desired["name"]
    current, steps = user_steps(module.params, admin, desired)
    after = None
    if desired["state"] == "present":
        after = dict(status=desired["status"], policies=current["policies"] if current else [])
        if desired["policies"] is not None:
            after["policies"] = sorted(set(desired["policies"]))
    if steps and not module.check_mode:
        apply_user(admin, desired, current, steps)
        after = read_user(admin, name)
    result = dict(name=name, changed=bool(steps), steps=steps, user=user_view(name, after))
    if module._diff:
        # The secret never appears: a changed secret shows as the step 'secret'.
        result["diff"] = dict(before=user_view(name, current) or {}, after=user_view(name, after) or {})
    return result


def ensure_user(module):
    _s3, admin = connect(module.params)
    return converge(module, "user", "users", lambda desired: converge_user(module, admin, desired))


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        **list_form_checks(user_options(), "users"),
    )
    run_minio_module(module, ensure_user, subject(module.params, "user", "users"))


if __name__ == "__main__":
    main()
