"""The lab cluster: a real control plane plus kwok, on loopback addresses.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as
processes of the pinned binaries, with the certificates and kubeconfigs that
`kubeadm init phase certs|kubeconfig` writes, and the API server flags a
kubeadm control plane uses (TLS everywhere, Node+RBAC authorization,
NodeRestriction on top of the default admission plugins, service-account
token signing, front-proxy aggregation). Runtime state lives in `.lab/`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from lab import controllers, egress, executor, toolchain
from lab import nodes as lab_nodes
from lab import processes as proc
from lab.settings import Settings

LAB_DIR = Path(__file__).resolve().parent
STAGES = LAB_DIR / "kwok-stages.yaml"
UPSTREAM_CHARTS = LAB_DIR / "upstream-charts.yml"


class LabError(Exception):
    """The lab cannot be brought to the asked state; the message says why."""


class Cluster:
    """Paths and pins of the lab cluster, from the lab's settings."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.root
        self.pins = settings.versions["lab_tools"]
        self.api = settings.api
        self.pod_cidr = str(settings.var("platform_pod_cidr"))
        self.service_cidr = str(settings.var("platform_service_cidr"))
        self.mirror_dir = settings.chart_mirror_dir
        self.kubeconfig = settings.kubeconfig
        self.manager = proc.Manager(settings.run_dir, settings.log_dir)

    @property
    def gateway_api_version(self) -> str:
        """The Gateway API release of the platform release the lab runs (versions.yml)."""
        versions = self.settings.versions
        return versions["platform_releases"][versions["platform_release_default"]]["manifests"]["gateway_api"]

    @property
    def state(self) -> Path:
        return self.settings.state / "cluster"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def conf(self) -> Path:
        return self.state / "etc"

    @property
    def api_url(self) -> str:
        return self.api.url(scheme="https")

    def binary(self, name: str) -> str:
        return str(toolchain.binary_paths(self.pins)[name])


# --- certificates and kubeconfigs -------------------------------------------------------------


def kubeadm_config(s: Cluster) -> str:
    cluster = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "clusterName": "lab",
        "kubernetesVersion": s.pins["kubernetes"],
        "certificatesDir": str(s.pki),
        "controlPlaneEndpoint": s.api.address,
        "networking": {"podSubnet": s.pod_cidr, "serviceSubnet": s.service_cidr, "dnsDomain": "cluster.local"},
        "apiServer": {"certSANs": [s.api.host, "127.0.0.1", "localhost"]},
        "etcd": {"local": {"serverCertSANs": [s.api.host], "peerCertSANs": [s.api.host]}},
    }
    # No advertiseAddress: kubeadm refuses a loopback one and would pick the
    # host's address instead; the lab's address enters the certificates as SANs.
    init = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "InitConfiguration",
        "localAPIEndpoint": {"bindPort": s.api.port},
        "nodeRegistration": {"name": "lab-control-plane", "criSocket": "unix:///run/containerd/containerd.sock"},
    }
    return yaml.safe_dump_all([cluster, init], sort_keys=False)


def ensure_credentials(s: Cluster) -> bool:
    """Write PKI and kubeconfigs with kubeadm's phases, once; True when written now."""
    if (s.pki / "ca.crt").is_file() and (s.conf / "admin.conf").is_file():
        return False
    s.conf.mkdir(parents=True, exist_ok=True)
    config = s.conf / "kubeadm.yaml"
    config.write_text(kubeadm_config(s))
    kubeadm = s.binary("kubeadm")
    for phase in (["certs", "all"], ["kubeconfig", "all"]):
        cmd = [kubeadm, "init", "phase", *phase, "--config", str(config)]
        if phase[0] == "kubeconfig":
            cmd += ["--kubeconfig-dir", str(s.conf)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"kubeadm init phase {' '.join(phase)} failed:\n{result.stdout}{result.stderr}")
    # kubeadm points the component kubeconfigs at the host's own address
    # (the local API endpoint); the lab's API server listens on the endpoint.
    for path in s.conf.glob("*.conf"):
        kubeconfig = yaml.safe_load(path.read_text())
        for entry in kubeconfig.get("clusters", []):
            entry["cluster"]["server"] = s.api_url
        path.write_text(yaml.safe_dump(kubeconfig, sort_keys=False))
    for name in os.listdir(s.conf):
        os.chmod(s.conf / name, 0o600)
    return True


# --- the processes -----------------------------------------------------------------------------


def specs(s: Cluster) -> list[proc.Spec]:
    """The cluster's processes in start order (lab-down stops them in reverse)."""
    pki, conf, addr = s.pki, s.conf, s.api.host
    listen = s.settings.endpoint
    etcd_client, etcd_peer = listen("etcd_client"), listen("etcd_peer")
    cm, sched, kwok = listen("kube_controller_manager"), listen("kube_scheduler"), listen("kwok")
    etcd_url, peer_url = etcd_client.url(scheme="https"), etcd_peer.url(scheme="https")
    egress_file = conf / "egress-selector.yaml"

    def etcd_tls():
        return proc.tls_context(
            pki / "etcd/ca.crt", pki / "etcd/healthcheck-client.crt", pki / "etcd/healthcheck-client.key"
        )

    def api_tls():
        return proc.tls_context(
            pki / "ca.crt", pki / "apiserver-kubelet-client.crt", pki / "apiserver-kubelet-client.key"
        )

    found = [
        proc.Spec(
            "etcd",
            [
                s.binary("etcd"),
                "--name=lab-control-plane",
                f"--data-dir={s.state / 'data' / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=lab-control-plane={peer_url}",
                # etcd serves /metrics on the client URLs; no extra listener
                f"--cert-file={pki / 'etcd/server.crt'}",
                f"--key-file={pki / 'etcd/server.key'}",
                f"--trusted-ca-file={pki / 'etcd/ca.crt'}",
                "--client-cert-auth=true",
                f"--peer-cert-file={pki / 'etcd/peer.crt'}",
                f"--peer-key-file={pki / 'etcd/peer.key'}",
                f"--peer-trusted-ca-file={pki / 'etcd/ca.crt'}",
                "--peer-client-cert-auth=true",
                "--snapshot-count=10000",
                # the lab is disposable: trade fsync durability for speed
                "--unsafe-no-fsync=true",
            ],
            [etcd_client, etcd_peer],
            lambda: (pki / "etcd/ca.crt").is_file() and proc.http_ok(f"{etcd_url}/health", etcd_tls()),
        ),
        proc.Spec(
            "kube-apiserver",
            [
                s.binary("kube-apiserver"),
                f"--advertise-address={addr}",
                f"--bind-address={addr}",
                f"--secure-port={s.api.port}",
                "--allow-privileged=true",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--enable-bootstrap-token-auth=true",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--etcd-servers={etcd_url}",
                f"--etcd-cafile={pki / 'etcd/ca.crt'}",
                f"--etcd-certfile={pki / 'apiserver-etcd-client.crt'}",
                f"--etcd-keyfile={pki / 'apiserver-etcd-client.key'}",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
                f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
                f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-username-headers=X-Remote-User",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={s.service_cidr}",
                # a loopback address is not a valid Endpoints address; nothing in
                # the lab routes to the `kubernetes` Service anyway
                "--endpoint-reconciler-type=none",
                # connections into the cluster network (Service-addressed webhooks) go through
                # the lab's cluster egress (lab/egress.py)
                f"--egress-selector-config-file={egress_file}",
            ],
            [s.api],
            lambda: (pki / "ca.crt").is_file() and proc.http_ok(f"{s.api_url}/readyz", api_tls()),
            watch_files=(egress_file,),
            private_files=lambda: {egress_file: egress.egress_config(egress.socket_path(s))},
        ),
        proc.Spec(
            "kube-controller-manager",
            [
                s.binary("kube-controller-manager"),
                f"--kubeconfig={conf / 'controller-manager.conf'}",
                f"--authentication-kubeconfig={conf / 'controller-manager.conf'}",
                f"--authorization-kubeconfig={conf / 'controller-manager.conf'}",
                f"--bind-address={cm.host}",
                f"--secure-port={cm.port}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                "--use-service-account-credentials=true",
                "--controllers=*,bootstrapsigner,tokencleaner",
                "--allocate-node-cidrs=true",
                f"--cluster-cidr={s.pod_cidr}",
                f"--service-cluster-ip-range={s.service_cidr}",
                "--cluster-name=lab",
                "--leader-elect=false",
            ],
            [cm],
            lambda: proc.http_ok(cm.url("/healthz", scheme="https"), proc.tls_context()),
        ),
        proc.Spec(
            "kube-scheduler",
            [
                s.binary("kube-scheduler"),
                f"--kubeconfig={conf / 'scheduler.conf'}",
                f"--authentication-kubeconfig={conf / 'scheduler.conf'}",
                f"--authorization-kubeconfig={conf / 'scheduler.conf'}",
                f"--bind-address={sched.host}",
                f"--secure-port={sched.port}",
                "--leader-elect=false",
            ],
            [sched],
            lambda: proc.http_ok(sched.url("/healthz", scheme="https"), proc.tls_context()),
        ),
        proc.Spec(
            "kwok",
            [
                s.binary("kwok"),
                f"--config={STAGES}",
                f"--kubeconfig={conf / 'admin.conf'}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={lab_nodes.KWOK_ANNOTATION}={lab_nodes.KWOK_MANAGED}",
                f"--cidr={s.pod_cidr}",
                "--node-lease-duration-seconds=40",
                f"--server-address={kwok.address}",
            ],
            [kwok],
            lambda: proc.http_ok(kwok.url("/healthz")),
            watch_files=(STAGES,),  # kwok reads its stages at start only
        ),
    ]
    # the API server's way to webhook stand-ins (and their CA bundles)
    found.append(egress.spec(s))
    # the Argo executor's output reports for Workflow pods on kwok nodes (kwok completes them after it)
    found.append(executor.spec(s))
    if s.mirror_dir.is_dir():
        mirror = listen("chart_mirror")
        found.append(
            proc.Spec(
                "chart-mirror",
                [
                    sys.executable,
                    "-m",
                    "http.server",
                    "--bind",
                    mirror.host,
                    "--directory",
                    str(s.mirror_dir),
                    str(mirror.port),
                ],
                [mirror],
                lambda: proc.http_ok(mirror.url("/index.yaml")),
            )
        )
    return found


def component_state(s: Cluster, spec: proc.Spec) -> str:
    """running | unhealthy | crashed | stopped | external (a mirror someone else serves)."""
    state = s.manager.state(spec)
    if state == "stopped" and spec.name == "chart-mirror" and spec.healthy():
        return "external"
    return state


# --- kubectl helpers ---------------------------------------------------------------------------


def kubectl(s: Cluster, *args: str, stdin: str | None = None, kubeconfig: Path | None = None) -> str:
    cmd = [s.binary("kubectl"), f"--kubeconfig={kubeconfig or s.kubeconfig}", *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


CLUSTER_ADMINS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kubeadm:cluster-admins
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: kubeadm:cluster-admins
"""


def ensure_admin_binding(s: Cluster) -> None:
    """kubeadm's admin.conf user is in kubeadm:cluster-admins, bound here as kubeadm init does."""
    super_admin = s.conf / "super-admin.conf"
    try:
        kubectl(s, "get", "clusterrolebinding", "kubeadm:cluster-admins", kubeconfig=super_admin)
    except LabError:
        kubectl(s, "create", "-f", "-", stdin=CLUSTER_ADMINS, kubeconfig=super_admin)


def sync_nodes(s: Cluster) -> list[str]:
    """Make the simulated nodes match the inventory; returns what changed."""
    wanted = {n["metadata"]["name"]: n for n in lab_nodes.nodes_from_inventory(s.settings)}
    current = json.loads(kubectl(s, "get", "nodes", "-l", f"{lab_nodes.LAB_LABEL}=true", "-o", "json"))["items"]
    have = {n["metadata"]["name"]: n for n in current}
    changes = []
    missing = [wanted[n] for n in sorted(wanted) if n not in have]
    if missing:
        kubectl(s, "create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": missing}))
        changes += [f"created node {n['metadata']['name']}" for n in missing]
    for name in sorted(set(wanted) & set(have)):
        want, got = wanted[name], have[name]
        taints = lab_nodes.missing_taints(want, got)
        if taints is not None:
            # resourceVersion: refused rather than dropping a taint the node controller set meanwhile
            meta = {"resourceVersion": got["metadata"]["resourceVersion"]}
            patch = {"metadata": meta, "spec": {"taints": taints}}
            kubectl(s, "patch", "node", name, "--type=merge", "-p", json.dumps(patch))
            changes.append(f"tainted node {name}")
        labels = {k: v for k, v in want["metadata"]["labels"].items() if got["metadata"].get("labels", {}).get(k) != v}
        stale = {
            k: None for k in got["metadata"].get("labels", {}) if _lab_owned(k) and k not in want["metadata"]["labels"]
        }
        if labels or stale:
            kubectl(
                s, "patch", "node", name, "--type=merge", "-p", json.dumps({"metadata": {"labels": labels | stale}})
            )
            changes.append(f"relabelled node {name}")
        cap = want["status"]["capacity"]
        if got.get("status", {}).get("capacity") != cap:
            patch = {"status": {"capacity": cap, "allocatable": cap, "addresses": want["status"]["addresses"]}}
            kubectl(s, "patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps(patch))
            changes.append(f"resized node {name}")
    for name in sorted(set(have) - set(wanted)):
        kubectl(s, "delete", "node", name, "--wait=false")
        changes.append(f"deleted node {name} (not in the inventory)")
    return changes


# Node labels the platform's roles set (gpu_operator): never the lab's to remove.
PLATFORM_NODE_LABELS = ("nvidia.com/device-plugin.config", "nvidia.com/gpu.deploy.")


def _lab_owned(label: str) -> bool:
    return label.startswith(("nvidia.com/", "lab.baremetal.mlops/")) and not label.startswith(PLATFORM_NODE_LABELS)


def nodes_ready(s: Cluster) -> bool:
    """Every node Ready and rid of the not-ready taint the node controller puts on new nodes."""
    items = json.loads(kubectl(s, "get", "nodes", "-o", "json"))["items"]
    return bool(items) and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
        and not any(t["key"] == "node.kubernetes.io/not-ready" for t in n["spec"].get("taints") or [])
        for n in items
    )


# --- build / up / down / status ----------------------------------------------------------------


def build(s: Cluster) -> dict[str, float]:
    spent = toolchain.build(s.pins)
    link_binaries(s)
    toolchain.gateway_api_crds(s.gateway_api_version)
    return spent


def up(s: Cluster, log=print) -> list[str]:
    """Bring the lab up; returns the list of changes (empty when it was already up)."""
    changes = [f"built {name}" for name in toolchain.build(s.pins)]
    toolchain.gateway_api_crds(s.gateway_api_version)  # the cilium role reads it (platform_gateway_api_url)
    if ensure_credentials(s):
        changes.append("wrote certificates and kubeconfigs (kubeadm init phase certs/kubeconfig)")
    try:
        for spec in specs(s):
            state = component_state(s, spec)
            if state == "external":
                # a chart repository someone else serves on the mirror's address: use it, never stop it
                log(f"lab: {spec.name}: a chart repository already answers on {spec.listens[0].url()}; using it")
                continue
            if s.manager.ensure(spec, log):
                changes.append(f"started {spec.name}")
                if spec.name == "kube-apiserver":
                    write_kubeconfig(s)
                    ensure_admin_binding(s)
        write_kubeconfig(s)
        changes += sync_nodes(s)
        proc.wait_for(lambda: nodes_ready(s), "the simulated nodes", 120)
        changes += controllers.up(s, log)
    except proc.ProcessError as exc:
        raise LabError(str(exc)) from exc
    failed = [
        f"{spec.name} ({st})" for spec in specs(s) if (st := component_state(s, spec)) not in ("running", "external")
    ]
    if failed:
        raise LabError(f"not healthy after start-up: {', '.join(failed)}; see {s.settings.log_dir}")
    if not s.mirror_dir.is_dir():
        fallback = UPSTREAM_CHARTS.relative_to(s.root)
        log(f"lab: no chart mirror at {s.mirror_dir}; use upstream repositories (-e @{fallback})")
    write_env(s)
    return changes


def link_binaries(s: Cluster) -> Path:
    """.lab/bin: links to the pinned binaries, a stable PATH entry for make, Molecule and shells."""
    bin_dir = s.settings.state / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in toolchain.binary_paths(s.pins).items():
        link = bin_dir / name
        if target.is_file() and (not link.is_symlink() or Path(os.readlink(link)) != target):
            link.unlink(missing_ok=True)
            link.symlink_to(target)
    return bin_dir


def write_kubeconfig(s: Cluster) -> None:
    """.lab/kubeconfig: kubeadm's admin.conf for this lab's certificates (mode 0600 from creation)."""
    admin = (s.conf / "admin.conf").read_text()
    if not s.kubeconfig.is_file() or s.kubeconfig.read_text() != admin:
        proc.write_private(s.kubeconfig, admin)


def env_text(s: Cluster) -> str:
    """Shell exports: KUBECONFIG and the pinned kubectl/helm first in PATH."""
    return f"export KUBECONFIG={s.kubeconfig}\nexport PATH={link_binaries(s)}:$PATH\n"


def write_env(s: Cluster) -> None:
    s.state.mkdir(parents=True, exist_ok=True)
    (s.state / "env").write_text(env_text(s))


def down(s: Cluster, log=print) -> list[str]:
    """Stop every cluster process the lab started (a mirror someone else serves stays)."""
    try:
        # the egress first (it starts webhook stand-ins on demand), then the stand-ins: a stand-in the
        # egress started may hold the egress's address until it is gone, so addresses are checked after
        first = [f"cluster-egress {s.manager.stop(egress.spec(s).name)}"]
        return first + controllers.down(s, log) + s.manager.down(specs(s), log)
    except proc.ProcessError as exc:
        raise LabError(f"lab-down: {exc}") from exc


def status(s: Cluster) -> tuple[bool, list[str]]:
    """(healthy, report lines). Healthy means every component runs and answers."""
    lines, healthy = [], True
    for spec in specs(s):
        state = component_state(s, spec)
        if state == "external":
            lines.append(f"{spec.name:<24} {state:<10} served by a process the lab did not start")
            continue
        ok, line = s.manager.status_lines([spec])
        lines += line
        healthy &= ok
    if not s.mirror_dir.is_dir():
        lines.append(f"{'chart-mirror':<24} {'absent':<10} no {s.mirror_dir}; charts come from upstream repositories")
    if healthy:
        try:
            ok, line = s.manager.status_lines(controllers.status_specs(s))
            lines += line
            healthy &= ok
        except LabError as exc:
            lines.append(f"controllers: api query failed: {exc}")
            healthy = False
    if healthy:
        try:
            version = json.loads(kubectl(s, "version", "-o", "json"))["serverVersion"]["gitVersion"]
            items = json.loads(kubectl(s, "get", "nodes", "-o", "json"))["items"]
            ready = sum(
                any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
                for n in items
            )
            lines.append(f"api {s.api_url} {version}; nodes ready {ready}/{len(items)}; kubeconfig {s.kubeconfig}")
            healthy &= ready == len(items) > 0
        except LabError as exc:
            lines.append(f"api query failed: {exc}")
            healthy = False
    return healthy, lines


def reset(s: Cluster) -> None:
    """Stop the cluster and remove its state (.lab/cluster: certificates, etcd data; .lab/kubeconfig).

    Other services' state under .lab/ (data, serving) is left alone."""
    down(s)
    shutil.rmtree(s.state, ignore_errors=True)
    s.kubeconfig.unlink(missing_ok=True)
