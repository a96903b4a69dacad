#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: mlflow_registry_info
short_description: Read every registered model with its versions and aliases
version_added: 0.1.0
description:
  - Lists the whole model registry of an MLflow tracking server through its REST API
    (paged searches of registered models and of each model's versions).
  - The registry part of a backup manifest; changes nothing.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
extends_documentation_fragment:
  - baremetal.mlops.mlflow
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Reads only; there is nothing to compare.
options: {}
"""

EXAMPLES = r"""
- name: Read the registry
  baremetal.mlops.mlflow_registry_info:
    tracking_uri: http://mlflow.ml-platform.svc.cluster.local:5000
  register: __registry
"""

RETURN = r"""
registered_models:
  description: Every registered model, sorted by name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Model name.
      type: str
    aliases:
      description: Alias to version number.
      type: dict
    versions:
      description: Every version, oldest first, with V(version), V(source), V(storage_location), V(run_id), V(status).
      type: list
      elements: dict
  sample:
    - name: iris-bare-metal
      aliases: {champion: "2"}
      versions:
        - {version: "1", source: "models:/m-1", storage_location: "s3://mlflow-artifacts/1/models/m-1/artifacts",
           run_id: 0b1c, status: READY}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.mlflow import (
    MlflowClient,
    mlflow_argument_spec,
    run_mlflow_module,
)


def read_registry(module, client=None):
    client = client or MlflowClient.from_module(module)
    return dict(changed=False, registered_models=client.registry())


def main():
    module = AnsibleModule(argument_spec=mlflow_argument_spec(), supports_check_mode=True)
    run_mlflow_module(module, read_registry, "registry of %s" % module.params["tracking_uri"])


if __name__ == "__main__":
    main()
