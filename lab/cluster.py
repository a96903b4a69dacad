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
import time
from dataclasses import dataclass
from pathlib import Path

import nodes as lab_nodes
import processes as proc
import toolchain
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAB_DIR = Path(__file__).resolve().parent
STAGES = LAB_DIR / "kwok-stages.yaml"
UPSTREAM_CHARTS = LAB_DIR / "upstream-charts.yml"

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
KWOK_PORT = 10247
MIRROR_ADDRESS = ("127.0.0.1", 8879)

# Start order; lab-down stops in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "chart-mirror")


class LabError(Exception):
    """The lab cannot be brought to the asked state; the message says why."""


@dataclass
class Settings:
    root: Path
    state: Path
    pins: dict
    api_address: str
    api_port: int
    pod_cidr: str
    service_cidr: str
    mirror_dir: Path

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def conf(self) -> Path:
        return self.state / "etc"

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    @property
    def log_dir(self) -> Path:
        return self.state / "logs"

    @property
    def kubeconfig(self) -> Path:
        # beside the cluster's own state: .lab/ is shared with the other lab services
        return self.state.parent / "kubeconfig"

    @property
    def api_url(self) -> str:
        return f"https://{self.api_address}:{self.api_port}"

    def binary(self, name: str) -> str:
        return str(toolchain.binary_paths(self.pins)[name])


def load_settings(root: Path = ROOT) -> Settings:
    versions = yaml.safe_load((root / "versions.yml").read_text())
    group_vars = root / "inventories" / "lab" / "group_vars" / "all"
    platform = yaml.safe_load((group_vars / "platform.yml").read_text())
    endpoint = platform["platform_api_endpoint"]
    return Settings(
        root=root,
        state=Path(os.environ.get("LAB_STATE_DIR", root / ".lab" / "cluster")),
        pins=versions["lab_tools"],
        api_address=endpoint["address"],
        api_port=int(endpoint["port"]),
        pod_cidr=platform["platform_pod_cidr"],
        service_cidr=platform["platform_service_cidr"],
        mirror_dir=Path(os.environ.get("LAB_CHART_MIRROR", root.parent / "shared" / "mirror" / "charts")),
    )


# --- certificates and kubeconfigs -------------------------------------------------------------


def kubeadm_config(s: Settings) -> str:
    cluster = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "clusterName": "lab",
        "kubernetesVersion": s.pins["kubernetes"],
        "certificatesDir": str(s.pki),
        "controlPlaneEndpoint": f"{s.api_address}:{s.api_port}",
        "networking": {"podSubnet": s.pod_cidr, "serviceSubnet": s.service_cidr, "dnsDomain": "cluster.local"},
        "apiServer": {"certSANs": [s.api_address, "127.0.0.1", "localhost"]},
        "etcd": {"local": {"serverCertSANs": [s.api_address], "peerCertSANs": [s.api_address]}},
    }
    # No advertiseAddress: kubeadm refuses a loopback one and would pick the
    # host's address instead; the lab's address enters the certificates as SANs.
    init = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "InitConfiguration",
        "localAPIEndpoint": {"bindPort": s.api_port},
        "nodeRegistration": {"name": "lab-control-plane", "criSocket": "unix:///run/containerd/containerd.sock"},
    }
    return yaml.safe_dump_all([cluster, init], sort_keys=False)


def ensure_credentials(s: Settings) -> bool:
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


def managed(s: Settings) -> dict[str, proc.Managed]:
    pki, conf, addr = s.pki, s.conf, s.api_address
    etcd_url = f"https://{addr}:{ETCD_CLIENT_PORT}"
    peer_url = f"https://{addr}:{ETCD_PEER_PORT}"
    found = {
        "etcd": proc.Managed(
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
            [(addr, ETCD_CLIENT_PORT), (addr, ETCD_PEER_PORT)],
            f"{etcd_url}/health",
        ),
        "kube-apiserver": proc.Managed(
            "kube-apiserver",
            [
                s.binary("kube-apiserver"),
                f"--advertise-address={addr}",
                f"--bind-address={addr}",
                f"--secure-port={s.api_port}",
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
            ],
            [(addr, s.api_port)],
            f"{s.api_url}/readyz",
        ),
        "kube-controller-manager": proc.Managed(
            "kube-controller-manager",
            [
                s.binary("kube-controller-manager"),
                f"--kubeconfig={conf / 'controller-manager.conf'}",
                f"--authentication-kubeconfig={conf / 'controller-manager.conf'}",
                f"--authorization-kubeconfig={conf / 'controller-manager.conf'}",
                f"--bind-address={addr}",
                f"--secure-port={CONTROLLER_MANAGER_PORT}",
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
            [(addr, CONTROLLER_MANAGER_PORT)],
            f"https://{addr}:{CONTROLLER_MANAGER_PORT}/healthz",
        ),
        "kube-scheduler": proc.Managed(
            "kube-scheduler",
            [
                s.binary("kube-scheduler"),
                f"--kubeconfig={conf / 'scheduler.conf'}",
                f"--authentication-kubeconfig={conf / 'scheduler.conf'}",
                f"--authorization-kubeconfig={conf / 'scheduler.conf'}",
                f"--bind-address={addr}",
                f"--secure-port={SCHEDULER_PORT}",
                "--leader-elect=false",
            ],
            [(addr, SCHEDULER_PORT)],
            f"https://{addr}:{SCHEDULER_PORT}/healthz",
        ),
        "kwok": proc.Managed(
            "kwok",
            [
                s.binary("kwok"),
                f"--config={STAGES}",
                f"--kubeconfig={conf / 'admin.conf'}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={lab_nodes.KWOK_ANNOTATION}=fake",
                f"--cidr={s.pod_cidr}",
                "--node-lease-duration-seconds=40",
                f"--server-address={addr}:{KWOK_PORT}",
            ],
            [(addr, KWOK_PORT)],
            f"http://{addr}:{KWOK_PORT}/healthz",
        ),
    }
    if s.mirror_dir.is_dir():
        host, port = MIRROR_ADDRESS
        found["chart-mirror"] = proc.Managed(
            "chart-mirror",
            [sys.executable, "-m", "http.server", "--bind", host, "--directory", str(s.mirror_dir), str(port)],
            [MIRROR_ADDRESS],
            f"http://{host}:{port}/index.yaml",
        )
    return found


def health_context(s: Settings, name: str):
    if name == "etcd":
        return proc.tls_context(
            s.pki / "etcd/ca.crt", s.pki / "etcd/healthcheck-client.crt", s.pki / "etcd/healthcheck-client.key"
        )
    if name == "kube-apiserver":
        return proc.tls_context(
            s.pki / "ca.crt", s.pki / "apiserver-kubelet-client.crt", s.pki / "apiserver-kubelet-client.key"
        )
    if name in ("kube-controller-manager", "kube-scheduler"):
        return proc.tls_context()
    return None


def component_state(s: Settings, m: proc.Managed) -> str:
    """running | unhealthy | crashed | stopped."""
    record = proc.read_pid(s.run_dir, m.name)
    if record is None:
        if m.name == "chart-mirror" and proc.http_ok(m.health_url):
            return "external"
        return "stopped"
    if not proc.is_ours(record):
        return "crashed"
    return "running" if proc.http_ok(m.health_url, health_context(s, m.name)) else "unhealthy"


# --- kubectl helpers ---------------------------------------------------------------------------


def kubectl(s: Settings, *args: str, stdin: str | None = None, kubeconfig: Path | None = None) -> str:
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


def ensure_admin_binding(s: Settings) -> None:
    """kubeadm's admin.conf user is in kubeadm:cluster-admins, bound here as kubeadm init does."""
    super_admin = s.conf / "super-admin.conf"
    try:
        kubectl(s, "get", "clusterrolebinding", "kubeadm:cluster-admins", kubeconfig=super_admin)
    except LabError:
        kubectl(s, "create", "-f", "-", stdin=CLUSTER_ADMINS, kubeconfig=super_admin)


def sync_nodes(s: Settings) -> list[str]:
    """Make the simulated nodes match the inventory; returns what changed."""
    inv = lab_nodes.read_inventory(str(s.root / "inventories" / "lab"), _tool("ansible-inventory"))
    wanted = {n["metadata"]["name"]: n for n in lab_nodes.nodes_from_inventory(inv, s.pins["kubernetes"])}
    current = json.loads(kubectl(s, "get", "nodes", "-l", f"{lab_nodes.LAB_LABEL}=true", "-o", "json"))["items"]
    have = {n["metadata"]["name"]: n for n in current}
    changes = []
    missing = [wanted[n] for n in sorted(wanted) if n not in have]
    if missing:
        kubectl(s, "create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": missing}))
        changes += [f"created node {n['metadata']['name']}" for n in missing]
    for name in sorted(set(wanted) & set(have)):
        want, got = wanted[name], have[name]
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


def _lab_owned(label: str) -> bool:
    return label.startswith(("nvidia.com/", "lab.baremetal.mlops/"))


def _tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def nodes_ready(s: Settings) -> bool:
    """Every node Ready and rid of the not-ready taint the node controller puts on new nodes."""
    items = json.loads(kubectl(s, "get", "nodes", "-o", "json"))["items"]
    return bool(items) and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
        and not any(t["key"] == "node.kubernetes.io/not-ready" for t in n["spec"].get("taints") or [])
        for n in items
    )


# --- up / down / status ------------------------------------------------------------------------


def up(s: Settings, log=print) -> list[str]:
    """Bring the lab up; returns the list of changes (empty when it was already up)."""
    built = toolchain.build(s.pins)
    changes = [f"built {name}" for name in built]
    if ensure_credentials(s):
        changes.append("wrote certificates and kubeconfigs (kubeadm init phase certs/kubeconfig)")
    for m in managed(s).values():
        state = component_state(s, m)
        if state == "running":
            continue
        if state == "external":
            # a chart repository someone else serves on the mirror's address: use it, never stop it
            log(f"lab: {m.name}: a chart repository already answers on {m.health_url}; using it")
            continue
        if state in ("crashed", "unhealthy"):
            log(f"lab: {m.name} is {state}; restarting it")
            proc.stop(m.name, s.run_dir)
        busy = [f"{h}:{p}" for h, p in m.listens if not proc.port_bindable(h, p)]
        if busy:
            raise LabError(f"cannot start {m.name}: {', '.join(busy)} already in use by another process")
        pid = proc.start(m, s.run_dir, s.log_dir)
        log(f"lab: started {m.name} (pid {pid}, log {s.log_dir / (m.name + '.log')})")
        ctx = health_context(s, m.name)
        record = proc.read_pid(s.run_dir, m.name)
        try:
            proc.wait_for(
                lambda m=m, ctx=ctx: proc.http_ok(m.health_url, ctx),
                m.name,
                120,
                on_fail=lambda r=record: not proc.is_ours(r),
            )
        except TimeoutError as exc:
            raise LabError(f"{exc}; see {s.log_dir / (m.name + '.log')}") from exc
        if not proc.is_ours(record):
            raise LabError(f"{m.name} exited during start-up; see {s.log_dir / (m.name + '.log')}")
        changes.append(f"started {m.name}")
        if m.name == "kube-apiserver":
            write_kubeconfig(s)
            ensure_admin_binding(s)
    write_kubeconfig(s)
    changes += sync_nodes(s)
    proc.wait_for(lambda: nodes_ready(s), "the simulated nodes", 120)
    failed = [
        f"{m.name} ({state})"
        for m in managed(s).values()
        if (state := component_state(s, m)) not in ("running", "external")
    ]
    if failed:
        raise LabError(f"not healthy after start-up: {', '.join(failed)}; see {s.log_dir}")
    if not s.mirror_dir.is_dir():
        fallback = UPSTREAM_CHARTS.relative_to(s.root)
        log(f"lab: no chart mirror at {s.mirror_dir}; use upstream repositories (-e @{fallback})")
    write_env(s)
    return changes


def link_binaries(s: Settings) -> Path:
    """.lab/bin: links to the pinned binaries, a stable PATH entry for make, Molecule and shells."""
    bin_dir = s.state.parent / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in toolchain.binary_paths(s.pins).items():
        link = bin_dir / name
        if target.is_file() and (not link.is_symlink() or Path(os.readlink(link)) != target):
            link.unlink(missing_ok=True)
            link.symlink_to(target)
    return bin_dir


def write_kubeconfig(s: Settings) -> None:
    """.lab/kubeconfig: kubeadm's admin.conf for this lab's certificates."""
    admin = (s.conf / "admin.conf").read_bytes()
    if not s.kubeconfig.is_file() or s.kubeconfig.read_bytes() != admin:
        s.kubeconfig.write_bytes(admin)
        os.chmod(s.kubeconfig, 0o600)


def write_env(s: Settings) -> None:
    """.lab/cluster/env: a shell snippet with KUBECONFIG and the pinned kubectl/helm first in PATH."""
    s.state.mkdir(parents=True, exist_ok=True)
    text = f"export KUBECONFIG={s.kubeconfig}\nexport PATH={link_binaries(s)}:$PATH\n"
    (s.state / "env").write_text(text)


def down(s: Settings, log=print) -> list[str]:
    changes, stopped = [], set()
    pid_files = s.run_dir.glob("*.pid") if s.run_dir.exists() else []
    leftovers = sorted(p.stem for p in pid_files if p.stem not in COMPONENTS)
    for name in [*reversed(COMPONENTS), *leftovers]:
        result = proc.stop(name, s.run_dir)
        if result != "not running":
            log(f"lab: {name} {result}")
            changes.append(f"{name} {result}")
            stopped.add(name)
    # Only the addresses of what the lab ran: a mirror someone else serves stays.
    listens = [addr for m in managed(s).values() if m.name in stopped or m.name != "chart-mirror" for addr in m.listens]
    busy = [f"{h}:{p}" for h, p in listens if proc.port_open(h, p)]
    if busy:
        raise LabError(f"lab-down finished but something still listens on {', '.join(busy)}")
    return changes


def status(s: Settings) -> tuple[bool, list[str]]:
    """(healthy, report lines). Healthy means every component runs and answers."""
    lines, healthy = [], True
    for m in managed(s).values():
        state = component_state(s, m)
        record = proc.read_pid(s.run_dir, m.name) or {}
        detail = f"pid {record['pid']}" if state == "running" else ""
        if state == "crashed":
            detail = f"pid {record.get('pid')} is gone; see {s.log_dir / (m.name + '.log')}"
        if state == "external":
            detail = "served by a process the lab did not start"
        lines.append(f"{m.name:<24} {state:<10} {detail}")
        healthy &= state in ("running", "external")
    if not s.mirror_dir.is_dir():
        lines.append(f"{'chart-mirror':<24} {'absent':<10} no {s.mirror_dir}; charts come from upstream repositories")
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


def reset(s: Settings) -> None:
    """Stop the cluster and remove its state (.lab/cluster: certificates, etcd data; .lab/kubeconfig).

    Other services' state under .lab/ (data, serving) is left alone."""
    down(s)
    shutil.rmtree(s.state, ignore_errors=True)
    s.kubeconfig.unlink(missing_ok=True)


def wait_seconds(start: float) -> float:
    return round(time.monotonic() - start, 1)
