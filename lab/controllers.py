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
- KServe's controller manager (InferenceService -> Deployment, Service,
  autoscaler in Standard mode) with its admission webhooks, which the
  chart registers with failurePolicy Fail: the API server reaches them
  through the lab's cluster egress (lab/egress.py), which also starts the
  manager on the first call and puts the lab's webhook CA into the
  webhook configurations (what cert-manager's cainjector does). The
  serving certificate is the lab's (`webhook_certificate`), for the
  Service name the chart's webhooks call.
- Cilium's operator registers Cilium's CRDs when it starts; the operator
  cannot run here, so the lab registers the same CRDs, read from the Cilium
  Go module at the chart's version (the files the operator embeds).

`python -m lab cluster up` starts each controller whose chart is installed
(and restarts it when the chart's pod was replaced); run it again after a
layer's playbook installs a chart. `cluster down` stops them first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lab import fence, toolchain
from lab import processes as proc

CILIUM_MODULE = "github.com/cilium/cilium"
CILIUM_CRDS = "pkg/k8s/apis/cilium.io/client/crds/v2"


@dataclass(frozen=True)
class Webhook:
    """The Service a chart's webhook configurations call, answered by a stand-in's webhook server."""

    namespace: str
    service: str
    port: int  # the webhook server's port inside the fence

    @property
    def dns_names(self) -> list[str]:
        return [f"{self.service}.{self.namespace}.svc", f"{self.service}.{self.namespace}.svc.cluster.local"]


@dataclass(frozen=True)
class StandIn:
    """A real controller run in place of the container of a chart's pod."""

    name: str  # the lab process name
    binary: str  # the pinned binary (toolchain.binary_paths)
    namespace: str
    selector: str  # label selector of the chart's pod
    health_port: int  # inside the fence
    stop_timeout: float = 30.0  # then SIGKILL
    health_path: str = "/healthz"
    webhook: Webhook | None = None

    def argv(self, cluster, pod: dict) -> list[str]:
        raise NotImplementedError

    def env(self, cluster, pod: dict) -> dict[str, str]:
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

    def env(self, cluster, pod: dict) -> dict[str, str]:
        return {
            "ARGO_NAMESPACE": pod["metadata"]["namespace"],
            "LEADER_ELECTION_IDENTITY": pod["metadata"]["name"],
            "LEADER_ELECTION_DISABLE": "true",
        }


class KServeController(StandIn):
    def argv(self, cluster, pod: dict) -> list[str]:
        # the chart's --metrics-addr and --leader-elect are left out: metrics off, one manager
        keep = [a for a in _container(pod, "manager").get("args", []) if not a.startswith(("--metrics", "--leader"))]
        return [
            cluster.binary(self.binary),
            f"--kubeconfig={cluster.conf / 'admin.conf'}",
            "--metrics-addr=0",
            f"--health-probe-addr=127.0.0.1:{self.health_port}",
            f"--webhook-port={self.webhook.port}",
            *keep,
        ]

    def env(self, cluster, pod: dict) -> dict[str, str]:
        # controller-runtime reads its serving certificate from $TMPDIR/k8s-webhook-server/serving-certs
        return {"POD_NAMESPACE": pod["metadata"]["namespace"], "TMPDIR": str(webhook_dir(cluster, self))}


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
    KServeController(
        name="kserve-controller",
        binary="kserve-manager",
        namespace="kserve",
        selector="control-plane=kserve-controller-manager",
        health_port=8081,  # inside the fence: the manager's default
        health_path="/healthz",
        webhook=Webhook("kserve", "kserve-webhook-server-service", 9443),
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
    env = {**stand_in.env(cluster, pod), STAND_IN_FOR: pod["metadata"]["name"]} if pod else {}
    exposes = [f"--expose=health={stand_in.health_port}"]
    if stand_in.webhook:
        exposes.append(f"--expose=webhook={stand_in.webhook.port}")
    return proc.Spec(
        stand_in.name,
        [
            sys.executable,
            "-m",
            "lab.fence",
            f"--dir={directory}",
            f"--reach={api.host}:{api.port}",
            *exposes,
            "--",
            *argv,
        ],
        [],
        lambda: fence.unix_http_ok(fence.expose_socket(directory, "health"), stand_in.health_path),
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


@contextlib.contextmanager
def stand_in_lock(cluster, stand_in: StandIn):
    """One starter at a time per stand-in: `cluster up` and the cluster egress (lab/egress.py) both start them."""
    cluster.settings.run_dir.mkdir(parents=True, exist_ok=True)
    with open(cluster.settings.run_dir / f"{stand_in.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_one(cluster, stand_in: StandIn, log=print, pod: dict | None = None) -> list[str]:
    """Start (or restart for a new chart pod) one stand-in whose chart pod runs; stop it when the chart is gone."""
    with stand_in_lock(cluster, stand_in):
        pod = pod or chart_pod(cluster, stand_in)
        running = cluster.manager.state(spec(cluster, stand_in, None)) != "stopped"
        if pod is None:
            if running:
                cluster.manager.stop(stand_in.name)
                return [f"stopped {stand_in.name} (its chart is gone)"]
            return []
        if running and not _runs_for(cluster, stand_in, pod["metadata"]["name"]):
            log(f"lab: {stand_in.name}: the chart's pod is now {pod['metadata']['name']}; restarting")
            cluster.manager.stop(stand_in.name)
        changes = []
        if stand_in.webhook:
            # its serving certificate; the cluster egress puts the CA into the webhook configurations
            webhook_certificate(cluster, stand_in)
        if cluster.manager.ensure(spec(cluster, stand_in, pod), log):
            changes.append(f"started {stand_in.name} for pod {pod['metadata']['name']}")
        return changes


def up(cluster, log=print) -> list[str]:
    """Register the CRDs controllers that cannot run would register; start the stand-ins of installed charts."""
    changes = register_cilium_crds(cluster, log)
    for stand_in in STAND_INS:
        changes += ensure_one(cluster, stand_in, log)
    return changes


# --- webhooks: the serving certificate and the CA bundle (cert-manager's part in a cluster) --------


def webhook_dir(cluster, stand_in: StandIn) -> Path:
    """$TMPDIR of the stand-in: controller-runtime looks for k8s-webhook-server/serving-certs/tls.{crt,key}."""
    return cluster.state / "webhooks" / stand_in.name


def webhook_certificate(cluster, stand_in: StandIn) -> bytes:
    """The lab CA (PEM) that signed the stand-in's serving certificate; both made once, kept with the cluster."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = webhook_dir(cluster, stand_in)
    serving = directory / "k8s-webhook-server" / "serving-certs"
    ca_file = directory / "ca.crt"
    if ca_file.is_file() and (serving / "tls.crt").is_file() and (serving / "tls.key").is_file():
        return ca_file.read_bytes()
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"lab webhook CA ({stand_in.name})")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = stand_in.webhook.dns_names
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    serving.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    proc.write_private(serving / "tls.key", key_pem.decode())
    (serving / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca_file.read_bytes()


def calls_service(hook: dict, webhook: Webhook) -> bool:
    """Whether one webhook of a configuration calls the stand-in's Service."""
    service = (hook.get("clientConfig") or {}).get("service") or {}
    return (service.get("namespace"), service.get("name")) == (webhook.namespace, webhook.service)


def ca_bundle_patches(configuration: dict, webhook: Webhook, bundle: str) -> list[dict]:
    """JSON patch operations that give each webhook calling webhook's Service the CA bundle (base64 PEM)."""
    return [
        {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": bundle}
        for index, hook in enumerate(configuration.get("webhooks") or [])
        if calls_service(hook, webhook) and hook["clientConfig"].get("caBundle") != bundle
    ]


def webhook_stand_in(namespace: str, service: str) -> StandIn | None:
    """The stand-in answering for a webhook Service, if any."""
    return next(
        (s for s in STAND_INS if s.webhook and (s.webhook.namespace, s.webhook.service) == (namespace, service)),
        None,
    )


def wait_chart_pod(cluster, stand_in: StandIn, timeout: float) -> dict | None:
    """The chart's Running pod, waiting up to timeout for kwok to run a pod just created."""
    deadline = time.monotonic() + timeout
    while True:
        pod = chart_pod(cluster, stand_in)
        if pod is not None or time.monotonic() >= deadline:
            return pod
        time.sleep(0.5)


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
