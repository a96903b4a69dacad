# Copyright: contributors to baremetal.mlops
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Run a module's main() in-process: arguments in, exit_json/fail_json payload out."""

from __future__ import absolute_import, division, print_function

import contextlib
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class AnsibleExitJson(Exception):
    """exit_json was called; args[0] is the result."""


class AnsibleFailJson(Exception):
    """fail_json was called; args[0] is the result."""


def exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise AnsibleExitJson(kwargs)


def fail_json(self, **kwargs):
    kwargs["failed"] = True
    raise AnsibleFailJson(kwargs)


@contextlib.contextmanager
def set_module_args(args, check_mode=False, diff=False):
    """Expose `args` to AnsibleModule, as ansible-core 2.19 passes them (plus check and diff mode)."""
    args = dict(args)
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff
    with patch_module_args(args):
        yield


@contextlib.contextmanager
def patched_exits():
    with mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json):
        yield


def run_module(main, args, check_mode=False, diff=False):
    """Call main() and return (result, failed)."""
    with set_module_args(args, check_mode=check_mode, diff=diff), patched_exits():
        try:
            main()
        except AnsibleExitJson as exc:
            return exc.args[0], False
        except AnsibleFailJson as exc:
            return exc.args[0], True
    raise AssertionError("the module returned without calling exit_json or fail_json")


# ---------------------------------------------------------------------------
# In-memory stand-ins for the servers, speaking the client interfaces the
# modules use (minio.Minio, minio.MinioAdmin, the MLflow REST API). Each
# records the calls that change state, so tests can assert "nothing changed".


class FakeS3:
    """minio.Minio over a dict of buckets."""

    def __init__(self, buckets=None):
        self.buckets = buckets or {}
        self.writes = []

    def _error(self, code):
        from minio.error import S3Error

        return S3Error(None, code, code, None, None, None)

    def bucket_exists(self, name):
        return name in self.buckets

    def make_bucket(self, name, location=None, object_lock=False):
        self.writes.append(("make_bucket", name))
        self.buckets[name] = dict(versioning=None, lifecycle=None, lock=object_lock, retention=None, objects=[])
        if object_lock:
            self.buckets[name]["versioning"] = "Enabled"

    def remove_bucket(self, name):
        self.writes.append(("remove_bucket", name))
        if self.buckets[name]["objects"]:
            raise self._error("BucketNotEmpty")
        del self.buckets[name]

    def get_bucket_versioning(self, name):
        from minio.versioningconfig import VersioningConfig

        return VersioningConfig(self.buckets[name]["versioning"])

    def set_bucket_versioning(self, name, config):
        self.writes.append(("set_bucket_versioning", name))
        self.buckets[name]["versioning"] = config.status

    def get_bucket_lifecycle(self, name):
        return self.buckets[name]["lifecycle"]

    def set_bucket_lifecycle(self, name, config):
        self.writes.append(("set_bucket_lifecycle", name))
        self.buckets[name]["lifecycle"] = config

    def delete_bucket_lifecycle(self, name):
        self.writes.append(("delete_bucket_lifecycle", name))
        self.buckets[name]["lifecycle"] = None

    def get_object_lock_config(self, name):
        from minio.objectlockconfig import ObjectLockConfig

        bucket = self.buckets[name]
        if not bucket["lock"]:
            raise self._error("ObjectLockConfigurationNotFoundError")
        if bucket["retention"]:
            return ObjectLockConfig(bucket["retention"][0], bucket["retention"][1], "Days")
        return ObjectLockConfig(None, None, None)

    def set_object_lock_config(self, name, config):
        self.writes.append(("set_object_lock_config", name))
        self.buckets[name]["retention"] = (config.mode, config.duration)

    def list_objects(self, name, recursive=False, include_version=False):
        return list(self.buckets[name]["objects"])

    def remove_objects(self, name, objects):
        self.writes.append(("remove_objects", name))
        self.buckets[name]["objects"] = []
        return iter([])


class FakeAdmin:
    """minio.MinioAdmin over dicts of users and policies."""

    def __init__(self, users=None, policies=None):
        self.users = users or {}
        self.policies = policies or {}
        self.writes = []

    @staticmethod
    def _error(code):
        import json

        from minio.error import MinioAdminException

        return MinioAdminException("404", json.dumps({"Code": code, "Message": code}))

    def policy_info(self, name):
        import json

        if name not in self.policies:
            raise self._error("XMinioAdminNoSuchPolicy")
        return json.dumps({"PolicyName": name, "Policy": self.policies[name]})

    def policy_add(self, name, policy=None):
        self.writes.append(("policy_add", name))
        self.policies[name] = policy

    def policy_remove(self, name):
        self.writes.append(("policy_remove", name))
        del self.policies[name]

    def user_info(self, name):
        import json

        if name not in self.users:
            raise self._error("XMinioAdminNoSuchUser")
        user = self.users[name]
        return json.dumps({"status": user["status"], "policyName": ",".join(user["policies"])})

    def user_add(self, name, secret):
        self.writes.append(("user_add", name))
        user = self.users.setdefault(name, dict(status="enabled", policies=[]))
        user["secret"] = secret

    def user_remove(self, name):
        self.writes.append(("user_remove", name))
        del self.users[name]

    def user_enable(self, name):
        self.writes.append(("user_enable", name))
        self.users[name]["status"] = "enabled"

    def user_disable(self, name):
        self.writes.append(("user_disable", name))
        self.users[name]["status"] = "disabled"

    def attach_policy(self, policies, user=None):
        self.writes.append(("attach_policy", user, tuple(policies)))
        self.users[user]["policies"] = sorted(set(self.users[user]["policies"]) | set(policies))

    def detach_policy(self, policies, user=None):
        self.writes.append(("detach_policy", user, tuple(policies)))
        self.users[user]["policies"] = sorted(set(self.users[user]["policies"]) - set(policies))


class FakeRegistry:
    """The MlflowClient methods the mlflow_* modules call, over dicts."""

    def __init__(self):
        self.models = {}
        self.writes = []

    def add_model(self, name, versions=0, **fields):
        model = dict(name=name, description="", tags={}, aliases={}, versions={})
        model.update(fields)
        self.models[name] = model
        for number in range(1, versions + 1):
            self._new_version(name, f"s3://bucket/{number}/model", f"run{number}", "", {})
        return model

    def _new_version(self, name, source, run_id, description, tags):
        versions = self.models[name]["versions"]
        number = str(len(versions) + 1)
        versions[number] = dict(
            name=name,
            version=number,
            source=source,
            run_id=run_id or "",
            status="READY",
            stage="None",
            description=description or "",
            tags=dict(tags),
        )
        return number

    def _model_view(self, model):
        return dict(
            name=model["name"],
            description=model["description"],
            tags=dict(model["tags"]),
            aliases=dict(model["aliases"]),
        )

    def _version_view(self, name, number):
        view = dict(self.models[name]["versions"][number])
        view["tags"] = dict(view["tags"])
        view["aliases"] = sorted(a for a, v in self.models[name]["aliases"].items() if v == number)
        return view

    def get_registered_model(self, name):
        return self._model_view(self.models[name]) if name in self.models else None

    def create_registered_model(self, name, description, tags):
        self.writes.append(("create_registered_model", name))
        self.add_model(name, description=description or "", tags=dict(tags))

    def update_registered_model(self, name, description):
        self.writes.append(("update_registered_model", name))
        self.models[name]["description"] = description

    def delete_registered_model(self, name):
        self.writes.append(("delete_registered_model", name))
        del self.models[name]

    def set_model_tag(self, name, key, value):
        self.writes.append(("set_model_tag", key))
        self.models[name]["tags"][key] = value

    def delete_model_tag(self, name, key):
        self.writes.append(("delete_model_tag", key))
        del self.models[name]["tags"][key]

    def set_alias(self, name, alias, version):
        self.writes.append(("set_alias", alias, str(version)))
        self.models[name]["aliases"][alias] = str(version)

    def delete_alias(self, name, alias):
        self.writes.append(("delete_alias", alias))
        del self.models[name]["aliases"][alias]

    def get_model_version(self, name, version):
        if name not in self.models or str(version) not in self.models[name]["versions"]:
            return None
        return self._version_view(name, str(version))

    def get_model_version_by_alias(self, name, alias):
        number = self.models.get(name, {}).get("aliases", {}).get(alias)
        return self.get_model_version(name, number) if number else None

    def find_model_version(self, name, source, run_id=None):
        found = [
            n
            for n, v in self.models[name]["versions"].items()
            if v["source"] == source and (not run_id or v["run_id"] == run_id)
        ]
        return self._version_view(name, max(found, key=int)) if found else None

    def create_model_version(self, name, source, run_id, description, tags):
        self.writes.append(("create_model_version", name))
        return self._version_view(name, self._new_version(name, source, run_id, description, tags))

    def update_model_version(self, name, version, description):
        self.writes.append(("update_model_version", version))
        self.models[name]["versions"][version]["description"] = description

    def set_version_tag(self, name, version, key, value):
        self.writes.append(("set_version_tag", key))
        self.models[name]["versions"][version]["tags"][key] = value

    def delete_version_tag(self, name, version, key):
        self.writes.append(("delete_version_tag", key))
        del self.models[name]["versions"][version]["tags"][key]

    def transition_stage(self, name, version, stage):
        self.writes.append(("transition_stage", version, stage))
        self.models[name]["versions"][version]["stage"] = stage

    def delete_model_version(self, name, version):
        self.writes.append(("delete_model_version", version))
        del self.models[name]["versions"][version]
        for alias in [a for a, v in self.models[name]["aliases"].items() if v == version]:
            del self.models[name]["aliases"][alias]
