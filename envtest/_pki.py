"""Certificates and keys for a throwaway control plane.

Contract: :func:`generate_pki` writes into one directory a CA, kube-apiserver's serving
certificate (valid for 127.0.0.1, localhost and the in-cluster names of the `kubernetes`
Service), an admin client certificate (O=system:masters, so it bypasses RBAC like
kubeadm's admin.conf) and the service-account signing key pair. Nothing is reused between
control planes: each one trusts only its own CA.

ECDSA P-256 everywhere: generation is instant (RSA-2048 costs ~0.1 s a key), and both
kube-apiserver and etcd's clients accept it, including for signing service-account tokens
(ES256).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(slots=True, frozen=True)
class Pki:
    """Paths of the generated PEM files."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path
    # The aggregator's proxy client (kube-apiserver --proxy-client-*) and the CA that
    # extension API servers (metrics-server) trust for it.
    front_proxy_ca_cert: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path


FRONT_PROXY_CLIENT_CN = "front-proxy-client"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _ca(common_name: str, not_before: dt.datetime,
        not_after: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Name, x509.Certificate]:
    """A self-signed CA: its key, name and certificate."""
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca_name, ca_cert


def generate_pki(directory: Path, *, service_ip: str, validity_days: int = 365) -> Pki:
    """Write a fresh PKI into `directory` (created if needed) and return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    # Backdated so that a clock a little behind (or a fast test) never sees "not yet valid".
    now = dt.datetime.now(dt.UTC)
    not_before = now - dt.timedelta(hours=1)
    not_after = now + dt.timedelta(days=validity_days)

    ca_key, ca_name, ca_cert = _ca("pyscheduler-envtest-ca", not_before, not_after)
    # The aggregator's front proxy has a CA of its own (--requestheader-client-ca-file),
    # as kubeadm sets it up: a client certificate of the cluster CA cannot pose as it.
    fp_key, fp_name, fp_cert = _ca("pyscheduler-envtest-front-proxy-ca", not_before,
                                   not_after)

    def leaf(
        subject: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName] | None = None,
        issuer: tuple[ec.EllipticCurvePrivateKey, x509.Name] | None = None,
    ) -> x509.Certificate:
        signer_key, signer_name = issuer or (ca_key, ca_name)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(signer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=False,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(signer_key, hashes.SHA256())

    serving_key = _key()
    serving_cert = leaf(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        serving_key,
        ExtendedKeyUsageOID.SERVER_AUTH,
        [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
            x509.DNSName("kubernetes.default.svc.cluster.local"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address(service_ip)),
        ],
    )

    admin_key = _key()
    admin_cert = leaf(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "pyscheduler-envtest-admin"),
            ]
        ),
        admin_key,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    )

    front_proxy_key = _key()
    front_proxy_cert = leaf(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FRONT_PROXY_CLIENT_CN)]),
        front_proxy_key,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        issuer=(fp_key, fp_name),
    )

    sa_key = _key()

    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
        front_proxy_ca_cert=directory / "front-proxy-ca.crt",
        front_proxy_client_cert=directory / "front-proxy-client.crt",
        front_proxy_client_key=directory / "front-proxy-client.key",
    )
    _write_cert(pki.front_proxy_ca_cert, fp_cert)
    _write_cert(pki.front_proxy_client_cert, front_proxy_cert)
    _write_key(pki.front_proxy_client_key, front_proxy_key)
    _write_cert(pki.ca_cert, ca_cert)
    _write_key(pki.ca_key, ca_key)
    _write_cert(pki.serving_cert, serving_cert)
    _write_key(pki.serving_key, serving_key)
    _write_cert(pki.admin_cert, admin_cert)
    _write_key(pki.admin_key, admin_key)
    _write_key(pki.sa_key, sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki
