# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: minio_pending
author: baremetal.mlops maintainers (@baremetal-mlops)
short_description: The buckets, canned policies and users the minio modules would change
description:
  - Reads each bucket, canned policy and user from the S3 endpoint and returns those that
    M(baremetal.mlops.minio_bucket), M(baremetal.mlops.minio_policy) and M(baremetal.mlops.minio_user) would
    change, planned by the very functions those modules plan with (a user's secret is checked by signing a request
    with it, as M(baremetal.mlops.minio_user) does).
  - Runs in the task's own process. On a converged endpoint the three module runs are skipped, each of which costs
    a new Python process importing the minio library.
  - Takes no terms. Returns one mapping with C(buckets), C(policies) and C(users), each the given items (as given)
    that need a change; hand them to the modules' list forms.
options:
  endpoint:
    description: URL of the S3 server, C(http://host:port) or C(https://host:port).
    type: str
    required: true
  access_key:
    description: Access key of an account allowed to read what is asked (the root user or an admin user).
    type: str
    required: true
  secret_key:
    description: Secret key of O(access_key).
    type: str
    required: true
  region:
    description: Region requests are signed for.
    type: str
    default: us-east-1
  validate_certs:
    description: Verify the server's TLS certificate when O(endpoint) is C(https).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the endpoint to answer an unsigned C(GET /) before the first read.
      - C(0) does not wait.
    type: int
    default: 0
  buckets:
    description: Items of M(baremetal.mlops.minio_bucket)'s O(baremetal.mlops.minio_bucket#module:buckets).
    type: list
    elements: dict
    default: []
  policies:
    description: Items of M(baremetal.mlops.minio_policy)'s O(baremetal.mlops.minio_policy#module:policies).
    type: list
    elements: dict
    default: []
  users:
    description: Items of M(baremetal.mlops.minio_user)'s O(baremetal.mlops.minio_user#module:users).
    type: list
    elements: dict
    default: []
requirements:
  - minio (Python package, on the controller)
"""

EXAMPLES = r"""
- name: Ask the endpoint what differs from the inventory
  ansible.builtin.set_fact:
    pending: >-
      {{ query('baremetal.mlops.minio_pending', endpoint=s3_endpoint, access_key=root_user, secret_key=root_password,
               buckets=buckets, users=users) | first }}
  no_log: true

- name: Buckets
  baremetal.mlops.minio_bucket:
    endpoint: "{{ s3_endpoint }}"
    access_key: "{{ root_user }}"
    secret_key: "{{ root_password }}"
    buckets: "{{ pending.buckets }}"
  when: pending.buckets | length > 0
  no_log: true
"""

RETURN = r"""
_raw:
  description: One mapping.
  type: list
  elements: dict
  contains:
    buckets:
      description: The bucket items a minio_bucket run would change.
      type: list
    policies:
      description: The policy items a minio_policy run would change.
      type: list
    users:
      description: The user items a minio_user run would change.
      type: list
"""

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.baremetal.mlops.plugins.module_utils import minio
from ansible_collections.baremetal.mlops.plugins.plugin_utils.release_render import plain

display = Display()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if not minio.HAS_MINIO:
            raise AnsibleLookupError(f"minio_pending needs the minio Python package: {minio.MINIO_IMPORT_ERROR}")
        params = {
            key: self.get_option(key)
            for key in ("endpoint", "access_key", "secret_key", "region", "validate_certs", "wait_timeout")
        }
        buckets = _validated("buckets", minio.bucket_list_spec(), self.get_option("buckets"))
        policies = _validated("policies", minio.policy_list_spec(), self.get_option("policies"))
        users = _validated("users", minio.user_list_spec(), self.get_option("users"))
        try:
            s3, admin = minio.connect(params)
            pending = dict(
                buckets=[
                    given for given, item in buckets if minio.bucket_steps(s3, dict(item, region=params["region"]))[1]
                ],
                policies=[given for given, item in policies if minio.policy_change(admin, item)[2]],
                users=[given for given, item in users if minio.user_steps(params, admin, item)[1]],
            )
        except minio.domain_errors() as exc:
            raise AnsibleLookupError(f"minio_pending: {minio.describe(exc)}") from exc
        for kind, items in pending.items():
            if items:
                display.vvv(f"minio_pending: {kind} to change: {', '.join(str(i['name']) for i in items)}")
        return [pending]


def _validated(option, spec, items):
    """[(item as given, item with the module's defaults)], checked as the module checks its list option."""
    # plain data first: the validator deep-copies its input, and Ansible's lazy containers make that costly
    items = plain(items or [])
    result = ArgumentSpecValidator({option: spec}).validate({option: items})
    if result.error_messages:
        raise AnsibleLookupError(f"minio_pending: {'; '.join(result.error_messages)}")
    return list(zip(items, result.validated_parameters[option], strict=True))
