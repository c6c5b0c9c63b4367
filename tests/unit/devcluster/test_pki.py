from __future__ import annotations

import ipaddress
import pathlib

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tritonops.devcluster import pki


def _load(path: pathlib.Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_apiserver_certificate_names_loopback(tmp_path: pathlib.Path) -> None:
    created = pki.create_cluster_pki(tmp_path)
    certificate = _load(created.apiserver.certificate)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert certificate.issuer == _load(created.ca.certificate).subject


def test_admin_is_a_client_in_system_masters(tmp_path: pathlib.Path) -> None:
    created = pki.create_cluster_pki(tmp_path)
    certificate = _load(created.admin.certificate)
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages


def test_front_proxy_client_is_signed_by_its_own_authority(tmp_path: pathlib.Path) -> None:
    created = pki.create_cluster_pki(tmp_path)
    client = _load(created.front_proxy_client.certificate)
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "front-proxy-client"
    assert client.issuer == _load(created.front_proxy_ca.certificate).subject
    assert client.issuer != _load(created.ca.certificate).subject


def test_private_keys_are_private(tmp_path: pathlib.Path) -> None:
    created = pki.create_cluster_pki(tmp_path)
    for key in (created.ca.key, created.admin.key, created.service_account_private_key):
        assert key.stat().st_mode & 0o077 == 0
