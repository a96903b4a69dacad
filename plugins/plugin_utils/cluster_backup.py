# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a cluster backup covers (the platform's namespaces) and what the manifest says is served."""

from __future__ import annotations

# Each cluster role's namespace variable with its role default (tests/unit checks them against
# roles/*/defaults/main.yml). The inventory renames a namespace by setting the variable.
NAMESPACE_VARIABLES = {
    "metallb_namespace": "metallb-system",
    "longhorn_namespace": "longhorn-system",
    "minio_operator_namespace": "minio-operator",
    "minio_tenant_namespace": "ml-storage",
    "velero_namespace": "velero",
    "gpu_operator_namespace": "gpu-operator",
    "cert_manager_namespace": "cert-manager",
    "kserve_namespace": "kserve",
    "platform_edge_namespace": "inference-edge",
    "cloudnative_pg_namespace": "cnpg-system",
    "cloudnative_pg_cluster_namespace": "ml-platform",
    "mlflow_namespace": "ml-platform",
    "argo_workflows_namespace": "argo",
    "platform_argocd_namespace": "argocd",
    "monitoring_namespace": "monitoring",
}


def platform_namespaces(variables: dict) -> list:
    """The platform's and the teams' namespaces, sorted, from a host's variables (inventory names win)."""
    found = {str(variables.get(name) or default) for name, default in NAMESPACE_VARIABLES.items()}
    for team in variables.get("platform_teams") or []:
        if not isinstance(team, dict) or not team.get("namespace"):
            raise ValueError(f"platform_teams entry {team!r} has no namespace")
        found.add(str(team["namespace"]))
    return sorted(found)


def _storage_uris(node) -> list:
    """Every storageUri under a spec (predictor, canary), in document order."""
    if isinstance(node, dict):
        found = [node["storageUri"]] if isinstance(node.get("storageUri"), str) else []
        for key, value in node.items():
            if key != "storageUri":
                found += _storage_uris(value)
        return found
    if isinstance(node, list):
        return [uri for item in node for uri in _storage_uris(item)]
    return []


def serving_manifest(inference_services: list) -> list:
    """The InferenceServices in force, one entry each: namespace, name, model labels, storage URIs."""
    served = []
    for isvc in inference_services:
        meta = isvc.get("metadata") or {}
        labels = meta.get("labels") or {}
        uris = _storage_uris(isvc.get("spec") or {})
        served.append(
            {
                "namespace": meta.get("namespace", ""),
                "name": meta.get("name", ""),
                "model_name": labels.get("model_name", ""),
                "model_version": labels.get("model_version", ""),
                "model_alias": labels.get("model_alias", ""),
                "storage_uri": uris[0] if uris else "",
                "storage_uris": uris,
            }
        )
    return sorted(served, key=lambda entry: (entry["namespace"], entry["name"]))


def served_storage_uris(serving: list) -> list:
    """Every s3:// storage URI of the manifest's serving part, once each."""
    uris = []
    for entry in serving or []:
        for uri in entry.get("storage_uris") or [entry.get("storage_uri") or ""]:
            if uri.startswith("s3://") and uri not in uris:
                uris.append(uri)
    return uris
