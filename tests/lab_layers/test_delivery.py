"""Direct delivery of layers 2-4 on the lab: idempotence, check mode, failures named and recovered,
placement by the real scheduler and DaemonSet controller, and the same rendering as GitOps delivery."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from lab_support import LAB_INVENTORY, ROOT, inventory_var, recap

from ansible_collections.baremetal.mlops.plugins.plugin_utils import release_render
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.kubeadm_utils import issue

pytestmark = pytest.mark.lab


def helm_json(lab, *args: str):
    return json.loads(lab.helm(*args, "-o", "json").stdout)


def release(lab, name: str, namespace: str) -> dict:
    found = [r for r in helm_json(lab, "list", "-n", namespace, "--all") if r["name"] == name]
    assert found, f"no Helm release {namespace}/{name}"
    return found[0]


def test_the_whole_main_job_runs_again_without_changes(layers):
    """`make lab`'s run of site.yml, untagged, after the layers converged: nothing changes, the
    cluster layers run, the compute layer says SKIPPED."""
    layers.controllers_up()  # the lab's own node sync must not undo what the roles set
    result = layers.play(tags="all")
    assert recap(result)["changed"] == 0
    assert "SKIPPED layer compute:" in result.stdout
    for layer in ("networking", "storage", "gpu", "serving", "tracking", "orchestration", "observability"):
        assert f"SKIPPED layer {layer}:" not in result.stdout
    # serving runs cert-manager and KServe; tracking runs CloudNativePG and MLflow; their releases
    # are converged, so the delivery record hands none of them to Helm again: the releases' task
    # file is not even included (its include is visited and skipped)
    for component in ("cert-manager", "kserve", "cloudnative-pg", "mlflow"):
        assert f"Deliver the releases of {component}]" in result.stdout
    assert "Choose the releases Helm must see" not in result.stdout
    assert "Install or upgrade the Helm releases of" not in result.stdout
    # orchestration runs argo_workflows and argocd
    assert "Deliver Argo Workflows (orchestration layer)" in result.stdout
    assert "Deliver Argo CD (orchestration layer)" in result.stdout
    # observability runs the monitoring role: kube-prometheus-stack and the platform's objects
    assert "Deliver kube-prometheus-stack and the platform's rules" in result.stdout


def test_check_mode_predicts_a_value_change_without_making_it(layers):
    lab = layers.lab
    before = release(lab, "cilium", "kube-system")
    result = layers.play("--check", "-e", json.dumps({"cilium_values": {"debug": {"enabled": True}}}), tags="cilium")
    assert recap(result)["changed"] >= 1, result.stdout[-3000:]
    assert release(lab, "cilium", "kube-system")["revision"] == before["revision"]
    assert "debug" not in (helm_json(lab, "get", "values", "cilium", "-n", "kube-system") or {})


def test_a_release_that_does_not_become_ready_is_named_and_a_rerun_converges(layers):
    """A value no node satisfies: the run fails naming the layer, component and release within the
    bounded wait; the failed release is upgraded again by the next run (kubernetes.core.helm alone
    would report it unchanged), and the MetalLB controller follows the chart's pod."""
    lab = layers.lab
    stuck = {
        "metallb_values": {"controller": {"nodeSelector": {"lab.baremetal.mlops/nowhere": "true"}}},
        "release_delivery_wait_timeout": 15,
    }
    try:
        failed = layers.play_with(stuck, tags="metallb", check=False)
        assert failed.returncode != 0
        assert (
            "networking layer, metallb: Helm release metallb did not install or become ready within 15 s"
            in " ".join((failed.stdout + failed.stderr).split())
        ), failed.stdout[-4000:]
        assert release(lab, "metallb", "metallb-system")["status"] == "failed"
    finally:
        recovered = layers.play(tags="metallb")
    assert recap(recovered)["changed"] >= 1
    assert release(lab, "metallb", "metallb-system")["status"] == "deployed"
    assert "controller" not in (helm_json(lab, "get", "values", "metallb", "-n", "metallb-system") or {})
    assert recap(layers.play(tags="metallb"))["changed"] == 0
    layers.controllers_up()


def test_a_release_changed_outside_the_collection_goes_through_helm_again(layers, chart_repository):
    """The delivery record skips Helm only for a release at the revision its last delivery produced:
    an upgrade made by hand moves the revision, so the next run compares through Helm and puts the
    inventory's values back; the run after that hands nothing to Helm."""
    lab = layers.lab
    before = release(lab, "metallb", "metallb-system")
    version = before["chart"].removeprefix("metallb-")
    lab.helm(
        "upgrade", "metallb", "metallb", "--repo", chart_repository("metallb"), "--version", version,
        "-n", "metallb-system", "--reuse-values", "--set", "controller.logLevel=debug",
    )  # fmt: skip
    assert helm_json(lab, "get", "values", "metallb", "-n", "metallb-system")["controller"]["logLevel"] == "debug"
    try:
        put_back = layers.play(tags="metallb")
        assert "Install or upgrade the Helm releases of metallb]" in put_back.stdout
        assert recap(put_back)["changed"] >= 1
        assert "controller" not in (helm_json(lab, "get", "values", "metallb", "-n", "metallb-system") or {})
    finally:
        layers.controllers_up()
    again = layers.play(tags="metallb")
    assert recap(again)["changed"] == 0
    assert "Install or upgrade the Helm releases of metallb]" not in again.stdout
    record = json.loads(
        lab.kubectl("get", "configmap", "baremetal-mlops-delivery-metallb", "-n", "kube-system", "-o", "json").stdout
    )
    entry = json.loads(record["data"]["metallb-system.metallb"])
    assert entry["revision"] == int(release(lab, "metallb", "metallb-system")["revision"])


def test_longhorn_runs_only_on_the_storage_nodes(layers):
    lab = layers.lab
    storage = set(
        yaml.safe_load((LAB_INVENTORY / "hosts.yml").read_text())["all"]["children"]["storage_nodes"]["hosts"]
    )
    labelled = {
        n["metadata"]["name"] for n in lab.get("nodes", "-l", "node.longhorn.io/create-default-disk=true")["items"]
    }
    assert labelled == storage
    managers = lab.get("pods", "-n", "longhorn-system", "-l", "app=longhorn-manager")["items"]
    assert sorted(p["spec"].get("nodeName") for p in managers) == sorted(storage)
    others = lab.get("pods", "-n", "longhorn-system")["items"]
    assert {p["spec"].get("nodeName") for p in others} <= storage, "a Longhorn pod runs beyond the storage nodes"
    # longhorn-manager creates the StorageClass from this ConfigMap at start; kwok runs no manager
    source = lab.get("configmap", "longhorn-storageclass", "-n", "longhorn-system")["data"]["storageclass.yaml"]
    storage_class = yaml.safe_load(source)
    assert storage_class["metadata"]["name"] == inventory_var("platform_storage_class")
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class["parameters"]["numberOfReplicas"] == str(inventory_var("platform_storage_replicas"))
    defaults = yaml.safe_load(
        lab.get("configmap", "longhorn-default-setting", "-n", "longhorn-system")["data"]["default-setting.yaml"]
    )
    assert str(defaults["default-replica-count"]) == str(inventory_var("platform_storage_replicas")), defaults
    assert str(defaults["create-default-disk-labeled-nodes"]).lower() == "true", defaults


def test_each_gpu_node_carries_its_class_labels(layers):
    lab = layers.lab
    hosts = yaml.safe_load((LAB_INVENTORY / "hosts.yml").read_text())["all"]["children"]["k8s_cluster"]["children"]
    classes = inventory_var("gpu_node_classes")
    for name, host in hosts["gpu_nodes"]["hosts"].items():
        gpu_class = classes[host["gpu_node_class"]]
        labels = lab.get("node", name)["metadata"]["labels"]
        assert labels["nvidia.com/mig.config"] == (
            gpu_class["mig_config"] if gpu_class["mig_config"] != "none" else "all-disabled"
        )
        assert labels["nvidia.com/device-plugin.config"] in (host["gpu_node_class"], "default")


def test_a_node_that_lost_its_class_label_is_labelled_again_and_only_it(layers):
    """One list call finds the node that lacks a label and its label set is applied again; on a
    converged cluster the labelling task is skipped (no patch at all)."""
    lab = layers.lab
    hosts = yaml.safe_load((LAB_INVENTORY / "hosts.yml").read_text())["all"]["children"]["k8s_cluster"]["children"]
    name = sorted(hosts["gpu_nodes"]["hosts"])[0]
    want = lab.get("node", name)["metadata"]["labels"]["nvidia.com/mig.config"]
    lab.kubectl("label", "node", name, "nvidia.com/mig.config-")

    repaired = layers.play(tags="gpu_operator")
    assert lab.get("node", name)["metadata"]["labels"].get("nvidia.com/mig.config") == want
    assert recap(repaired)["changed"] == 1, repaired.stdout[-3000:]
    again = layers.play(tags="gpu_operator")
    assert recap(again)["changed"] == 0
    assert "skipping" in again.stdout.split("Label the nodes that lack a label")[1].split("TASK [")[0]


def task_output(stdout: str, task: str) -> str:
    """The output of one task of a run, from its TASK line to the next."""
    return stdout.split(f"{task}]")[1].split("TASK [")[0]


def test_an_object_changed_in_the_cluster_is_found_and_applied_again(layers):
    """A converged component starts no apply: apply_needed reads its objects and finds nothing to change. A
    field the rendering sets, changed in the cluster (a team's GPU quota raised by hand), is found by that read
    and put back by the object apply; the run after it is converged again."""
    lab = layers.lab
    quotas = lab.get("resourcequota", "--all-namespaces")["items"]
    quota = next(q for q in quotas if q["metadata"]["name"] == "team-gpu")
    namespace, want = quota["metadata"]["namespace"], quota["spec"]["hard"]
    resource = sorted(want)[0]
    lab.kubectl(
        "patch", "resourcequota", "team-gpu", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"hard": {resource: "99"}}}),
    )  # fmt: skip

    repaired = layers.play(tags="platform_tenancy")
    assert lab.get("resourcequota", "team-gpu", "-n", namespace)["spec"]["hard"] == want
    assert recap(repaired)["changed"] == 1, repaired.stdout[-3000:]
    assert "changed:" in task_output(repaired.stdout, "Apply the objects of platform-tenancy")
    again = layers.play(tags="platform_tenancy")
    assert recap(again)["changed"] == 0
    assert "skipping" in task_output(again.stdout, "Apply the objects of platform-tenancy")


def test_a_secret_changed_in_the_cluster_is_put_back(layers):
    """The Longhorn backup target's credentials, edited in the cluster: the next run finds the Secret's data
    differing from the inventory's and applies it again; the secret key never reaches the output."""
    lab = layers.lab
    before = lab.get("secret", "longhorn-backup-s3", "-n", "longhorn-system")["data"]
    lab.kubectl(
        "patch", "secret", "longhorn-backup-s3", "-n", "longhorn-system", "--type=merge",
        "-p", json.dumps({"stringData": {"AWS_ENDPOINTS": "http://elsewhere.invalid:9000"}}),
    )  # fmt: skip

    repaired = layers.play(tags="longhorn")
    assert lab.get("secret", "longhorn-backup-s3", "-n", "longhorn-system")["data"] == before
    assert recap(repaired)["changed"] == 1, repaired.stdout[-3000:]
    assert "changed:" in task_output(repaired.stdout, "Apply the secrets of longhorn")
    assert base64.b64decode(before["AWS_SECRET_ACCESS_KEY"]).decode() not in repaired.stdout


@pytest.fixture(scope="module")
def gitops_rendering(layers, tmp_path_factory):
    """The same inventory rendered for GitOps delivery (no cluster touched): the tree's Applications and objects."""
    base = tmp_path_factory.mktemp("lab-gitops")
    tree = base / "tree"
    layers.play(
        "-e",
        "platform_delivery=gitops",
        "-e",
        f"platform_gitops_dir={tree}",
        "-e",
        "platform_gitops_repo_url=https://git.example.internal/platform.git",
        "-e",
        "minio_s3_provisioning_enabled=false",
    )
    files = {str(p.relative_to(tree)): p.read_text() for p in sorted(tree.rglob("*")) if p.is_file()}
    return release_render.parse_gitops_tree(files)


def test_direct_delivery_installed_what_gitops_delivery_renders(layers, gitops_rendering):
    lab = layers.lab
    apps = [a for a in gitops_rendering["applications"] if "chart" in a["spec"]["source"]]
    assert len(apps) >= 6, [a["metadata"]["name"] for a in apps]
    for app in apps:
        name, namespace = app["metadata"]["name"], app["spec"]["destination"]["namespace"]
        installed = release(lab, name, namespace)
        assert installed["chart"] == f"{app['spec']['source']['chart']}-{app['spec']['source']['targetRevision']}"
        values = helm_json(lab, "get", "values", name, "-n", namespace) or {}
        assert values == app["spec"]["source"]["helm"]["valuesObject"], name
    for obj in gitops_rendering["objects"]:
        meta = obj["metadata"]
        where = ["-n", meta["namespace"]] if meta.get("namespace") else []
        kind = f"{obj['kind'].lower()}.{obj['apiVersion'].split('/')[0]}" if "/" in obj["apiVersion"] else obj["kind"]
        live = lab.get(kind, meta["name"], *where)
        for key in ("spec", "data", "rules", "roleRef", "subjects"):
            if key in obj:
                assert _subset(obj[key], live.get(key)), (
                    f"{obj['kind']} {meta['name']}: {key} differs from the rendering"
                )


def _subset(want, have) -> bool:
    """want's fields all present in have (the API server adds defaults, never removes)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_subset(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    return want == have or str(want) == str(have)


def test_the_playbooks_change_no_file_in_the_repository(layers):
    """The image lists go into the inventory's hidden .artifacts/ (ignored by git and by Ansible's
    inventory parser), never into playbooks/ and never where a later run parses them as inventory."""
    assert not (ROOT / "playbooks" / "artifacts").exists()
    assert (LAB_INVENTORY / ".artifacts" / "images" / "metallb.txt").is_file()
    again = layers.play(tags="metallb")
    assert "as an inventory source" not in again.stdout + again.stderr


def test_the_image_list_is_rendered_again_only_when_its_inputs_changed(layers):
    """The list's header carries a fingerprint of the rendering's inputs: a re-run with the same inputs
    skips helm template; a list without a matching fingerprint is rendered again, identical."""
    path = LAB_INVENTORY / ".artifacts" / "images" / "metallb.txt"
    written = path.read_text()
    assert any(line.startswith("# rendering ") for line in written.splitlines()[:2])
    before = path.stat().st_mtime_ns
    layers.play(tags="metallb")
    assert path.stat().st_mtime_ns == before
    path.write_text("\n".join(line for line in written.splitlines() if not line.startswith("# rendering ")) + "\n")
    layers.play(tags="metallb")
    assert path.read_text() == written


WEBHOOK_RETRY_TASK = "Upgrade again, while an admission webhook cannot be called, the releases it refused"
GATE_PLAYBOOK = """\
- name: Deliver a test component whose second release an admission webhook guards
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Deliver it
      ansible.builtin.include_role:
        name: baremetal.mlops.release_delivery
      vars:
        release_delivery_component: webhook-gate-test
        release_delivery_layer: serving
        release_delivery_chart_dir: "{{ gate_charts }}"
        release_delivery_images_enabled: false
        release_delivery_wait_timeout: 60
        platform_chart_repositories: {lab-gatekeeper: "https://charts.invalid", lab-guarded: "https://charts.invalid"}
        platform_chart_versions: {lab_gatekeeper: "0.1.0", lab_guarded: "0.1.0"}
        release_delivery_releases:
          - {name: gatekeeper, chart: lab-gatekeeper, namespace: webhook-gate-test, values: {url: "{{ gate_url }}"}}
          - {name: guarded, chart: lab-guarded, namespace: webhook-gate-test, sync_wave: 1}
"""

GATEKEEPER_TEMPLATE = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: lab-webhook-gate-test
  annotations:
    cert-manager.io/inject-ca-from: webhook-gate-test/gatekeeper
webhooks:
  - name: gate.webhook-gate-test.lab.baremetal.mlops
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    timeoutSeconds: 5
    clientConfig:
      url: {{ .Values.url }}
    objectSelector:
      matchLabels: {lab.baremetal.mlops/webhook-gate-test: guarded}
    rules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}
"""

GUARDED_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: guarded
  labels: {lab.baremetal.mlops/webhook-gate-test: guarded}
data:
  admitted: "yes"
"""


def _package_chart(lab, folder, name: str, template: str, values: dict) -> None:
    source = folder / "src" / name
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": name, "version": "0.1.0"}))
    (source / "values.yaml").write_text(yaml.safe_dump(values))
    (source / "templates" / "object.yaml").write_text(template)
    lab.helm("package", str(source), "--destination", str(folder))


class _Gate:
    """An HTTPS admission webhook on a loopback port with its own CA; counts the calls the API server
    could not complete (its TLS handshake refused the certificate) and the reviews it admitted."""

    def __init__(self, folder):
        key, cert = issue("webhook-gate-test", ca=True, ip_address="127.0.0.1")
        self.ca_pem = cert.public_bytes(serialization.Encoding.PEM)
        (folder / "gate.crt").write_bytes(self.ca_pem)
        (folder / "gate.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "gate.crt", folder / "gate.key")
        self.refused = threading.Event()
        self.admitted = 0
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gate.admitted += 1
                body = json.dumps(
                    {
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "response": {"uid": review["request"]["uid"], "allowed": True},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                connection, address = super().get_request()
                try:
                    return context.wrap_socket(connection, server_side=True), address
                except (ssl.SSLError, OSError):
                    gate.refused.set()  # the API server did not trust the certificate (no CA yet)
                    connection.close()
                    raise

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/validate"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_release_an_admission_webhook_refuses_until_its_ca_arrives_is_delivered_when_it_does(layers, tmp_path):
    """The window in which cert-manager's cainjector has not yet put a webhook's CA into its configuration:
    the API server refuses what the webhook guards ("failed calling webhook", x509: unknown authority), so the
    component's next Helm release fails to install. The run upgrades that release again every 5 s and goes on
    once the CA is injected (here by the test, as the cainjector would, after the first refused call); the
    webhook admitted the release's object, and a second run changes nothing."""
    lab = layers.lab
    charts = tmp_path / "charts"
    charts.mkdir()
    gate = _Gate(tmp_path)
    _package_chart(lab, charts, "lab-gatekeeper", GATEKEEPER_TEMPLATE, {"url": ""})
    _package_chart(lab, charts, "lab-guarded", GUARDED_TEMPLATE, {})
    playbook = tmp_path / "gate.yml"
    playbook.write_text(GATE_PLAYBOOK)
    extra = json.dumps({"gate_charts": str(charts), "gate_url": gate.url})

    def inject_after_the_first_refusal():
        if gate.refused.wait(timeout=240):
            bundle = base64.b64encode(gate.ca_pem).decode()
            patch = [{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": bundle}]
            lab.kubectl(
                "patch", "validatingwebhookconfiguration", "lab-webhook-gate-test", "--type=json", "-p",
                json.dumps(patch),
            )  # fmt: skip

    injector = threading.Thread(target=inject_after_the_first_refusal, daemon=True)
    injector.start()
    try:
        first = layers.play("-e", extra, tags="all", playbook=str(playbook))
        injector.join(timeout=30)
        assert gate.refused.is_set(), "the API server never called the webhook before its CA arrived"
        assert "failed calling webhook" in first.stdout
        retried = task_output(first.stdout, WEBHOOK_RETRY_TASK)
        assert "changed: [localhost] => (item=guarded)" in retried, first.stdout[-4000:]
        assert "gatekeeper" not in retried
        assert gate.admitted >= 1
        assert release(lab, "guarded", "webhook-gate-test")["status"] == "deployed"
        assert lab.get("configmap", "guarded", "-n", "webhook-gate-test")["data"] == {"admitted": "yes"}

        again = layers.play("-e", extra, tags="all", playbook=str(playbook))
        assert recap(again)["changed"] == 0, again.stdout[-4000:]
        assert WEBHOOK_RETRY_TASK not in again.stdout
    finally:
        lab.kubectl("delete", "validatingwebhookconfiguration", "lab-webhook-gate-test", "--ignore-not-found")
        for name in ("guarded", "gatekeeper"):
            lab.helm("uninstall", name, "-n", "webhook-gate-test", check=False)
        lab.kubectl("delete", "namespace", "webhook-gate-test", "--ignore-not-found", "--wait=false")
        lab.kubectl(
            "delete", "configmap", "baremetal-mlops-delivery-webhook-gate-test", "-n", "kube-system",
            "--ignore-not-found",
        )  # fmt: skip
        gate.close()
