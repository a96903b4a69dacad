#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: cluster_backup_export
short_description: Export the platform's Kubernetes objects to a backup site, Secrets by name only
version_added: 0.1.0
description:
  - Reads, through the API server, each namespace of O(namespaces) that exists, its O(core_resources)
    (ConfigMaps by default) and every namespaced resource of the API O(groups) the server serves, and writes
    one JSON document per object to O(bucket) under C(<prefix>/cluster/<namespace>/<resource>[.<group>]/<name>.json).
  - Secrets are listed as metadata only (the API server sends no data); the export holds one document per
    namespace, C(secrets/names.json), with their names. No Secret value is read or written.
  - Status and server-set metadata (uid, resourceVersion, managedFields, the last-applied annotation) are
    left out, so a document can be applied again.
  - Returns each document's key, sha256 and size for the backup manifest.
  - Where Velero runs, back the cluster up with Velero instead (playbooks/backup.yml does).
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
requirements:
  - kubernetes (Python), for a kubeconfig whose credentials are not a client certificate or a token
  - minio (Python)
attributes:
  check_mode:
    support: full
    description: Reads the cluster and returns what it would write, checksums included; writes nothing.
  diff_mode:
    support: none
    description: A backup writes new documents; there is nothing to compare.
options:
  kubeconfig:
    description: Kubeconfig of the cluster; default C(K8S_AUTH_KUBECONFIG), then the client's default.
    type: path
  context:
    description: Context of the kubeconfig; default its current context.
    type: str
  namespaces:
    description: Namespaces to export; those that do not exist are returned in RV(namespaces_absent).
    type: list
    elements: str
    required: true
  groups:
    description: API groups whose namespaced resources are exported (preferred version), where served.
    type: list
    elements: str
    default: []
  core_resources:
    description: Core (v1) resources to export from each namespace. Never C(secrets).
    type: list
    elements: str
    default: [configmaps]
  destination:
    description: The backup site (S3 endpoint and account).
    type: dict
    required: true
    suboptions:
      endpoint:
        description: URL of the S3 endpoint.
        type: str
        required: true
      access_key:
        description: Access key.
        type: str
        required: true
      secret_key:
        description: Secret key.
        type: str
        required: true
      region:
        description: Region.
        type: str
        default: us-east-1
      validate_certs:
        description: Check the endpoint's TLS certificate.
        type: bool
        default: true
  bucket:
    description: Bucket of the backup site; created when missing.
    type: str
    required: true
  prefix:
    description: Folder of the backup (its name); documents go under C(<prefix>/cluster/).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Export the platform's objects to the backup folder
  baremetal.mlops.cluster_backup_export:
    namespaces: [ml-platform, ml-storage, kserve, team-vision]
    groups: [serving.kserve.io, argoproj.io, minio.min.io, longhorn.io, postgresql.cnpg.io]
    destination:
      endpoint: https://s3.backup.dc2.example.com
      access_key: platform-backup
      secret_key: "{{ vault_backup_site_secret_key }}"
    bucket: platform-backups
    prefix: 20260101T020000Z
  register: __export
"""

RETURN = r"""
method:
  description: Always C(export).
  returned: success
  type: str
  sample: export
namespaces:
  description: The namespaces exported.
  returned: success
  type: list
  elements: str
  sample: [kserve, ml-platform]
namespaces_absent:
  description: Namespaces of O(namespaces) the cluster does not have.
  returned: success
  type: list
  elements: str
  sample: [gpu-operator]
resources:
  description: The custom resources (resource.group) the API server serves among O(groups).
  returned: success
  type: list
  elements: str
  sample: [inferenceservices.serving.kserve.io]
object_count:
  description: Number of documents written.
  returned: success
  type: int
  sample: 42
objects:
  description: One entry per document, for the manifest.
  returned: success
  type: list
  elements: dict
  sample:
    - api_version: v1
      kind: ConfigMap
      namespace: ml-platform
      name: mlflow-config
      resource: configmaps
      key: 20260101T020000Z/cluster/ml-platform/configmaps/mlflow-config.json
      sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
      size: 512
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.baremetal.mlops.plugins.module_utils.k8s_export import export_cluster
from ansible_collections.baremetal.mlops.plugins.module_utils.kube_api import KubeApi, KubeApiError
from ansible_collections.baremetal.mlops.plugins.module_utils.minio import describe, domain_errors, require_minio
from ansible_collections.baremetal.mlops.plugins.module_utils.s3_backup import connection_spec, s3_client


def argument_spec():
    return dict(
        kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
        context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
        namespaces=dict(type="list", elements="str", required=True),
        groups=dict(type="list", elements="str", default=[]),
        core_resources=dict(type="list", elements="str", default=["configmaps"]),
        destination=connection_spec(),
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", required=True),
    )


def export(module):
    params = module.params
    if "secrets" in params["core_resources"]:
        raise ValueError("core_resources must not name secrets: their names are exported, never their values")
    api = KubeApi(params["kubeconfig"], params["context"])
    result = export_cluster(
        api,
        s3_client(params["destination"]),
        params["bucket"],
        params["prefix"],
        params["namespaces"],
        params["groups"],
        params["core_resources"],
        module.check_mode,
    )
    return dict(changed=result["object_count"] > 0, **result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    require_minio(module)
    try:
        result = export(module)
    except (KubeApiError, *domain_errors()) as exc:
        where = "%s/%s" % (module.params["bucket"], module.params["prefix"])
        message = "exporting the cluster to %s: %s" % (where, describe(exc))
        module.fail_json(msg=message, exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
