from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.filter import edge_objects as edge_filters
from ansible_collections.baremetal.mlops.plugins.plugin_utils import edge_objects as eo

GATEWAY = {
    "namespace": "inference-edge",
    "gateway_name": "inference",
    "gateway_class": "cilium",
    "http_listener": "http",
    "address_pool": "inference-public",
    "address": "",
    "pools": ["inference-public", "platform-internal"],
}
PROXY = {
    "image": "quay.io/oauth2-proxy/oauth2-proxy:v7.15.3",
    "client_id": "inference-edge",
    "oidc_issuer_url": "https://login.example.com/realms/ml",
    "secret": "inference-edge-oauth2-proxy",
    "email_domains": ["*"],
    "allowed_groups": [],
    "extra_jwt_issuers": [{"issuer": "https://ci.example.com", "audience": "inference"}],
    "replicas": 2,
    "resources": {"requests": {"cpu": "50m"}},
}
ROUTE = {"namespace": "inference-edge", "gateway_name": "inference", "issuer": "platform-ca", "proxy": PROXY}
ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "churn", "namespace": "team-tabular"},
    "spec": {"predictor": {"name": "v3", "model": {}}},
}
HOST = "churn-team-tabular.inference.example.com"


def route(**settings):
    return {o["kind"]: o for o in eo.route_objects(ISVC, HOST, {**ROUTE, **settings})}


def test_the_gateway_listens_on_http_takes_listener_sets_and_an_address_from_the_pool():
    namespace, gateway, redirect = eo.gateway_objects({**GATEWAY, "address": "10.20.0.200"})
    assert namespace == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "inference-edge",
            "labels": {
                "app.kubernetes.io/managed-by": "baremetal.mlops",
                "app.kubernetes.io/part-of": "inference-edge",
            },
        },
    }
    spec = gateway["spec"]
    assert (gateway["metadata"]["name"], gateway["metadata"]["namespace"]) == ("inference", "inference-edge")
    assert spec["gatewayClassName"] == "cilium"
    assert spec["listeners"] == [
        {"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "Same"}}}
    ]
    assert spec["allowedListeners"] == {"namespaces": {"from": "Same"}}
    assert spec["infrastructure"]["annotations"] == {
        "metallb.io/address-pool": "inference-public",
        "metallb.io/loadBalancerIPs": "10.20.0.200",
    }
    assert redirect["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference", "sectionName": "http"}
    ]
    (rule,) = redirect["spec"]["rules"]
    assert rule == {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
    assert "hostnames" not in redirect["spec"]  # every host; the HTTP-01 challenge routes are more specific


def test_without_an_address_metallb_chooses_one():
    gateway = eo.gateway_objects(GATEWAY)[1]
    assert gateway["spec"]["infrastructure"]["annotations"] == {"metallb.io/address-pool": "inference-public"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"address_pool": "nope"},
            "inference_edge_address_pool: 'nope' is not a pool of metallb_pools (inference-public, "
            "platform-internal); the Gateway's LoadBalancer Service takes its address from it",
        ),
        (
            {"address_pool": "", "pools": []},
            "inference_edge_address_pool: '' is not a pool of metallb_pools (none)",
        ),
        (
            {"namespace": "Inference_Edge"},
            "platform_edge_namespace: 'Inference_Edge' is not a DNS-1123 label",
        ),
        ({"gateway_name": "in.ference"}, "inference_edge_gateway_name: 'in.ference' is not a DNS-1123 label"),
    ],
)
def test_gateway_settings_are_refused_with_the_variable_named(settings, message):
    with pytest.raises(ValueError) as error:
        eo.gateway_objects({**GATEWAY, **settings})
    assert message in str(error.value)


def test_a_public_model_gets_exactly_one_route_and_it_goes_through_its_proxy():
    objects = eo.route_objects(ISVC, HOST, ROUTE)
    assert [o["kind"] for o in objects] == [
        "Certificate", "ListenerSet", "HTTPRoute", "ConfigMap", "Deployment", "Service"
    ]  # fmt: skip
    assert {o["metadata"]["namespace"] for o in objects} == {"inference-edge"}
    assert {o["metadata"]["labels"]["baremetal.mlops/edge-route"] for o in objects} == {"team-tabular-churn"}
    by_kind = {o["kind"]: o for o in objects}
    http_route, service = by_kind["HTTPRoute"], by_kind["Service"]
    assert http_route["spec"]["hostnames"] == [HOST]
    assert http_route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "ListenerSet",
            "name": "team-tabular-churn",
            "sectionName": "https",
        }
    ]
    (rule,) = http_route["spec"]["rules"]
    assert rule["backendRefs"] == [{"group": "", "kind": "Service", "name": service["metadata"]["name"], "port": 4180}]
    # the proxy Service selects the proxy's pods, not the predictor's
    pod_labels = by_kind["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/name"] == "oauth2-proxy"
    # the proxy's one upstream is the stable predictor Service of the team namespace
    config = by_kind["ConfigMap"]["data"]["oauth2_proxy.cfg"]
    assert 'upstreams = ["http://churn-v3-predictor.team-tabular.svc.cluster.local"]' in config


def test_the_listener_set_terminates_tls_with_the_certificate_of_the_edge_issuer():
    objects = route()
    certificate, listeners = objects["Certificate"], objects["ListenerSet"]
    assert certificate["spec"]["dnsNames"] == [HOST]
    issuer = {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "platform-ca"}
    assert certificate["spec"]["issuerRef"] == issuer
    gateway = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference"}
    assert listeners["spec"]["parentRef"] == gateway
    (listener,) = listeners["spec"]["listeners"]
    assert (listener["name"], listener["hostname"], listener["protocol"]) == ("https", HOST, "HTTPS")
    assert listener["port"] == 443
    # Cilium's admission policy: exactly one certificateRef per terminating listener
    assert listener["tls"] == {
        "mode": "Terminate",
        "certificateRefs": [{"group": "", "kind": "Secret", "name": certificate["spec"]["secretName"]}],
    }
    assert route(issuer="platform-acme")["Certificate"]["spec"]["issuerRef"]["name"] == "platform-acme"


def test_the_proxy_accepts_bearer_jwts_and_reads_its_secrets_from_the_secret():
    objects = route()
    config = objects["ConfigMap"]["data"]["oauth2_proxy.cfg"]
    for line in (
        'provider = "oidc"',
        'oidc_issuer_url = "https://login.example.com/realms/ml"',
        'client_id = "inference-edge"',
        f'redirect_url = "https://{HOST}/oauth2/callback"',
        "skip_jwt_bearer_tokens = true",
        'extra_jwt_issuers = ["https://ci.example.com=inference"]',
        'api_routes = ["^/v1/", "^/v2/"]',
        "cookie_secure = true",
    ):
        assert line in config.splitlines(), line
    assert not [line for line in config.splitlines() if "secret" in line]  # secrets come from the environment
    assert "allowed_groups" not in config
    assert (
        'allowed_groups = ["ml"]'
        in route(proxy={**PROXY, "allowed_groups": ["ml"]})["ConfigMap"]["data"]["oauth2_proxy.cfg"]
    )
    (container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == PROXY["image"]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]} == {
        "OAUTH2_PROXY_CLIENT_SECRET": {"name": "inference-edge-oauth2-proxy", "key": "client-secret"},
        "OAUTH2_PROXY_COOKIE_SECRET": {"name": "inference-edge-oauth2-proxy", "key": "cookie-secret"},
    }
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert objects["Deployment"]["spec"]["replicas"] == 2


def test_a_new_proxy_configuration_rolls_the_pods():
    def digest(objects):
        return objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]["baremetal.mlops/config-sha256"]

    assert digest(route()) == digest(route())
    assert digest(route()) != digest(route(proxy={**PROXY, "email_domains": ["example.com"]}))


def test_an_unnamed_predictor_is_reached_by_its_default_service():
    unnamed = {**ISVC, "spec": {"predictor": {"model": {}}}}
    assert eo.predictor_upstream(unnamed) == "http://churn-predictor.team-tabular.svc.cluster.local"


def test_long_names_are_shortened_within_a_service_name():
    long_isvc = {**ISVC, "metadata": {"name": "a" * 45, "namespace": "team-" + "b" * 50}}
    name = eo.route_name(long_isvc["metadata"]["namespace"], long_isvc["metadata"]["name"])
    assert len(f"{name}-auth") <= 63 and name == eo.route_name("team-" + "b" * 50, "a" * 45)
    assert name != eo.route_name("team-" + "b" * 50, "a" * 44 + "c")


@pytest.mark.parametrize(
    ("host", "settings", "message"),
    [
        ("*.inference.example.com", {}, "kserve_isvc_host: '*.inference.example.com' is not a fully qualified host"),
        ("churn", {}, "kserve_isvc_host: 'churn' is not a fully qualified host name"),
        (
            HOST,
            {"proxy": {**PROXY, "oidc_issuer_url": "http://login.example.com"}},
            "inference_edge_oidc_issuer_url: 'http://login.example.com' is not the https URL of an OIDC issuer",
        ),
        (HOST, {"proxy": {**PROXY, "client_id": ""}}, "inference_edge_oidc_client_id is empty"),
        (
            HOST,
            {"proxy": {**PROXY, "extra_jwt_issuers": [{"issuer": "https://ci.example.com"}]}},
            "inference_edge_extra_jwt_issuers[0] needs an issuer URL and an audience",
        ),
        (
            HOST,
            {"namespace": "team-tabular"},
            "InferenceService churn runs in the edge namespace team-tabular; models run in team namespaces",
        ),
    ],
)
def test_route_input_is_refused_with_the_variable_named(host, settings, message):
    with pytest.raises(ValueError) as error:
        eo.route_objects(ISVC, host, {**ROUTE, **settings})
    assert message in str(error.value)


def test_the_proxy_secret_holds_both_secrets_and_checks_the_cookie_length():
    settings = {"namespace": "inference-edge", "secret": "s", "client_secret": "c" * 20, "cookie_secret": "k" * 32}
    secret = eo.proxy_secret(settings)
    assert secret["stringData"] == {"client-secret": "c" * 20, "cookie-secret": "k" * 32}
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == ("s", "inference-edge")
    with pytest.raises(ValueError) as error:
        eo.proxy_secret({**settings, "cookie_secret": "k" * 20})
    assert str(error.value).startswith("inference_edge_cookie_secret is 20 bytes long; oauth2-proxy needs 16, 24 or 32")
    assert "k" * 20 not in str(error.value)
    with pytest.raises(ValueError, match="inference_edge_oidc_client_secret is empty"):
        eo.proxy_secret({**settings, "client_secret": " "})


def test_filters_name_themselves_in_errors():
    filters = edge_filters.FilterModule().filters()
    assert filters["inference_edge_route_labels"](ISVC) == {
        "baremetal.mlops/edge-route": "team-tabular-churn",
        "baremetal.mlops/inference-service": "churn",
        "baremetal.mlops/inference-service-namespace": "team-tabular",
    }
    assert len(filters["inference_edge_gateway"](GATEWAY)) == 3
    with pytest.raises(AnsibleFilterError, match=r"^route_objects: kserve_isvc_host: 'churn'"):
        filters["inference_edge_route"](ISVC, "churn", ROUTE)
