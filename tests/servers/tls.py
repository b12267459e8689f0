"""TLS for loopback test servers: a throwaway CA and a server certificate it signs.

A separate CA rather than one self-signed certificate, because rustls (obstore's TLS) refuses
a CA certificate presented as the server's own (`CaUsedAsEndEntity`); clients trust `ca`
(obstore's `root_certificate` client option, `ssl.create_default_context(cafile=...)`,
`REQUESTS_CA_BUNDLE`) and servers present `cert` with `key`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalTLS:
    """PEM files: the CA to trust, and the certificate and key of 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path

    @property
    def ca_pem(self) -> str:
        return self.ca.read_text()

    def client_context(self) -> ssl.SSLContext:
        """Verifies the servers' certificate against `ca` (and nothing else)."""
        return ssl.create_default_context(cafile=self.ca)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def local_tls(folder: Path, name: str) -> LocalTLS:
    """A new CA and a server certificate for 127.0.0.1 and localhost, valid for a day,
    written to `folder` as `<name>-ca.pem`, `<name>-cert.pem` and `<name>-key.pem`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"cogdex test CA ({name})")])
    ca = (
        builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = (
        builder(server_name, ca_name, key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    tls = LocalTLS(
        folder / f"{name}-ca.pem", folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    )
    folder.mkdir(parents=True, exist_ok=True)
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls
