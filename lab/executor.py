"""The lab's stand-in for the Argo executor's output reporting (the `wait` container).

In a cluster, each Workflow pod runs Argo's executor beside the step: it
saves the step's output artifacts to the artifact repository, reads its
output parameters, and reports both to the workflow-controller through a
`WorkflowTaskResult` named after the pod's node id, labelled
`workflows.argoproj.io/report-outputs-completed: "true"` once done. The
controller does not let a node with outputs succeed before that report
(workflow/controller/operator.go, `taskResultIncomplete`), so on kwok, where
no container runs, a step with outputs would never finish.

This process plays that reporting role, and only that, for Workflow pods on
kwok's nodes: when such a pod is Running it creates (or completes) the
WorkflowTaskResult the executor would write, from the template the
controller handed the pod (`ARGO_TEMPLATE`, its archive location already
resolved from the artifact repository and its keyFormat), then annotates the
pod `lab.baremetal.mlops/outputs-reported: "true"`; kwok finishes a
succeeding Workflow pod only after that annotation (lab/kwok-stages.yaml),
so the controller never sees Succeeded before the outputs exist.

What it reports, and what it cannot:
- Output artifacts at the location the executor would upload them to: the
  artifact's own key where it has one, otherwise the template's archive
  location key joined with `<name>.tgz` (the default tar archive),
  `<name>.zip`, or the path's base name (`archive: {none: {}}`). Nothing is
  uploaded: no container ran, there is no file. A step that consumes the
  artifact is handed that location by the controller; nothing reads it here.
- Output parameters: those not read from a file (`value`, `valueFrom.supplied`
  ...) as declared, and `valueFrom.path` ones with a `valueFrom.default`
  (what the executor reports when the file is missing). A `valueFrom.path`
  parameter without a default has no value it could know: it is left out
  (and logged), and the controller keeps that node Running, as it would wait
  for an executor that never reports.
- A step's `result` (script stdout), logs and progress are not reported.
- Pods labelled `lab.baremetal.mlops/exit-code` (a step the lab fails on
  purpose) are left alone: kwok fails them without a report.

`python -m lab cluster up` runs it like the other cluster processes
(lab/cluster.py); its health endpoint (`lab_listen.argo_executor`) answers
while it keeps in touch with the API server.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import posixpath
import sys
import time
from pathlib import Path

from lab import processes as proc
from lab.nodes import KWOK_ANNOTATION, KWOK_MANAGED

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
COMPLETED_LABEL = "workflows.argoproj.io/report-outputs-completed"
INSTANCE_LABEL = "workflows.argoproj.io/controller-instanceid"
NODE_ID_ANNOTATION = "workflows.argoproj.io/node-id"
REPORTED_ANNOTATION = "lab.baremetal.mlops/outputs-reported"
EXIT_CODE_LABEL = "lab.baremetal.mlops/exit-code"
TEMPLATE_OFFLOADED = "offloaded"
MERGE = "application/merge-patch+json"

GROUP, VERSION, TASK_RESULTS = "argoproj.io", "v1alpha1", "workflowtaskresults"

# Artifact location types in the order Argo's ArtifactLocation.Get() picks them, with the
# field GetKey() reads (None: the type has no key the executor could join a file name to).
LOCATION_KEYS = {
    "artifactory": None,  # a URL: not resolved here
    "azure": "blob",
    "git": None,
    "gcs": "key",
    "hdfs": "path",
    "http": None,
    "oss": "key",
    "raw": None,
    "s3": "key",
    "plugin": "key",
}

WATCH_SECONDS = 10

log = logging.getLogger("lab.executor")


class ReportError(Exception):
    """An output the executor would report cannot be resolved; the message says why."""


# --- what the executor would report (pure functions) -------------------------------------------


def location_type(location: dict | None) -> str | None:
    """The location type Argo uses for an artifact or archive location (its first set type)."""
    return next((t for t in LOCATION_KEYS if (location or {}).get(t) is not None), None)


def location_key(location: dict | None) -> str:
    """ArtifactLocation.GetKey(): the key of the location's type, '' when it has none."""
    kind = location_type(location)
    field = LOCATION_KEYS.get(kind) if kind else None
    return str(location[kind].get(field) or "") if field else ""


def archive_file_name(artifact: dict) -> str:
    """The file name the executor uploads an artifact as (stageArchiveFile)."""
    strategy = artifact.get("archive") or {"tar": {}}
    if strategy.get("none") is not None:
        return posixpath.basename(str(artifact["path"]).rstrip("/"))
    if strategy.get("zip") is not None:
        return f"{artifact['name']}.zip"
    return f"{artifact['name']}.tgz"


def reported_artifact(artifact: dict, archive_location: dict | None) -> dict:
    """The artifact as the executor reports it after saving (saveArtifactFromFile)."""
    if location_key(artifact):
        return copy.deepcopy(artifact)  # its own key: uploaded there as it is
    kind = location_type(archive_location)
    if kind is None:
        raise ReportError(f"artifact {artifact['name']!r}: no key and no archive location (no artifact repository)")
    if LOCATION_KEYS[kind] is None:
        raise ReportError(f"artifact {artifact['name']!r}: the {kind} archive location has no key to resolve here")
    key = posixpath.join(location_key(archive_location), archive_file_name(artifact))
    reported = {k: copy.deepcopy(v) for k, v in artifact.items() if k not in LOCATION_KEYS}
    reported[kind] = {LOCATION_KEYS[kind]: key}  # SetType then SetKey: the key alone, as the executor reports it
    return reported


def reported_parameter(parameter: dict) -> dict:
    """The output parameter as the executor reports it (SaveParameters), if its value can be known."""
    source = parameter.get("valueFrom") or {}
    if not source.get("path"):
        return copy.deepcopy(parameter)  # not read from a file: reported as declared
    if "default" not in source:
        raise ReportError(f"parameter {parameter['name']!r} is read from {source['path']} and has no default")
    value = str(source["default"])
    return {**copy.deepcopy(parameter), "value": value.removesuffix("\n")}


def reported_outputs(template: dict) -> tuple[dict, list[str]]:
    """(outputs, what was left out and why) for a pod's template, as the executor's report would hold."""
    declared = template.get("outputs") or {}
    outputs = {k: copy.deepcopy(v) for k, v in declared.items() if k not in ("artifacts", "parameters", "result")}
    left_out = []
    for field, resolve in (
        ("artifacts", lambda a: reported_artifact(a, template.get("archiveLocation"))),
        ("parameters", reported_parameter),
    ):
        found = []
        for item in declared.get(field) or []:
            try:
                found.append(resolve(item))
            except ReportError as exc:
                left_out.append(str(exc))
        if found:
            outputs[field] = found
    return outputs, left_out


def task_result(pod: dict, env: dict[str, str], outputs: dict) -> dict:
    """The WorkflowTaskResult the executor writes for a pod (createTaskResult, then FinalizeOutput)."""
    meta = pod["metadata"]
    workflow = meta.get("labels", {}).get(WORKFLOW_LABEL) or env["ARGO_WORKFLOW_NAME"]
    labels = {WORKFLOW_LABEL: workflow, COMPLETED_LABEL: "true"}
    if env.get("ARGO_INSTANCE_ID"):
        labels[INSTANCE_LABEL] = env["ARGO_INSTANCE_ID"]
    result = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkflowTaskResult",
        "metadata": {"name": node_id(pod, env), "namespace": meta["namespace"], "labels": labels},
    }
    if env.get("ARGO_WORKFLOW_UID"):
        result["metadata"]["ownerReferences"] = [
            {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Workflow", "name": workflow, "uid": env["ARGO_WORKFLOW_UID"]}
        ]
    if outputs:
        result["outputs"] = outputs
    return result


def node_id(pod: dict, env: dict[str, str]) -> str:
    found = pod["metadata"].get("annotations", {}).get(NODE_ID_ANNOTATION) or env.get("ARGO_NODE_ID")
    if not found:
        raise ReportError(f"pod {pod['metadata']['name']}: no node id (annotation {NODE_ID_ANNOTATION})")
    return found


def executor_env(pod: dict) -> dict[str, str]:
    """The plain environment the controller gives the executor's containers (init first, as argoexec init reads it)."""
    env: dict[str, str] = {}
    for container in [*(pod["spec"].get("initContainers") or []), *pod["spec"]["containers"]]:
        for entry in container.get("env") or []:
            if "value" in entry:
                env.setdefault(entry["name"], entry["value"])
    return env


def needs_report(pod: dict, kwok_nodes: set[str]) -> bool:
    meta = pod["metadata"]
    return (
        WORKFLOW_LABEL in meta.get("labels", {})
        and EXIT_CODE_LABEL not in meta.get("labels", {})
        and meta.get("annotations", {}).get(REPORTED_ANNOTATION) != "true"
        and not meta.get("deletionTimestamp")
        and pod.get("status", {}).get("phase") == "Running"
        and pod["spec"].get("nodeName") in kwok_nodes
    )


def spec(cluster):
    """The lab process (lab/cluster.py starts it after kwok); restarted when this file changes."""

    health = cluster.settings.endpoint("argo_executor")
    return proc.Spec(
        "argo-executor",
        [
            sys.executable,
            "-m",
            "lab.executor",
            f"--kubeconfig={cluster.conf / 'admin.conf'}",
            f"--health={health.address}",
        ],
        [health],
        lambda: proc.http_ok(health.url("/healthz")),
        cwd=cluster.root,
        watch_files=(Path(__file__).resolve(), Path(proc.__file__).resolve()),
    )


# --- talking to the API server -------------------------------------------------------------------


class Reporter(proc.ApiContact):
    """Reports the outputs of Running Workflow pods on kwok nodes; remembers when the API last answered."""

    def __init__(self, kubeconfig: str):
        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        super().__init__()

    def kwok_nodes(self) -> set[str]:
        nodes = self.core.list_node(_preload_content=False)
        self.touched()
        return {
            n["metadata"]["name"]
            for n in json.loads(nodes.data)["items"]
            if n["metadata"].get("annotations", {}).get(KWOK_ANNOTATION) == KWOK_MANAGED
        }

    def template(self, pod: dict, env: dict[str, str]) -> dict:
        raw = env.get("ARGO_TEMPLATE")
        if raw == TEMPLATE_OFFLOADED:  # too large for the environment: a ConfigMap named after the pod
            meta = pod["metadata"]
            raw = self.core.read_namespaced_config_map(meta["name"], meta["namespace"]).data["ARGO_TEMPLATE"]
        return json.loads(raw) if raw else {}

    def report(self, pod: dict) -> None:
        from kubernetes.client.rest import ApiException

        meta = pod["metadata"]
        env = executor_env(pod)
        outputs, left_out = reported_outputs(self.template(pod, env))
        for reason in left_out:
            log.warning("%s/%s: left out of the report: %s", meta["namespace"], meta["name"], reason)
        result = task_result(pod, env, outputs)
        try:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, meta["namespace"], TASK_RESULTS, result)
        except ApiException as exc:
            if exc.status != 409:
                raise
            # already there (a restart between create and annotate): complete it, as upsertTaskResult does
            patch = {"metadata": {"labels": result["metadata"]["labels"]}, "outputs": result.get("outputs")}
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, meta["namespace"], TASK_RESULTS, result["metadata"]["name"], patch, _content_type=MERGE
            )
        self.core.patch_namespaced_pod(
            meta["name"],
            meta["namespace"],
            {"metadata": {"annotations": {REPORTED_ANNOTATION: "true"}}},
            _content_type=MERGE,
        )
        self.touched()
        log.info("%s/%s: reported outputs as %s", meta["namespace"], meta["name"], result["metadata"]["name"])

    def handle(self, pod: dict, kwok_nodes: set[str]) -> None:
        """Report a pod that is due; a failed report is logged and tried again at the next listing."""
        from kubernetes.client.rest import ApiException

        if not needs_report(pod, kwok_nodes):
            return
        try:
            self.report(pod)
        except (ReportError, ValueError, KeyError, ApiException) as exc:
            log.error("%s/%s: cannot report: %s", pod["metadata"]["namespace"], pod["metadata"]["name"], exc)

    def run_once(self) -> None:
        """List the Running Workflow pods, report what is due, then follow changes for a while."""
        from kubernetes import watch

        selector = {"label_selector": WORKFLOW_LABEL, "field_selector": "status.phase=Running"}
        kwok_nodes = self.kwok_nodes()
        listed = json.loads(self.core.list_pod_for_all_namespaces(_preload_content=False, **selector).data)
        self.touched()
        for pod in listed["items"]:
            self.handle(pod, kwok_nodes)
        stream = watch.Watch().stream(
            self.core.list_pod_for_all_namespaces,
            resource_version=listed["metadata"]["resourceVersion"],
            timeout_seconds=WATCH_SECONDS,
            **selector,
        )
        for event in stream:
            self.touched()
            if event["type"] in ("ADDED", "MODIFIED"):
                pod = event["raw_object"]
                if pod["spec"].get("nodeName") not in kwok_nodes:
                    kwok_nodes = self.kwok_nodes()
                self.handle(pod, kwok_nodes)
        self.touched()

    def run(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception as exc:  # keep watching; the health endpoint tells when it cannot
                log.warning("watch interrupted: %s", exc)
                time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.executor", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--health", required=True, help="HOST:PORT of the health endpoint (loopback)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    reporter = Reporter(args.kubeconfig)
    proc.serve_health(reporter.healthy, args.health)
    log.info("reporting Workflow pod outputs; health on http://%s/healthz", args.health)
    reporter.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
