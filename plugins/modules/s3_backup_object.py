#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: s3_backup_object
short_description: Put a file or a document on a backup site, or fetch one, checked by sha256
version_added: 0.1.0
description:
  - O(src) uploads a local file (a database dump) to O(bucket)/O(key) and returns its sha256.
  - O(content) writes a document (a backup manifest) atomically - uploaded as
    C(<key>.partial), read back and checked, copied over O(key), the partial removed - so
    O(key) exists whole or not at all.
  - O(dest) downloads O(key) to a local file (written to a temporary file and renamed);
    with O(sha256) the download fails, naming the object, when its checksum differs.
  - Plain S3 API only (PutObject, GetObject, CopyObject, DeleteObject).
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
extends_documentation_fragment:
  - baremetal.mlops.minio
attributes:
  check_mode:
    support: full
    description: Says what it would write; writes nothing.
  diff_mode:
    support: none
    description: Objects are written whole; there is nothing to compare.
options:
  bucket:
    description: Bucket; created when missing (O(src), O(content)).
    type: str
    required: true
  key:
    description: Object key.
    type: str
    required: true
  src:
    description: Local file to upload.
    type: path
  content:
    description: Text to write atomically.
    type: str
  dest:
    description: Local file to download to.
    type: path
  sha256:
    description: Expected sha256 of the object (O(dest)).
    type: str
"""

EXAMPLES = r"""
- name: Upload the database dump
  baremetal.mlops.s3_backup_object:
    endpoint: https://s3.backup.dc2.example.com
    access_key: platform-backup
    secret_key: "{{ vault_backup_site_secret_key }}"
    bucket: platform-backups
    key: 20260101T020000Z/postgresql/mlflow.dump
    src: /var/tmp/backup/mlflow.dump

- name: Write the manifest last
  baremetal.mlops.s3_backup_object:
    endpoint: https://s3.backup.dc2.example.com
    access_key: platform-backup
    secret_key: "{{ vault_backup_site_secret_key }}"
    bucket: platform-backups
    key: 20260101T020000Z/manifest.json
    content: "{{ __manifest | to_nice_json }}"
"""

RETURN = r"""
sha256:
  description: sha256 of the object written or read (not in check mode).
  returned: success
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size:
  description: Bytes written or read (not in check mode).
  returned: success
  type: int
  sample: 2048
"""

import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import (
    MinioModuleError,
    minio_argument_spec,
    run_minio_module,
)
from ansible_collections.baremetal.mlops.plugins.module_utils.s3_backup import (
    CHUNK,
    ensure_bucket,
    file_sha256,
    put_atomic,
    read_stream,
    s3_client,
)


def argument_spec():
    spec = minio_argument_spec()
    spec.update(
        bucket=dict(type="str", required=True),
        # an object key, not a credential
        key=dict(type="str", required=True, no_log=False),
        src=dict(type="path"),
        content=dict(type="str"),
        dest=dict(type="path"),
        sha256=dict(type="str"),
    )
    return spec


def transfer(module):
    params = module.params
    where = "%s/%s" % (params["bucket"], params["key"])
    if module.check_mode:
        return dict(changed=params["dest"] is None or not os.path.exists(params["dest"]), msg="would transfer " + where)
    s3 = s3_client(params)
    if params["src"] is not None:
        ensure_bucket(s3, params["bucket"])
        size = os.path.getsize(params["src"])
        with open(params["src"], "rb") as handle:
            s3.put_object(params["bucket"], params["key"], handle, size)
        return dict(changed=True, sha256=file_sha256(params["src"]), size=size)
    if params["content"] is not None:
        data = params["content"].encode("utf-8")
        ensure_bucket(s3, params["bucket"])
        put_atomic(s3, params["bucket"], params["key"], data)
        return dict(changed=True, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    digest, size, spool = read_stream(s3.get_object(params["bucket"], params["key"]))
    with spool:
        if params["sha256"] and digest != params["sha256"]:
            raise MinioModuleError("%s is corrupt: sha256 %s, expected %s" % (where, digest, params["sha256"]))
        folder = os.path.dirname(os.path.abspath(params["dest"]))
        handle, tmp = tempfile.mkstemp(dir=folder, prefix=".s3_backup_object.")
        with os.fdopen(handle, "wb") as out:
            for chunk in iter(lambda: spool.read(CHUNK), b""):
                out.write(chunk)
        os.replace(tmp, params["dest"])
    return dict(changed=True, sha256=digest, size=size)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("src", "content", "dest")],
        required_one_of=[("src", "content", "dest")],
        supports_check_mode=True,
    )
    run_minio_module(module, transfer, "object %s/%s" % (module.params["bucket"], module.params["key"]))


if __name__ == "__main__":
    main()
