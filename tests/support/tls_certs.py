# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real certificates and keys in memory, for the TLS material tests (EC or RSA, any names and dates,
self-signed or issued by a CA of this module)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

NOW = datetime.datetime(2026, 12, 3, 10, 0, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def new_key(kind: str = "ec") -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: Any, password: bytes | None = None, fmt: str = "pkcs8") -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    private_format = (
        serialization.PrivateFormat.PKCS8 if fmt == "pkcs8" else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(serialization.Encoding.PEM, private_format, encryption).decode()


@dataclass
class Issued:
    certificate: x509.Certificate
    key: Any

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return key_pem(self.key)


def _general_names(names: list[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def issue(
    names: list[str],
    *,
    issuer: Issued | None = None,
    kind: str = "ec",
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    ca: bool = False,
    common_name: str | None = None,
    san: bool = True,
) -> Issued:
    """A certificate for ``names`` (DNS names or IP addresses in the subjectAltName), self-signed
    unless ``issuer`` is given; valid from a day before NOW for 90 days by default."""
    key = new_key(kind)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or (names[0] if names else "no name"))])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 90 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names and san:
        builder = builder.add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
    signer = issuer.key if issuer else key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, algorithm), key)


def ca(name: str = "Test CA", **kwargs: Any) -> Issued:
    return issue([], ca=True, common_name=name, **kwargs)
