"""The serving edge's issuers (cert_manager role) and the webhook failure-policy patches."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.baremetal.mlops.plugins.plugin_utils import platform_objects as po

SETTINGS = {
    "namespace": "cert-manager",
    "public": False,
    "selfsigned_issuer": "platform-selfsigned",
    "ca": {
        "issuer": "platform-ca",
        "certificate": "platform-ca",
        "secret": "platform-ca-keys",
        "common_name": "baremetal.mlops platform CA",
        "duration": "87600h",
        "renew_before": "720h",
        "key_algorithm": "ECDSA",
        "key_size": "256",
    },
    "acme": {
        "issuer": "platform-acme",
        "server": "https://acme-v02.api.letsencrypt.org/directory",
        "email": "ml-platform@dc1.example.com",
        "account_secret": "platform-acme-account",
        "gateway_name": "inference",
        "gateway_namespace": "edge",
        "gateway_listener": "http",
    },
}


def settings(public: bool = False, **changes) -> dict:
    result = copy.deepcopy(SETTINGS)
    result["public"] = public
    for path, value in changes.items():
        if "__" in path:
            section, key = path.split("__", 1)
            result[section][key] = value
        else:
            result[path] = value
    return result


def test_internal_ca_by_default():
    objects = po.cert_manager_issuers(settings())
    assert [(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects] == [
        ("ClusterIssuer", "platform-selfsigned", None),
        ("Certificate", "platform-ca", "cert-manager"),
        ("ClusterIssuer", "platform-ca", None),
    ]
    selfsigned, ca_certificate, ca_issuer = objects
    assert selfsigned["spec"] == {"selfSigned": {}}
    assert ca_certificate["spec"] == {
        "isCA": True,
        "commonName": "baremetal.mlops platform CA",
        "secretName": "platform-ca-keys",
        "duration": "87600h",
        "renewBefore": "720h",
        "privateKey": {"algorithm": "ECDSA", "size": 256},
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "platform-selfsigned"},
    }
    # the CA issuer signs with the key the CA Certificate wrote
    assert ca_issuer["spec"] == {"ca": {"secretName": "platform-ca-keys"}}
    assert all(o["apiVersion"] == "cert-manager.io/v1" for o in objects)
    assert all(o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "baremetal.mlops" for o in objects)
    assert po.cert_manager_edge_issuer(settings()) == "platform-ca"


def test_a_public_endpoint_adds_the_acme_issuer_through_the_edge_gateway():
    objects = po.cert_manager_issuers(settings(public=True))
    assert [o["metadata"]["name"] for o in objects] == [
        "platform-selfsigned",
        "platform-ca",
        "platform-ca",
        "platform-acme",
    ]
    assert objects[-1]["spec"] == {
        "acme": {
            "server": "https://acme-v02.api.letsencrypt.org/directory",
            "email": "ml-platform@dc1.example.com",
            "privateKeySecretRef": {"name": "platform-acme-account"},
            "solvers": [
                {
                    "http01": {
                        "gatewayHTTPRoute": {
                            "parentRefs": [
                                {
                                    "group": "gateway.networking.k8s.io",
                                    "kind": "Gateway",
                                    "name": "inference",
                                    "namespace": "edge",
                                    "sectionName": "http",
                                }
                            ]
                        }
                    }
                }
            ],
        }
    }
    assert po.cert_manager_edge_issuer(settings(public=True)) == "platform-acme"


def test_no_listener_attaches_to_every_listener_of_the_gateway():
    acme = po.cert_manager_issuers(settings(public=True, acme__gateway_listener=""))[-1]
    parent = acme["spec"]["acme"]["solvers"][0]["http01"]["gatewayHTTPRoute"]["parentRefs"][0]
    assert "sectionName" not in parent


def test_acme_settings_are_not_read_for_an_internal_endpoint():
    assert len(po.cert_manager_issuers(settings(acme__email=""))) == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"acme__email": ""},
            "platform_inference_public is true, so the edge's certificates come from ACME, but cert_manager_acme_email "
            "is empty: ACME CAs (Let's Encrypt) register an account with an email for expiry and revocation notices",
        ),
        ({"acme__email": "ml-platform"}, "cert_manager_acme_email: 'ml-platform' is not an email address"),
        ({"acme__email": "@"}, "cert_manager_acme_email: '@' is not an email address"),
        (
            {"acme__server": "http://acme.example.com/directory"},
            "cert_manager_acme_server: 'http://acme.example.com/directory' is not an https URL of an ACME directory",
        ),
        (
            {"acme__gateway_name": ""},
            "cert_manager_acme_gateway_name and cert_manager_acme_gateway_namespace must name the edge Gateway "
            "that routes the HTTP-01 challenges",
        ),
        (
            {"acme__issuer": "platform-ca"},
            "the ClusterIssuer names must differ (got ['platform-selfsigned', 'platform-ca', 'platform-ca'])",
        ),
    ],
)
def test_bad_acme_settings_are_refused_naming_the_variable(changes, message):
    with pytest.raises(ValueError) as error:
        po.cert_manager_issuers(settings(public=True, **changes))
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"ca__duration": "10y"},
            "cert_manager_ca_duration: '10y' is not a duration cert-manager reads (Go syntax, e.g. 87600h or 720h)",
        ),
        (
            {"ca__renew_before": "87600h"},
            "cert_manager_ca_renew_before (87600h) must be shorter than cert_manager_ca_duration (87600h), "
            "or the CA would be renewed forever",
        ),
        ({"ca__key_size": 2048}, "cert_manager_ca_key_size: 2048 does not fit ECDSA (256, 384 or 521)"),
        (
            {"ca__key_algorithm": "DSA"},
            "cert_manager_ca_key_algorithm: 'DSA' is not one of ['ECDSA', 'Ed25519', 'RSA']",
        ),
        (
            {"selfsigned_issuer": "platform-ca"},
            "the ClusterIssuer names must differ (got ['platform-ca', 'platform-ca'])",
        ),
    ],
)
def test_bad_ca_settings_are_refused_naming_the_variable(changes, message):
    with pytest.raises(ValueError) as error:
        po.cert_manager_issuers(settings(**changes))
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [("RSA", 2048), ("RSA", 4096), ("ECDSA", 384), ("Ed25519", 0)],
)
def test_key_sizes_cert_manager_accepts(algorithm, size):
    certificate = po.cert_manager_issuers(settings(ca__key_algorithm=algorithm, ca__key_size=size))[1]
    assert certificate["spec"]["privateKey"] == {"algorithm": algorithm, "size": size}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("720h", 2592000), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("250ms", 0.25)],
)
def test_go_durations(text, seconds):
    assert po.go_duration_seconds(text, "x") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "1d", "h", "1h 30m", "-1h"])
def test_go_durations_refused(text):
    with pytest.raises(ValueError, match=r"^x: .* is not a duration cert-manager reads"):
        po.go_duration_seconds(text, "x")


def webhook_configuration(name: str, *policies: str) -> dict:
    return {
        "metadata": {"name": name},
        "webhooks": [{"name": f"w{i}.example.com", "failurePolicy": p} for i, p in enumerate(policies)],
    }


def test_webhook_patches_touch_only_the_webhooks_with_another_policy():
    configurations = [
        webhook_configuration("cert-manager-webhook", "Fail"),
        webhook_configuration("other", "Ignore", "Fail"),
        webhook_configuration("settled", "Ignore"),
    ]
    assert po.webhook_policy_patches(configurations, "Ignore") == [
        {
            "name": "cert-manager-webhook",
            "patch": [{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}],
        },
        {"name": "other", "patch": [{"op": "replace", "path": "/webhooks/1/failurePolicy", "value": "Ignore"}]},
    ]


def test_webhook_patches_none_when_settled_or_absent():
    assert po.webhook_policy_patches([webhook_configuration("a", "Ignore")], "Ignore") == []
    assert po.webhook_policy_patches([], "Ignore") == []
    # the API server's default is Fail
    assert po.webhook_policy_patches([{"metadata": {"name": "a"}, "webhooks": [{"name": "w"}]}], "Fail") == []


def test_webhook_patches_refuse_an_unknown_policy():
    with pytest.raises(ValueError, match=r"^failure policy 'Skip' is neither Fail nor Ignore$"):
        po.webhook_policy_patches([], "Skip")
