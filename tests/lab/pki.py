"""A small lab PKI built with the ``cryptography`` library.

It makes a lab certificate authority, issues leaf certificates from it (DNS and IP
subject alternative names, any validity window, so tests can make expired and
not-yet-valid ones) and self-signed certificates that nothing trusts.  Everything is
written as PEM; private keys are written with mode 0600.

Used by ``tests/lab/lab.py`` (the lab CA), by the integration tests (their own CA in a
temporary directory) and later by molecule and ``make demo``.

Example::

    from tests.lab import pki
    ca = pki.create_ca(directory / "ca")               # ca.pem + ca.key
    leaf = pki.issue_cert(ca, directory / "matrix", ["matrix.example.test"])
    leaf.cert_path, leaf.key_path
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertificateAuthority",
    "cert_names",
    "IssuedCert",
    "create_ca",
    "issue_cert",
    "load_ca",
    "load_or_create_ca",
    "self_signed_cert",
    "utcnow",
]

ONE_DAY = _dt.timedelta(days=1)


def utcnow() -> _dt.datetime:
    """The current time, timezone-aware (UTC), truncated to seconds."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class IssuedCert:
    """A certificate and key written to disk."""

    cert_path: Path
    key_path: Path
    certificate: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert_path.read_bytes()


@dataclass(frozen=True)
class CertificateAuthority(IssuedCert):
    """The lab CA: its certificate (``cert_path`` is the bundle to trust) and key."""

    private_key: ec.EllipticCurvePrivateKey

    @property
    def bundle_path(self) -> Path:
        """The PEM file a client passes as ``ca_path``."""
        return self.cert_path


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with 0600 from the start: the key is never world-readable, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, 0o644)


def _sans(names: Iterable[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(bare)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _paths(base: Path) -> tuple[Path, Path]:
    """``base`` names the pair without suffix: ``dir/name`` → ``dir/name.pem``, ``dir/name.key``."""
    base = Path(base)
    return base.with_name(base.name + ".pem"), base.with_name(base.name + ".key")


def create_ca(
    base: Path,
    *,
    common_name: str = "matrixops lab CA",
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
) -> CertificateAuthority:
    """Create a CA key and self-signed CA certificate at ``base.pem`` / ``base.key``."""
    cert_path, key_path = _paths(base)
    key = _new_key()
    now = utcnow()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - ONE_DAY)
        .not_valid_after(not_after or now + 3650 * ONE_DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return CertificateAuthority(cert_path, key_path, cert, key)


def load_ca(base: Path) -> CertificateAuthority:
    """Load a CA written by :func:`create_ca`."""
    cert_path, key_path = _paths(base)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # pragma: no cover - we only write EC
        raise TypeError(f"{key_path}: expected an EC private key")
    return CertificateAuthority(cert_path, key_path, cert, key)


def load_or_create_ca(base: Path, **kwargs: object) -> CertificateAuthority:
    """Keep an existing CA (idempotent lab set-up), else create one."""
    cert_path, key_path = _paths(base)
    if cert_path.exists() and key_path.exists():
        return load_ca(base)
    return create_ca(base, **kwargs)  # type: ignore[arg-type]


def _leaf_builder(
    subject_cn: str,
    names: list[str],
    public_key: ec.EllipticCurvePublicKey,
    not_before: _dt.datetime,
    not_after: _dt.datetime,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(_sans(names)), critical=False)
    return builder


def issue_cert(
    ca: CertificateAuthority,
    base: Path,
    names: Iterable[str],
    *,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    common_name: str | None = None,
) -> IssuedCert:
    """Issue a leaf certificate for ``names`` (DNS names and/or IP addresses) signed by ``ca``.

    Written to ``base.pem`` (the leaf followed by nothing else) and ``base.key`` (0600).
    Defaults: valid from one day ago for 825 days.  Pass ``not_after`` in the past for an
    expired certificate, ``not_before`` in the future for a not-yet-valid one.
    """
    names = list(names)
    if not names and common_name is None:
        raise ValueError("issue_cert needs at least one name")
    cert_path, key_path = _paths(base)
    key = _new_key()
    now = utcnow()
    builder = _leaf_builder(
        common_name or names[0],
        names,
        key.public_key(),
        not_before or now - ONE_DAY,
        not_after or now + 825 * ONE_DAY,
    )
    builder = builder.issuer_name(ca.certificate.subject).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
        critical=False,
    )
    cert = builder.sign(ca.private_key, hashes.SHA256())
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return IssuedCert(cert_path, key_path, cert)


def self_signed_cert(
    base: Path,
    names: Iterable[str],
    *,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
) -> IssuedCert:
    """A self-signed leaf for ``names``: valid names and dates, but trusted by nobody."""
    names = list(names)
    cert_path, key_path = _paths(base)
    key = _new_key()
    now = utcnow()
    builder = _leaf_builder(
        names[0], names, key.public_key(), not_before or now - ONE_DAY, not_after or now + 825 * ONE_DAY
    )
    builder = builder.issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
    cert = builder.sign(key, hashes.SHA256())
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return IssuedCert(cert_path, key_path, cert)


def cert_names(path: Path) -> list[str]:
    """The SANs of a PEM certificate, as plain strings (for checks and status output)."""
    cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.DNSName)] + [
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    ]
