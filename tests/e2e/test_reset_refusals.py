"""playbooks/reset.yml refuses before it reads anything: unknown layers, a phrase for other layers, GitOps.

Run against inventories/example, whose cluster and hosts do not exist: a
refusal that came later than promised would fail on the unreachable API or
hosts instead, with another message.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def reset(playbook, vault_password, *extra: str):
    return playbook(
        "playbooks/reset.yml",
        "-i",
        "inventories/example",
        "--vault-password-file",
        vault_password,
        *extra,
        env={"K8S_AUTH_KUBECONFIG": "/nonexistent/kubeconfig"},
    )


def test_a_phrase_confirmed_for_one_layer_does_not_reset_all(playbook, vault_password):
    result = reset(
        playbook, vault_password, "-e", "platform_reset_layers=all", "-e", "platform_reset_confirm=reset-gpu"
    )
    assert result.returncode != 0
    assert (
        "platform_reset_confirm is reset-gpu, which does not confirm a reset of observability, orchestration, "
        "tracking, serving, gpu, storage, networking, compute (that needs reset-all)"
    ) in " ".join(result.stdout.split())
    assert "cannot reach the Kubernetes API" not in result.stdout


def test_unknown_layers_and_all_with_others_are_refused(playbook, vault_password):
    unknown = reset(playbook, vault_password, "-e", "platform_reset_layers=serving,gpus")
    assert unknown.returncode != 0
    assert "unknown: gpus" in unknown.stdout
    mixed = reset(playbook, vault_password, "-e", "platform_reset_layers=all,serving")
    assert mixed.returncode != 0
    assert "or be `all` alone (got all,serving)" in " ".join(mixed.stdout.split())


def test_cluster_layers_in_gitops_delivery_are_refused_with_the_folders_to_remove(playbook, vault_password):
    result = reset(
        playbook,
        vault_password,
        "-e",
        "platform_reset_layers=networking",
        "-e",
        "platform_delivery=gitops",
        "-e",
        "platform_gitops_dir=/srv/platform-tree",
    )
    assert result.returncode != 0
    text = " ".join(result.stdout.split())
    assert "platform_delivery is gitops" in text
    assert "apps/tenancy, layers/tenancy, site/tenancy, apps/networking, layers/networking, site/networking" in text
    assert "under /srv/platform-tree" in text
