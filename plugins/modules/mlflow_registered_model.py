#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: mlflow_registered_model
short_description: Manage registered models in an MLflow model registry
version_added: 0.1.0
description:
  - Create or delete a registered model; set its description, its tags and
    its aliases (such as V(champion) and V(candidate)) through the MLflow REST API.
  - Setting an alias that points at another version moves it.
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
    description: Shows the model's description, tags and aliases before and after.
options:
  name:
    description: Name of the registered model.
    type: str
    required: true
  state:
    description:
      - V(present) creates the model when missing; V(absent) deletes it with all its versions.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: The model's description; left unset, it is not managed.
    type: str
  tags:
    description: Tags to set on the model (values are strings).
    type: dict
  purge_tags:
    description: Remove tags not listed in O(tags).
    type: bool
    default: false
  aliases:
    description:
      - "Mapping of alias to model version, for example C({champion: 3, candidate: 4})."
    type: dict
  purge_aliases:
    description: Remove aliases not listed in O(aliases).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: The iris model, described and owned
  baremetal.mlops.mlflow_registered_model:
    tracking_uri: http://mlflow-tracking.ml-platform.svc:5000
    name: iris-bare-metal
    description: Random forest on the iris data set
    tags:
      team: team-a

- name: Promote version 2 to champion, keep 3 as candidate
  baremetal.mlops.mlflow_registered_model:
    name: iris-bare-metal
    aliases:
      champion: 2
      candidate: 3
"""

RETURN = r"""
model:
  description: The model after the task (as predicted in check mode); null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Model name.
      type: str
    description:
      description: Description.
      type: str
    tags:
      description: Tags.
      type: dict
    aliases:
      description: Mapping of alias to version.
      type: dict
  sample:
    name: iris-bare-metal
    description: Random forest on the iris data set
    tags: {team: team-a}
    aliases: {champion: "2", candidate: "3"}
steps:
  description: What the task changed (or would change in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [create, aliases]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.mlflow import (
    MlflowClient,
    MlflowError,
    mlflow_argument_spec,
    plan_tags,
    run_mlflow_module,
)


def argument_spec():
    spec = mlflow_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        description=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=False),
        aliases=dict(type="dict"),
        purge_aliases=dict(type="bool", default=False),
    )
    return spec


def plan_model(current, params):
    """(steps, after): what to change, in order, and the model as it will be."""
    if params["state"] == "absent":
        return (["delete"] if current else []), None
    tags = dict((k, str(v)) for k, v in (params["tags"] or {}).items())
    aliases = dict((k, str(v)) for k, v in (params["aliases"] or {}).items())
    if current is None:
        # Creation sets the description and tags in one call.
        steps = ["create"]
        after = dict(name=params["name"], description=params["description"] or "", tags=tags, aliases={})
    else:
        steps = []
        after = dict(current, tags=dict(current["tags"]), aliases=dict(current["aliases"]))
        if params["description"] is not None and params["description"] != current["description"]:
            steps.append("description")
            after["description"] = params["description"]
        to_set, to_delete = plan_tags(current["tags"], tags, params["purge_tags"])
        if to_set or to_delete:
            steps.append("tags")
            for key in to_delete:
                del after["tags"][key]
            after["tags"].update(to_set)
    to_set, to_delete = plan_tags(after["aliases"], aliases, params["purge_aliases"])
    if to_set or to_delete:
        steps.append("aliases")
        for alias in to_delete:
            del after["aliases"][alias]
        after["aliases"].update(to_set)
    return steps, after


def apply_model(client, params, current, steps, after):
    """Run the planned steps; `after` is plan_model's prediction."""
    name = params["name"]
    if "delete" in steps:
        client.delete_registered_model(name)
        return
    if "create" in steps:
        client.create_registered_model(name, params["description"], after["tags"])
        current = dict(after, aliases={})
    if "description" in steps:
        client.update_registered_model(name, params["description"])
    if "tags" in steps:
        for key in sorted(set(current["tags"]) - set(after["tags"])):
            client.delete_model_tag(name, key)
        for key, value in sorted(after["tags"].items()):
            if current["tags"].get(key) != value:
                client.set_model_tag(name, key, value)
    if "aliases" in steps:
        for alias in sorted(set(current["aliases"]) - set(after["aliases"])):
            client.delete_alias(name, alias)
        for alias, version in sorted(after["aliases"].items()):
            if current["aliases"].get(alias) != version:
                client.set_alias(name, alias, version)


def ensure_model(module, client=None):
    client = client or MlflowClient.from_module(module)
    params = module.params
    current = client.get_registered_model(params["name"])
    for alias, version in (params["aliases"] or {}).items():
        if not str(version).isdigit():
            raise MlflowError("alias %s: version must be a number, got %r" % (alias, version))
    steps, after = plan_model(current, params)
    if steps and not module.check_mode:
        apply_model(client, params, current, steps, after)
        after = client.get_registered_model(params["name"])
    result = dict(changed=bool(steps), steps=steps, model=after)
    if module._diff:
        result["diff"] = dict(before=current or {}, after=after or {})
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_mlflow_module(module, ensure_model, "registered model %s" % module.params["name"])


if __name__ == "__main__":
    main()
