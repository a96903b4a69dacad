# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build the cluster roles' objects and chart settings from the inventory contract."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.baremetal.mlops.plugins.plugin_utils import platform_objects as objects
from ansible_collections.baremetal.mlops.plugins.plugin_utils.release_render import plain


def _call(function, *args):
    try:
        return function(*(plain(arg) for arg in args))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"{function.__name__}: {exc}") from exc


def metallb_objects(mode, pools, local_asn, peers, namespace):
    """IPAddressPools plus the L2Advertisement, or BGPPeers and a BGPAdvertisement."""
    return _call(objects.metallb_objects, mode, pools, local_asn, peers, namespace)


def metallb_secrets(mode, peers, namespace):
    """The BGP peers' password Secrets (bgp mode)."""
    return _call(objects.metallb_secrets, mode, peers, namespace)


def cilium_team_policies(teams, ingress_namespaces, egress_services):
    """One CiliumNetworkPolicy per team namespace."""
    return _call(objects.cilium_team_policies, teams, ingress_namespaces, egress_services)


def taint_tolerations(taint):
    """The toleration of a taint such as the contract's gpu_node_taint (none when it is not set)."""
    return _call(objects.taint_tolerations, taint)


def gpu_mig_parted_config(classes, custom):
    """The mig-parted config.yaml holding every layout the GPU classes name."""
    return _call(objects.mig_parted_config, classes, custom or {})


def gpu_mig_strategy(classes, custom):
    """`mixed` when a class uses MIG, else `none`."""
    return _call(objects.mig_strategy, classes, custom or {})


def gpu_device_plugin_config(classes, custom):
    """Device plugin configurations: default and one per time-sliced class."""
    return _call(objects.device_plugin_config, classes, custom or {})


def gpu_node_labels(classes, nodes, custom):
    """Label sets per GPU class (MIG layout, device plugin config, driver owner) with their nodes."""
    return _call(objects.gpu_node_labels, classes, nodes, custom or {})


def gpu_driver_enabled(classes):
    """Whether the GPU Operator deploys its driver (some class leaves the driver to it)."""
    return _call(objects.driver_enabled, classes)


def gpu_mig_in_use(classes):
    """Whether any class's GPU product has MIG."""
    return _call(objects.mig_in_use, classes)


def tenancy_objects(teams, classes, custom, default_quota, policy_name):
    """Namespaces, RBAC, GPU quotas and the GPU placement policy of every team."""
    return _call(objects.tenancy_objects, teams, classes, custom or {}, default_quota, policy_name)


def argo_workflows_objects(teams, classes, custom, taint, settings):
    """Per team namespace: the default artifact repository and the train-register WorkflowTemplate."""
    return _call(objects.argo_workflows_objects, teams, classes, custom or {}, taint or None, settings)


def argo_workflows_secrets(teams, settings):
    """Per team namespace: the Secret with the team's S3 keys for its artifact repository."""
    return _call(objects.argo_workflows_secrets, teams, settings)


def cloudnative_pg_objects(settings):
    """MLflow's PostgreSQL Cluster and its ScheduledBackup."""
    return _call(objects.cloudnative_pg_objects, settings)


def cloudnative_pg_secrets(settings):
    """The database owner's basic-auth Secret and the backup S3 keys."""
    return _call(objects.cloudnative_pg_secrets, settings)


def mlflow_server(uri, name, namespace, port, extra_hosts=None):
    """The tracking server's Service checked against platform_mlflow_tracking_uri, and its accepted Host headers."""
    return _call(objects.mlflow_server, uri, name, namespace, port, extra_hosts or [])


def pod_host_patterns(cidr, port):
    """Host header patterns (fnmatch) for `<pod IP>:<port>` of any address in an IPv4 pod CIDR."""
    return _call(objects.pod_host_patterns, cidr, port)


def mlflow_secrets(teams, settings):
    """The server's S3 keys and each team namespace's MLflow client Secret."""
    return _call(objects.mlflow_secrets, teams, settings)


def cert_manager_issuers(settings):
    """The serving edge's issuers: the internal CA (bootstrap, CA Certificate, CA issuer), ACME when public."""
    return _call(objects.cert_manager_issuers, settings)


def cert_manager_edge_issuer(settings):
    """The ClusterIssuer the edge's certificates name."""
    return _call(objects.cert_manager_edge_issuer, settings)


def webhook_policy_patches(configurations, policy):
    """JSON patches giving every webhook of these webhook configurations the failure policy `policy`."""
    return _call(objects.webhook_policy_patches, configurations, policy)


class FilterModule:
    def filters(self):
        return {
            "metallb_objects": metallb_objects,
            "metallb_secrets": metallb_secrets,
            "cilium_team_policies": cilium_team_policies,
            "gpu_mig_parted_config": gpu_mig_parted_config,
            "gpu_mig_strategy": gpu_mig_strategy,
            "gpu_device_plugin_config": gpu_device_plugin_config,
            "gpu_node_labels": gpu_node_labels,
            "gpu_driver_enabled": gpu_driver_enabled,
            "gpu_mig_in_use": gpu_mig_in_use,
            "tenancy_objects": tenancy_objects,
            "taint_tolerations": taint_tolerations,
            "argo_workflows_objects": argo_workflows_objects,
            "argo_workflows_secrets": argo_workflows_secrets,
            "cloudnative_pg_objects": cloudnative_pg_objects,
            "cloudnative_pg_secrets": cloudnative_pg_secrets,
            "mlflow_server": mlflow_server,
            "mlflow_secrets": mlflow_secrets,
            "pod_host_patterns": pod_host_patterns,
            "cert_manager_issuers": cert_manager_issuers,
            "cert_manager_edge_issuer": cert_manager_edge_issuer,
            "webhook_policy_patches": webhook_policy_patches,
        }
