# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain JSON reads from a Kubernetes API server through a kubeconfig.

Bodies are read as JSON and returned as plain dicts, never as the kubernetes
client's model or ResourceInstance objects, which cost far more than the
request for a large listing (the cluster's CRDs are megabytes).

Two ways to the server, one behaviour:

- A kubeconfig whose user authenticates with a client certificate or a bearer
  token, against an https server with a CA (or TLS verification off): the
  reads go through http.client and ssl from the standard library. This is
  what kubeadm's admin.conf and a ServiceAccount token kubeconfig look like,
  and it costs no import of the kubernetes library (half a second), which
  matters to a lookup that runs in a fresh worker process on every task.
- Anything else (exec credential plugins, auth providers, proxies, several
  kubeconfig files merged): the kubernetes library builds the connection, as
  kubernetes.core does.

Shared by the cluster export module and the lookups that compare the cluster
with a rendering.
"""

from __future__ import absolute_import, division, print_function

import base64
import json
import os
import ssl
import tempfile
from http.client import HTTPException, HTTPSConnection
from urllib.parse import urlsplit

METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
# What the standard-library path understands of a kubeconfig; any other key sends the
# connection to the kubernetes library.
DIRECT_CLUSTER_KEYS = frozenset(
    ("server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify")
)
DIRECT_USER_KEYS = frozenset(
    ("client-certificate", "client-certificate-data", "client-key", "client-key-data", "token", "tokenFile")
)


class KubeApiError(Exception):
    """The kubeconfig could not be used, or the API server could not be reached or refused a read."""


def group_version_path(api_version):
    """/api/v1 for the core group, /apis/<group>/<version> for the others."""
    return "/api/%s" % api_version if "/" not in api_version else "/apis/%s" % api_version


def resource_path(api_version, resource, namespace=None):
    """The path of a resource (its plural name), in one namespace when `namespace` is given."""
    base = group_version_path(api_version)
    if namespace:
        base += "/namespaces/%s" % namespace
    return "%s/%s" % (base, resource)


def missing_kubernetes():
    """The import error of the kubernetes library as text; None when it is installed."""
    try:
        import kubernetes  # noqa: F401 pylint: disable=unused-import
    except ImportError as exc:
        return str(exc)
    return None


def kubeconfig_path(kubeconfig=None):
    """The one kubeconfig file a connection reads; None when the client default would merge several."""
    if kubeconfig:
        return kubeconfig
    if os.environ.get("K8S_AUTH_KUBECONFIG"):
        return os.environ["K8S_AUTH_KUBECONFIG"]
    listed = os.environ.get("KUBECONFIG", "")
    if listed:
        return listed if os.pathsep not in listed else None
    return os.path.expanduser("~/.kube/config")


def direct_settings(config, context=None):
    """The server, CA, client certificate and token of a parsed kubeconfig, for the standard-library path.

    None when the kubeconfig needs more than that path understands (the kubernetes library then connects).
    Values are as the kubeconfig gives them; file paths are resolved by the caller.
    """
    if not isinstance(config, dict):
        return None
    name = context or config.get("current-context")
    contexts = dict((c.get("name"), c.get("context") or {}) for c in config.get("contexts") or [])
    chosen = contexts.get(name)
    if chosen is None or set(chosen) - set(("cluster", "user", "namespace")):
        return None
    cluster = dict((c.get("name"), c.get("cluster") or {}) for c in config.get("clusters") or []).get(
        chosen.get("cluster")
    )
    user = dict((u.get("name"), u.get("user") or {}) for u in config.get("users") or []).get(chosen.get("user"), {})
    if not cluster or set(cluster) - DIRECT_CLUSTER_KEYS or set(user) - DIRECT_USER_KEYS:
        return None
    if not str(cluster.get("server", "")).startswith("https://"):
        return None
    has_cert = bool(user.get("client-certificate") or user.get("client-certificate-data"))
    has_key = bool(user.get("client-key") or user.get("client-key-data"))
    if has_cert != has_key:
        return None
    return dict(cluster=cluster, user=user)


class _Direct(object):
    """GET over one kept-alive HTTPS connection, from a kubeconfig's certificate or token."""

    def __init__(self, path, settings, timeout):
        cluster, user = settings["cluster"], settings["user"]
        base = os.path.dirname(os.path.abspath(path))
        server = urlsplit(cluster["server"])
        self.host, self.port, self.prefix = server.hostname, server.port or 443, server.path.rstrip("/")
        self.timeout = timeout
        self.headers = {}
        if cluster.get("insecure-skip-tls-verify"):
            self.context = ssl.create_default_context()
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        elif cluster.get("certificate-authority-data"):
            ca = base64.b64decode(cluster["certificate-authority-data"]).decode("ascii")
            self.context = ssl.create_default_context(cadata=ca)
        elif cluster.get("certificate-authority"):
            self.context = ssl.create_default_context(cafile=_resolve(base, cluster["certificate-authority"]))
        else:
            self.context = ssl.create_default_context()
        if user.get("client-certificate") or user.get("client-certificate-data"):
            self._load_client_certificate(base, user)
        token = user.get("token")
        if not token and user.get("tokenFile"):
            with open(_resolve(base, user["tokenFile"])) as handle:
                token = handle.read().strip()
        if token:
            self.headers["Authorization"] = "Bearer %s" % token
        self.connection = None

    def _load_client_certificate(self, base, user):
        if user.get("client-certificate") and user.get("client-key"):
            self.context.load_cert_chain(_resolve(base, user["client-certificate"]), _resolve(base, user["client-key"]))
            return
        # ssl loads a certificate chain from files only: the data goes to a private temporary folder for the load
        folder = tempfile.mkdtemp(prefix="kube-api-")
        try:
            files = []
            for field in ("client-certificate", "client-key"):
                target = os.path.join(folder, field)
                with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
                    if user.get(field + "-data"):
                        handle.write(base64.b64decode(user[field + "-data"]))
                    else:
                        with open(_resolve(base, user[field]), "rb") as source:
                            handle.write(source.read())
                files.append(target)
            self.context.load_cert_chain(files[0], files[1])
        finally:
            for name in os.listdir(folder):
                os.unlink(os.path.join(folder, name))
            os.rmdir(folder)

    def get(self, path, accept):
        headers = dict(self.headers, Accept=accept)
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
            try:
                self.connection.request("GET", self.prefix + path, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (HTTPException, OSError):
                # a kept-alive connection the server closed: one fresh try
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class _Library(object):
    """GET through the kubernetes library's ApiClient (every auth a kubeconfig may name)."""

    def __init__(self, path, context, timeout):
        from kubernetes import config as kube_config
        from kubernetes.config.config_exception import ConfigException

        try:
            self.client = kube_config.new_client_from_config(config_file=path, context=context)
        except ConfigException as exc:
            raise KubeApiError("the kubeconfig %s cannot be used: %s" % (path or "(client default)", exc)) from exc
        self.timeout = timeout

    def get(self, path, accept):
        headers = {"Accept": accept}
        method, url, headers, _body, _post = self.client.param_serialize(
            "GET", path, header_params=headers, auth_settings=["BearerToken"]
        )
        response = self.client.call_api(method, url, header_params=headers, _request_timeout=self.timeout)
        return response.status, response.read()


class KubeApi(object):
    """GET on the API server through a kubeconfig; JSON in, dict out; None for 404."""

    def __init__(self, kubeconfig=None, context=None, timeout=30):
        path = kubeconfig_path(kubeconfig)
        named = kubeconfig or os.environ.get("K8S_AUTH_KUBECONFIG")
        if named and not os.path.exists(named):
            raise KubeApiError("the kubeconfig %s does not exist" % named)
        settings = None
        if path and os.path.isfile(path):
            settings = direct_settings(_read_kubeconfig(path), context)
        try:
            if settings is not None:
                self.transport = _Direct(path, settings, timeout)
            else:
                if missing_kubernetes():
                    raise KubeApiError(
                        "the kubeconfig %s needs the kubernetes Python library (%s)" % (path, missing_kubernetes())
                    )
                self.transport = _Library(path, context, timeout)
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise KubeApiError("the kubeconfig %s cannot be used: %s" % (path, exc)) from exc
        self._discovery = {}

    def get(self, path, metadata_only=False):
        try:
            status, data = self.transport.get(path, METADATA_ONLY if metadata_only else "application/json")
        except KubeApiError:
            raise
        except Exception as exc:  # pylint: disable=broad-except  # each transport's connection errors
            raise KubeApiError("GET %s: %s" % (path, _reason(exc))) from exc
        if status == 404:
            return None
        if status != 200:
            raise KubeApiError("GET %s: HTTP %s %s" % (path, status, _message(data)))
        return json.loads(data)

    def resource(self, api_version, kind):
        """The served resource of `kind` in `api_version` ({name, namespaced}); None when not served.

        Discovery is read once per group version and kept for the life of this object: a CRD
        established later is seen by a new KubeApi.
        """
        if api_version not in self._discovery:
            self._discovery[api_version] = self.get(group_version_path(api_version)) or {}
        for entry in self._discovery[api_version].get("resources") or []:
            if entry.get("kind") == kind and "/" not in entry.get("name", ""):
                return entry
        return None

    def object_path(self, obj):
        """The path of one object given as a manifest; None when its kind is not served."""
        api_version, kind = obj.get("apiVersion") or "v1", obj.get("kind") or ""
        served = self.resource(api_version, kind)
        if served is None:
            return None
        metadata = obj.get("metadata") or {}
        namespace = (metadata.get("namespace") or "default") if served.get("namespaced") else None
        return "%s/%s" % (resource_path(api_version, served["name"], namespace), metadata.get("name", ""))


def _read_kubeconfig(path):
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path) as handle:
            return yaml.load(handle, Loader=loader)  # nosec: a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise KubeApiError("the kubeconfig %s cannot be read: %s" % (path, exc)) from exc


def _resolve(base, path):
    return path if os.path.isabs(path) else os.path.join(base, path)


def _message(data):
    """The API server's own message from a Status body, else the start of the body."""
    try:
        body = json.loads(data)
        if isinstance(body, dict) and body.get("message"):
            return body["message"]
    except ValueError:
        pass
    return data[:200]


def _reason(exc):
    status = getattr(exc, "status", None)
    if status:
        return "%s %s" % (status, getattr(exc, "reason", "") or "")
    return str(exc) or type(exc).__name__
