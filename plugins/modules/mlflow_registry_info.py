#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: mlflow_registry_info
short_description: Read every registered model with its versions and aliases, every experiment and run
version_added: 0.1.0
description:
  - Lists the whole model registry of an MLflow tracking server through its REST API
    (paged searches of registered models and of each model's versions).
  - With O(tracking), also every experiment and every run, deleted ones included (their lifecycle
    stage says so); each run with its info and a count and sha256 of its params, latest metrics and
    tags, so a restore can be proven to hold the same data without copying it into the manifest.
  - Every list is read in pages of O(page_size) items; runs oldest first, so a run created while
    the read goes on lands on a later page instead of shifting the pages already read.
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
options:
  tracking:
    description:
      - Also list every experiment and run (RV(experiments), RV(runs)).
    type: bool
    default: true
  page_size:
    description:
      - Items per search request (registered models, experiments, runs). A run's page carries its
        params, metrics and tags, so runs with very many of them want a smaller page.
    type: int
    default: 200
"""

EXAMPLES = r"""
- name: Read the registry
  baremetal.mlops.mlflow_registry_info:
    tracking_uri: http://mlflow.ml-platform.svc.cluster.local:5000
  register: __registry

- name: Read only the model registry, 50 items a request
  baremetal.mlops.mlflow_registry_info:
    tracking_uri: http://mlflow.ml-platform.svc.cluster.local:5000
    tracking: false
    page_size: 50
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
experiments:
  description: Every experiment, deleted ones too, sorted by id. Empty without O(tracking).
  returned: success
  type: list
  elements: dict
  contains:
    experiment_id:
      description: Experiment id.
      type: str
    name:
      description: Experiment name.
      type: str
    lifecycle_stage:
      description: V(active) or V(deleted).
      type: str
    artifact_location:
      description: Where the experiment's runs store their artifacts.
      type: str
  sample:
    - {experiment_id: "1", name: iris, lifecycle_stage: active, artifact_location: "s3://mlflow-artifacts/1"}
runs:
  description: Every run of every experiment, deleted ones too, by experiment and start time. Empty without O(tracking).
  returned: success
  type: list
  elements: dict
  contains:
    run_id:
      description: Run id.
      type: str
    name:
      description: Run name.
      type: str
    experiment_id:
      description: The run's experiment.
      type: str
    status:
      description: V(RUNNING), V(SCHEDULED), V(FINISHED), V(FAILED) or V(KILLED).
      type: str
    lifecycle_stage:
      description: V(active) or V(deleted).
      type: str
    start_time:
      description: Start, milliseconds since the epoch.
      type: int
    end_time:
      description: End, milliseconds since the epoch; null while the run has not ended.
      type: int
    artifact_uri:
      description: The run's artifact root.
      type: str
    params:
      description: V(count) and V(sha256) of the run's params (sorted lines of hex key and value).
      type: dict
    metrics:
      description: V(count) and V(sha256) of the latest value of each metric (key, value bytes, step, timestamp).
      type: dict
    tags:
      description: V(count) and V(sha256) of the run's tags, system tags included.
      type: dict
  sample:
    - run_id: 0b1c
      name: train
      experiment_id: "1"
      status: FINISHED
      lifecycle_stage: active
      start_time: 1764590000000
      end_time: 1764590060000
      artifact_uri: s3://mlflow-artifacts/1/0b1c/artifacts
      params: {count: 2, sha256: 6fbe939d81c178e3a2535062fea4d615e8a5bdfbbf02d40b501dbc0df2a3cf79}
      metrics: {count: 1, sha256: 55237a069b0423f8523c37df560716c908fb54bffa3aa05652fa7b7cf7c3b9af}
      tags: {count: 3, sha256: 85d83b139471fd396942123dd534dccc01c415e96ad7266a32512a80ab7304b0}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.mlflow import (
    MlflowClient,
    mlflow_argument_spec,
    run_mlflow_module,
)


def read_registry(module, client=None):
    client = client or MlflowClient.from_module(module)
    page_size = module.params["page_size"]
    if page_size < 1:
        raise ValueError("page_size must be a positive number of items per request, got %d" % page_size)
    experiments, runs = [], []
    if module.params["tracking"]:
        experiments = client.experiments(page_size)
        runs = client.runs([e["experiment_id"] for e in experiments], page_size)
    return dict(changed=False, registered_models=client.registry(page_size), experiments=experiments, runs=runs)


def main():
    argument_spec = mlflow_argument_spec()
    argument_spec.update(tracking=dict(type="bool", default=True), page_size=dict(type="int", default=200))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_mlflow_module(module, read_registry, "registry of %s" % module.params["tracking_uri"])


if __name__ == "__main__":
    main()
