"""The inference edge on the lab: Gateway API CRDs, Cilium's GatewayClass, the Gateway, and public models
behind their authentication proxy (roles cilium, inference_edge, kserve's inference_service).

What is real: the API server (the Gateway API CRDs' schemas and CEL rules, Cilium's admission policy
on Gateways, cert-manager's CRDs), the scheduler that places the proxies' pods, and the KServe
controller that makes the model Ready before it is routed. What is not: Cilium's dataplane and its
Gateway controller cannot run on kwok nodes, so no Gateway is Programmed, no LoadBalancer Service
is made for it and no request crosses the edge; cert-manager's controller does not run either, so
no certificate is issued (docs/lab.md).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import yaml
from lab_support import ROOT, inventory_var, recap, serve_model

pytestmark = pytest.mark.lab

DEFAULTS = yaml.safe_load((ROOT / "roles/inference_edge/defaults/main.yml").read_text())
GATEWAY_API = "gateway.networking.k8s.io"
ROUTE_LABEL = "baremetal.mlops/edge-route"


def team(name: str) -> dict:
    return next(t for t in inventory_var("platform_teams") if t["name"] == name)


@pytest.fixture(scope="module")
def edge(layers):
    """The serving layer as the session converged it (inference_edge after kserve); KServe's manager runs."""
    assert "Deliver the Gateway, its HTTPS redirect and the proxy's Secret" in layers.first.stdout
    layers.controllers_up()
    return layers


def serve(edge, name: str, check: bool = True, extra: dict | None = None, **model) -> subprocess.CompletedProcess:
    settings = {
        "kserve_isvc_team": "tabular",
        "kserve_isvc_name": name,
        "kserve_isvc_model_name": "iris-bare-metal",
        "kserve_isvc_model_version": "1",
        "kserve_isvc_storage_uri": "s3://tabular-models/iris/1",
        "kserve_isvc_resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
        "kserve_isvc_wait_timeout": 120,
        **{f"kserve_isvc_{k}": v for k, v in model.items()},
        **(extra or {}),
    }
    return serve_model(edge.env, settings, check)


def edge_objects(lab, kind: str, selector: str | None = None) -> list[dict]:
    where = ["-n", inventory_var("platform_edge_namespace")] + (["-l", selector] if selector else [])
    return lab.get(kind, *where)["items"]


@pytest.fixture
def isvc_name(edge):
    name = f"edge-{uuid.uuid4().hex[:6]}"
    yield name
    namespace = team("tabular")["namespace"]
    edge.lab.kubectl("delete", "inferenceservice", name, "-n", namespace, "--ignore-not-found")
    selector = f"{ROUTE_LABEL}={namespace}-{name}"
    for kind in ("httproute", "listenerset", "certificate", "deployment", "service", "configmap"):
        edge.lab.kubectl("delete", kind, "-n", inventory_var("platform_edge_namespace"), "-l", selector)


def test_gateway_api_crds_are_established_before_ciliums_gateway_class(edge):
    lab = edge.lab
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    pinned = versions["platform_releases"][versions["platform_release_default"]]["manifests"]["gateway_api"]
    for kind in ("gatewayclasses", "gateways", "httproutes", "listenersets", "referencegrants"):
        crd = lab.get("crd", f"{kind}.{GATEWAY_API}")
        assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True", kind
        assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == pinned
        assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/channel"] == "standard"
    # the cilium chart made the class (values gatewayAPI.enabled; its controller cannot run on kwok)
    gateway_class = lab.get("gatewayclass", "cilium")
    assert gateway_class["spec"]["controllerName"] == "io.cilium/gateway-controller"
    assert gateway_class["metadata"]["annotations"]["meta.helm.sh/release-name"] == "cilium"
    config = lab.get("configmap", "cilium-config", "-n", "kube-system")["data"]
    assert config["enable-gateway-api"] == "true"


def test_the_gateway_is_served_by_cilium_and_takes_only_listener_sets_of_its_namespace(edge):
    lab, namespace = edge.lab, inventory_var("platform_edge_namespace")
    gateway = lab.get("gateway", DEFAULTS["inference_edge_gateway_name"], "-n", namespace)
    assert gateway["spec"]["gatewayClassName"] == "cilium"
    assert gateway["spec"]["allowedListeners"] == {"namespaces": {"from": "Same"}}
    (pool,) = inventory_var("metallb_pools")
    assert gateway["spec"]["infrastructure"]["annotations"] == {"metallb.io/address-pool": pool["name"]}
    (listener,) = gateway["spec"]["listeners"]
    assert (listener["name"], listener["protocol"], listener["port"]) == ("http", "HTTP", 80)
    (redirect,) = [r for r in edge_objects(lab, "httproute") if "hostnames" not in r["spec"]]
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 301}
    # Cilium's admission policy (from its chart) is enforced by the API server on every Gateway of its class
    bad = json.loads(json.dumps(gateway))
    bad["metadata"] = {"name": "two-certificates", "namespace": namespace}
    bad["spec"]["listeners"] = [
        {
            "name": "https",
            "protocol": "HTTPS",
            "port": 443,
            "hostname": "a.example.com",
            "tls": {"mode": "Terminate", "certificateRefs": [{"name": "a"}, {"name": "b"}]},
        }
    ]
    refused = lab.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(bad), check=False)
    assert refused.returncode != 0
    assert "cilium GatewayClass requires exactly one certificateRef per listener" in refused.stderr
    secret = lab.get("secret", DEFAULTS["inference_edge_proxy_secret"], "-n", namespace)
    assert sorted(secret["data"]) == ["client-secret", "cookie-secret"]


def test_a_public_model_gets_exactly_one_route_and_it_goes_through_its_proxy(edge, isvc_name):
    lab, namespace = edge.lab, team("tabular")["namespace"]
    serve(edge, isvc_name, public=True)
    name = f"{namespace}-{isvc_name}"
    host = f"{isvc_name}-{namespace}.{inventory_var('inference_edge_domain')}"
    routes = edge_objects(lab, "httproute", f"{ROUTE_LABEL}={name}")
    assert len(routes) == 1
    (route,) = routes
    assert route["spec"]["hostnames"] == [host]
    assert route["spec"]["parentRefs"] == [
        {"group": GATEWAY_API, "kind": "ListenerSet", "name": name, "sectionName": "https"}
    ]
    (backend,) = [ref for rule in route["spec"]["rules"] for ref in rule["backendRefs"]]
    proxy = lab.get("service", backend["name"], "-n", route["metadata"]["namespace"])
    assert proxy["spec"]["selector"]["app.kubernetes.io/name"] == "oauth2-proxy"
    # the model's HTTPS listener, on the Gateway through its ListenerSet, with the edge issuer's certificate
    (listener_set,) = edge_objects(lab, "listenerset", f"{ROUTE_LABEL}={name}")
    (listener,) = listener_set["spec"]["listeners"]
    assert (listener["hostname"], listener["protocol"], listener["port"]) == (host, "HTTPS", 443)
    (certificate,) = edge_objects(lab, "certificate", f"{ROUTE_LABEL}={name}")
    assert certificate["spec"]["dnsNames"] == [host]
    assert certificate["spec"]["issuerRef"]["name"] == "platform-ca"  # the lab's endpoint is internal
    assert listener["tls"]["certificateRefs"] == [
        {"group": "", "kind": "Secret", "name": certificate["spec"]["secretName"]}
    ]
    # the proxy's one upstream is the predictor Service the KServe controller made
    config = lab.get("configmap", backend["name"], "-n", route["metadata"]["namespace"])["data"]["oauth2_proxy.cfg"]
    (upstream,) = [line for line in config.splitlines() if line.startswith("upstreams = ")]
    service = f"{isvc_name}-v1-predictor"
    assert upstream == f'upstreams = ["http://{service}.{namespace}.svc.cluster.local"]'
    assert lab.get("service", service, "-n", namespace)["spec"]["selector"]
    # the scheduler placed the proxy's pods (kwok runs them)
    deployment = lab.get("deployment", backend["name"], "-n", route["metadata"]["namespace"])
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())

    def scheduled():
        pods = edge_objects(lab, "pods", selector)
        return len(pods) == deployment["spec"]["replicas"] and all(p["spec"].get("nodeName") for p in pods)

    lab.wait_until(scheduled, "the proxy's pods on nodes", timeout=60)
    # a second run changes nothing
    again = serve(edge, isvc_name, public=True)
    assert recap(again)["changed"] == 0, again.stdout[-4000:]


def test_every_route_of_the_cluster_goes_through_a_proxy_never_to_a_data_service(edge, isvc_name):
    lab = edge.lab
    serve(edge, isvc_name, public=True)
    routes = lab.get("httproutes", "--all-namespaces")["items"]
    assert routes
    for route in routes:
        for rule in route["spec"].get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                target = lab.get("service", ref["name"], "-n", ref.get("namespace", route["metadata"]["namespace"]))
                assert target["spec"]["selector"].get("app.kubernetes.io/name") == "oauth2-proxy", route["metadata"]
    # MinIO, PostgreSQL and MLflow are no listener's host and no route's backend
    listeners = [li for ls in lab.get("listenersets", "--all-namespaces")["items"] for li in ls["spec"]["listeners"]]
    listeners += [li for gw in lab.get("gateways", "--all-namespaces")["items"] for li in gw["spec"]["listeners"]]
    names = json.dumps([routes, listeners]).lower()
    for internal in ("minio", "postgres", "mlflow"):
        assert internal not in names


def test_a_model_that_is_not_public_gets_no_route_and_loses_an_earlier_one(edge, isvc_name):
    lab, namespace = edge.lab, team("tabular")["namespace"]
    selector = f"{ROUTE_LABEL}={namespace}-{isvc_name}"
    serve(edge, isvc_name)
    assert edge_objects(lab, "httproute", selector) == []
    serve(edge, isvc_name, public=True)
    assert len(edge_objects(lab, "httproute", selector)) == 1
    private = serve(edge, isvc_name)
    assert recap(private)["changed"] >= 1
    for kind in ("httproute", "listenerset", "certificate", "deployment", "service", "configmap"):
        assert edge_objects(lab, kind, selector) == [], kind
    assert lab.get("inferenceservice", isvc_name, "-n", namespace)["metadata"]["name"] == isvc_name


def test_a_public_model_without_a_host_is_refused_naming_the_variables(edge, isvc_name):
    refused = serve(edge, isvc_name, check=False, public=True, extra={"inference_edge_domain": ""})
    assert refused.returncode != 0
    output = " ".join(refused.stdout.split())
    assert f"serving layer, inference_edge: InferenceService {team('tabular')['namespace']}/{isvc_name}" in output
    assert "kserve_isvc_host, or inference_edge_domain for <name>-<namespace>.<domain> (both empty)" in output
    assert edge_objects(edge.lab, "httproute", f"{ROUTE_LABEL}={team('tabular')['namespace']}-{isvc_name}") == []


def test_team_namespaces_take_traffic_only_from_the_edge_namespace(edge):
    lab = edge.lab
    for entry in inventory_var("platform_teams"):
        policy = lab.get("ciliumnetworkpolicy", "team-isolation", "-n", entry["namespace"])
        sources = [m["matchLabels"] for rule in policy["spec"]["ingress"] for m in rule["fromEndpoints"]]
        assert sources == [{"k8s:io.kubernetes.pod.namespace": inventory_var("platform_edge_namespace")}]


def test_a_rerun_of_the_edge_changes_nothing(edge):
    result = edge.play(tags="inference_edge")
    assert recap(result)["changed"] == 0, result.stdout[-4000:]
    assert "Deliver the Gateway, its HTTPS redirect and the proxy's Secret" in result.stdout
