# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function


class ModuleDocFragment:
    # Connection options of every mlflow_* module.
    DOCUMENTATION = r"""
options:
  tracking_uri:
    description:
      - URL of the MLflow tracking server, for example C(http://mlflow-tracking.ml-platform.svc:5000).
      - If not set, the value of the E(MLFLOW_TRACKING_URI) environment variable is used.
    type: str
    required: true
  username:
    description:
      - User for HTTP basic authentication, when the server asks for it.
      - If not set, the value of the E(MLFLOW_TRACKING_USERNAME) environment variable is used.
    type: str
  password:
    description:
      - Password for O(username).
      - If not set, the value of the E(MLFLOW_TRACKING_PASSWORD) environment variable is used.
    type: str
  token:
    description:
      - Bearer token sent instead of basic authentication.
      - If not set, the value of the E(MLFLOW_TRACKING_TOKEN) environment variable is used.
    type: str
  validate_certs:
    description:
      - Verify the server's TLS certificate for C(https) URLs.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each request.
    type: int
    default: 30
notes:
  - The modules use the MLflow REST API (C(/api/2.0/mlflow)) and need no Python library beyond Ansible's own.
"""
