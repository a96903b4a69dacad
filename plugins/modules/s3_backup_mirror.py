#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: s3_backup_mirror
short_description: Copy every object of some buckets to a backup site, with their sha256
version_added: 0.1.0
description:
  - Reads every listed bucket of the O(source) S3 endpoint and copies each object to
    O(destination_bucket) on the O(destination) endpoint, under
    C(<destination_prefix>/buckets/<bucket>/<version id>/<key>).
  - A bucket with versioning on is copied with all its versions (delete markers are
    recorded, not copied); otherwise its objects as they are.
  - Returns, per bucket, every entry with its sha256 computed while it was copied (the
    buckets part of a backup manifest).
  - Uses only the plain S3 API, so either side can be any S3-compatible store.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
attributes:
  check_mode:
    support: full
    description: Lists what it would copy (entries without sha256); copies nothing.
  diff_mode:
    support: none
    description: A backup is always new; there is nothing to compare.
extends_documentation_fragment:
  - baremetal.mlops.s3_backup
options:
  buckets:
    description: Buckets to copy.
    type: list
    elements: str
    required: true
  destination_bucket:
    description: Bucket on the backup site; created when missing.
    type: str
    required: true
  destination_prefix:
    description: Folder of this backup in O(destination_bucket), for example a date.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Mirror the platform's buckets to the backup site
  baremetal.mlops.s3_backup_mirror:
    source:
      endpoint: https://s3.ml.dc1.example.com
      access_key: backup
      secret_key: "{{ vault_backup_secret_key }}"
    buckets: [mlflow-artifacts, kserve-models]
    destination:
      endpoint: https://s3.backup.dc2.example.com
      access_key: platform-backup
      secret_key: "{{ vault_backup_site_secret_key }}"
    destination_bucket: platform-backups
    destination_prefix: 20260101T020000Z
  register: __mirror
"""

RETURN = r"""
buckets:
  description: Per bucket, its versioning, the number of data objects copied and every entry.
  returned: always
  type: dict
  sample:
    mlflow-artifacts:
      versioning: enabled
      object_count: 1
      objects:
        - key: 1/abc/artifacts/model/MLmodel
          version_id: 6f1c...
          sequence: 0
          latest: true
          delete_marker: false
          size: 412
          last_modified: "2026-01-01T01:00:00+00:00"
          sha256: 9f86d0...
          backup_key: 20260101T020000Z/buckets/mlflow-artifacts/6f1c.../1/abc/artifacts/model/MLmodel
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import run_minio_module
from ansible_collections.baremetal.mlops.plugins.module_utils.s3_backup import (
    connection_spec,
    mirror_buckets,
    s3_client,
)


def argument_spec():
    return dict(
        source=connection_spec(),
        buckets=dict(type="list", elements="str", required=True),
        destination=connection_spec(),
        destination_bucket=dict(type="str", required=True),
        destination_prefix=dict(type="str", required=True),
    )


def mirror(module):
    params = module.params
    report = mirror_buckets(
        s3_client(params["source"]),
        s3_client(params["destination"]),
        params["buckets"],
        params["destination_bucket"],
        params["destination_prefix"],
        module.check_mode,
    )
    copied = sum(part["object_count"] for part in report.values())
    return dict(changed=copied > 0, buckets=report)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_minio_module(module, mirror, "mirroring buckets to %s" % module.params["destination"]["endpoint"])


if __name__ == "__main__":
    main()
