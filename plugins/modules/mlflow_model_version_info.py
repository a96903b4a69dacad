#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: mlflow_model_version_info
short_description: Read one version of a registered model, by number or by alias
version_added: 0.1.0
description:
  - Reads a model version from an MLflow model registry through its REST API,
    given its number (O(version)) or an alias that points at it (O(alias)).
  - Fails, naming the model and what was asked, when the model, the version or
    the alias does not exist; changes nothing.
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
options:
  name:
    description: Name of the registered model.
    type: str
    required: true
  version:
    description: Version number. Give O(version) or O(alias).
    type: str
  alias:
    description: Alias (for example V(champion)) whose version to read. Give O(version) or O(alias).
    type: str
"""

EXAMPLES = r"""
- name: Which version is the champion
  baremetal.mlops.mlflow_model_version_info:
    tracking_uri: http://mlflow-tracking.ml-platform.svc:5000
    name: iris-bare-metal
    alias: champion
  register: __champion

- name: Its artifact location
  ansible.builtin.debug:
    msg: "{{ __champion.model_version.version }} at {{ __champion.model_version.source }}"
"""

RETURN = r"""
model_version:
  description: The version, in the shape M(baremetal.mlops.mlflow_model_version) returns.
  returned: success
  type: dict
  contains:
    name:
      description: Model name.
      type: str
    version:
      description: Version number, as a string.
      type: str
    source:
      description: Artifact location.
      type: str
    run_id:
      description: Run that produced it.
      type: str
    status:
      description: Registration status (C(READY) once registered).
      type: str
    stage:
      description: Registry stage.
      type: str
    description:
      description: Description.
      type: str
    tags:
      description: Tags.
      type: dict
    aliases:
      description: Aliases pointing at this version, sorted.
      type: list
      elements: str
  sample:
    name: iris-bare-metal
    version: "3"
    source: s3://mlflow-artifacts/1/0b1c/artifacts/model
    run_id: 0b1c
    status: READY
    stage: None
    description: ""
    tags: {}
    aliases: [champion]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.mlflow import (
    MlflowClient,
    MlflowError,
    mlflow_argument_spec,
    run_mlflow_module,
)


def argument_spec():
    spec = mlflow_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        version=dict(type="str"),
        alias=dict(type="str"),
    )
    return spec


def read_version(module, client=None):
    """The version O(version) names or O(alias) points at; MlflowError when the model, version or alias is unknown."""
    client = client or MlflowClient.from_module(module)
    params = module.params
    model = client.get_registered_model(params["name"])
    if model is None:
        raise MlflowError("registered model %s does not exist" % params["name"])
    if params["alias"] is not None:
        if params["alias"] not in model["aliases"]:
            known = ", ".join(sorted(model["aliases"])) or "none"
            raise MlflowError("alias %s does not exist (aliases: %s)" % (params["alias"], known))
        found = client.get_model_version_by_alias(params["name"], params["alias"])
    else:
        found = client.get_model_version(params["name"], params["version"])
    if found is None:
        raise MlflowError("version %s does not exist" % (params["version"] or model["aliases"].get(params["alias"])))
    return dict(changed=False, model_version=found)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("version", "alias")],
        required_one_of=[("version", "alias")],
        supports_check_mode=True,
    )
    run_mlflow_module(module, read_version, "model %s" % module.params["name"])


if __name__ == "__main__":
    main()
