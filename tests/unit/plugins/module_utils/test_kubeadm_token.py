# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions of module_utils/kubeadm_token.py: durations, token Secrets, reuse, discovery hash."""

from __future__ import annotations

import base64
import datetime
import hashlib
import random
import re

import pytest
import yaml

from ansible_collections.baremetal.mlops.plugins.module_utils import kubeadm_token as kt
from ansible_collections.baremetal.mlops.tests.unit.plugins.modules.kubeadm_utils import FakeTokenClient, make_ca

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
GROUPS = ["system:bootstrappers:kubeadm:default-node-token"]


def params(**overrides):
    base = dict(
        state="present",
        description="join",
        token_id=None,
        ttl="24h",
        renew_before="1h",
        usages=["authentication", "signing"],
        groups=list(GROUPS),
        ca_cert=None,
    )
    base.update(overrides)
    return base


def token_secret(token_id="abcdef", secret="0123456789abcdef", description="join", hours=10, groups=None):
    groups = GROUPS if groups is None else groups
    expiration = NOW + datetime.timedelta(hours=hours) if hours is not None else None
    return kt.secret_manifest(token_id, secret, description, expiration, ["authentication", "signing"], groups)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("24h", 86400), ("1h30m", 5400), ("90m", 5400), ("3600s", 3600), ("3600", 3600), ("0", 0)],
)
def test_parse_duration(text, seconds):
    assert kt.parse_duration(text, "ttl") == seconds


@pytest.mark.parametrize("text", ["", "1d", "h", "24 h", "-1h"])
def test_parse_duration_rejects(text):
    with pytest.raises(kt.KubeadmTokenError, match=r"ttl must be a duration such as 24h, 1h30m or 3600s"):
        kt.parse_duration(text, "ttl")


def test_parse_time_accepts_z_and_offset():
    assert kt.parse_time("2026-11-27T12:00:00Z") == NOW
    assert kt.parse_time("2026-11-27T13:00:00+01:00") == NOW
    assert kt.parse_time(None) is None
    with pytest.raises(kt.KubeadmTokenError, match="is not an RFC 3339 time"):
        kt.parse_time("tomorrow")


def test_generate_token_format():
    token_id, secret = kt.generate_token(random.Random(1))
    assert kt.TOKEN_RE.match(f"{token_id}.{secret}")


def test_generate_certificate_key_is_32_bytes_hex():
    key = kt.generate_certificate_key()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key != kt.generate_certificate_key()


def test_secret_manifest_round_trip():
    manifest = token_secret()
    assert manifest["type"] == "bootstrap.kubernetes.io/token"
    assert manifest["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    data = {k: base64.b64decode(v).decode() for k, v in manifest["data"].items()}
    assert data == {
        "token-id": "abcdef",
        "token-secret": "0123456789abcdef",
        "description": "join",
        "expiration": "2026-11-27T22:00:00Z",
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
    }
    token = kt.token_from_secret(manifest)
    assert token["id"] == "abcdef"
    assert token["usages"] == ["authentication", "signing"]
    assert token["expiration"] == NOW + datetime.timedelta(hours=10)


def test_token_from_secret_ignores_malformed():
    assert kt.token_from_secret({"metadata": {"name": "bootstrap-token-x"}, "data": {}}) is None


@pytest.mark.parametrize(
    ("secret", "reused"),
    [
        (token_secret(hours=10), True),
        (token_secret(hours=None), True),
        (token_secret(hours=0.5), False),  # expires within renew_before
        (token_secret(hours=-1), False),  # expired
        (token_secret(description="other"), False),
        (token_secret(groups=["system:bootstrappers:other"]), False),
    ],
)
def test_reuse_rules(secret, reused):
    token = kt.token_from_secret(secret)
    assert kt.reusable(token, "join", ["authentication", "signing"], GROUPS, NOW, 3600) is reused


def test_pick_token_prefers_longest_lived():
    tokens = [kt.token_from_secret(token_secret("aaaaaa", hours=5)), kt.token_from_secret(token_secret("bbbbbb"))]
    assert kt.pick_token(tokens, "join", ["authentication", "signing"], GROUPS, NOW, 3600)["id"] == "bbbbbb"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(description=None), "description is required with state=present"),
        (dict(state="absent", description=None), "state=absent needs token_id or description"),
        (dict(token_id="ABCDEF"), "token_id must be 6 lowercase letters or digits, got 'ABCDEF'"),
        (dict(groups=["system:masters"]), r"groups must start with system:bootstrappers: \(got 'system:masters'\)"),
        (dict(usages=["signing"]), "usages must include authentication"),
        (dict(ttl="1h", renew_before="2h"), r"renew_before \(2h\) must be shorter than ttl \(1h\)"),
    ],
)
def test_bad_parameters(overrides, message):
    with pytest.raises(kt.KubeadmTokenError, match=message):
        kt.ensure_token(FakeTokenClient(), params(**overrides), check_mode=False, now=NOW)


def test_create_then_reuse():
    client = FakeTokenClient()
    first = kt.ensure_token(client, params(), check_mode=False, now=NOW)
    assert first["changed"] is True
    assert kt.TOKEN_RE.match(first["token"])
    assert first["expiration"] == "2026-11-28T12:00:00Z"
    assert client.writes == [("create", "bootstrap-token-" + first["token_id"])]
    second = kt.ensure_token(client, params(), check_mode=False, now=NOW + datetime.timedelta(hours=1))
    assert second["changed"] is False
    assert second["token"] == first["token"]
    assert len(client.writes) == 1


def test_renews_a_token_about_to_expire():
    client = FakeTokenClient([token_secret(hours=0.5)])
    result = kt.ensure_token(client, params(), check_mode=False, now=NOW)
    assert result["changed"] is True
    assert result["token_id"] != "abcdef"


def test_check_mode_creates_nothing_and_returns_no_token():
    client = FakeTokenClient()
    result = kt.ensure_token(client, params(), check_mode=True, now=NOW)
    assert result["changed"] is True
    assert result["token"] is None and result["token_id"] is None
    assert client.writes == []


def test_check_mode_returns_a_reusable_token():
    client = FakeTokenClient([token_secret()])
    result = kt.ensure_token(client, params(), check_mode=True, now=NOW)
    assert result["changed"] is False
    assert result["token"] == "abcdef.0123456789abcdef"


def test_never_expiring_token():
    client = FakeTokenClient()
    result = kt.ensure_token(client, params(ttl="0"), check_mode=False, now=NOW)
    assert result["expiration"] is None
    assert "expiration" not in next(iter(client.secrets.values()))["data"]


def test_given_token_id_that_does_not_match_is_refused():
    client = FakeTokenClient([token_secret(description="other")])
    with pytest.raises(kt.KubeadmTokenError, match="token abcdef exists but does not match"):
        kt.ensure_token(client, params(token_id="abcdef"), check_mode=False, now=NOW)


def test_given_token_id_is_created():
    client = FakeTokenClient()
    result = kt.ensure_token(client, params(token_id="zzzzzz"), check_mode=False, now=NOW)
    assert result["token_id"] == "zzzzzz"


def test_diff_never_holds_the_secret():
    result = kt.ensure_token(FakeTokenClient(), params(), check_mode=False, now=NOW)
    secret = result["token"].split(".")[1]
    assert secret not in repr(result["diff"])
    assert result["diff"]["before"] == {"token": None}
    assert result["diff"]["after"]["token"]["id"] == result["token_id"]


def test_absent_deletes_by_description_and_by_id():
    client = FakeTokenClient([token_secret("aaaaaa"), token_secret("bbbbbb"), token_secret("cccccc", description="x")])
    check = kt.ensure_token(client, params(state="absent"), check_mode=True, now=NOW)
    assert check["changed"] is True and check["deleted"] == ["aaaaaa", "bbbbbb"] and client.writes == []
    result = kt.ensure_token(client, params(state="absent"), check_mode=False, now=NOW)
    assert result["deleted"] == ["aaaaaa", "bbbbbb"]
    assert sorted(client.secrets) == ["bootstrap-token-cccccc"]
    by_id = kt.ensure_token(client, params(state="absent", description=None, token_id="cccccc"), False, now=NOW)
    assert by_id["deleted"] == ["cccccc"] and client.secrets == {}
    again = kt.ensure_token(client, params(state="absent"), check_mode=False, now=NOW)
    assert again["changed"] is False


def test_ca_cert_hash_is_sha256_of_spki():
    pem, spki = make_ca()
    assert kt.ca_cert_hash(pem) == "sha256:" + hashlib.sha256(spki).hexdigest()
    with pytest.raises(kt.KubeadmTokenError, match=r"not a PEM X\.509 certificate"):
        kt.ca_cert_hash(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


def cluster_info(pem):
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "",
                "cluster": {"certificate-authority-data": base64.b64encode(pem).decode(), "server": "https://x:6443"},
            }
        ],
    }
    return {"data": {"kubeconfig": yaml.safe_dump(kubeconfig)}}


def test_discovery_hash_sources(tmp_path):
    pem_a, spki_a = make_ca("a")
    pem_b, spki_b = make_ca("b")
    pem_c, spki_c = make_ca("c")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(pem_a)
    client = FakeTokenClient(cluster_info=cluster_info(pem_b), kubeconfig_ca=pem_c)
    assert kt.discovery_hash(client, str(ca_file)) == ("sha256:" + hashlib.sha256(spki_a).hexdigest(), "ca_cert")
    assert kt.discovery_hash(client) == ("sha256:" + hashlib.sha256(spki_b).hexdigest(), "cluster-info")
    client = FakeTokenClient(kubeconfig_ca=pem_c)
    assert kt.discovery_hash(client) == ("sha256:" + hashlib.sha256(spki_c).hexdigest(), "kubeconfig")
    with pytest.raises(kt.KubeadmTokenError, match="no CA certificate found"):
        kt.discovery_hash(FakeTokenClient())
    with pytest.raises(kt.KubeadmTokenError, match="cannot read ca_cert"):
        kt.discovery_hash(client, str(tmp_path / "missing.crt"))
