"""The serving layer on the lab: cert-manager and the serving edge's issuers (KServe: test_kserve.py).

cert-manager's controller, webhook and cainjector cannot run on kwok nodes (no controller issues a
certificate here), so what is real is the API server: it installs the chart's CRDs and checks every
issuer and Certificate against their schemas. Nothing answers the chart's validating webhook, so the
lab inventory sets cert_manager_webhook_failure_policy: Ignore (docs/lab.md), which these tests
check too.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from lab_support import LAB_INVENTORY, ROOT, inventory_var, recap

pytestmark = pytest.mark.lab

DEFAULTS = yaml.safe_load((ROOT / "roles/cert_manager/defaults/main.yml").read_text())
PUBLIC = {"platform_inference_public": True, "cert_manager_acme_email": "ml-platform@lab.example.com"}


@pytest.fixture(scope="module")
def serving(layers):
    """The layer as the session converged it, cert-manager first."""
    assert "Deliver cert-manager and the edge's issuers (serving layer)" in layers.first.stdout
    return layers


def upgrade(layers, extra: dict | None = None) -> subprocess.CompletedProcess:
    """playbooks/upgrade-serving.yml on the lab inventory."""
    args = ["ansible-playbook", "playbooks/upgrade-serving.yml", "-i", str(LAB_INVENTORY)]
    if extra:
        args += ["-e", json.dumps(extra)]
    result = subprocess.run(args, cwd=ROOT, env=layers.env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"upgrade-serving.yml {extra or ''} failed:\n{(result.stdout + result.stderr)[-8000:]}")
    return result


def webhook_settings(lab) -> list[tuple[str, int]]:
    """(failurePolicy, timeoutSeconds) of every webhook of cert-manager's ValidatingWebhookConfiguration."""
    selector = f"app.kubernetes.io/component=webhook,app.kubernetes.io/instance={DEFAULTS['cert_manager_release_name']}"
    configurations = lab.get("validatingwebhookconfiguration", "-l", selector)["items"]
    return [(w["failurePolicy"], w["timeoutSeconds"]) for c in configurations for w in c["webhooks"]]


def live(lab, obj: dict) -> dict:
    meta = obj["metadata"]
    where = ["-n", meta["namespace"]] if meta.get("namespace") else []
    return lab.get(f"{obj['kind'].lower()}.cert-manager.io", meta["name"], *where)


def test_a_rerun_of_the_layer_changes_nothing(serving):
    result = serving.play(tags="serving")
    assert recap(result)["changed"] == 0, result.stdout[-4000:]
    assert "Deliver cert-manager and the edge's issuers (serving layer)" in result.stdout


def test_the_issuers_exist_as_rendered(serving, tmp_path):
    """The rendering both delivery modes read (release_delivery_plan_dir) against the live objects."""
    serving.play("-e", f"release_delivery_plan_dir={tmp_path}", tags="cert_manager")
    plan = json.loads((tmp_path / "cert-manager.json").read_text())
    (release,) = plan["releases"]
    assert release["chart"] == "cert-manager" and release["values"]["crds"] == {"enabled": True, "keep": True}
    rendered = plan["objects"]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in rendered) == [
        ("Certificate", DEFAULTS["cert_manager_ca_certificate"]),
        ("ClusterIssuer", DEFAULTS["cert_manager_ca_issuer"]),
        ("ClusterIssuer", DEFAULTS["cert_manager_selfsigned_issuer"]),
    ]
    lab = serving.lab
    for obj in rendered:
        assert live(lab, obj)["spec"] == obj["spec"], obj["metadata"]["name"]
    ca = live(lab, next(o for o in rendered if o["kind"] == "Certificate"))
    assert ca["metadata"]["namespace"] == DEFAULTS["cert_manager_namespace"]
    assert ca["spec"]["isCA"] is True
    assert ca["spec"]["issuerRef"]["name"] == DEFAULTS["cert_manager_selfsigned_issuer"]
    ca_issuer = lab.get("clusterissuer.cert-manager.io", DEFAULTS["cert_manager_ca_issuer"])
    assert ca_issuer["spec"]["ca"]["secretName"] == ca["spec"]["secretName"]
    # the endpoint is internal on the lab: no ACME issuer
    issuers = [i["metadata"]["name"] for i in lab.get("clusterissuers.cert-manager.io")["items"]]
    assert DEFAULTS["cert_manager_acme_issuer"] not in issuers


def test_the_crds_come_from_the_chart_and_the_api_server_checks_issuers_against_them(serving):
    lab = serving.lab
    crd = lab.get("crd", "clusterissuers.cert-manager.io")
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == DEFAULTS["cert_manager_release_name"]
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # the webhook does not answer here and fails open (lab inventory) ...
    assert [policy for policy, _ in webhook_settings(lab)] == [inventory_var("cert_manager_webhook_failure_policy")]
    # ... but the CRD schema still refuses a malformed Certificate
    bad = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "schema-check", "namespace": DEFAULTS["cert_manager_namespace"]},
        "spec": {"isCA": "yes", "secretName": "schema-check", "issuerRef": {"name": "platform-ca"}},
    }
    refused = lab.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(bad), check=False)
    assert refused.returncode != 0
    assert 'spec.isCA: Invalid value: "string": spec.isCA in body must be of type boolean' in refused.stderr


def test_a_public_endpoint_adds_the_acme_issuer_and_an_internal_one_removes_it(serving):
    lab = serving.lab
    try:
        result = serving.play_with(PUBLIC, tags="cert_manager")
        assert recap(result)["changed"] >= 1
        acme = lab.get("clusterissuer.cert-manager.io", DEFAULTS["cert_manager_acme_issuer"])["spec"]["acme"]
        assert acme["server"] == DEFAULTS["cert_manager_acme_server"]
        assert acme["email"] == PUBLIC["cert_manager_acme_email"]
        assert acme["privateKeySecretRef"] == {"name": DEFAULTS["cert_manager_acme_account_secret"]}
        (solver,) = acme["solvers"]
        assert solver["http01"]["gatewayHTTPRoute"]["parentRefs"] == [
            {
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "name": DEFAULTS["cert_manager_acme_gateway_name"],
                "namespace": inventory_var("platform_edge_namespace"),
            }
        ]
        assert recap(serving.play_with(PUBLIC, tags="cert_manager"))["changed"] == 0
    finally:
        restored = serving.play(tags="cert_manager")
    assert recap(restored)["changed"] == 1  # the ACME issuer removed
    issuers = [i["metadata"]["name"] for i in lab.get("clusterissuers.cert-manager.io")["items"]]
    assert DEFAULTS["cert_manager_acme_issuer"] not in issuers
    assert DEFAULTS["cert_manager_ca_issuer"] in issuers


def test_a_public_endpoint_without_an_acme_email_is_refused_before_any_change(serving):
    result = serving.play_with({"platform_inference_public": True}, tags="cert_manager", check=False)
    assert result.returncode != 0
    output = " ".join(result.stdout.split())
    assert "platform_inference_public is true, so the edge's certificates come from ACME, but" in output
    assert "cert_manager_acme_email is empty" in output
    assert recap(result)["changed"] == 0


def test_an_upgrade_keeps_the_webhook_policy_and_a_rerun_changes_nothing(serving):
    """upgrade-serving.yml with a changed chart value: Helm's upgrade renders the chart's Fail again,
    the role sets the inventory's policy back before the issuers; the upgrade to the running
    versions after the restore changes nothing and checks the layer."""
    lab = serving.lab
    try:
        changed = upgrade(serving, {"cert_manager_values": {"webhook": {"timeoutSeconds": 10}}})
        assert recap(changed)["changed"] >= 1
        assert webhook_settings(lab) == [(inventory_var("cert_manager_webhook_failure_policy"), 10)]
    finally:
        upgrade(serving)
    assert webhook_settings(lab) == [(inventory_var("cert_manager_webhook_failure_policy"), 30)]
    again = upgrade(serving)
    assert recap(again)["changed"] == 0, again.stdout[-4000:]
    assert "Check each release is deployed at the target chart version" in again.stdout
    assert "Fail when a workload of the layer is not ready" in again.stdout
