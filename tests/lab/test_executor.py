"""What the lab's executor stand-in reports for a Workflow pod (lab/executor.py), read without a cluster.

The expected keys follow Argo's executor v4.0.5 (workflow/executor/executor.go):
an artifact without a key of its own goes to the archive location's key
joined with `<name>.tgz`, `<name>.zip` or the path's base name, and is
reported with that key alone.
"""

from __future__ import annotations

import json

import pytest

from lab import executor

ARCHIVE = {"archiveLogs": False, "s3": {"bucket": "team-a", "endpoint": "s3.example:443", "key": "wf/wf-train-1"}}


@pytest.mark.parametrize(
    ("artifact", "archive", "reported"),
    [
        ({"name": "model", "path": "/tmp/model"}, ARCHIVE, {"s3": {"key": "wf/wf-train-1/model.tgz"}}),
        (
            {"name": "model", "path": "/tmp/model", "archive": {"tar": {"compressionLevel": 1}}},
            ARCHIVE,
            {"s3": {"key": "wf/wf-train-1/model.tgz"}},
        ),
        (
            {"name": "model", "path": "/tmp/model", "archive": {"zip": {}}},
            ARCHIVE,
            {"s3": {"key": "wf/wf-train-1/model.zip"}},
        ),
        (
            {"name": "model", "path": "/tmp/out/model.pkl", "archive": {"none": {}}},
            ARCHIVE,
            {"s3": {"key": "wf/wf-train-1/model.pkl"}},
        ),
        (
            {"name": "model", "path": "/tmp/out/", "archive": {"none": {}}},
            ARCHIVE,
            {"s3": {"key": "wf/wf-train-1/out"}},
        ),
        (
            {"name": "model", "path": "/tmp/model"},
            {"gcs": {"bucket": "b", "key": "runs/7"}},
            {"gcs": {"key": "runs/7/model.tgz"}},
        ),
        (
            {"name": "model", "path": "/tmp/model"},
            {"azure": {"container": "c", "blob": "runs/7"}},
            {"azure": {"blob": "runs/7/model.tgz"}},
        ),
        # a partial location without a key: the executor replaces it by the archive's type and key
        (
            {"name": "model", "path": "/tmp/model", "s3": {"bucket": "other"}},
            ARCHIVE,
            {"s3": {"key": "wf/wf-train-1/model.tgz"}},
        ),
    ],
)
def test_an_artifact_without_a_key_goes_where_the_archive_location_says(artifact, archive, reported):
    declared = {k: v for k, v in artifact.items() if k != "s3"}
    assert executor.reported_artifact(artifact, archive) == {**declared, **reported}


def test_an_artifact_with_its_own_key_is_reported_as_declared():
    artifact = {"name": "model", "path": "/tmp/model", "s3": {"key": "fixed/model.tgz"}, "optional": True}
    assert executor.reported_artifact(artifact, ARCHIVE) == artifact
    assert executor.reported_artifact(artifact, None) == artifact


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (None, "artifact 'model': no key and no archive location (no artifact repository)"),
        ({"archiveLogs": False}, "artifact 'model': no key and no archive location (no artifact repository)"),
        (
            {"artifactory": {"url": "https://art.example/repo"}},
            "artifact 'model': the artifactory archive location has no key to resolve here",
        ),
    ],
)
def test_an_artifact_that_cannot_be_located_is_an_error(archive, message):
    with pytest.raises(executor.ReportError) as error:
        executor.reported_artifact({"name": "model", "path": "/tmp/model"}, archive)
    assert str(error.value) == message


def test_outputs_hold_what_the_executor_could_know_and_say_what_was_left_out():
    template = {
        "name": "train",
        "archiveLocation": ARCHIVE,
        "outputs": {
            "artifacts": [{"name": "model", "path": "/tmp/model"}],
            "parameters": [
                {"name": "fixed", "value": "1"},
                {"name": "supplied", "valueFrom": {"supplied": {}}},
                {"name": "metric", "valueFrom": {"path": "/tmp/metric", "default": "0.5\n"}},
                {"name": "accuracy", "valueFrom": {"path": "/tmp/accuracy"}},
            ],
        },
    }
    outputs, left_out = executor.reported_outputs(template)
    assert outputs == {
        "artifacts": [{"name": "model", "path": "/tmp/model", "s3": {"key": "wf/wf-train-1/model.tgz"}}],
        "parameters": [
            {"name": "fixed", "value": "1"},
            {"name": "supplied", "valueFrom": {"supplied": {}}},
            {"name": "metric", "valueFrom": {"path": "/tmp/metric", "default": "0.5\n"}, "value": "0.5"},
        ],
    }
    assert left_out == ["parameter 'accuracy' is read from /tmp/accuracy and has no default"]
    assert template["outputs"]["parameters"][2] == {
        "name": "metric",
        "valueFrom": {"path": "/tmp/metric", "default": "0.5\n"},
    }  # the template is not changed
    assert executor.reported_outputs({"name": "register"}) == ({}, [])
    unlocated = {"outputs": {"artifacts": [{"name": "model", "path": "/tmp/model"}]}}
    assert executor.reported_outputs(unlocated) == (
        {},
        ["artifact 'model': no key and no archive location (no artifact repository)"],
    )


def workflow_pod(**changes) -> dict:
    template = {
        "name": "train",
        "archiveLocation": ARCHIVE,
        "outputs": {"artifacts": [{"name": "model", "path": "/m"}]},
    }
    env = [
        {"name": "ARGO_TEMPLATE", "value": json.dumps(template)},
        {"name": "ARGO_NODE_ID", "value": "wf-1-222"},
        {"name": "ARGO_WORKFLOW_NAME", "value": "wf-1"},
        {"name": "ARGO_WORKFLOW_UID", "value": "0000-uid"},
        {"name": "ARGO_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    pod = {
        "metadata": {
            "name": "wf-1-train-222",
            "namespace": "team-a",
            "labels": {executor.WORKFLOW_LABEL: "wf-1"},
            "annotations": {executor.NODE_ID_ANNOTATION: "wf-1-222"},
        },
        "spec": {
            "nodeName": "lab-l4-1",
            "initContainers": [{"name": "init", "env": env}],
            "containers": [{"name": "wait", "env": env[1:]}, {"name": "main", "env": [{"name": "A", "value": "b"}]}],
        },
        "status": {"phase": "Running"},
    }
    for path, value in changes.items():
        section, key = path.split("__")
        pod[section][key] = value
    return pod


def test_the_task_result_is_named_labelled_and_owned_as_the_executor_writes_it():
    pod = workflow_pod()
    env = executor.executor_env(pod)
    assert env["A"] == "b" and "ARGO_POD_NAME" not in env  # plain values only
    outputs, _ = executor.reported_outputs(json.loads(env["ARGO_TEMPLATE"]))
    result = executor.task_result(pod, env, outputs)
    assert result == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTaskResult",
        "metadata": {
            "name": "wf-1-222",
            "namespace": "team-a",
            "labels": {executor.WORKFLOW_LABEL: "wf-1", executor.COMPLETED_LABEL: "true"},
            "ownerReferences": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "wf-1", "uid": "0000-uid"}
            ],
        },
        "outputs": {"artifacts": [{"name": "model", "path": "/m", "s3": {"key": "wf/wf-train-1/model.tgz"}}]},
    }
    with_instance = executor.task_result(pod, {**env, "ARGO_INSTANCE_ID": "lab"}, {})
    assert with_instance["metadata"]["labels"][executor.INSTANCE_LABEL] == "lab"
    assert "outputs" not in with_instance


def test_the_node_id_comes_from_the_pod_annotation_or_the_environment():
    pod = workflow_pod(metadata__annotations={})
    assert executor.node_id(pod, {"ARGO_NODE_ID": "wf-1-9"}) == "wf-1-9"
    with pytest.raises(executor.ReportError, match="no node id"):
        executor.node_id(pod, {})


@pytest.mark.parametrize(
    ("changes", "due"),
    [
        ({}, True),
        ({"spec__nodeName": "real-node"}, False),
        ({"status__phase": "Pending"}, False),
        ({"metadata__deletionTimestamp": "2026-01-01T00:00:00Z"}, False),
        ({"metadata__labels": {executor.WORKFLOW_LABEL: "wf-1", executor.EXIT_CODE_LABEL: "3"}}, False),
        ({"metadata__labels": {}}, False),
        ({"metadata__annotations": {executor.REPORTED_ANNOTATION: "true"}}, False),
    ],
)
def test_only_running_workflow_pods_on_kwok_nodes_not_yet_reported_are_due(changes, due):
    assert executor.needs_report(workflow_pod(**changes), {"lab-l4-1", "lab-cpu-1"}) is due
