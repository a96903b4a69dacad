# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kubeadm_bootstrap_token module end to end, with the API client replaced by an in-memory one."""

from __future__ import annotations

import hashlib
from unittest import mock

from ansible_collections.baremetal.mlops.plugins.modules import kubeadm_bootstrap_token as module
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.kubeadm_utils import FakeTokenClient, make_ca
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.utils import run_module


def run(client, args, check_mode=False, diff=False):
    with mock.patch.object(module, "TokenClient", return_value=client):
        return run_module(module.main, args, check_mode=check_mode, diff=diff)


def test_present_returns_token_and_hash():
    pem, spki = make_ca()
    client = FakeTokenClient(kubeconfig_ca=pem)
    result, failed = run(client, {"description": "join", "kubeconfig": "/dev/null"})
    assert not failed, result
    assert result["changed"] is True
    assert result["token"].startswith(result["token_id"] + ".")
    assert result["discovery_token_ca_cert_hash"] == "sha256:" + hashlib.sha256(spki).hexdigest()
    assert result["ca_cert_source"] == "kubeconfig"
    assert "diff" not in result
    again, _failed = run(client, {"description": "join"})
    assert again["changed"] is False and again["token"] == result["token"]


def test_diff_mode_shows_the_token_without_its_secret():
    pem, _spki = make_ca()
    result, failed = run(FakeTokenClient(kubeconfig_ca=pem), {"description": "join"}, diff=True)
    assert not failed
    assert result["diff"]["after"]["token"]["id"] == result["token_id"]
    assert result["token"].split(".")[1] not in repr(result["diff"])


def test_check_mode_changes_nothing():
    pem, _spki = make_ca()
    client = FakeTokenClient(kubeconfig_ca=pem)
    result, failed = run(client, {"description": "join"}, check_mode=True)
    assert not failed
    assert result["changed"] is True and result["token"] is None and client.writes == []


def test_absent():
    client = FakeTokenClient(kubeconfig_ca=make_ca()[0])
    created, _failed = run(client, {"description": "join"})
    assert created["changed"] is True
    result, failed = run(client, {"description": "join", "state": "absent"})
    assert not failed
    assert result["changed"] is True and len(result["deleted"]) == 1
    assert "discovery_token_ca_cert_hash" not in result


def test_domain_errors_fail_with_the_message():
    result, failed = run(FakeTokenClient(), {"description": "join", "ttl": "forever"})
    assert failed
    assert result["msg"] == "ttl must be a duration such as 24h, 1h30m or 3600s, got 'forever'"


def test_missing_kubernetes_library_is_reported(monkeypatch):
    from ansible_collections.baremetal.mlops.plugins.module_utils import kubeadm_token

    monkeypatch.setattr(kubeadm_token, "HAS_KUBERNETES", False)
    result, failed = run_module(module.main, {"description": "join"})
    assert failed
    assert "kubernetes" in result["msg"] and "Python" in result["msg"]
