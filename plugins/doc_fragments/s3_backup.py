# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function


class ModuleDocFragment:
    # The two S3 connections of s3_backup_mirror and s3_backup_restore.
    DOCUMENTATION = r"""options:
  source:
    description: Connection to the S3 endpoint objects are read from.
    type: dict
    required: true
    suboptions:
      endpoint:
        description: URL of the S3 endpoint, C(http://host:port) or C(https://host:port).
        type: str
        required: true
      access_key:
        description: Access key.
        type: str
        required: true
      secret_key:
        description: Secret key of O(source.access_key).
        type: str
        required: true
      region:
        description: Region used to sign requests and to create buckets.
        type: str
        default: us-east-1
      validate_certs:
        description: Verify the server's TLS certificate when the endpoint is C(https).
        type: bool
        default: true
  destination:
    description: Connection to the S3 endpoint objects are written to.
    type: dict
    required: true
    suboptions:
      endpoint:
        description: URL of the S3 endpoint, C(http://host:port) or C(https://host:port).
        type: str
        required: true
      access_key:
        description: Access key.
        type: str
        required: true
      secret_key:
        description: Secret key of O(destination.access_key).
        type: str
        required: true
      region:
        description: Region used to sign requests and to create buckets.
        type: str
        default: us-east-1
      validate_certs:
        description: Verify the server's TLS certificate when the endpoint is C(https).
        type: bool
        default: true
requirements:
  - minio (Python package, used as a plain S3 client; any S3-compatible store works)
"""
