"""Real controllers for charts the lab's simulated nodes cannot run.

kwok keeps a chart's pods Running, but nothing runs inside them. Where a
layer's tests need what a controller does, the lab runs that controller's
real binary (built from its Go module, lab/toolchain.py) out of cluster,
standing in for the chart's pod: it is given that pod's name, so the objects
it owns point at the pod the chart created, exactly as in a cluster.

- MetalLB's controller (address allocation for LoadBalancer Services). It
  binds its metrics and health endpoints to every interface, so it runs
  fenced (lab/fence.py); its webhook server stays off (`--webhook-mode
  disabled`), which is why the lab inventory sets the chart's webhook
  failurePolicy to Ignore (docs/lab.md).
- Argo Workflows' workflow-controller (runs Workflows: creates their pods,
  follows them, retries, sets the Workflow's phase and message). It is given
  the chart pod's own arguments (ConfigMap, executor image, log settings)
  and environment, with leader election off; it binds its health and metrics
  ports to every interface, so it runs fenced too. kwok completes the pods
  it creates (lab/kwok-stages.yaml: Succeeded, or Failed where the pod
  carries the label `lab.baremetal.mlops/exit-code`).
- Cilium's operator registers Cilium's CRDs when it starts; the operator
  cannot run here, so the lab registers the same CRDs, read from the Cilium
  Go module at the chart's version (the files the operator embeds).

`python -m lab cluster up` starts each controller whose chart is installed
(and restarts it when the chart's pod was replaced); run it again after a
layer's playbook installs a chart. `cluster down` stops them first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lab import fence, toolchain
from lab import processes as proc

CILIUM_MODULE = "github.com/cilium/cilium"
CILIUM_CRDS = "pkg/k8s/apis/cilium.io/client/crds/v2"


@dataclass(frozen=True)
class StandIn:
    """A real controller run in place of the container of a chart's pod."""

    name: str  # the lab process name
    binary: str  # the pinned binary (toolchain.binary_paths)
    namespace: str
    selector: str  # label selector of the chart's pod
    health_port: int  # inside the fence
    stop_timeout: float = 30.0  # then SIGKILL

    def argv(self, cluster, pod: dict) -> list[str]:
        raise NotImplementedError

    def env(self, pod: dict) -> dict[str, str]:
        return {}


class MetalLBController(StandIn):
    def argv(self, cluster, pod: dict) -> list[str]:
        owner = pod["metadata"].get("ownerReferences") or [{}]
        deployment = owner[0].get("name", "").rsplit("-", 1)[0]  # ReplicaSet <deployment>-<hash>
        env = {e["name"]: e.get("value", "") for c in pod["spec"]["containers"] for e in c.get("env") or []}
        return [
            cluster.binary(self.binary),
            f"--kubeconfig={cluster.conf / 'admin.conf'}",
            f"--namespace={self.namespace}",
            f"--pod-name={pod['metadata']['name']}",
            f"--deployment={deployment}",
            f"--ml-secret-name={env.get('METALLB_ML_SECRET_NAME', 'metallb-memberlist')}",
            "--webhook-mode=disabled",
            f"--health-probe-port={self.health_port}",
            "--port=7472",
            "--log-level=info",
        ]


def _container(pod: dict, name: str) -> dict:
    return next((c for c in pod["spec"]["containers"] if c["name"] == name), pod["spec"]["containers"][0])


class ArgoWorkflowController(StandIn):
    def argv(self, cluster, pod: dict) -> list[str]:
        # the chart's own arguments (--configmap, --executor-image, logging, --namespaced)
        return [
            cluster.binary(self.binary),
            f"--kubeconfig={cluster.conf / 'admin.conf'}",
            f"--namespace={pod['metadata']['namespace']}",
            *_container(pod, "controller").get("args", []),
        ]

    def env(self, pod: dict) -> dict[str, str]:
        return {
            "ARGO_NAMESPACE": pod["metadata"]["namespace"],
            "LEADER_ELECTION_IDENTITY": pod["metadata"]["name"],
            "LEADER_ELECTION_DISABLE": "true",
        }


STAND_INS = (
    MetalLBController(
        name="metallb-controller",
        binary="metallb-controller",
        namespace="metallb-system",
        selector="app.kubernetes.io/name=metallb,app.kubernetes.io/component=controller",
        health_port=17472,
    ),
    ArgoWorkflowController(
        name="argo-workflow-controller",
        binary="workflow-controller",
        namespace="argo",
        selector="app.kubernetes.io/component=workflow-controller",
        health_port=6060,  # fixed in the controller
        stop_timeout=5.0,  # it ignores SIGTERM for a while
    ),
)

# The environment variable that tells which chart pod a stand-in process runs for.
STAND_IN_FOR = "LAB_STAND_IN_FOR"


def fence_dir(cluster, stand_in: StandIn) -> Path:
    return cluster.settings.run_dir / f"{stand_in.name}.fence"


def spec(cluster, stand_in: StandIn, pod: dict | None) -> proc.Spec:
    """The fenced lab process; with pod None, a spec good for stop and status only."""
    api = cluster.api
    directory = fence_dir(cluster, stand_in)
    argv = stand_in.argv(cluster, pod) if pod else [cluster.binary(stand_in.binary)]
    env = {**stand_in.env(pod), STAND_IN_FOR: pod["metadata"]["name"]} if pod else {}
    return proc.Spec(
        stand_in.name,
        [
            sys.executable,
            "-m",
            "lab.fence",
            f"--dir={directory}",
            f"--reach={api.host}:{api.port}",
            f"--expose=health={stand_in.health_port}",
            "--",
            *argv,
        ],
        [],
        lambda: fence.unix_http_ok(fence.expose_socket(directory, "health"), "/healthz"),
        env=env,
        cwd=cluster.root,
        stop_timeout=stand_in.stop_timeout,
    )


def chart_pod(cluster, stand_in: StandIn) -> dict | None:
    """The Running pod of the chart this controller stands in for, if the chart is installed."""
    from lab.cluster import kubectl

    found = json.loads(
        kubectl(cluster, "get", "pods", "-n", stand_in.namespace, "-l", stand_in.selector, "-o", "json")
    )["items"]
    running = [
        p for p in found if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]
    return sorted(running, key=lambda p: p["metadata"]["name"])[0] if running else None


def _runs_for(cluster, stand_in: StandIn, pod_name: str) -> bool:
    for pid in cluster.manager.pids(stand_in.name):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{STAND_IN_FOR}={pod_name}".encode() in environ:
            return True
    return False


def up(cluster, log=print) -> list[str]:
    """Register the CRDs controllers that cannot run would register; start the stand-ins of installed charts."""
    changes = register_cilium_crds(cluster, log)
    for stand_in in STAND_INS:
        pod = chart_pod(cluster, stand_in)
        running = cluster.manager.state(spec(cluster, stand_in, None)) != "stopped"
        if pod is None:
            if running:
                cluster.manager.stop(stand_in.name)
                changes.append(f"stopped {stand_in.name} (its chart is gone)")
            continue
        if running and not _runs_for(cluster, stand_in, pod["metadata"]["name"]):
            log(f"lab: {stand_in.name}: the chart's pod is now {pod['metadata']['name']}; restarting")
            cluster.manager.stop(stand_in.name)
        if cluster.manager.ensure(spec(cluster, stand_in, pod), log):
            changes.append(f"started {stand_in.name} for pod {pod['metadata']['name']}")
    return changes


def down(cluster, log=print) -> list[str]:
    return cluster.manager.down([spec(cluster, s, None) for s in STAND_INS], log)


def status_specs(cluster) -> list[proc.Spec]:
    """Specs of the stand-ins that run or should (chart installed)."""
    return [
        spec(cluster, s, None)
        for s in STAND_INS
        if cluster.manager.record(s.name) is not None or chart_pod(cluster, s) is not None
    ]


# --- CRDs of controllers that cannot run here ------------------------------------------------


def cilium_version(cluster) -> str:
    versions = cluster.settings.versions
    raw = cluster.settings.inventory.raw_vars()
    release = str(
        cluster.settings.var("platform_release") if "platform_release" in raw else versions["platform_release_default"]
    )
    return "v" + str(versions["platform_releases"][release]["charts"]["cilium"]).lstrip("v")


def register_cilium_crds(cluster, log=print) -> list[str]:
    """Apply Cilium's v2 CRDs from its Go module at the chart's version, unless all are there."""
    from lab.cluster import LabError, kubectl

    version = cilium_version(cluster)
    crds = json.loads(kubectl(cluster, "get", "crd", "-o", "json"))["items"]
    have = {c["metadata"]["name"] for c in crds if c["spec"]["group"] == "cilium.io"}
    # The names registered last time, kept beside the cluster state: when they are all there
    # still, `go mod download` (a second or two, and a line in every `up`) is not needed.
    registered = cluster.state / f"cilium-crds-{version}.json"
    if registered.is_file() and set(json.loads(registered.read_text())) <= have:
        return []
    try:
        info = toolchain.module_info(CILIUM_MODULE, version)
    except RuntimeError as exc:
        raise LabError(f"cannot download {CILIUM_MODULE}@{version} for Cilium's CRDs: {exc}") from exc
    files = sorted((Path(info["Dir"]) / CILIUM_CRDS).glob("*.yaml"))
    if not files:
        raise LabError(f"{CILIUM_MODULE}@{version} has no CRDs under {CILIUM_CRDS}")
    names = sorted(f"{f.stem}.cilium.io" for f in files)
    if set(names) <= have:
        registered.write_text(json.dumps(names))
        return []
    result = subprocess.run(
        [cluster.binary("kubectl"), f"--kubeconfig={cluster.kubeconfig}", "apply", "--server-side", "--force-conflicts"]
        + [f"--filename={f}" for f in files],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LabError(f"registering Cilium's CRDs failed: {result.stderr.strip()}")
    registered.write_text(json.dumps(names))
    log(f"lab: registered Cilium {version}'s {len(files)} CRDs (what cilium-operator does at start)")
    return [f"registered Cilium {version} CRDs"]
