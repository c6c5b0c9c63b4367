"""Certificates and keys for a local control plane that lives only on loopback."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)


@dataclasses.dataclass(frozen=True)
class KeyPair:
    certificate: pathlib.Path
    key: pathlib.Path


@dataclasses.dataclass(frozen=True)
class ClusterPki:
    """Every file the control plane's components need, under one directory."""

    ca: KeyPair
    apiserver: KeyPair
    admin: KeyPair
    front_proxy_ca: KeyPair
    front_proxy_client: KeyPair
    kwok: KeyPair
    metrics_server: KeyPair
    service_account_private_key: pathlib.Path
    service_account_public_key: pathlib.Path


def _write_key(path: pathlib.Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _certificate_authority(directory: pathlib.Path, stem: str, common_name: str) -> tuple[KeyPair, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    pair = KeyPair(certificate=directory / f"{stem}.crt", key=directory / f"{stem}.key")
    pair.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair, certificate, key


def _leaf(
    directory: pathlib.Path,
    stem: str,
    *,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    organization: str | None = None,
    server_names: tuple[str, ...] = (),
    client: bool = False,
) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if server_names:
        alternative_names: list[x509.GeneralName] = []
        for server_name in server_names:
            try:
                alternative_names.append(x509.IPAddress(ipaddress.ip_address(server_name)))
            except ValueError:
                alternative_names.append(x509.DNSName(server_name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
    certificate = builder.sign(issuer_key, hashes.SHA256())
    pair = KeyPair(certificate=directory / f"{stem}.crt", key=directory / f"{stem}.key")
    pair.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def create_cluster_pki(directory: pathlib.Path) -> ClusterPki:
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_certificate, ca_key = _certificate_authority(directory, "ca", "tritonops-local-ca")
    front_proxy_ca, front_proxy_certificate, front_proxy_key = _certificate_authority(
        directory, "front-proxy-ca", "tritonops-front-proxy-ca"
    )
    apiserver = _leaf(
        directory, "apiserver", issuer=ca_certificate, issuer_key=ca_key, common_name="kube-apiserver",
        server_names=(*LOOPBACK_NAMES, "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
    )
    admin = _leaf(
        directory, "admin", issuer=ca_certificate, issuer_key=ca_key, common_name="admin",
        organization="system:masters", client=True,
    )
    front_proxy_client = _leaf(
        directory, "front-proxy-client", issuer=front_proxy_certificate, issuer_key=front_proxy_key,
        common_name="front-proxy-client", client=True,
    )
    kwok = _leaf(directory, "kwok", issuer=ca_certificate, issuer_key=ca_key, common_name="kwok", server_names=LOOPBACK_NAMES)
    metrics_server = _leaf(
        directory, "metrics-server", issuer=ca_certificate, issuer_key=ca_key, common_name="metrics-server",
        server_names=(*LOOPBACK_NAMES, "metrics-server.kube-system.svc"),
    )
    # Service-account tokens are signed with RSA, which every client library verifies.
    service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    service_account_private_key = directory / "service-account.key"
    service_account_public_key = directory / "service-account.pub"
    _write_key(service_account_private_key, service_account_key)
    service_account_public_key.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return ClusterPki(
        ca=ca, apiserver=apiserver, admin=admin, front_proxy_ca=front_proxy_ca,
        front_proxy_client=front_proxy_client, kwok=kwok, metrics_server=metrics_server,
        service_account_private_key=service_account_private_key,
        service_account_public_key=service_account_public_key,
    )


def node_client_credentials(ca: KeyPair, *, node_name: str, directory: pathlib.Path) -> KeyPair:
    """A kubelet's client certificate: user system:node:NAME in group system:nodes.

    That identity is what the Node authorizer and the NodeRestriction admission plugin expect, so a
    real kubelet may write only its own Node and the status of the pods bound to it.
    """
    issuer = x509.load_pem_x509_certificate(ca.certificate.read_bytes())
    issuer_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"the cluster CA key {ca.key} is not an EC key")
    directory.mkdir(parents=True, exist_ok=True)
    return _leaf(
        directory, "kubelet-client", issuer=issuer, issuer_key=issuer_key,
        common_name=f"system:node:{node_name}", organization="system:nodes", client=True,
    )
