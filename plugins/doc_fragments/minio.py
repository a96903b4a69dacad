# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function


class ModuleDocFragment:
    # Connection options of every minio_* module.
    DOCUMENTATION = r"""
options:
  endpoint:
    description:
      - URL of the MinIO (or other S3-compatible) server, C(http://host:port) or C(https://host:port).
      - If not set, the value of the E(MINIO_ENDPOINT) environment variable is used.
    type: str
    required: true
  access_key:
    description:
      - Access key of an account allowed to do what the task asks (the root user or an admin user).
      - If not set, the value of the E(MINIO_ACCESS_KEY) environment variable is used.
    type: str
    required: true
  secret_key:
    description:
      - Secret key of O(access_key).
      - If not set, the value of the E(MINIO_SECRET_KEY) environment variable is used.
    type: str
    required: true
  region:
    description:
      - Region used to sign requests and to create buckets.
    type: str
    default: us-east-1
  validate_certs:
    description:
      - Verify the server's TLS certificate when O(endpoint) is C(https).
    type: bool
    default: true
requirements:
  - minio (Python package, on the host that runs the module)
notes:
  - The modules talk to the server's S3 API and its admin API (C(/minio/admin/v3)).
"""

    # wait_timeout, of the modules a role runs first against a server it may just have started.
    WAIT = r"""
options:
  wait_timeout:
    description:
      - Seconds to wait, before the first request, for O(endpoint) to answer an unsigned C(GET /) as an S3 server
        does (C(200), C(400) or C(403)); refused connections and other statuses are retried every 2 seconds.
      - C(0) does not wait.
    type: int
    default: 0
"""
