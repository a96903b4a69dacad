# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inference edge's objects: the Gateway Cilium serves and, per public model, its route behind an
authentication proxy.

The edge namespace holds everything: the Gateway (plain HTTP only, redirected to HTTPS, and the
cert-manager HTTP-01 challenges), then per public InferenceService a ListenerSet with the model's
HTTPS listener, its Certificate, an HTTPRoute whose only backend is the model's oauth2-proxy, and
that proxy (ConfigMap, Deployment, Service) whose only upstream is the predictor Service. A model
is added without rewriting the shared Gateway, and removed by its label.
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import urlsplit

from ansible_collections.baremetal.mlops.plugins.plugin_utils.platform_objects import MANAGED_BY

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_GROUP = "gateway.networking.k8s.io"
CERT_MANAGER_API = "cert-manager.io/v1"
PART_OF = {"app.kubernetes.io/part-of": "inference-edge"}
ROUTE_LABEL = "baremetal.mlops/edge-route"
ISVC_LABEL = "baremetal.mlops/inference-service"
ISVC_NAMESPACE_LABEL = "baremetal.mlops/inference-service-namespace"
METALLB_POOL_ANNOTATION = "metallb.io/address-pool"
METALLB_IPS_ANNOTATION = "metallb.io/loadBalancerIPs"
PROXY_PORT = 4180
REDIRECT_TO_HTTPS = {"scheme": "https", "statusCode": 301}
CONFIG_FILE = "oauth2_proxy.cfg"
# Secret keys the proxy reads (environment variables oauth2-proxy knows).
SECRET_ENV = {"OAUTH2_PROXY_CLIENT_SECRET": "client-secret", "OAUTH2_PROXY_COOKIE_SECRET": "cookie-secret"}
# oauth2-proxy takes a cookie secret of 16, 24 or 32 bytes (an AES key).
COOKIE_SECRET_LENGTHS = (16, 24, 32)
# KServe's open inference protocol paths: answered 401, never redirected to a login page.
API_ROUTES = ("^/v1/", "^/v2/")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _meta(name: str, namespace: str, labels: dict | None = None, annotations: dict | None = None) -> dict:
    meta = {"name": name, "namespace": namespace, "labels": {**MANAGED_BY, **PART_OF, **(labels or {})}}
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    return meta


def _check_label(value: str, what: str) -> str:
    text = str(value or "")
    if not _DNS_LABEL.match(text):
        raise ValueError(f"{what}: {text!r} is not a DNS-1123 label (lower case letters, digits and '-', 63 at most)")
    return text


def check_host(host: str, what: str) -> str:
    """A fully qualified DNS name a certificate can be issued for (no wildcard: HTTP-01 cannot prove one)."""
    text = str(host or "")
    if not _HOST.match(text):
        raise ValueError(f"{what}: {text!r} is not a fully qualified host name (lower case, no wildcard)")
    return text


def gateway_objects(settings: dict) -> list[dict]:
    """The edge's shared objects: its namespace, the Gateway and the HTTP-to-HTTPS redirect.

    settings: namespace, gateway_name, gateway_class, http_listener, address_pool, address (optional),
    pools (the names of metallb_pools).
    """
    namespace = _check_label(settings["namespace"], "platform_edge_namespace")
    name = _check_label(settings["gateway_name"], "inference_edge_gateway_name")
    listener = _check_label(settings["http_listener"], "inference_edge_http_listener")
    pool = str(settings.get("address_pool") or "")
    pools = [str(p) for p in settings.get("pools") or []]
    if pool not in pools:
        raise ValueError(
            f"inference_edge_address_pool: {pool!r} is not a pool of metallb_pools ({', '.join(pools) or 'none'}); "
            "the Gateway's LoadBalancer Service takes its address from it"
        )
    annotations = {METALLB_POOL_ANNOTATION: pool}
    if settings.get("address"):
        annotations[METALLB_IPS_ANNOTATION] = str(settings["address"])
    gateway = {
        "apiVersion": GATEWAY_API,
        "kind": "Gateway",
        "metadata": _meta(name, namespace),
        "spec": {
            "gatewayClassName": settings["gateway_class"],
            # Cilium copies these onto the LoadBalancer Service it makes for the Gateway: MetalLB reads them.
            "infrastructure": {"annotations": annotations},
            "listeners": [
                {
                    "name": listener,
                    "protocol": "HTTP",
                    "port": 80,
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                }
            ],
            # Each public model brings its HTTPS listener as a ListenerSet of this namespace.
            "allowedListeners": {"namespaces": {"from": "Same"}},
        },
    }
    redirect = {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": _meta(f"{name}-https-redirect", namespace),
        "spec": {
            "parentRefs": [{"group": GATEWAY_GROUP, "kind": "Gateway", "name": name, "sectionName": listener}],
            # No hostnames: every host; cert-manager's HTTP-01 routes name their host and path, so they win.
            "rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": REDIRECT_TO_HTTPS}]}],
        },
    }
    labels = {**MANAGED_BY, **PART_OF}
    edge = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}
    return [edge, gateway, redirect]


def route_name(isvc_namespace: str, isvc_name: str) -> str:
    """The name of a model's edge objects: `<namespace>-<name>`, shortened with a hash past 54 characters
    (room for the `-auth`/`-tls` suffixes within a Service name's 63)."""
    name = f"{isvc_namespace}-{isvc_name}"
    if len(name) <= 54:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:45].rstrip('-')}-{digest}"


def route_labels(isvc_namespace: str, isvc_name: str) -> dict:
    return {
        ROUTE_LABEL: route_name(isvc_namespace, isvc_name),
        ISVC_LABEL: isvc_name,
        ISVC_NAMESPACE_LABEL: isvc_namespace,
    }


def isvc_route_labels(isvc: dict) -> dict:
    """The labels of an InferenceService's edge objects."""
    return route_labels(isvc["metadata"]["namespace"], isvc["metadata"]["name"])


def predictor_upstream(isvc: dict) -> str:
    """The in-cluster URL of the InferenceService's stable predictor Service (KServe Standard mode names it
    `<name>-<predictor name>-predictor`, or `<name>-predictor` for an unnamed predictor)."""
    meta = isvc["metadata"]
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    service = f"{meta['name']}-{predictor['name']}-predictor" if predictor.get("name") else f"{meta['name']}-predictor"
    return f"http://{service}.{meta['namespace']}.svc.cluster.local"


def _proxy_config(host: str, upstream: str, proxy: dict) -> str:
    """oauth2-proxy's configuration file (its TOML-like format); secrets come from the environment."""
    issuers = [f"{i['issuer']}={i['audience']}" for i in proxy.get("extra_jwt_issuers") or []]
    settings = {
        "http_address": f"0.0.0.0:{PROXY_PORT}",
        "reverse_proxy": True,
        "provider": "oidc",
        "oidc_issuer_url": proxy["oidc_issuer_url"],
        "client_id": proxy["client_id"],
        "redirect_url": f"https://{host}/oauth2/callback",
        "upstreams": [upstream],
        "email_domains": list(proxy.get("email_domains") or ["*"]),
        "cookie_secure": True,
        "cookie_domains": [host],
        "skip_provider_button": True,
        # Machine clients send a bearer JWT of the OIDC issuer (or of an extra issuer) instead of a cookie.
        "skip_jwt_bearer_tokens": True,
        "extra_jwt_issuers": issuers,
        "api_routes": list(API_ROUTES),
        "pass_access_token": False,
        "set_xauthrequest": True,
    }
    if proxy.get("allowed_groups"):
        settings["allowed_groups"] = list(proxy["allowed_groups"])
    lines = []
    for key, value in settings.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _check_proxy(proxy: dict) -> None:
    issuer = urlsplit(str(proxy.get("oidc_issuer_url") or ""))
    if issuer.scheme != "https" or not issuer.hostname:
        raise ValueError(
            f"inference_edge_oidc_issuer_url: {proxy.get('oidc_issuer_url')!r} is not the https URL of an OIDC issuer "
            "(the proxy reads its discovery document and keys there)"
        )
    if not str(proxy.get("client_id") or "").strip():
        raise ValueError("inference_edge_oidc_client_id is empty: the proxy names its OIDC client")
    for index, extra in enumerate(proxy.get("extra_jwt_issuers") or []):
        if not isinstance(extra, dict) or not extra.get("issuer") or not extra.get("audience"):
            raise ValueError(f"inference_edge_extra_jwt_issuers[{index}] needs an issuer URL and an audience")


def route_objects(isvc: dict, host: str, settings: dict) -> list[dict]:
    """A public InferenceService's edge objects, all in the edge namespace.

    isvc: the InferenceService as rendered (kserve_isvc_rendered). settings: namespace, gateway_name, issuer
    (a ClusterIssuer), proxy {image, client_id, oidc_issuer_url, secret, email_domains, allowed_groups,
    extra_jwt_issuers, replicas, resources}.
    """
    namespace = _check_label(settings["namespace"], "platform_edge_namespace")
    host = check_host(host, "kserve_isvc_host")
    proxy = settings["proxy"]
    _check_proxy(proxy)
    isvc_name, isvc_namespace = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
    if isvc_namespace == namespace:
        raise ValueError(
            f"InferenceService {isvc_name} runs in the edge namespace {namespace}; models run in team namespaces"
        )
    name = route_name(isvc_namespace, isvc_name)
    labels = route_labels(isvc_namespace, isvc_name)
    auth, tls = f"{name}-auth", f"{name}-tls"
    upstream = predictor_upstream(isvc)
    config = _proxy_config(host, upstream, proxy)
    certificate = {
        "apiVersion": CERT_MANAGER_API,
        "kind": "Certificate",
        "metadata": _meta(tls, namespace, labels),
        "spec": {
            "secretName": tls,
            "dnsNames": [host],
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": settings["issuer"]},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }
    listener_set = {
        "apiVersion": GATEWAY_API,
        "kind": "ListenerSet",
        "metadata": _meta(name, namespace, labels),
        "spec": {
            "parentRef": {"group": GATEWAY_GROUP, "kind": "Gateway", "name": settings["gateway_name"]},
            "listeners": [
                {
                    "name": "https",
                    "hostname": host,
                    "protocol": "HTTPS",
                    "port": 443,
                    "tls": {"mode": "Terminate", "certificateRefs": [{"group": "", "kind": "Secret", "name": tls}]},
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                }
            ],
        },
    }
    route = {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": _meta(name, namespace, labels),
        "spec": {
            "parentRefs": [{"group": GATEWAY_GROUP, "kind": "ListenerSet", "name": name, "sectionName": "https"}],
            "hostnames": [host],
            # The proxy, never the predictor: every request is authenticated first.
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"group": "", "kind": "Service", "name": auth, "port": PROXY_PORT}],
                }
            ],
        },
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(auth, namespace, labels),
        "data": {CONFIG_FILE: config},
    }
    selector = {ROUTE_LABEL: name, "app.kubernetes.io/name": "oauth2-proxy"}
    container = {
        "name": "oauth2-proxy",
        "image": proxy["image"],
        "args": [f"--config=/etc/oauth2-proxy/{CONFIG_FILE}"],
        "env": [
            {"name": env, "valueFrom": {"secretKeyRef": {"name": proxy["secret"], "key": key}}}
            for env, key in SECRET_ENV.items()
        ],
        "ports": [{"name": "http", "containerPort": PROXY_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/ping", "port": "http"}, "periodSeconds": 20},
        "resources": proxy.get("resources") or {},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "config", "mountPath": "/etc/oauth2-proxy", "readOnly": True}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(auth, namespace, labels),
        "spec": {
            "replicas": int(proxy.get("replicas", 2)),
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": {**PART_OF, **labels, **selector},
                    # a new configuration rolls the pods
                    "annotations": {"baremetal.mlops/config-sha256": hashlib.sha256(config.encode()).hexdigest()},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": auth}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(auth, namespace, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": PROXY_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    return [certificate, listener_set, route, configmap, deployment, service]


def proxy_secret(settings: dict) -> dict:
    """The proxy's OIDC client secret and cookie secret (shared by every model's proxy); values never shown."""
    namespace = _check_label(settings["namespace"], "platform_edge_namespace")
    client_secret = str(settings.get("client_secret") or "")
    cookie_secret = str(settings.get("cookie_secret") or "")
    if not client_secret.strip():
        raise ValueError("inference_edge_oidc_client_secret is empty: set it from the vault (docs/secrets.md)")
    if len(cookie_secret.encode()) not in COOKIE_SECRET_LENGTHS:
        raise ValueError(
            f"inference_edge_cookie_secret is {len(cookie_secret.encode())} bytes long; oauth2-proxy needs 16, 24 or "
            "32 (for example `openssl rand -hex 16`, from the vault)"
        )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(settings["secret"], namespace),
        "stringData": {"client-secret": client_secret, "cookie-secret": cookie_secret},
    }
