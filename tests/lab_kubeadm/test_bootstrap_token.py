"""kubeadm_bootstrap_token against the lab's real API server, cross-checked with the real kubeadm.

The module runs as Ansible runs it on a host: its own process, arguments in a
JSON file. Each test uses its own token description and deletes its tokens.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]

MODULE = "ansible_collections.baremetal.mlops.plugins.modules.kubeadm_bootstrap_token"
TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")


def run_module(tmp_path, args: dict, check_mode: bool = False) -> dict:
    path = tmp_path / f"args-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode}}))
    env = {"PYTHONPATH": str(ROOT / "collections"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", MODULE, str(path)], capture_output=True, text=True, env=env)
    out = json.loads(result.stdout)
    assert not out.get("failed"), out
    return out


def kubeadm_tokens(lab) -> dict:
    """kubeadm token list, by token id."""
    out = lab.run("kubeadm", "token", "list", "-o", "json").stdout
    decoder, tokens, pos = json.JSONDecoder(), {}, 0
    # one JSON object per token, concatenated
    while pos < len(out.strip()):
        obj, end = decoder.raw_decode(out, pos)
        tokens[obj["token"].split(".")[0]] = obj
        pos = end
        while pos < len(out) and out[pos].isspace():
            pos += 1
    return tokens


@pytest.fixture
def description(kubeadm_lab):
    text = f"baremetal.mlops test {uuid.uuid4().hex[:8]}"
    yield text
    for token_id, token in kubeadm_tokens(kubeadm_lab).items():
        if token.get("description") == text:
            kubeadm_lab.run("kubeadm", "token", "delete", token_id, check=False)


def test_token_lifecycle_seen_by_kubeadm(kubeadm_lab, description, tmp_path):
    started = time.monotonic()
    args = {"kubeconfig": str(kubeadm_lab.kubeconfig), "description": description, "ttl": "2h"}

    check = run_module(tmp_path, args, check_mode=True)
    assert check["changed"] is True and check["token"] is None
    assert description not in {t.get("description") for t in kubeadm_tokens(kubeadm_lab).values()}

    created = run_module(tmp_path, args)
    assert created["changed"] is True
    assert TOKEN_RE.match(created["token"])
    seen = kubeadm_tokens(kubeadm_lab)[created["token_id"]]
    assert seen["token"] == created["token"]
    assert seen["description"] == description
    assert sorted(seen["usages"]) == ["authentication", "signing"]
    assert seen["groups"] == ["system:bootstrappers:kubeadm:default-node-token"]

    again = run_module(tmp_path, args)
    assert again["changed"] is False and again["token"] == created["token"]
    check_again = run_module(tmp_path, args, check_mode=True)
    assert check_again["changed"] is False and check_again["token"] == created["token"]

    absent = {"kubeconfig": str(kubeadm_lab.kubeconfig), "description": description, "state": "absent"}
    predicted = run_module(tmp_path, absent, check_mode=True)
    assert predicted["changed"] is True and predicted["deleted"] == [created["token_id"]]
    assert created["token_id"] in kubeadm_tokens(kubeadm_lab)
    deleted = run_module(tmp_path, absent)
    assert deleted["deleted"] == [created["token_id"]]
    assert created["token_id"] not in kubeadm_tokens(kubeadm_lab)
    assert run_module(tmp_path, absent)["changed"] is False
    print(f"token lifecycle against the lab: {time.monotonic() - started:.1f} s")


def test_discovery_hash_matches_kubeadm(kubeadm_lab, description, tmp_path):
    join = kubeadm_lab.run(
        "kubeadm", "token", "create", "--print-join-command", "--ttl=10m", f"--description={description}"
    ).stdout
    expected = re.search(r"--discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})", join).group(1)
    made_by_kubeadm = re.search(r"--token ([a-z0-9]{6}\.[a-z0-9]{16})", join).group(1)

    # A token kubeadm made with the same description is reused, not duplicated.
    args = {"kubeconfig": str(kubeadm_lab.kubeconfig), "description": description, "renew_before": "1m"}
    result = run_module(tmp_path, args)
    assert result["changed"] is False
    assert result["token"] == made_by_kubeadm
    assert result["discovery_token_ca_cert_hash"] == expected
    from_file = run_module(tmp_path, {**args, "ca_cert": str(kubeadm_lab.ca_cert)})
    assert from_file["ca_cert_source"] == "ca_cert"
    assert from_file["discovery_token_ca_cert_hash"] == expected
