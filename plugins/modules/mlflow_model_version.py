#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: mlflow_model_version
short_description: Manage versions of a registered model in an MLflow model registry
version_added: 0.1.0
description:
  - Register a model version from an artifact location, or manage an existing
    version (its description, tags, aliases and stage), through the MLflow REST API.
  - Aliases listed in O(aliases) are pointed at this version, moving them from
    any other version (promote a V(candidate) to V(champion)).
  - Archive stale versions with O(stage=Archived) rather than deleting them;
    the registry keeps their lineage for audits.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
extends_documentation_fragment:
  - baremetal.mlops.mlflow
attributes:
  check_mode:
    support: full
    description: Reports what would change without changing anything.
  diff_mode:
    support: full
    description: Shows the version's description, tags, aliases and stage before and after.
options:
  name:
    description: Name of the registered model (it must exist, see M(baremetal.mlops.mlflow_registered_model)).
    type: str
    required: true
  version:
    description:
      - The version to manage. Without it, the version is found by O(source)
        (and O(run_id)), and registered from them when none matches.
    type: str
  source:
    description: Artifact location of the model, for example C(s3://mlflow-artifacts/1/<run>/artifacts/model).
    type: str
  run_id:
    description: MLflow run that produced the model, recorded as its lineage.
    type: str
  state:
    description: V(present) registers or updates the version; V(absent) deletes it (prefer O(stage=Archived)).
    type: str
    choices: [present, absent]
    default: present
  description:
    description: The version's description; left unset, it is not managed.
    type: str
  tags:
    description: Tags to set on the version (values are strings).
    type: dict
  purge_tags:
    description: Remove tags not listed in O(tags).
    type: bool
    default: false
  aliases:
    description: Aliases that must point at this version, moved here from other versions when needed.
    type: list
    elements: str
  purge_aliases:
    description: Remove aliases of this version that are not listed in O(aliases).
    type: bool
    default: false
  stage:
    description:
      - Registry stage of the version. V(Archived) marks a stale version.
      - The other stages belong to the older promotion scheme; prefer aliases.
    type: str
    choices: ["None", Staging, Production, Archived]
"""

EXAMPLES = r"""
- name: Make version 3 the champion (moves the alias from the old champion)
  baremetal.mlops.mlflow_model_version:
    tracking_uri: http://mlflow-tracking.ml-platform.svc:5000
    name: iris-bare-metal
    version: "3"
    aliases: [champion]
    tags:
      approved_by: release-board

- name: Archive the version that lost
  baremetal.mlops.mlflow_model_version:
    name: iris-bare-metal
    version: "2"
    stage: Archived
    purge_aliases: true
    aliases: []

- name: Register a trained model by its artifact location (idempotent)
  baremetal.mlops.mlflow_model_version:
    name: iris-bare-metal
    source: "s3://mlflow-artifacts/1/{{ run_id }}/artifacts/model"
    run_id: "{{ run_id }}"
    aliases: [candidate]
  register: __candidate
"""

RETURN = r"""
model_version:
  description:
    - The version after the task (as predicted in check mode); null when absent.
    - In check mode a version that would be registered has O(version) null.
  returned: always
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
    tags: {approved_by: release-board}
    aliases: [champion]
steps:
  description: What the task changed (or would change in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [aliases, stage]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.mlflow import (
    STAGES,
    MlflowClient,
    MlflowError,
    mlflow_argument_spec,
    plan_aliases,
    plan_tags,
    run_mlflow_module,
)


def argument_spec():
    spec = mlflow_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        version=dict(type="str"),
        source=dict(type="str"),
        run_id=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        description=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=False),
        aliases=dict(type="list", elements="str"),
        purge_aliases=dict(type="bool", default=False),
        stage=dict(type="str", choices=list(STAGES)),
    )
    return spec


def find_version(client, params):
    """The version the task is about, or None when it must be registered (or is absent)."""
    if params["version"] is not None:
        return client.get_model_version(params["name"], params["version"])
    return client.find_model_version(params["name"], params["source"], params["run_id"])


def plan_version(current, params, model_aliases):
    """(steps, after, alias_moves) for the version; alias_moves = (to_set, to_delete)."""
    if params["state"] == "absent":
        return (["delete"] if current else []), None, ([], [])
    tags = dict((k, str(v)) for k, v in (params["tags"] or {}).items())
    steps = []
    if current is None:
        steps.append("create")
        after = dict(name=params["name"], version=None, source=params["source"], run_id=params["run_id"] or "")
        after.update(status="READY", stage="None", description=params["description"] or "", tags=tags, aliases=[])
    else:
        after = dict(current, tags=dict(current["tags"]), aliases=list(current["aliases"]))
        if params["description"] is not None and params["description"] != current["description"]:
            steps.append("description")
            after["description"] = params["description"]
        to_set, to_delete = plan_tags(current["tags"], tags, params["purge_tags"])
        if to_set or to_delete:
            steps.append("tags")
            for key in to_delete:
                del after["tags"][key]
            after["tags"].update(to_set)
    alias_moves = ([], [])
    if params["aliases"] is not None or params["purge_aliases"]:
        wanted = params["aliases"] or []
        if after["version"] is None:
            alias_moves = (sorted(set(wanted)), [])
        else:
            alias_moves = plan_aliases(model_aliases, after["version"], wanted, params["purge_aliases"])
        if alias_moves[0] or alias_moves[1]:
            steps.append("aliases")
            after["aliases"] = sorted((set(after["aliases"]) | set(alias_moves[0])) - set(alias_moves[1]))
    if params["stage"] is not None and params["stage"] != after["stage"]:
        steps.append("stage")
        after["stage"] = params["stage"]
    return steps, after, alias_moves


def apply_version(client, params, current, steps, after, alias_moves):
    name = params["name"]
    if "delete" in steps:
        client.delete_model_version(name, current["version"])
        return None
    if "create" in steps:
        created = client.create_model_version(
            name, params["source"], params["run_id"], params["description"], after["tags"]
        )
        version = created["version"]
        current = dict(tags=after["tags"])
    else:
        version = current["version"]
    if "description" in steps:
        client.update_model_version(name, version, params["description"])
    if "tags" in steps:
        for key in sorted(set(current["tags"]) - set(after["tags"])):
            client.delete_version_tag(name, version, key)
        for key, value in sorted(after["tags"].items()):
            if current["tags"].get(key) != value:
                client.set_version_tag(name, version, key, value)
    if "aliases" in steps:
        to_set, to_delete = alias_moves
        for alias in to_delete:
            client.delete_alias(name, alias)
        for alias in to_set:
            client.set_alias(name, alias, version)
    if "stage" in steps:
        client.transition_stage(name, version, params["stage"])
    return version


def ensure_version(module, client=None):
    client = client or MlflowClient.from_module(module)
    params = module.params
    if params["version"] is None and not params["source"]:
        raise MlflowError("give version, or source to find or register the version")
    model = client.get_registered_model(params["name"])
    if model is None:
        if params["state"] == "absent":
            return dict(changed=False, steps=[], model_version=None)
        raise MlflowError("registered model %s does not exist" % params["name"])
    current = find_version(client, params)
    if current is None and params["state"] == "present" and params["version"] is not None:
        raise MlflowError("version %s does not exist; give source (not version) to register one" % params["version"])
    steps, after, alias_moves = plan_version(current, params, model["aliases"])
    if steps and not module.check_mode:
        version = apply_version(client, params, current, steps, after, alias_moves)
        after = client.get_model_version(params["name"], version) if version else None
    result = dict(changed=bool(steps), steps=steps, model_version=after)
    if module._diff:
        result["diff"] = dict(before=current or {}, after=after or {})
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("version", "source")],
        supports_check_mode=True,
    )
    run_mlflow_module(module, ensure_version, "model %s" % module.params["name"])


if __name__ == "__main__":
    main()
