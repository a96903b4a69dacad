# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The serving layer's objects: KServe's storage credentials per team and InferenceServices for models."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ansible_collections.baremetal.mlops.plugins.plugin_utils.platform_objects import (
    MANAGED_BY,
    team_gpu_placement,
)

ISVC_API = "serving.kserve.io/v1beta1"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
TEAM_LABEL = "baremetal.mlops/team"
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")

# Model formats whose KServe runtime (kserve-mlserver) serves them only over the open inference protocol
V2_ONLY_FORMATS = {"mlflow"}


def _meta(name: str, namespace: str, labels: dict | None = None, annotations: dict | None = None) -> dict:
    meta = {"name": name, "namespace": namespace, "labels": {**MANAGED_BY, **(labels or {})}}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def s3_annotations(endpoint: str, region: str | None = None) -> dict:
    """KServe's S3 annotations of a credentials Secret (what the storage initializer reads) for an endpoint URL."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"S3 endpoint {endpoint!r} is not an http(s) URL")
    annotations = {
        "serving.kserve.io/s3-endpoint": parts.netloc,
        "serving.kserve.io/s3-usehttps": "1" if parts.scheme == "https" else "0",
    }
    if region:
        annotations["serving.kserve.io/s3-region"] = region
    return annotations


def kserve_team_objects(teams: list, settings: dict) -> list[dict]:
    """Per team namespace: the ServiceAccount predictors run as, naming the team's S3 credentials Secret."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(settings["service_account"], team["namespace"], {TEAM_LABEL: team["name"]}),
            "secrets": [{"name": settings["storage_secret"]}],
        }
        for team in sorted(teams, key=lambda t: t["namespace"])
    ]


def kserve_team_secrets(teams: list, settings: dict) -> list[dict]:
    """Per team namespace: the team's own S3 keys with KServe's S3 annotations (endpoint, TLS, region)."""
    annotations = s3_annotations(settings["s3_endpoint"], settings.get("s3_region"))
    secrets = []
    for team in sorted(teams, key=lambda t: t["namespace"]):
        if not team.get("s3_secret_key"):
            raise ValueError(f"team {team['name']} has no s3_secret_key: its predictors could not read its models")
        secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": _meta(
                    settings["storage_secret"], team["namespace"], {TEAM_LABEL: team["name"]}, annotations
                ),
                "stringData": {
                    "AWS_ACCESS_KEY_ID": team.get("s3_access_key") or team["name"],
                    "AWS_SECRET_ACCESS_KEY": team["s3_secret_key"],
                },
            }
        )
    return secrets


def _label(value, what: str) -> str:
    text = str(value)
    if not _LABEL_VALUE.match(text) or len(text) > 63:
        raise ValueError(f"{what} {text!r} cannot be a label value (63 characters of A-Z a-z 0-9 - _ .)")
    return text


def _check_storage_uri(uri: str, buckets: list) -> None:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"storage_uri {uri!r} is not s3://<bucket>/<path> on the S3 endpoint")
    if buckets and parts.netloc not in buckets:
        raise ValueError(f"storage_uri {uri!r}: bucket {parts.netloc} is not one of the team's buckets {buckets}")


def _model(model: dict) -> dict:
    """The predictor's model block: format, protocol, runtime, storage and resources."""
    model_format = str(model.get("format", "mlflow"))
    protocol = model.get("protocol_version") or ("v2" if model_format in V2_ONLY_FORMATS else None)
    block = {"modelFormat": {"name": model_format}}
    if protocol:
        block["protocolVersion"] = protocol
    if model.get("runtime"):
        block["runtime"] = model["runtime"]
    block["storageUri"] = model["storage_uri"]
    return block


def inference_service(model: dict, team: dict, classes: dict, custom: dict, taint: dict | None, settings: dict) -> dict:
    """An InferenceService (KServe Standard mode) serving one registered model version for a team.

    model: name (the InferenceService), model_name, model_version, alias (optional), storage_uri, format,
    runtime (optional), protocol_version (optional), resources ({requests, limits}), gpu (bool),
    min_replicas, max_replicas, canary (optional: {model_version, storage_uri, traffic_percent, alias}).
    The model's name, version and alias are labels of the InferenceService and of its pods.
    """
    name = str(model["name"])
    if not _DNS_LABEL.match(name) or len(name) > 45:
        raise ValueError(f"InferenceService name {name!r} must be a DNS label of at most 45 characters")
    _check_storage_uri(str(model["storage_uri"]), team.get("buckets") or [])
    labels = {
        "model_name": _label(model["model_name"], "model_name"),
        "model_version": _label(model["model_version"], "model_version"),
        "workload-type": "inference",
        TEAM_LABEL: team["name"],
    }
    if model.get("alias"):
        labels["model_alias"] = _label(model["alias"], "alias")
    predictor = {
        "name": f"v{labels['model_version']}",
        "serviceAccountName": settings["service_account"],
        "minReplicas": int(model.get("min_replicas", 1)),
        "labels": {k: v for k, v in labels.items() if k != TEAM_LABEL},
        "model": _model(model),
    }
    if model.get("max_replicas"):
        predictor["maxReplicas"] = int(model["max_replicas"])
    resources = {k: dict(v) for k, v in (model.get("resources") or {}).items() if v}
    if model.get("gpu"):
        placement = team_gpu_placement(team, classes, custom, taint)
        if not placement:
            raise ValueError(
                f"model {name} needs a GPU, but team {team['name']} has no GPU class (platform_teams[].gpu_classes)"
            )
        resources.setdefault("requests", {})[placement["resource"]] = "1"
        resources.setdefault("limits", {})[placement["resource"]] = "1"
        predictor.update({k: v for k, v in placement.items() if k in ("affinity", "tolerations")})
    if resources:
        predictor["model"]["resources"] = resources
    spec = {"predictor": predictor}
    canary = model.get("canary")
    if canary:
        spec["canary"] = [_canary(model, canary, team, labels, predictor["model"])]
    return {
        "apiVersion": ISVC_API,
        "kind": "InferenceService",
        "metadata": _meta(name, team["namespace"], labels, {DEPLOYMENT_MODE_ANNOTATION: settings["deployment_mode"]}),
        "spec": spec,
    }


def _canary(model: dict, canary: dict, team: dict, stable_labels: dict, stable_model: dict) -> dict:
    """A canary predictor for a new model version, taking traffic_percent of the requests (fixed replicas)."""
    percent = int(canary["traffic_percent"])
    if not 0 <= percent <= 100:
        raise ValueError(f"canary traffic_percent {percent} is outside 0-100")
    version = _label(canary["model_version"], "canary model_version")
    if version == stable_labels["model_version"]:
        raise ValueError(f"canary model_version {version} is the version already served")
    uri = str(canary["storage_uri"])
    _check_storage_uri(uri, team.get("buckets") or [])
    labels = {k: v for k, v in stable_labels.items() if k not in (TEAM_LABEL, "model_alias")}
    labels["model_version"] = version
    if canary.get("alias"):
        labels["model_alias"] = _label(canary["alias"], "canary alias")
    block = {**stable_model, "storageUri": uri}  # same format, runtime and resources; the new version's files
    return {"predictor": {"name": f"v{version}", "labels": labels, "model": block}, "trafficPercent": percent}
