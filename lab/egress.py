"""The lab API server's way into the cluster network, and cert-manager's part for webhook stand-ins.

In a cluster the API server calls an admission webhook at the webhook's
Service: it resolves the Service to its cluster IP and kube-proxy (or
Cilium) takes the connection to a pod. The lab has no pod network, so the
API server is given an egress selector (`--egress-selector-config-file`):
every connection it makes into the cluster network ("cluster" egress:
Service-addressed webhooks, kubelets) is asked of this process with an
HTTP CONNECT over a Unix socket. It answers as the cluster network would:

- a Service that a real controller's webhook server stands in for
  (lab/controllers.py, `Webhook`) is reached at that controller's webhook
  port inside its fence; the controller is started on the first call when
  its chart's pod runs and it does not yet;
- any other Service is refused at once (nothing runs behind it here, and a
  webhook with failurePolicy Ignore is then skipped without waiting for its
  timeout); an address that is no Service (a node's kubelet) is dialled
  directly, as the API server did without the egress.

The chart's webhook configurations stay as the chart rendered them (Service,
path, failurePolicy Fail); what cert-manager does in a cluster for them, the
lab does here: the webhook server's certificate is the lab's
(controllers.webhook_certificate, for the Service's DNS names) and every
second or two this process puts the lab CA into the webhook configurations
that call a stand-in's Service (cainjector's `caBundle`), and starts the
stand-in as soon as its chart's pod runs, so the first admission call does
not wait for it.

Its health endpoint (`lab_listen.cluster_egress`) answers while it keeps in
touch with the API server.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import socket
import sys
import threading
import time
from pathlib import Path

from lab import controllers, fence
from lab import processes as proc

log = logging.getLogger("lab.egress")

SCAN_SECONDS = 1.5  # how often webhook configurations are checked
START_WAIT = 8.0  # how long a first call waits for the chart's pod (the API server gives a webhook 10 s)
HEADER_LIMIT = 16384

EGRESS_CONFIG = """\
apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: {socket}
"""


def egress_config(socket_path: Path) -> str:
    """The API server's --egress-selector-config-file: cluster traffic through socket_path."""
    return EGRESS_CONFIG.format(socket=socket_path)


def parse_connect(header: bytes) -> tuple[str, int]:
    """(host, port) of an HTTP CONNECT request header; ValueError for anything else."""
    line = header.split(b"\r\n", 1)[0].decode("ascii", "replace")
    parts = line.split()
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/"):
        raise ValueError(f"not a CONNECT request: {line!r}")
    host, _, port = parts[1].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"CONNECT target is not host:port: {parts[1]!r}")
    return host.strip("[]"), int(port)


def read_header(client: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(4096)
        if not chunk:
            raise ValueError("connection closed before the CONNECT header ended")
        data += chunk
        if len(data) > HEADER_LIMIT:
            raise ValueError("CONNECT header too long")
    header, _, rest = data.partition(b"\r\n\r\n")
    if rest:
        raise ValueError("data sent before the tunnel was established")
    return header


class Egress(proc.ApiContact):
    """Resolves cluster addresses and keeps the webhook stand-ins' CA bundles and processes in place."""

    def __init__(self, cluster, kubeconfig: str):
        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=kubeconfig)
        self.cluster = cluster
        self.core = client.CoreV1Api(api_client)
        self.admission = client.AdmissionregistrationV1Api(api_client)
        self.services: dict[str, tuple[str, str]] = {}  # cluster IP -> (namespace, name)
        self.listed = 0.0
        self.lock = threading.Lock()
        super().__init__()

    # --- the cluster network -----------------------------------------------------------------

    def service_at(self, host: str) -> tuple[str, str] | None:
        """The Service whose cluster IP is host; the list is read again on a miss (at most once a second)."""
        with self.lock:
            if host not in self.services and time.monotonic() - self.listed > 1.0:
                listed = json.loads(self.core.list_service_for_all_namespaces(_preload_content=False).data)
                self.touched()
                self.listed = time.monotonic()
                self.services = {
                    ip: (s["metadata"]["namespace"], s["metadata"]["name"])
                    for s in listed["items"]
                    for ip in s["spec"].get("clusterIPs") or [s["spec"].get("clusterIP")]
                    if ip and ip != "None"
                }
            return self.services.get(host)

    def connect(self, host: str, port: int) -> socket.socket:
        """A connection to host:port as the cluster network would make it."""
        found = self.service_at(host)
        if found is None:  # not a Service: a node (kubelet) address, dialled as before
            return socket.create_connection((host, port), timeout=5)
        stand_in = controllers.webhook_stand_in(*found)
        if stand_in is None:  # no pod network here: refused at once, not after the webhook's timeout
            raise OSError(f"Service {found[0]}/{found[1]} has no process behind it in the lab")
        self.ensure_running(stand_in, wait=START_WAIT)
        return fence.unix_connect(fence.expose_socket(controllers.fence_dir(self.cluster, stand_in), "webhook"))

    def ensure_running(self, stand_in, wait: float = 0.0) -> None:
        if self.cluster.manager.state(controllers.spec(self.cluster, stand_in, None)) == "running":
            return
        pod = controllers.wait_chart_pod(self.cluster, stand_in, wait)
        if pod is None:
            raise OSError(f"{stand_in.name}: the chart's pod in {stand_in.namespace} is not running")
        controllers.ensure_one(self.cluster, stand_in, log.info, pod=pod)

    # --- what cert-manager's cainjector does for the stand-ins' webhooks ----------------------

    def scan(self) -> None:
        """Give the stand-ins' webhook configurations the lab CA; start a stand-in whose chart just arrived."""
        listed = [
            json.loads(self.admission.list_mutating_webhook_configuration(_preload_content=False).data)["items"],
            json.loads(self.admission.list_validating_webhook_configuration(_preload_content=False).data)["items"],
        ]
        self.touched()
        for stand_in in controllers.STAND_INS:
            if stand_in.webhook is None:
                continue
            bundle = base64.b64encode(controllers.webhook_certificate(self.cluster, stand_in)).decode()
            calls_it = False
            for items, patch in zip(
                listed,
                (
                    self.admission.patch_mutating_webhook_configuration,
                    self.admission.patch_validating_webhook_configuration,
                ),
                strict=True,
            ):
                for configuration in items:
                    hooks = configuration.get("webhooks") or []
                    calls_it = calls_it or any(controllers.calls_service(h, stand_in.webhook) for h in hooks)
                    ops = controllers.ca_bundle_patches(configuration, stand_in.webhook, bundle)
                    if ops:
                        patch(configuration["metadata"]["name"], ops)
                        log.info("%s: CA bundle put into %s", stand_in.name, configuration["metadata"]["name"])
            if calls_it:
                try:
                    self.ensure_running(stand_in)
                except (OSError, RuntimeError, controllers.proc.ProcessError) as exc:
                    log.warning("%s: not started yet: %s", stand_in.name, exc)

    def run(self) -> None:
        while True:
            try:
                self.scan()
            except Exception as exc:  # keep going; the health endpoint tells when the API is gone
                log.warning("scan failed: %s", exc)
            time.sleep(SCAN_SECONDS)


def tunnel(egress: Egress, client: socket.socket) -> None:
    """Serve one CONNECT request from the API server."""
    try:
        host, port = parse_connect(read_header(client))
    except (ValueError, OSError) as exc:
        log.warning("refused: %s", exc)
        client.close()
        return
    try:
        upstream = egress.connect(host, port)
    except Exception as exc:  # the API server logs the status line and fails (or ignores) the call
        log.warning("CONNECT %s:%s failed: %s", host, port, exc)
        with contextlib.suppress(OSError):
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
        client.close()
        return
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    back = threading.Thread(target=fence.pump, args=(upstream, client), daemon=True)
    back.start()
    fence.pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def serve(egress: Egress, path: Path) -> threading.Thread:
    """Answer the API server's CONNECT requests on the Unix socket path."""
    return fence.accept_loop(fence.unix_listener(path), lambda client: tunnel(egress, client))


def spec(cluster):
    """The lab process (lab/cluster.py starts it after the API server); restarted when the lab code changes."""

    health = cluster.settings.endpoint("cluster_egress")
    return proc.Spec(
        "cluster-egress",
        [
            sys.executable,
            "-m",
            "lab.egress",
            f"--kubeconfig={cluster.conf / 'admin.conf'}",
            f"--socket={socket_path(cluster)}",
            f"--health={health.address}",
        ],
        [health],
        lambda: proc.http_ok(health.url("/healthz")),
        cwd=cluster.root,
        watch_files=tuple(
            Path(controllers.__file__).resolve().parent / f for f in ("egress.py", "controllers.py", "processes.py")
        ),
    )


def socket_path(cluster) -> Path:
    return cluster.settings.run_dir / "cluster-egress.sock"


def main(argv: list[str] | None = None) -> int:
    from lab import cluster as lab_cluster
    from lab import settings as lab_settings

    parser = argparse.ArgumentParser(prog="python -m lab.egress", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--socket", required=True, type=Path, help="Unix socket the API server's egress dials")
    parser.add_argument("--health", required=True, help="HOST:PORT of the health endpoint (loopback)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    egress = Egress(lab_cluster.Cluster(lab_settings.load()), args.kubeconfig)
    proc.serve_health(egress.healthy, args.health)
    serve(egress, args.socket)
    log.info("cluster egress on %s; health on http://%s/healthz", args.socket, args.health)
    egress.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
