#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: s3_backup_restore
short_description: Restore buckets from a backup site and prove every object came back
version_added: 0.1.0
description:
  - With O(mode=restore), replays every entry of a backup manifest's buckets part
    (as M(baremetal.mlops.s3_backup_mirror) returns it) from O(source_bucket) on the
    backup site into clean buckets on the O(destination) endpoint, oldest version first.
    Each object read from the backup site is hashed first; a corrupt or missing one fails
    the task naming it, before anything is written for it.
  - Then (and alone with O(mode=verify)) reads every restored bucket back and compares
    each key's versions and their sha256 with the manifest; any difference fails the
    task naming the bucket and key.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
attributes:
  check_mode:
    support: full
    description: Checks that the target buckets are clean and counts what it would restore; writes nothing.
  diff_mode:
    support: none
    description: Restores into clean buckets only; there is nothing to compare.
extends_documentation_fragment:
  - baremetal.mlops.s3_backup
options:
  source_bucket:
    description: Bucket of the backup site that holds the backup (C(backup_key) of each entry is in it).
    type: str
    required: true
  buckets:
    description: "The manifest's buckets part: each bucket name maps to its C(versioning) and C(objects)."
    type: dict
    required: true
  destination_bucket_prefix:
    description: Prefix put before each bucket's name on the O(destination) endpoint.
    type: str
    default: ""
  replace:
    description: Empty a target bucket that holds objects instead of refusing it. Destroys those objects.
    type: bool
    default: false
  storage_uris:
    description:
      - Storage URIs (V(s3://bucket/path)) of served model versions; each must name an object,
        or a folder with at least one object, in the restored buckets (bucket names mapped
        through O(destination_bucket_prefix)).
    type: list
    elements: str
    default: []
  mode:
    description: V(restore) restores then verifies; V(verify) only compares the target with the manifest.
    type: str
    choices: [restore, verify]
    default: restore
"""

EXAMPLES = r"""
- name: Restore the buckets of a backup into the drill's MinIO
  baremetal.mlops.s3_backup_restore:
    source:
      endpoint: https://s3.backup.dc2.example.com
      access_key: platform-backup
      secret_key: "{{ vault_backup_site_secret_key }}"
    source_bucket: platform-backups
    buckets: "{{ __manifest.buckets }}"
    destination:
      endpoint: https://s3.drill.dc2.example.com
      access_key: drill
      secret_key: "{{ vault_drill_secret_key }}"
    destination_bucket_prefix: drill-
"""

RETURN = r"""
restored:
  description: Objects written per target bucket (none with O(mode=verify)).
  returned: always
  type: dict
  sample: {drill-mlflow-artifacts: 12}
verified:
  description: Data versions compared and found equal, over all buckets.
  returned: unless check mode
  type: int
  sample: 12
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import MinioModuleError, run_minio_module
from ansible_collections.baremetal.mlops.plugins.module_utils.s3_backup import (
    connection_spec,
    restore_buckets,
    s3_client,
    unresolved_uris,
    verify_buckets,
)


def argument_spec():
    return dict(
        source=connection_spec(),
        source_bucket=dict(type="str", required=True),
        buckets=dict(type="dict", required=True),
        destination=connection_spec(),
        destination_bucket_prefix=dict(type="str", default=""),
        replace=dict(type="bool", default=False),
        storage_uris=dict(type="list", elements="str", default=[]),
        mode=dict(type="str", choices=["restore", "verify"], default="restore"),
    )


def restore(module):
    params = module.params
    target = s3_client(params["destination"])
    restored = {}
    if params["mode"] == "restore":
        restored = restore_buckets(
            s3_client(params["source"]),
            params["source_bucket"],
            target,
            params["buckets"],
            params["destination_bucket_prefix"],
            params["replace"],
            module.check_mode,
        )
    result = dict(changed=params["mode"] == "restore" and any(restored.values()), restored=restored)
    if module.check_mode and params["mode"] == "restore":
        return result
    problems = verify_buckets(target, params["buckets"], params["destination_bucket_prefix"])
    problems += unresolved_uris(target, params["storage_uris"], params["destination_bucket_prefix"])
    if problems:
        raise MinioModuleError("%d problem(s) against the manifest: %s" % (len(problems), "; ".join(problems)))
    result["verified"] = sum(
        sum(1 for e in part["objects"] if not e["delete_marker"]) for part in params["buckets"].values()
    )
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_minio_module(module, restore, "restoring buckets into %s" % module.params["destination"]["endpoint"])


if __name__ == "__main__":
    main()
