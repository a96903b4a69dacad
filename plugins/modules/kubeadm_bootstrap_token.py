#!/usr/bin/python
# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: kubeadm_bootstrap_token
short_description: Create, reuse or delete kubeadm bootstrap tokens through the Kubernetes API
version_added: 0.1.0
description:
  - Manages the bootstrap tokens nodes use to join a kubeadm cluster, as Secrets
    C(bootstrap-token-<id>) of type C(bootstrap.kubernetes.io/token) in C(kube-system),
    the objects C(kubeadm token create) writes.
  - With O(state=present), a token with the same O(description), usages and groups that stays
    valid for longer than O(renew_before) is reused; otherwise a new one is created. A re-run
    therefore changes nothing while the token lasts.
  - Returns the discovery hash joining nodes pin (C(--discovery-token-ca-cert-hash)), the SHA-256
    of the cluster CA's SubjectPublicKeyInfo, read from O(ca_cert), else the C(kube-public/cluster-info)
    ConfigMap, else the CA the kubeconfig trusts.
  - Runs where the kubeconfig and the C(kubernetes) Python library are, usually the controller.
author:
  - baremetal.mlops maintainers (@baremetal-mlops)
requirements:
  - kubernetes (Python library)
  - cryptography (Python library)
  - PyYAML
attributes:
  check_mode:
    support: full
    description: Reports whether a token would be created or deleted; a token that would be created is not returned.
  diff_mode:
    support: full
    description: Shows the token's id, description, expiry, usages and groups before and after; never its secret.
options:
  kubeconfig:
    description:
      - Path of a kubeconfig with the right to manage Secrets in C(kube-system) (the admin kubeconfig).
      - If not set, E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG), then C(~/.kube/config).
    type: path
  context:
    description: Context of O(kubeconfig) to use; its current context if not set.
    type: str
  state:
    description: V(present) returns a valid token, creating one if none is reusable; V(absent) deletes tokens.
    type: str
    choices: [present, absent]
    default: present
  description:
    description:
      - What the token is for; the key by which a later run finds it to reuse. Required with O(state=present).
      - With O(state=absent), deletes every token with this description.
    type: str
  token_id:
    description:
      - The token's public id (6 lowercase letters or digits).
      - With O(state=present), reuse only this token or create it with this id.
      - With O(state=absent), delete this token.
    type: str
  ttl:
    description:
      - How long a new token is valid, as C(24h), C(1h30m), C(90m) or seconds. V(0) means it never expires.
    type: str
    default: 24h
  renew_before:
    description: A token that expires within this duration is not reused; a new one is created.
    type: str
    default: 1h
  usages:
    description: What the token may be used for.
    type: list
    elements: str
    choices: [authentication, signing]
    default: [authentication, signing]
  groups:
    description: Extra groups the token authenticates as; each starts with C(system:bootstrappers:).
    type: list
    elements: str
    default: [system:bootstrappers:kubeadm:default-node-token]
  ca_cert:
    description: Path of the cluster CA certificate (PEM) to compute the discovery hash from, instead of the API.
    type: path
notes:
  - Register the result with C(no_log) on every task that sees it, since RV(token) is a credential.
  - The certificate key for joining control planes is a separate secret, made by C(kubeadm certs certificate-key)
    and uploaded with C(kubeadm init phase upload-certs); the role P(baremetal.mlops.kubeadm#role) does both.
seealso:
  - name: Bootstrap tokens
    description: The Secret format this module writes.
    link: https://kubernetes.io/docs/reference/access-authn-authz/bootstrap-tokens/
"""

EXAMPLES = r"""
- name: A token for the nodes that join today
  baremetal.mlops.kubeadm_bootstrap_token:
    kubeconfig: "{{ kubeadm_admin_kubeconfig_local }}"
    description: baremetal.mlops join
    ttl: 2h
  delegate_to: localhost
  register: join_token
  no_log: true

- name: Join a worker with it
  ansible.builtin.command:
    argv:
      - kubeadm
      - join
      - 10.0.0.10:6443
      - --token={{ join_token.token }}
      - --discovery-token-ca-cert-hash={{ join_token.discovery_token_ca_cert_hash }}
  no_log: true

- name: Revoke it once every node has joined
  baremetal.mlops.kubeadm_bootstrap_token:
    description: baremetal.mlops join
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
token:
  description:
    - The token, C(<id>.<secret>). Null with O(state=absent), and in check mode when a token would be created.
  returned: always
  type: str
  sample: abcdef.0123456789abcdef
token_id:
  description: The token's public id; null with O(state=absent), and in check mode when a token would be created.
  returned: always
  type: str
  sample: abcdef
expiration:
  description: When the token expires (RFC 3339, UTC); null when it never does.
  returned: when O(state=present)
  type: str
  sample: "2026-11-28T13:00:00Z"
description:
  description: The token's description.
  returned: when O(state=present)
  type: str
  sample: baremetal.mlops join
discovery_token_ca_cert_hash:
  description: C(sha256:) and the hex SHA-256 of the cluster CA's SubjectPublicKeyInfo.
  returned: when O(state=present)
  type: str
  sample: sha256:0bd6b0cd1a6a5c84bbab9d11d3dd46d5cb5cc2d9a2d3bb1e2c6a6f7ac1f1a8b1
ca_cert_source:
  description: Where the CA certificate came from, V(ca_cert), V(cluster-info) or V(kubeconfig).
  returned: when O(state=present)
  type: str
  sample: cluster-info
deleted:
  description: Ids of the tokens deleted (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [abcdef]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.baremetal.mlops.plugins.module_utils.kubeadm_token import (
    KubeadmTokenError,
    TokenClient,
    discovery_hash,
    ensure_token,
    token_argument_spec,
)


def run(module):
    params = module.params
    client = TokenClient(params["kubeconfig"], params["context"])
    result = ensure_token(client, params, module.check_mode)
    if params["state"] == "present":
        result["discovery_token_ca_cert_hash"], result["ca_cert_source"] = discovery_hash(client, params["ca_cert"])
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    return result


def main():
    module = AnsibleModule(argument_spec=token_argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except KubeadmTokenError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
