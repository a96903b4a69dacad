# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test doubles for the kubeadm_* modules: an in-memory bootstrap-token API and a test CA."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.baremetal.mlops.plugins.module_utils import kubeadm_token


def self_signed(common_name, ca=False):
    """A self-signed certificate valid for a day: (private key, certificate); a CA when `ca`."""
    return issue(common_name, ca=ca)


def issue(common_name, issuer=None, ca=False, ip_address=None):
    """(private key, certificate) valid for a day, signed by `issuer` (key, certificate) or self-signed; a CA
    when `ca`; with `ip_address` as its subject alternative name (a server's certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
    signer_key, signer_name = (issuer[0], issuer[1].subject) if issuer else (key, name)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if ip_address:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip_address))])
        builder = builder.add_extension(san, critical=False)
    return key, builder.sign(signer_key, hashes.SHA256())


def make_ca(common_name="kubernetes"):
    """A self-signed CA: (PEM bytes, DER SubjectPublicKeyInfo)."""
    key, cert = self_signed(common_name, ca=True)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_bytes(serialization.Encoding.PEM), spki


class FakeTokenClient:
    """kubeadm_token.TokenClient over a dict of Secrets; records writes."""

    def __init__(self, secrets=None, cluster_info=None, kubeconfig_ca=None):
        self.secrets = {s["metadata"]["name"]: s for s in (secrets or [])}
        self._cluster_info = cluster_info
        self._kubeconfig_ca = kubeconfig_ca
        self.writes = []

    def list_tokens(self):
        return [t for t in map(kubeadm_token.token_from_secret, self.secrets.values()) if t]

    def create(self, manifest):
        self.writes.append(("create", manifest["metadata"]["name"]))
        self.secrets[manifest["metadata"]["name"]] = manifest

    def delete(self, name):
        self.writes.append(("delete", name))
        self.secrets.pop(name, None)

    def cluster_info(self):
        return self._cluster_info

    def kubeconfig_ca(self):
        return self._kubeconfig_ca
