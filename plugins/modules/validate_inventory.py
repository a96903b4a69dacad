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
    MetalLB pools, BGP, GPU node classes, teams, buckets, chart repositories,
    secrets) and every host's address, groups and GPU class, and checks them
    together on the controller.
  - Collects every problem and fails once, with one line per problem naming
    the variable, the value and what is expected. Secret values are never
    shown.
  - Checks include overlapping pod, service and node networks and MetalLB
    pools; pools outside the node network or holding a host address or the
    API VIP; duplicate host addresses and node names; AS numbers out of range
    and BGP peers off the node network; MIG asked of a GPU without MIG, MIG
    together with time-slicing, unknown MIG configurations; GPU nodes whose
    class is undefined; teams, namespaces and buckets defined twice; missing
    secrets; a Kubernetes version outside the compatibility matrix in the
    collection's versions.yml.
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
"""
