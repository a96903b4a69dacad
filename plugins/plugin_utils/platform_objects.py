# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects and chart settings the cluster roles build from the inventory contract.

Pure functions over plain data, one per thing a role renders; the roles call
them through the filters in plugins/filter/platform_objects.py.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import yaml

from ansible_collections.baremetal.mlops.plugins.plugin_utils import gpu_catalog

MANAGED_BY = {"app.kubernetes.io/managed-by": "baremetal.mlops"}


def _meta(name: str, namespace: str | None = None, labels: dict | None = None) -> dict:
    meta = {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}
    if namespace:
        meta["namespace"] = namespace
    return meta


# --- MetalLB -----------------------------------------------------------------


def metallb_peer_secret_name(peer: dict) -> str:
    return f"bgp-peer-{peer['name']}"


def metallb_objects(mode: str, pools: list, local_asn: int, peers: list, namespace: str) -> list[dict]:
    """IPAddressPools, and the L2Advertisement (l2) or BGPPeers and BGPAdvertisement (bgp)."""
    objects = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": _meta(pool["name"], namespace),
            "spec": {"addresses": list(pool["addresses"]), "autoAssign": True},
        }
        for pool in pools
    ]
    names = sorted(pool["name"] for pool in pools)
    if mode == "l2":
        objects.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "L2Advertisement",
                "metadata": _meta("platform-l2", namespace),
                "spec": {"ipAddressPools": names},
            }
        )
    elif mode == "bgp":
        for peer in peers:
            spec = {"myASN": int(local_asn), "peerASN": int(peer["asn"]), "peerAddress": peer["address"]}
            if peer.get("password"):
                # The password stays in a Secret; the BGPPeer names it (and GitOps never sees its value).
                spec["passwordSecret"] = {"name": metallb_peer_secret_name(peer), "namespace": namespace}
            objects.append(
                {
                    "apiVersion": "metallb.io/v1beta2",
                    "kind": "BGPPeer",
                    "metadata": _meta(peer["name"], namespace),
                    "spec": spec,
                }
            )
        objects.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "BGPAdvertisement",
                "metadata": _meta("platform-bgp", namespace),
                "spec": {"ipAddressPools": names},
            }
        )
    else:
        raise ValueError(f"metallb_mode {mode!r} is neither l2 nor bgp")
    return objects


def metallb_secrets(mode: str, peers: list, namespace: str) -> list[dict]:
    """The BGP session passwords as the basic-auth Secrets MetalLB reads."""
    if mode != "bgp":
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": _meta(metallb_peer_secret_name(peer), namespace),
            "stringData": {"password": str(peer["password"])},
        }
        for peer in peers
        if peer.get("password")
    ]


# --- Cilium ------------------------------------------------------------------

NAMESPACE_LABEL = "k8s:io.kubernetes.pod.namespace"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _ports(numbers) -> list[dict]:
    return [{"ports": [{"port": str(n), "protocol": "TCP"} for n in sorted(set(numbers))]}]


def egress_rule(service: dict) -> dict:
    """Egress to one service named by URL: in-cluster (namespace), an IP (CIDR) or a DNS name (FQDN)."""
    url = urlsplit(service["url"])
    host = url.hostname or ""
    port = url.port or _DEFAULT_PORTS.get(url.scheme)
    if not host or not port:
        raise ValueError(f"{service.get('name', 'service')}: {service['url']!r} is not a URL with a host")
    ports = [port, *([service["target_port"]] if service.get("target_port") else [])]
    labels = host.split(".")
    if len(labels) >= 3 and labels[2] == "svc":
        # <service>.<namespace>.svc[.cluster.local]: Cilium checks the backend pod's port after
        # the service translation, so the pods' target_port is allowed beside the URL's port.
        return {"toEndpoints": [{"matchLabels": {NAMESPACE_LABEL: labels[1]}}], "toPorts": _ports(ports)}
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return {"toFQDNs": [{"matchName": host}], "toPorts": _ports([port])}
    return {"toCIDR": [f"{address}/{address.max_prefixlen}"], "toPorts": _ports([port])}


def cilium_team_policies(teams: list, ingress_namespaces: list, egress_services: list) -> list[dict]:
    """One CiliumNetworkPolicy per team namespace: ingress from the edge only, egress to DNS and the services."""
    dns = {
        "toEndpoints": [{"matchLabels": {NAMESPACE_LABEL: "kube-system", "k8s:k8s-app": "kube-dns"}}],
        "toPorts": [
            {
                "ports": [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}],
                # Through Cilium's DNS proxy, so that toFQDNs rules learn the addresses.
                "rules": {"dns": [{"matchPattern": "*"}]},
            }
        ],
    }
    egress = [dns, *(egress_rule(service) for service in egress_services)]
    policies = []
    for team in sorted(teams, key=lambda t: t["namespace"]):
        policies.append(
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": _meta("team-isolation", team["namespace"], {"baremetal.mlops/team": team["name"]}),
                "spec": {
                    "description": (
                        f"Team {team['name']}: traffic in only from the edge, "
                        "out only to DNS and the platform's services"
                    ),
                    "endpointSelector": {},
                    "ingress": [
                        {"fromEndpoints": [{"matchLabels": {NAMESPACE_LABEL: namespace}}]}
                        for namespace in sorted(set(ingress_namespaces))
                    ],
                    "egress": egress,
                },
            }
        )
    return policies


# --- GPU Operator --------------------------------------------------------------


def taint_tolerations(taint: dict | None) -> list[dict]:
    """The toleration of a taint (the contract's gpu_node_taint): Exists on its key and effect, whatever
    its value; none when no taint is set."""
    if not taint:
        return []
    return [{"key": taint["key"], "operator": "Exists", "effect": taint["effect"]}]


def driver_enabled(classes: dict) -> bool:
    """The operator deploys its driver when any class leaves the driver to it (the default)."""
    return any(c.get("driver", "operator") == "operator" for c in classes.values())


def mig_in_use(classes: dict) -> bool:
    """Whether any class's product has MIG (the MIG manager then runs on those nodes)."""
    return any(gpu_catalog.mig_capable(c["product"]) for c in classes.values())


def class_mig_layout(gpu_class: dict, custom: dict) -> dict | None:
    """profile -> count the class's MIG configuration creates per GPU; None without MIG."""
    name = gpu_class.get("mig_config") or "none"
    if name in gpu_catalog.MIG_DISABLED:
        return None
    if name in (custom or {}):
        return dict(custom[name])
    if name.startswith("all-") and gpu_catalog.profile_slices(name[4:]):
        profile = name[4:]
        return {profile: gpu_catalog.compute_slices(gpu_class["product"]) // gpu_catalog.profile_slices(profile)}
    return {}  # all-balanced / all-enabled: the operator's own layouts


def mig_parted_config(classes: dict, custom: dict) -> str:
    """The mig-parted config.yaml: all-disabled plus every layout a class names."""
    configs = {"all-disabled": [{"devices": "all", "mig-enabled": False}]}
    for gpu_class in classes.values():
        name = gpu_class.get("mig_config") or "none"
        layout = class_mig_layout(gpu_class, custom)
        if layout:
            configs[name] = [{"devices": "all", "mig-enabled": True, "mig-devices": dict(sorted(layout.items()))}]
        elif layout == {} and name == "all-enabled":
            configs[name] = [{"devices": "all", "mig-enabled": True, "mig-devices": {}}]
    return yaml.safe_dump({"version": "v1", "mig-configs": dict(sorted(configs.items()))}, sort_keys=False)


def mig_strategy(classes: dict, custom: dict) -> str:
    """`mixed` as soon as any class uses MIG: every profile is then its own resource (nvidia.com/mig-<profile>)."""
    return "mixed" if any(class_mig_layout(c, custom) is not None for c in classes.values()) else "none"


def device_plugin_config(classes: dict, custom: dict) -> dict:
    """Device plugin configurations: `default` (no sharing) and one per time-sliced class."""
    strategy = mig_strategy(classes, custom)
    data = {"default": yaml.safe_dump({"version": "v1", "flags": {"migStrategy": strategy}}, sort_keys=False)}
    for name, gpu_class in sorted(classes.items()):
        replicas = int(gpu_class.get("time_slicing_replicas") or 0)
        if replicas > 1:
            data[name] = yaml.safe_dump(
                {
                    "version": "v1",
                    "flags": {"migStrategy": strategy},
                    "sharing": {
                        "timeSlicing": {
                            "renameByDefault": False,
                            "resources": [{"name": "nvidia.com/gpu", "replicas": replicas}],
                        }
                    },
                },
                sort_keys=False,
            )
    return data


def gpu_node_labels(classes: dict, nodes: list, custom: dict) -> list[dict]:
    """Per class, the labels its nodes carry (MIG layout, device plugin config, driver owner).

    `nodes` lists {node, class}: each GPU node's Kubernetes name and GPU class.
    """
    config = device_plugin_config(classes, custom)
    entries = []
    for name, gpu_class in sorted(classes.items()):
        members = sorted(row["node"] for row in nodes if row.get("class") == name)
        if not members:
            continue
        labels = {"nvidia.com/device-plugin.config": name if name in config else "default"}
        if gpu_catalog.mig_capable(gpu_class["product"]):
            layout = class_mig_layout(gpu_class, custom)
            labels["nvidia.com/mig.config"] = "all-disabled" if layout is None else gpu_class["mig_config"]
        if gpu_class.get("driver", "operator") == "host":
            # The host role installed the driver: the operator must not deploy its driver container here.
            labels["nvidia.com/gpu.deploy.driver"] = "false"
        entries.append({"nodes": members, "labels": labels})
    return entries


# --- Tenancy -----------------------------------------------------------------

TEAM_API_RULES = [
    {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"]},
    {"apiGroups": ["argoproj.io"], "resources": ["workflows"]},
    {"apiGroups": [""], "resources": ["secrets"]},
]
TEAM_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


def team_gpu_resources(team: dict, classes: dict, custom: dict) -> list[str]:
    """Extended resources a team's classes expose: nvidia.com/gpu and nvidia.com/mig-<profile>."""
    resources = set()
    for name in team.get("gpu_classes") or []:
        layout = class_mig_layout(classes[name], custom)
        if layout is None:
            resources.add("nvidia.com/gpu")
        else:
            resources.update(f"nvidia.com/mig-{profile}" for profile in layout)
    return sorted(resources)


def team_products(team: dict, classes: dict) -> list[str]:
    return sorted({classes[name]["product"] for name in team.get("gpu_classes") or []})


# CEL of the GPU placement policy. A pod that asks for any nvidia.com/ resource must require nodes
# whose product label is one the team may use: every required nodeSelectorTerm carries
# `nvidia.com/gpu.product In (...)` with only allowed values (the param ConfigMap's keys).
POLICY_VARIABLES = [
    {
        "name": "containers",
        "expression": "object.spec.containers + (has(object.spec.initContainers) ? object.spec.initContainers : [])",
    },
    {
        "name": "gpuRequested",
        "expression": (
            "variables.containers.exists(c, has(c.resources) && ("
            "(has(c.resources.limits) && c.resources.limits.exists(r, r.startsWith('nvidia.com/'))) || "
            "(has(c.resources.requests) && c.resources.requests.exists(r, r.startsWith('nvidia.com/')))))"
        ),
    },
    {
        "name": "terms",
        "expression": (
            "has(object.spec.affinity) && has(object.spec.affinity.nodeAffinity) && "
            "has(object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution) ? "
            "object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms : []"
        ),
    },
]
POLICY_EXPRESSION = (
    "!variables.gpuRequested || (size(variables.terms) > 0 && variables.terms.all(t, has(t.matchExpressions) && "
    "t.matchExpressions.exists(e, e.key == '" + GPU_PRODUCT_LABEL + "' && e.operator == 'In' && "
    "size(e.values) > 0 && e.values.all(v, has(params.data) && v in params.data))))"
)
# CEL iterates a map's keys in no fixed order: sort() (Kubernetes' lists library, 1.34+) keeps the message stable.
POLICY_MESSAGE = (
    "'pods in ' + request.namespace + ' that request GPUs must require node affinity "
    + GPU_PRODUCT_LABEL
    + " In (' + (has(params.data) ? params.data.map(k, k).sort().join(', ') : 'no GPU class') + ')'"
)


def team_gpu_quota(team: dict, classes: dict, custom: dict, default: int) -> dict:
    """ResourceQuota `hard` of a team: its classes' resources get its quota, every other GPU resource 0."""
    allowed = set(team_gpu_resources(team, classes, custom))
    own = team.get("gpu_quota") or {}
    hard = {}
    for resource in sorted(_all_gpu_resources(classes, custom)):
        hard[f"requests.{resource}"] = str(own.get(resource, default)) if resource in allowed else "0"
    return hard


def tenancy_objects(teams: list, classes: dict, custom: dict, default_quota: int, policy_name: str) -> list[dict]:
    """Namespaces, RBAC, GPU quotas and the GPU placement admission policy for every team."""
    objects = []
    policy_namespace = "kube-system"
    for team in sorted(teams, key=lambda t: t["namespace"]):
        namespace, name = team["namespace"], team["name"]
        team_labels = {"baremetal.mlops/team": name}
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace, labels=team_labels)})
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": _meta(f"{name}-deployer", namespace, team_labels),
            }
        )
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _meta("team-workloads", namespace, team_labels),
                "rules": [{**rule, "verbs": list(TEAM_VERBS)} for rule in TEAM_API_RULES],
            }
        )
        subjects = [{"kind": "ServiceAccount", "name": f"{name}-deployer", "namespace": namespace}]
        if team.get("group"):
            subjects.append({"kind": "Group", "name": team["group"], "apiGroup": "rbac.authorization.k8s.io"})
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta("team-workloads", namespace, team_labels),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "team-workloads"},
                "subjects": subjects,
            }
        )
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": _meta("team-gpu", namespace, team_labels),
                "spec": {"hard": team_gpu_quota(team, classes, custom, default_quota)},
            }
        )
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta(f"{policy_name}-{name}", policy_namespace, team_labels),
                # The products the team may ask for, as keys (the policy tests `v in params.data`).
                "data": dict.fromkeys(team_products(team, classes), "allowed"),
            }
        )
        objects.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": _meta(f"{policy_name}-{name}", labels=team_labels),
                "spec": {
                    "policyName": policy_name,
                    "paramRef": {
                        "name": f"{policy_name}-{name}",
                        "namespace": policy_namespace,
                        "parameterNotFoundAction": "Deny",
                    },
                    "matchResources": {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                    },
                    "validationActions": ["Deny"],
                },
            }
        )
    objects.append(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": _meta(policy_name),
            "spec": {
                "failurePolicy": "Fail",
                "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["pods"],
                        }
                    ]
                },
                "variables": POLICY_VARIABLES,
                "validations": [
                    {
                        "expression": POLICY_EXPRESSION,
                        "message": f"pods that request GPUs must require node affinity on {GPU_PRODUCT_LABEL}",
                        "messageExpression": POLICY_MESSAGE,
                        "reason": "Forbidden",
                    }
                ],
            },
        }
    )
    return objects


def _all_gpu_resources(classes: dict, custom: dict) -> set[str]:
    resources = {"nvidia.com/gpu"}
    for gpu_class in classes.values():
        layout = class_mig_layout(gpu_class, custom)
        resources.update(f"nvidia.com/mig-{profile}" for profile in (layout or {}))
    return resources


# --- Argo Workflows ------------------------------------------------------------

# Placeholders Argo Workflows itself resolves when a Workflow runs (never Ansible's).
ARGO_MODEL_NAME = "{{workflow.parameters.model-name}}"
ARGO_TRAIN_OUTPUT = "{{tasks.train.outputs.artifacts.model}}"


def s3_location(endpoint: str) -> dict:
    """Argo's S3 endpoint (host:port, no scheme) and whether it is plain HTTP, from an S3 endpoint URL."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"S3 endpoint {endpoint!r} is not an http(s) URL")
    return {"endpoint": parts.netloc, "insecure": parts.scheme == "http"}


def team_artifact_bucket(team: dict, chosen: dict) -> str:
    """The bucket a team's Workflow artifacts go to: its entry in `chosen`, else its first bucket.

    Only the team's own buckets qualify: its S3 user can reach nothing else."""
    buckets = team.get("buckets") or []
    bucket = chosen.get(team["name"]) or (buckets[0] if buckets else None)
    if bucket is None:
        raise ValueError(f"team {team['name']} has no bucket for Workflow artifacts (platform_teams[].buckets)")
    if bucket not in buckets:
        raise ValueError(f"team {team['name']}: artifact bucket {bucket} is not one of its buckets {buckets}")
    return bucket


def argo_workflows_secrets(teams: list, settings: dict) -> list[dict]:
    """Per team namespace, the Secret with the team's own S3 keys its artifact repository reads."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": _meta(settings["artifact_secret"], team["namespace"], {"baremetal.mlops/team": team["name"]}),
            "stringData": dict(zip(("accesskey", "secretkey"), team_s3_keys(team), strict=True)),
        }
        for team in sorted(teams, key=lambda t: t["namespace"])
    ]


def team_gpu_placement(team: dict, classes: dict, custom: dict, taint: dict | None) -> dict | None:
    """Where a team's GPU workload goes: its first GPU resource (a whole GPU or its MIG slice), required
    affinity on its own products (the tenancy layer's admission policy refuses any other placement) and
    the toleration of the GPU nodes' taint. None for a team without GPU classes."""
    gpu_resources = team_gpu_resources(team, classes, custom)
    if not gpu_resources:
        return None
    placement = {
        "resource": gpu_resources[0],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": GPU_PRODUCT_LABEL, "operator": "In", "values": team_products(team, classes)}
                            ]
                        }
                    ]
                }
            }
        },
    }
    tolerations = taint_tolerations(taint)
    if tolerations:
        placement["tolerations"] = tolerations
    return placement


def _train_template(team: dict, classes: dict, custom: dict, taint: dict | None, settings: dict) -> dict:
    """The train step: the only one with a GPU, pinned to the team's GPU products, retried."""
    resources = {"requests": dict(settings["train_resources"]), "limits": {}}
    if "memory" in resources["requests"]:
        resources["limits"]["memory"] = resources["requests"]["memory"]
    template = {
        "name": "train",
        "retryStrategy": {"limit": str(settings["train_retries"]), "retryPolicy": "Always"},
        "container": {
            "image": settings["trainer_image"],
            "command": list(settings["train_command"]),
            "args": ["--output", "/tmp/model", "--model-name", ARGO_MODEL_NAME],
            "envFrom": [{"secretRef": {"name": settings["client_secret"]}}],
            "resources": resources,
        },
        "outputs": {"artifacts": [{"name": "model", "path": "/tmp/model"}]},
    }
    placement = team_gpu_placement(team, classes, custom, taint)
    if placement:
        resources["requests"][placement["resource"]] = "1"
        resources["limits"][placement["resource"]] = "1"
        template.update({k: v for k, v in placement.items() if k in ("affinity", "tolerations")})
    return template


def _register_template(settings: dict) -> dict:
    """The register step: CPU only (no GPU toleration, so never on a GPU node)."""
    requests = dict(settings["register_resources"])
    limits = {"memory": requests["memory"]} if "memory" in requests else {}
    return {
        "name": "register",
        "inputs": {"artifacts": [{"name": "model", "path": "/tmp/model"}]},
        "container": {
            "image": settings["trainer_image"],
            "command": list(settings["register_command"]),
            "args": ["--model-dir", "/tmp/model", "--model-name", ARGO_MODEL_NAME],
            "envFrom": [{"secretRef": {"name": settings["client_secret"]}}],
            "resources": {"requests": requests, "limits": limits},
        },
    }


def argo_workflows_objects(teams: list, classes: dict, custom: dict, taint: dict | None, settings: dict) -> list[dict]:
    """Per team namespace: its default artifact repository (the team's bucket on the S3 endpoint, the
    team's own keys) and the train-register WorkflowTemplate."""
    location = s3_location(settings["s3_endpoint"])
    objects = []
    for team in sorted(teams, key=lambda t: t["namespace"]):
        namespace, labels = team["namespace"], {"baremetal.mlops/team": team["name"]}
        repository = {
            "archiveLogs": bool(settings["archive_logs"]),
            "s3": {
                **location,
                "bucket": team_artifact_bucket(team, settings.get("buckets") or {}),
                "keyFormat": settings["key_format"],
                "accessKeySecret": {"name": settings["artifact_secret"], "key": "accesskey"},
                "secretKeySecret": {"name": settings["artifact_secret"], "key": "secretkey"},
            },
        }
        if settings.get("s3_region"):
            repository["s3"]["region"] = settings["s3_region"]
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("artifact-repositories", namespace, labels),
            "data": {settings["repository_key"]: yaml.safe_dump(repository, sort_keys=False)},
        }
        config_map["metadata"]["annotations"] = {
            "workflows.argoproj.io/default-artifact-repository": settings["repository_key"]
        }
        objects.append(config_map)
        objects.append(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "WorkflowTemplate",
                "metadata": _meta(settings["template_name"], namespace, labels),
                "spec": {
                    "entrypoint": "train-register",
                    "serviceAccountName": settings["service_account"],
                    "arguments": {"parameters": [{"name": "model-name"}]},
                    "templates": [
                        {
                            "name": "train-register",
                            "dag": {
                                "tasks": [
                                    {"name": "train", "template": "train"},
                                    {
                                        "name": "register",
                                        "dependencies": ["train"],
                                        "template": "register",
                                        "arguments": {"artifacts": [{"name": "model", "from": ARGO_TRAIN_OUTPUT}]},
                                    },
                                ]
                            },
                        },
                        _train_template(team, classes, custom, taint, settings),
                        _register_template(settings),
                    ],
                },
            }
        )
    return objects


# --- Tracking: CloudNativePG and MLflow ------------------------------------------

# CloudNativePG reads a Secret of this type (keys username, password) for the database owner.
BASIC_AUTH = "kubernetes.io/basic-auth"
# Keys of the backup Secret the Cluster's barmanObjectStore reads.
BACKUP_ACCESS_KEY = "ACCESS_KEY_ID"
BACKUP_SECRET_KEY = "ACCESS_SECRET_KEY"


def team_s3_keys(team: dict) -> tuple[str, str]:
    """A team's own S3 keys: its access key (default its name, the MinIO user the storage layer
    creates) and its secret key."""
    return team.get("s3_access_key") or team["name"], team["s3_secret_key"]


def _secret(name: str, namespace: str, values: dict, labels: dict | None = None, kind: str = "Opaque") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": kind,
        "metadata": _meta(name, namespace, labels),
        "stringData": values,
    }


def _cnpg_schedule(schedule: str) -> str:
    # CloudNativePG's cron has six fields, seconds first; a five-field crontab line would
    # silently mean another time, so it is refused.
    if len(str(schedule).split()) != 6:
        raise ValueError(
            f"backup schedule {schedule!r} must have six fields (seconds minutes hours day month weekday), "
            "as CloudNativePG's ScheduledBackup reads it"
        )
    return str(schedule)


def cloudnative_pg_objects(settings: dict) -> list[dict]:
    """MLflow's PostgreSQL: the Cluster (block storage, initdb database and owner from the
    credentials Secret, barman backups to the S3 endpoint) and its ScheduledBackup."""
    instances = int(settings["instances"])
    if instances < 1:
        raise ValueError(f"instances must be at least 1 (got {instances})")
    name, namespace = settings["cluster_name"], settings["namespace"]
    spec = {
        "instances": instances,
        "storage": {"storageClass": settings["storage_class"], "size": str(settings["storage_size"])},
        "bootstrap": {
            "initdb": {
                "database": settings["database"],
                "owner": settings["owner"],
                "secret": {"name": settings["credentials_secret"]},
            }
        },
    }
    if settings.get("image"):
        spec["imageName"] = settings["image"]
    objects = [{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": _meta(name, namespace)}]
    objects[0]["spec"] = spec
    backup = settings.get("backup") or {}
    if backup.get("enabled"):
        s3_location(backup["endpoint"])  # an http(s) URL with a host, or a clear error
        path = str(backup.get("path") or name).strip("/")
        spec["backup"] = {
            "retentionPolicy": str(backup["retention"]),
            "barmanObjectStore": {
                "destinationPath": f"s3://{backup['bucket']}/{path}",
                "endpointURL": backup["endpoint"],
                "s3Credentials": {
                    "accessKeyId": {"name": backup["secret"], "key": BACKUP_ACCESS_KEY},
                    "secretAccessKey": {"name": backup["secret"], "key": BACKUP_SECRET_KEY},
                },
                "wal": {"compression": "gzip"},
                "data": {"compression": "gzip"},
            },
        }
        objects.append(
            {
                "apiVersion": "postgresql.cnpg.io/v1",
                "kind": "ScheduledBackup",
                "metadata": _meta(name, namespace),
                "spec": {
                    "schedule": _cnpg_schedule(backup["schedule"]),
                    "cluster": {"name": name},
                    "method": "barmanObjectStore",
                    "backupOwnerReference": "self",
                    "immediate": True,
                },
            }
        )
    return objects


def cloudnative_pg_secrets(settings: dict) -> list[dict]:
    """The owner's credentials (basic-auth, read by initdb and by MLflow) and the backup S3 keys."""
    namespace = settings["namespace"]
    if not settings.get("password"):
        raise ValueError("the database owner's password is empty (mlflow_db_password)")
    secrets = [
        _secret(
            settings["credentials_secret"],
            namespace,
            {"username": settings["owner"], "password": str(settings["password"])},
            kind=BASIC_AUTH,
        )
    ]
    backup = settings.get("backup") or {}
    if backup.get("enabled"):
        if not backup.get("access_key") or not backup.get("secret_key"):
            raise ValueError("backups are enabled but their S3 access key or secret key is empty")
        secrets.append(
            _secret(
                backup["secret"],
                namespace,
                {BACKUP_ACCESS_KEY: str(backup["access_key"]), BACKUP_SECRET_KEY: str(backup["secret_key"])},
            )
        )
    return secrets


def _cluster_service(host: str) -> tuple[str, str] | None:
    """(service, namespace) when a host is an in-cluster Service name <service>.<namespace>.svc[.<domain>]."""
    labels = host.split(".")
    if len(labels) >= 3 and labels[2] == "svc":
        return labels[0], labels[1]
    return None


def mlflow_server(uri: str, name: str, namespace: str, port: int, extra_hosts: list | None = None) -> dict:
    """The tracking server's Service as platform_mlflow_tracking_uri names it, and the Host headers
    MLflow accepts (its own check refuses any name it was not given).

    When the URI is an in-cluster Service URL (<service>.<namespace>.svc...) the role's Service must
    be that one, on that port; any other URI (an ingress, a load balancer address) reaches the
    server through something in front of the Service, so only its host is added to the accepted ones."""
    parts = urlsplit(str(uri))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"platform_mlflow_tracking_uri {uri!r} is not an http(s) URL with a host")
    uri_port = parts.port or _DEFAULT_PORTS[parts.scheme]
    named = _cluster_service(parts.hostname)
    port = int(port)
    if named is not None and (named != (name, namespace) or uri_port != port):
        raise ValueError(
            f"platform_mlflow_tracking_uri {uri} names Service {named[0]} in namespace {named[1]} on port "
            f"{uri_port}, but the mlflow role serves Service {name} in namespace {namespace} on port {port} "
            "(mlflow_service_name, mlflow_namespace, mlflow_service_port): make them agree"
        )
    hosts = []
    for host in (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"):
        hosts += [host, f"{host}:{port}"]
    if named is None:
        hosts += [parts.hostname, parts.netloc]
    hosts += [str(host) for host in extra_hosts or []]
    return {
        "name": name,
        "namespace": namespace,
        "port": port,
        "in_cluster": named is not None,
        "allowed_hosts": list(dict.fromkeys(hosts)),
    }


def pod_host_patterns(cidr: str, port: int) -> list[str]:
    """Patterns in MLflow's allowed-hosts syntax for the Host header `<pod IP>:<port>` of any address
    in an IPv4 pod CIDR: what Prometheus sends when it scrapes a pod by its address.

    MLflow matches a pattern with fnmatch only when it holds a `*` (anything else must be equal), so
    the octets the prefix fixes are written out, a partly fixed octet is listed value by value and
    the rest is `*`, with the port: narrower than MLflow's own default (`10.*` and the other private
    ranges, any port)."""
    try:
        network = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError as exc:
        raise ValueError(f"pod CIDR {cidr!r} is not a network address: {exc}") from exc
    if network.version != 4:
        raise ValueError(f"pod CIDR {cidr} is not IPv4: pod address patterns are written for IPv4 only")
    port = int(port)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is outside 1-65535")
    if network.prefixlen == 32:
        return [f"{network.network_address}:{port}"]
    if network.prefixlen < 8:
        raise ValueError(f"pod CIDR {cidr} is wider than /8")
    octets = str(network.network_address).split(".")
    fixed, spare_bits = divmod(network.prefixlen, 8)
    if not spare_bits:
        return [".".join(octets[:fixed]) + f".*:{port}"]
    first = int(octets[fixed])
    rest = ".*" if fixed < 3 else ""
    return [".".join([*octets[:fixed], str(first + step)]) + f"{rest}:{port}" for step in range(2 ** (8 - spare_bits))]


def mlflow_secrets(teams: list, settings: dict) -> list[dict]:
    """The server's own S3 keys in its namespace, and per team namespace the client Secret its
    Workflows read (tracking URI, S3 endpoint, the team's own S3 keys, never another team's)."""
    if not settings.get("s3_access_key") or not settings.get("s3_secret_key"):
        raise ValueError("the tracking server's S3 keys are empty (mlflow_s3_access_key, mlflow_s3_secret_key)")
    s3_location(settings["s3_endpoint"])
    secrets = [
        _secret(
            settings["s3_secret"],
            settings["namespace"],
            {
                "AWS_ACCESS_KEY_ID": str(settings["s3_access_key"]),
                "AWS_SECRET_ACCESS_KEY": str(settings["s3_secret_key"]),
            },
        )
    ]
    for team in sorted(teams, key=lambda t: t["namespace"]):
        access, secret = team_s3_keys(team)
        secrets.append(
            _secret(
                settings["client_secret"],
                team["namespace"],
                {
                    "MLFLOW_TRACKING_URI": settings["tracking_uri"],
                    "MLFLOW_S3_ENDPOINT_URL": settings["s3_endpoint"],
                    "AWS_ACCESS_KEY_ID": str(access),
                    "AWS_SECRET_ACCESS_KEY": str(secret),
                },
                {"baremetal.mlops/team": team["name"]},
            )
        )
    return secrets


# --- cert-manager ------------------------------------------------------------

CERT_MANAGER_API = "cert-manager.io/v1"
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
# Go's time.ParseDuration units: what cert-manager accepts for duration and renewBefore.
_GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


# Key sizes cert-manager accepts per algorithm (Ed25519 has one size and ignores the field).
CA_KEY_SIZES = {"RSA": range(2048, 8193), "ECDSA": (256, 384, 521), "Ed25519": None}
CA_KEY_SIZES_TEXT = {"RSA": "2048 to 8192", "ECDSA": "256, 384 or 521"}


def go_duration_seconds(value: str, name: str) -> float:
    """Seconds of a Go duration such as `87600h` or `1h30m`; ValueError naming `name` otherwise."""
    text = str(value)
    if not _GO_DURATION.match(text):
        raise ValueError(f"{name}: {text!r} is not a duration cert-manager reads (Go syntax, e.g. 87600h or 720h)")
    return sum(float(n) * _GO_UNITS[unit] for n, unit in re.findall(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)", text))


def _acme_issuer(acme: dict, labels: dict) -> dict:
    """The ACME ClusterIssuer: an account on `server`, HTTP-01 answered through an HTTPRoute on the edge Gateway."""
    email = str(acme.get("email") or "")
    if not email:
        raise ValueError(
            "platform_inference_public is true, so the edge's certificates come from ACME, but cert_manager_acme_email "
            "is empty: ACME CAs (Let's Encrypt) register an account with an email for expiry and revocation notices"
        )
    if "@" not in email.strip("@"):
        raise ValueError(f"cert_manager_acme_email: {email!r} is not an email address")
    server = urlsplit(str(acme.get("server") or ""))
    if server.scheme != "https" or not server.hostname:
        raise ValueError(f"cert_manager_acme_server: {acme.get('server')!r} is not an https URL of an ACME directory")
    if not acme.get("gateway_name") or not acme.get("gateway_namespace"):
        raise ValueError(
            "cert_manager_acme_gateway_name and cert_manager_acme_gateway_namespace must name the edge Gateway "
            "that routes the HTTP-01 challenges"
        )
    parent = {
        "group": GATEWAY_API_GROUP,
        "kind": "Gateway",
        "name": acme["gateway_name"],
        "namespace": acme["gateway_namespace"],
    }
    if acme.get("gateway_listener"):
        parent["sectionName"] = acme["gateway_listener"]
    return {
        "apiVersion": CERT_MANAGER_API,
        "kind": "ClusterIssuer",
        "metadata": _meta(acme["issuer"], labels=labels),
        "spec": {
            "acme": {
                "server": acme["server"],
                "email": email,
                "privateKeySecretRef": {"name": acme["account_secret"]},
                "solvers": [{"http01": {"gatewayHTTPRoute": {"parentRefs": [parent]}}}],
            }
        },
    }


def cert_manager_issuers(settings: dict) -> list[dict]:
    """The issuers of the serving edge.

    Always the internal CA: a self-signed bootstrap ClusterIssuer, the CA Certificate (isCA) it signs in
    cert-manager's namespace (a ClusterIssuer reads its Secret there) and the CA ClusterIssuer backed by
    that Secret. With `public` also an ACME ClusterIssuer whose HTTP-01 challenges are routed by the
    edge Gateway.
    """
    labels = {"app.kubernetes.io/part-of": "serving-edge"}
    ca = settings["ca"]
    duration = go_duration_seconds(ca["duration"], "cert_manager_ca_duration")
    renew = go_duration_seconds(ca["renew_before"], "cert_manager_ca_renew_before")
    if renew >= duration:
        raise ValueError(
            f"cert_manager_ca_renew_before ({ca['renew_before']}) must be shorter than cert_manager_ca_duration "
            f"({ca['duration']}), or the CA would be renewed forever"
        )
    algorithm, size = ca["key_algorithm"], int(ca["key_size"])
    if algorithm not in CA_KEY_SIZES:
        raise ValueError(f"cert_manager_ca_key_algorithm: {algorithm!r} is not one of {sorted(CA_KEY_SIZES)}")
    if CA_KEY_SIZES[algorithm] and size not in CA_KEY_SIZES[algorithm]:
        raise ValueError(f"cert_manager_ca_key_size: {size} does not fit {algorithm} ({CA_KEY_SIZES_TEXT[algorithm]})")
    names = [settings["selfsigned_issuer"], ca["issuer"]] + ([settings["acme"]["issuer"]] if settings["public"] else [])
    if len(set(names)) != len(names):
        raise ValueError(f"the ClusterIssuer names must differ (got {names})")
    objects = [
        {
            "apiVersion": CERT_MANAGER_API,
            "kind": "ClusterIssuer",
            "metadata": _meta(settings["selfsigned_issuer"], labels=labels),
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": CERT_MANAGER_API,
            "kind": "Certificate",
            "metadata": _meta(ca["certificate"], settings["namespace"], labels),
            "spec": {
                "isCA": True,
                "commonName": ca["common_name"],
                "secretName": ca["secret"],
                "duration": str(ca["duration"]),
                "renewBefore": str(ca["renew_before"]),
                "privateKey": {"algorithm": algorithm, "size": size},
                "issuerRef": {
                    "group": "cert-manager.io",
                    "kind": "ClusterIssuer",
                    "name": settings["selfsigned_issuer"],
                },
            },
        },
        {
            "apiVersion": CERT_MANAGER_API,
            "kind": "ClusterIssuer",
            "metadata": _meta(ca["issuer"], labels=labels),
            "spec": {"ca": {"secretName": ca["secret"]}},
        },
    ]
    if settings["public"]:
        objects.append(_acme_issuer(settings["acme"], labels))
    return objects


def cert_manager_edge_issuer(settings: dict) -> str:
    """The ClusterIssuer the edge's certificates name: ACME for a public endpoint, else the internal CA."""
    return settings["acme"]["issuer"] if settings["public"] else settings["ca"]["issuer"]


def webhook_policy_patches(configurations: list, policy: str) -> list[dict]:
    """JSON patches that set every webhook of these (Validating|Mutating)WebhookConfigurations to `policy`.

    One `{name, patch}` per configuration that has a webhook with another failurePolicy; none when all agree.
    """
    if policy not in ("Fail", "Ignore"):
        raise ValueError(f"failure policy {policy!r} is neither Fail nor Ignore")
    patches = []
    for configuration in configurations or []:
        ops = [
            {"op": "replace", "path": f"/webhooks/{index}/failurePolicy", "value": policy}
            for index, webhook in enumerate(configuration.get("webhooks") or [])
            if webhook.get("failurePolicy", "Fail") != policy
        ]
        if ops:
            patches.append({"name": configuration["metadata"]["name"], "patch": ops})
    return patches
