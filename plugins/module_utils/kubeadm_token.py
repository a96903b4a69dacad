# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bootstrap tokens and discovery hashes for kubeadm, through the Kubernetes API.

A bootstrap token is a Secret `bootstrap-token-<id>` of type
bootstrap.kubernetes.io/token in kube-system (what `kubeadm token create`
writes). The discovery hash a joining node pins is the SHA-256 of the
cluster CA certificate's SubjectPublicKeyInfo. The decisions (parse, pick a
reusable token, build the Secret) are pure functions over plain dicts; the
API calls live in TokenClient, so unit tests replace only the client.
"""

from __future__ import absolute_import, division, print_function

import base64
import binascii
import datetime
import hashlib
import os
import random
import re
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

KUBERNETES_IMPORT_ERROR = None
try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

YAML_IMPORT_ERROR = None
try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()

NAMESPACE = "kube-system"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
DEFAULT_GROUPS = ["system:bootstrappers:kubeadm:default-node-token"]
USAGES = ("authentication", "signing")
TOKEN_ID_RE = re.compile(r"^[a-z0-9]{6}$")
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class KubeadmTokenError(Exception):
    """The token cannot be read, created or deleted; the message says why."""


def token_argument_spec():
    return dict(
        kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG", "KUBECONFIG"])),
        context=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        description=dict(type="str"),
        token_id=dict(type="str"),
        ttl=dict(type="str", default="24h"),
        renew_before=dict(type="str", default="1h"),
        usages=dict(type="list", elements="str", default=list(USAGES), choices=list(USAGES)),
        groups=dict(type="list", elements="str", default=list(DEFAULT_GROUPS)),
        ca_cert=dict(type="path"),
    )


# --- pure functions ----------------------------------------------------------------------------


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def parse_duration(text, option):
    """'24h', '1h30m', '90m', '3600s' or '3600' -> seconds; '0' means no expiry."""
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    match = DURATION_RE.match(text)
    if not text or not match:
        raise KubeadmTokenError("%s must be a duration such as 24h, 1h30m or 3600s, got %r" % (option, text))
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    """RFC 3339 as the API server accepts it (Z or a numeric offset) -> aware datetime, or None."""
    if not text:
        return None
    try:
        moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError as exc:
        raise KubeadmTokenError("token expiration %r is not an RFC 3339 time" % text) from exc
    return moment.astimezone(datetime.timezone.utc)


def generate_token(rng=None):
    """A new token as kubeadm makes one: (id of 6, secret of 16), lowercase letters and digits."""
    rng = rng or random.SystemRandom()
    token_id = "".join(rng.choice(TOKEN_CHARS) for _i in range(6))
    secret = "".join(rng.choice(TOKEN_CHARS) for _i in range(16))
    return token_id, secret


def generate_certificate_key():
    """A certificate key as `kubeadm certs certificate-key` makes one: 32 random bytes, hex."""
    return binascii.hexlify(os.urandom(32)).decode("ascii")


def validate_params(params):
    if params["state"] == "present" and not params.get("description"):
        raise KubeadmTokenError("description is required with state=present: it names the token to reuse")
    if params["state"] == "absent" and not (params.get("description") or params.get("token_id")):
        raise KubeadmTokenError("state=absent needs token_id or description to select the tokens to delete")
    if params.get("token_id") and not TOKEN_ID_RE.match(params["token_id"]):
        raise KubeadmTokenError("token_id must be 6 lowercase letters or digits, got %r" % params["token_id"])
    for group in params.get("groups") or []:
        if not GROUP_RE.match(group):
            raise KubeadmTokenError("groups must start with system:bootstrappers: (got %r)" % group)
    if params["state"] == "present" and "authentication" not in (params.get("usages") or []):
        raise KubeadmTokenError("usages must include authentication: a token to join nodes with authenticates them")


def _decode(data, key):
    value = (data or {}).get(key)
    if value is None:
        return None
    return base64.b64decode(value).decode("utf-8")


def token_from_secret(secret):
    """A bootstrap-token Secret (API dict, data base64) -> token dict, or None when malformed."""
    data = secret.get("data") or {}
    token_id, token_secret = _decode(data, "token-id"), _decode(data, "token-secret")
    if not token_id or not token_secret:
        return None
    usages = sorted(u for u in USAGES if _decode(data, "usage-bootstrap-" + u) == "true")
    groups = [g for g in (_decode(data, "auth-extra-groups") or "").split(",") if g]
    return dict(
        id=token_id,
        secret=token_secret,
        name=secret["metadata"]["name"],
        description=_decode(data, "description") or "",
        expiration=parse_time(_decode(data, "expiration")),
        usages=usages,
        groups=groups,
    )


def secret_manifest(token_id, token_secret, description, expiration, usages, groups):
    data = {"token-id": token_id, "token-secret": token_secret, "description": description}
    if expiration is not None:
        data["expiration"] = format_time(expiration)
    for usage in usages:
        data["usage-bootstrap-" + usage] = "true"
    if groups:
        data["auth-extra-groups"] = ",".join(groups)
    encoded = dict((k, base64.b64encode(v.encode("utf-8")).decode("ascii")) for k, v in data.items())
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": SECRET_TYPE,
        "metadata": {"name": SECRET_PREFIX + token_id, "namespace": NAMESPACE},
        "data": encoded,
    }


def reusable(token, description, usages, groups, now, renew_before):
    """A token is reused when it was made for the same purpose and stays valid long enough."""
    if token["description"] != description:
        return False
    if token["usages"] != sorted(usages) or sorted(token["groups"]) != sorted(groups):
        return False
    if token["expiration"] is None:
        return True
    return (token["expiration"] - now).total_seconds() > renew_before


def pick_token(tokens, description, usages, groups, now, renew_before):
    """The reusable token that lasts longest (never-expiring first), or None."""
    found = [t for t in tokens if reusable(t, description, usages, groups, now, renew_before)]
    if not found:
        return None
    far = datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)
    return sorted(found, key=lambda t: (t["expiration"] or far, t["id"]))[-1]


def token_view(token):
    """What the module returns and shows in a diff; never the secret."""
    if token is None:
        return None
    return dict(
        id=token["id"],
        description=token["description"],
        expiration=format_time(token["expiration"]) if token["expiration"] else None,
        usages=list(token["usages"]),
        groups=list(token["groups"]),
    )


def require_cryptography():
    if not HAS_CRYPTOGRAPHY:
        raise KubeadmTokenError(missing_required_lib("cryptography"))


def ca_cert_hash(pem):
    """'sha256:<hex>' of the certificate's SubjectPublicKeyInfo (kubeadm's --discovery-token-ca-cert-hash)."""
    require_cryptography()
    if isinstance(pem, str):
        pem = pem.encode("ascii")
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise KubeadmTokenError("the CA certificate is not a PEM X.509 certificate: %s" % exc) from exc
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def ca_from_cluster_info(configmap):
    """The CA PEM from the kube-public/cluster-info ConfigMap's kubeconfig, or None."""
    if not HAS_YAML:
        raise KubeadmTokenError(missing_required_lib("PyYAML"))
    text = ((configmap or {}).get("data") or {}).get("kubeconfig")
    if not text:
        return None
    clusters = (yaml.safe_load(text) or {}).get("clusters") or []
    for item in clusters:
        data = (item.get("cluster") or {}).get("certificate-authority-data")
        if data:
            return base64.b64decode(data)
    return None


# --- the API -----------------------------------------------------------------------------------


def require_kubernetes():
    if not HAS_KUBERNETES:
        raise KubeadmTokenError(missing_required_lib("kubernetes"))


class TokenClient(object):
    """The few API calls the module needs, returning plain dicts."""

    def __init__(self, kubeconfig=None, context=None):
        require_kubernetes()
        try:
            self.api_client = k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
        except (k8s_config.ConfigException, OSError, TypeError) as exc:
            raise KubeadmTokenError("cannot load kubeconfig %s: %s" % (kubeconfig or "(default)", exc)) from exc
        self.core = k8s_client.CoreV1Api(self.api_client)

    def _call(self, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ApiException as exc:
            raise KubeadmTokenError(
                "%s: HTTP %s %s %s" % (what, exc.status, exc.reason, (exc.body or "").strip())
            ) from exc
        except Urllib3Error as exc:
            raise KubeadmTokenError("%s: cannot reach the API server: %s" % (what, exc)) from exc

    def _plain(self, obj):
        return self.api_client.sanitize_for_serialization(obj)

    def list_tokens(self):
        found = self._call(
            "list bootstrap tokens",
            self.core.list_namespaced_secret,
            NAMESPACE,
            field_selector="type=" + SECRET_TYPE,
        )
        return [t for t in (token_from_secret(s) for s in self._plain(found).get("items") or []) if t]

    def create(self, manifest):
        self._call("create " + manifest["metadata"]["name"], self.core.create_namespaced_secret, NAMESPACE, manifest)

    def delete(self, name):
        try:
            self.core.delete_namespaced_secret(name, NAMESPACE)
        except ApiException as exc:
            if exc.status != 404:
                raise KubeadmTokenError("delete %s: HTTP %s %s" % (name, exc.status, exc.reason)) from exc

    def cluster_info(self):
        try:
            return self._plain(self.core.read_namespaced_config_map("cluster-info", "kube-public"))
        except ApiException as exc:
            if exc.status in (403, 404):
                return None
            raise KubeadmTokenError("read kube-public/cluster-info: HTTP %s %s" % (exc.status, exc.reason)) from exc
        except Urllib3Error as exc:
            raise KubeadmTokenError("read kube-public/cluster-info: cannot reach the API server: %s" % exc) from exc

    def kubeconfig_ca(self):
        """The CA the kubeconfig trusts (a file the client wrote), as PEM bytes, or None."""
        path = getattr(self.api_client.configuration, "ssl_ca_cert", None)
        if not path:
            return None
        with open(path, "rb") as handle:
            return handle.read()


def discovery_hash(client, ca_cert=None):
    """(hash, source): the given CA file, else cluster-info, else the kubeconfig's CA."""
    if ca_cert:
        try:
            with open(ca_cert, "rb") as handle:
                return ca_cert_hash(handle.read()), "ca_cert"
        except (IOError, OSError) as exc:
            raise KubeadmTokenError("cannot read ca_cert %s: %s" % (ca_cert, exc)) from exc
    pem = ca_from_cluster_info(client.cluster_info())
    if pem:
        return ca_cert_hash(pem), "cluster-info"
    pem = client.kubeconfig_ca()
    if pem:
        return ca_cert_hash(pem), "kubeconfig"
    raise KubeadmTokenError(
        "no CA certificate found: kube-public/cluster-info is absent and the kubeconfig names no CA; set ca_cert"
    )


def ensure_token(client, params, check_mode, now=None, rng=None):
    """Create, reuse or delete tokens; returns the module result (token secret included)."""
    validate_params(params)
    now = now or utcnow()
    tokens = client.list_tokens()
    result = dict(changed=False, token=None, token_id=None, deleted=[])
    if params["state"] == "absent":
        doomed = [
            t
            for t in tokens
            if (not params.get("token_id") or t["id"] == params["token_id"])
            and (not params.get("description") or t["description"] == params["description"])
        ]
        for token in doomed:
            if not check_mode:
                client.delete(token["name"])
        result.update(
            changed=bool(doomed),
            deleted=sorted(t["id"] for t in doomed),
            diff=dict(before=dict(tokens=[token_view(t) for t in doomed]), after=dict(tokens=[])),
        )
        return result

    ttl = parse_duration(params["ttl"], "ttl")
    renew_before = parse_duration(params["renew_before"], "renew_before")
    if ttl and renew_before >= ttl:
        raise KubeadmTokenError(
            "renew_before (%s) must be shorter than ttl (%s)" % (params["renew_before"], params["ttl"])
        )
    usages, groups = sorted(params["usages"]), list(params["groups"])
    chosen = pick_token(tokens, params["description"], usages, groups, now, renew_before)
    if params.get("token_id"):
        chosen = chosen if chosen and chosen["id"] == params["token_id"] else None
    before = token_view(chosen)
    if chosen is None:
        token_id, secret = generate_token(rng)
        token_id = params.get("token_id") or token_id
        chosen = dict(
            id=token_id,
            secret=secret,
            name=SECRET_PREFIX + token_id,
            description=params["description"],
            expiration=now + datetime.timedelta(seconds=ttl) if ttl else None,
            usages=usages,
            groups=groups,
        )
        if any(t["id"] == token_id for t in tokens):
            raise KubeadmTokenError(
                "token %s exists but does not match the asked description, usages, groups or validity; "
                "delete it first (state=absent) or omit token_id" % token_id
            )
        if not check_mode:
            client.create(
                secret_manifest(token_id, secret, chosen["description"], chosen["expiration"], usages, groups)
            )
        result["changed"] = True
    view = token_view(chosen)
    # In check mode a new token is only predicted: neither its id nor its secret exists anywhere.
    predicted = check_mode and result["changed"]
    result.update(
        token_id=None if predicted else view["id"],
        token=None if predicted else "%s.%s" % (chosen["id"], chosen["secret"]),
        expiration=view["expiration"],
        description=view["description"],
        diff=dict(before=dict(token=before), after=dict(token=view)),
    )
    return result
