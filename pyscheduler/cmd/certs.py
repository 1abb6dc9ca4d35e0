"""TLS for the secure port: the serving certificate and the server's SSL context.

Contract: :func:`server_ssl_context` returns a TLS 1.2+ server context holding either the
operator's certificate and key (``--tls-cert-file``/``--tls-private-key-file``, read once at
start) or, without them, a self-signed certificate generated in memory, as kube-scheduler does
when given no certificate (upstream: a self-signed CA and a serving certificate for
``localhost``, ``127.0.0.1`` and the host name, never written to disk). With ``client_ca``
(PEM), client certificates signed by it are verified when offered (they are optional: bearer
tokens and anonymous requests still reach the handler, which authenticates them).

The generated key never touches a file system: the PEM is handed to OpenSSL through an
anonymous memory file (``memfd_create``), so it works under ``readOnlyRootFilesystem``; only
where that call is missing does it fall back to a private temporary file, removed at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# upstream's self-signed certificate (client-go util/cert GenerateSelfSignedCertKey) lasts a
# year; the process restarts long before that in any real deployment.
SELF_SIGNED_VALIDITY = dt.timedelta(days=365)


def self_signed_cert(host: str = "localhost") -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for ``host``, ``localhost``, 127.0.0.1 and ::1."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if host != "localhost":
        names.append(x509.DNSName(host))
    names += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
              x509.IPAddress(ipaddress.ip_address("::1"))]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            f"{host}@{int(now.timestamp())}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + SELF_SIGNED_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can read ``data`` from, valid inside the block."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        fd = memfd_create("pyscheduler-tls", 0)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile(prefix="pyscheduler-tls-") as f:  # pragma: no cover
        f.write(data)
        f.flush()
        yield f.name


def server_ssl_context(cert_file: str | None = None, key_file: str | None = None,
                       *, client_ca: str | None = None) -> ssl.SSLContext:
    """The secure port's SSL context (see the module contract); OSError/SSLError on bad files."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file and key_file:
        ctx.load_cert_chain(cert_file, key_file)
    else:
        cert_pem, key_pem = self_signed_cert(socket.gethostname() or "localhost")
        with _memory_file(cert_pem) as cert_path, _memory_file(key_pem) as key_path:
            ctx.load_cert_chain(cert_path, key_path)
    if client_ca:
        ctx.load_verify_locations(cadata=client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
