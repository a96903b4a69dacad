#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: validate_inventory
short_description: Check the whole inventory contract before any host changes
version_added: 0.1.0
author: baremetal.mlops maintainers (@baremetal-mlops)
description:
  - Reads the contract variables of the inventory (networks, API endpoint,
    MetalLB pools, BGP, GPU node classes, teams, buckets, GitOps delivery,
    the facts the cluster layers share, chart repositories, secrets) and
    every host's address, groups and GPU class, and checks them together on
    the controller.
  - Collects every problem and fails once, with one line per problem naming
    the variable, the value and what is expected. Secret values are never
    shown.
  - Checks include overlapping pod, service and node networks and MetalLB
    pools; pools outside the node network or holding a host address or the
    API VIP; duplicate host addresses and node names, node names kubeadm
    would refuse, node addresses that are no IP address; AS numbers out of range
    and BGP peers off the node network; MIG asked of a GPU without MIG, MIG
    together with time-slicing, unknown MIG configurations; GPU nodes whose
    class is undefined; a C(gpu_node_taint) (required when there are
    C(gpu_nodes)) whose key is no qualified name, whose value is no label
    value or whose effect is not NoSchedule, PreferNoSchedule or NoExecute;
    teams, namespaces and buckets defined twice; team GPU
    quotas that are no map of GPU resource to count, team groups that are no
    name; missing secrets; a Kubernetes version outside the compatibility matrix
    in the collection's versions.yml; a C(platform_chart_versions) key that is
    no chart of the selected release.
  - The cluster layers' shared facts are checked too. C(platform_kube_proxy_replacement)
    must be a boolean, C(platform_edge_namespace) a DNS-1123 label that is no team's namespace,
    C(platform_edge_enabled) (optional, default true) a boolean that needs kube-proxy replacement,
    C(platform_gateway_api_url) (optional) an http(s) or file URL,
    C(platform_storage_class) the class the longhorn role creates (C(longhorn)) and
    C(platform_storage_replicas) an integer from 1 to the number of C(storage_nodes).
    C(platform_s3_endpoint) and C(platform_mlflow_tracking_uri) must be http(s) URLs.
    With C(platform_delivery=gitops), C(platform_gitops_dir) and a Git URL in
    C(platform_gitops_repo_url) are required; C(platform_gitops_revision),
    C(platform_gitops_path) (relative to the repository root) and C(platform_argocd_namespace)
    (a DNS-1123 label) are checked wherever they are set.
  - Every host's C(ansible_host), C(node_ip), C(node_name) and C(gpu_node_class)
    are exactly C(hostvars[host][variable]), the values later plays see, from
    wherever Ansible takes them (inline, group and host variables of any
    inventory plugin, group_vars and host_vars next to the inventory and to the
    playbook, vars plugins, facts, extra vars), templated with the host's own
    variables. The group-level part of that merge is computed once per set of
    groups, which brings 2,000 hosts to a fraction of a second.
  - A node's name and address follow the one definition the kubeadm role uses
    (filter P(baremetal.mlops.node_identity#filter)), name C(node_name), else
    C(inventory_hostname) in lower case; address C(node_ip), else C(ansible_host)
    when it is an IP address. Names are checked for every cluster host, with
    or without an address.
  - This is an action plugin; it runs on the controller only and changes
    nothing.
options:
  required_charts:
    description:
      - Chart names that O(ignore:platform_chart_repositories) must map to a repository.
    type: list
    elements: str
    default: []
  required_secrets:
    description:
      - Names of variables that must hold a non-empty secret (normally from an Ansible Vault file).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  platform:
    support: full
    platforms: all
    description: Runs on the controller.
notes:
  - The contract variables are documented in the collection's C(docs/inventory.md).
  - With the environment variable E(BAREMETAL_MLOPS_PREFLIGHT_FULL_MERGE=1) every host is read through
    C(hostvars) itself (Ansible's whole per-host merge, about a millisecond per host). The result is the same;
    the tests use it to prove that. Under an ansible-core release whose variable merge the collection has not
    reviewed, the action reads C(hostvars) that way by itself.
"""

EXAMPLES = r"""
- name: Validate the inventory contract
  baremetal.mlops.validate_inventory:
    required_charts: [cilium, metallb, longhorn]
    required_secrets: [minio_root_password, mlflow_db_password]
"""

RETURN = r"""
problems:
  description: One line per problem; empty when the contract holds.
  returned: always
  type: list
  elements: str
  sample:
    - >-
      platform_pod_cidr: '10.96.0.0/16' overlaps platform_service_cidr
      '10.96.0.0/12'; expected the node, pod and service networks to be disjoint
hosts_checked:
  description: How many inventory hosts were checked.
  returned: always
  type: int
  sample: 12
host_variables:
  description:
    - How the hosts' variables were read, both giving C(hostvars[host][variable]). V(shared) computes the
      group-level merge once per set of groups; V(full) asks C(hostvars) for every host (forced by
      E(BAREMETAL_MLOPS_PREFLIGHT_FULL_MERGE=1), or under an ansible-core release not reviewed for V(shared)).
  returned: always
  type: str
  choices: [shared, full]
  sample: shared
"""
