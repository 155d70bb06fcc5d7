"""A local certificate authority and server certificate for the offline stack and tests.

``ensure_certs(folder)`` creates (on first run) or reuses a CA and a server certificate for
``localhost`` / ``127.0.0.1``. Clients trust ``ca_file``; servers load ``cert_file`` and
``key_file``. Nothing here is meant for production.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=825)
_RENEW_BEFORE = dt.timedelta(days=7)
# The CA signs certificates and CRLs (and its own signatures); every other use is off.
_KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)
_CA_USES = frozenset({"digital_signature", "key_cert_sign", "crl_sign"})
_CA_KEY_USAGE = x509.KeyUsage(**{flag: flag in _CA_USES for flag in _KEY_USAGE_FLAGS})


@dataclass(frozen=True)
class LocalCerts:
    """Paths of a local CA and the server certificate it signed.

    Attributes
    ----------
    ca_file
        PEM certificate of the CA (what clients trust, e.g. ``SMTP_CA_FILE``).
    cert_file, key_file
        PEM server certificate and its private key.
    """

    ca_file: Path
    cert_file: Path
    key_file: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _still_valid(cert_file: Path, hostnames: Sequence[str], ips: Sequence[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    names = set(san.get_values_for_type(x509.DNSName))
    addresses = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    fresh = cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > _RENEW_BEFORE
    return fresh and set(hostnames) <= names and set(ips) <= addresses


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    """A certificate builder with what the CA and the server certificate share."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
    )


def ensure_certs(
    folder: str | os.PathLike[str],
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    common_name: str = "shopmail local CA",
) -> LocalCerts:
    """Create a local CA and a server certificate in ``folder``, or reuse them.

    Existing files are reused when the server certificate still covers ``hostnames`` and
    ``ips`` and is not about to expire; otherwise both are made afresh.

    Parameters
    ----------
    folder
        Where ``ca.pem``, ``ca-key.pem``, ``server.pem`` and ``server-key.pem`` live.
    hostnames, ips
        Subject alternative names of the server certificate.
    common_name
        The CA's common name (tests use a distinct one per CA).

    Returns
    -------
    LocalCerts
        The paths to hand to clients (``ca_file``) and servers (``cert_file``, ``key_file``).
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    certs = LocalCerts(root / "ca.pem", root / "server.pem", root / "server-key.pem")
    if (
        certs.ca_file.exists()
        and certs.key_file.exists()
        and _still_valid(certs.cert_file, hostnames, ips)
    ):
        return certs

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    san: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    san += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    cert = (
        _builder(server_name, ca_name, key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    _write_key(root / "ca-key.pem", ca_key)
    certs.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(certs.key_file, key)
    certs.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return certs


def server_tls_context(cert_file: str | Path, key_file: str | Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2+) for STARTTLS."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx
