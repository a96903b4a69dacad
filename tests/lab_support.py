"""Helpers the lab tests (tests/lab, tests/lab_verify, tests/lab_kubeadm) share: run
`python -m lab cluster`, kubectl and helm against the lab. tests/ is on sys.path
(beside tests/conftest.py), so every test folder imports it as `lab_support`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LABCTL = [sys.executable, "-m", "lab", "cluster"]
LAB_INVENTORY = ROOT / "inventories" / "lab"


def labctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`python -m lab cluster ARGS` from the repo root, as make runs it."""
    result = subprocess.run([*LABCTL, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"lab cluster {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


@dataclass
class Lab:
    root: Path
    kubeconfig: Path
    pins: dict
    bin: dict
    env: dict

    def run(self, tool: str, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.bin[tool], *args], input=stdin, env=self.env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return result

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("kubectl", *args, stdin=stdin, check=check)

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, obj: dict | list) -> None:
        docs = obj if isinstance(obj, list) else [obj]
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("helm", *args, check=check)

    def wait_until(self, predicate, what: str, timeout: float = 120.0):
        return wait_until(predicate, what, timeout)

    @contextlib.contextmanager
    def watch(self, resource: str, namespace: str) -> Iterator[WatchEvents]:
        """`kubectl get --watch` of one resource in a namespace for the block's duration: every object the API
        server lists when the watch starts and every change after, deletions included, for what a controller
        creates and then removes before a test could read it."""
        with tempfile.TemporaryFile() as sink:
            watch = ["--watch", "--output-watch-events", "-o", "json"]
            child = subprocess.Popen(
                [self.bin["kubectl"], "get", resource, "-n", namespace, *watch],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            events = WatchEvents(sink)
            try:
                yield events
            finally:
                child.terminate()
                child.wait(timeout=30)
                events.close()


class WatchEvents:
    """The events a Lab.watch has written so far, read as (type, object) pairs; after the watch, all it wrote."""

    def __init__(self, sink):
        self._sink, self._final = sink, None

    def close(self) -> None:
        self._final = self()

    def __call__(self) -> list[tuple[str, dict]]:
        if self._final is not None:
            return self._final
        self._sink.seek(0)
        text, decoder, at, events = self._sink.read().decode(), json.JSONDecoder(), 0, []
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at == len(text):
                return events
            try:
                event, at = decoder.raw_decode(text, at)
            except json.JSONDecodeError:
                return events  # an event still being written
            if not isinstance(event, dict) or "type" not in event:
                raise AssertionError(f"kubectl --watch wrote something other than an event: {text[at:][:500]}")
            events.append((event["type"], event["object"]))


def inventory_var(name: str):
    """A plain (untemplated) variable of the lab inventory's group_vars/all."""
    for path in sorted((LAB_INVENTORY / "group_vars" / "all").glob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        if name in data:
            return data[name]
    raise KeyError(name)


def gpu_toleration() -> dict:
    """What a GPU workload carries: a toleration of the lab inventory's gpu_node_taint (Exists on its key
    and effect, whatever its value)."""
    taint = inventory_var("gpu_node_taint")
    return {"key": taint["key"], "operator": "Exists", "effect": taint["effect"]}


def recap(result: subprocess.CompletedProcess) -> dict[str, int]:
    """localhost's PLAY RECAP counters of a run."""
    for line in result.stdout.splitlines()[::-1]:
        if line.startswith("localhost") and "ok=" in line:
            return {k: int(v) for k, v in (part.split("=") for part in line.split()[2:])}
    raise AssertionError(f"no PLAY RECAP in:\n{result.stdout[-3000:]}")


def wait_until(predicate, what: str, timeout: float = 120.0, interval: float = 0.5):
    """Poll predicate() until it returns something truthy; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def workflow_finished(lab: Lab, namespace: str, name: str, timeout: float = 240.0) -> dict:
    """The Workflow once its controller gave it a final phase (Succeeded, Failed or Error)."""

    def done():
        wf = lab.get("workflow", name, "-n", namespace)
        return wf if wf.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error") else None

    return lab.wait_until(done, f"Workflow {namespace}/{name} to finish", timeout=timeout)


def ansible_env(lab: Lab) -> dict[str, str]:
    """Environment for ansible-playbook against the lab: its helm and this Python's tools first on PATH,
    the repo's ansible.cfg, the lab's kubeconfig for kubernetes.core, no colours."""
    return {
        **lab.env,
        "PATH": os.pathsep.join(
            [str(Path(lab.bin["helm"]).parent), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "K8S_AUTH_KUBECONFIG": str(lab.kubeconfig),
    }


SERVE_MODEL_PLAYBOOK = ROOT / "tests" / "lab_layers" / "playbooks" / "serve-model.yml"


def serve_model(env: dict[str, str], settings: dict, check: bool = True) -> subprocess.CompletedProcess:
    """The kserve role's `inference_service` entry point on the lab (tests/lab_layers/playbooks/serve-model.yml)
    with these kserve_isvc_* variables; fails the test with the run's tail when `check` and the run failed."""
    result = subprocess.run(
        ["ansible-playbook", str(SERVE_MODEL_PLAYBOOK), "-i", str(LAB_INVENTORY), "-e", json.dumps(settings)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(f"serve-model.yml failed:\n{(result.stdout + result.stderr)[-6000:]}")
    return result


def lab_minio(data, backup_site: bool = False):
    """An S3 client (minio.Minio) as the root account on the lab's MinIO, or on its second MinIO, the backup
    site; `data` is the running data services (lab.data)."""
    from minio import Minio  # only the tests that talk S3 need it

    s = data.settings
    if backup_site:
        endpoint, user, password = data.minio_backup, s.minio_backup_root_user, s.minio_backup_root_password
    else:
        endpoint, user, password = data.minio, s.minio_root_user, s.minio_root_password
    return Minio(endpoint.address, access_key=user, secret_key=password, secure=False)
