#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: s3_backup_info
short_description: List the backups of a backup site and find the newest complete one
version_added: 0.1.0
description:
  - Lists the top-level folders of O(bucket) (one per backup, named by the UTC time it
    started) and tells which hold a C(manifest.json); a folder without one is an
    incomplete backup (a part failed) and is never restored.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
extends_documentation_fragment:
  - baremetal.mlops.minio
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Reads only; there is nothing to compare.
options:
  bucket:
    description: Bucket of the backup site.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Find the newest complete backup
  baremetal.mlops.s3_backup_info:
    endpoint: https://s3.backup.dc2.example.com
    access_key: platform-backup
    secret_key: "{{ vault_backup_site_secret_key }}"
    bucket: platform-backups
  register: __backups
"""

RETURN = r"""
backups:
  description: Every backup folder, oldest first.
  returned: success
  type: list
  elements: dict
  sample: [{name: 20260101T020000Z, complete: true}, {name: 20260102T020000Z, complete: false}]
latest:
  description: Name of the newest backup with a manifest; empty when there is none.
  returned: success
  type: str
  sample: 20260101T020000Z
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import minio_argument_spec, run_minio_module
from ansible_collections.baremetal.mlops.plugins.module_utils.s3_backup import latest_complete, list_backups, s3_client


def argument_spec():
    spec = minio_argument_spec()
    spec.update(bucket=dict(type="str", required=True))
    return spec


def read_backups(module):
    backups = list_backups(s3_client(module.params), module.params["bucket"])
    return dict(changed=False, backups=backups, latest=latest_complete(backups) or "")


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_minio_module(module, read_backups, "backups in %s" % module.params["bucket"])


if __name__ == "__main__":
    main()
