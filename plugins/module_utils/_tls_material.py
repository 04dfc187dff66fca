# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of a PEM certificate (chain) and its private key before a web server is given them.

Private module: not part of the collection's public API. Pure functions over the PEM text, run on
the controller with the ``cryptography`` library (a dependency of ansible-core). Messages name the
certificate and the key by the ``source`` strings the caller passes (a path, a variable name) and
never contain key material.

    report = check_material(cert_pem, key_pem, names=["matrix.example.com"], warn_days=30,
                            certificate_source="/etc/letsencrypt/live/x/fullchain.pem",
                            key_source="/etc/letsencrypt/live/x/privkey.pem")
    report["problems"], report["warnings"], report["not_after"], report["days_left"], report["names"]
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
from typing import Any, Sequence, Union

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
except ImportError as exc:  # pragma: no cover - cryptography is a dependency of ansible-core
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR: Exception | None = exc
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

__all__ = [
    "CRYPTOGRAPHY_IMPORT_ERROR",
    "HAS_CRYPTOGRAPHY",
    "TlsMaterialError",
    "certificate_names",
    "check_material",
    "covers",
    "dns_name_matches",
    "key_matches",
    "load_certificates",
    "load_private_key",
    "normalise_name",
    "not_after",
]

Pem = Union[str, bytes]
ONE_DAY = datetime.timedelta(days=1)


class TlsMaterialError(ValueError):
    """The PEM text cannot be used; the message names its source and never quotes a key."""


def _text(pem: object) -> str:
    if isinstance(pem, bytes):
        return pem.decode("utf-8", "replace")
    return "" if pem is None else str(pem)


def _found(text: str) -> str:
    """What the text holds instead of what was expected, without quoting any of it."""
    if not text.strip():
        return "it is empty"
    if "PRIVATE KEY-----" in text:
        return "it holds a private key"
    if "BEGIN CERTIFICATE REQUEST" in text or "BEGIN NEW CERTIFICATE REQUEST" in text:
        return "it holds a certificate request"
    if "BEGIN CERTIFICATE-----" in text:
        return "its certificate cannot be parsed"
    if "-----BEGIN " in text:
        return "it holds another kind of PEM block"
    return "it holds no PEM block"


def load_certificates(pem: Pem, source: str) -> list[Any]:
    """The certificates of a PEM chain, the server certificate first."""
    text = _text(pem)
    try:
        return list(x509.load_pem_x509_certificates(text.encode()))
    except ValueError:
        raise TlsMaterialError(
            f"{source} is not a PEM certificate: expected '-----BEGIN CERTIFICATE-----' (the server certificate "
            f"first, then any intermediates), but {_found(text)}"
        ) from None


def load_private_key(pem: Pem, source: str) -> Any:
    """The unencrypted private key of a PEM text."""
    text = _text(pem)
    try:
        return serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError:
        raise TlsMaterialError(
            f"{source} is an encrypted private key: expected an unencrypted one, which nginx can read without a "
            "passphrase"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        found = _found(text)
        if "PRIVATE KEY-----" in text:
            found = "its private key cannot be parsed"
        elif "BEGIN CERTIFICATE-----" in text:
            found = "it holds a certificate"
        raise TlsMaterialError(
            f"{source} is not a PEM private key: expected '-----BEGIN PRIVATE KEY-----' (or RSA/EC PRIVATE KEY), "
            f"but {found}"
        ) from None


def _public_der(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(certificate: Any, private_key: Any) -> bool:
    """Whether the private key belongs to the certificate (the same public key)."""
    return _public_der(certificate.public_key()) == _public_der(private_key.public_key())


def _describe_key(public_key: Any) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}-bit"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    return type(public_key).__name__.replace("PublicKey", "").lstrip("_")


def _subject(certificate: Any) -> str:
    return certificate.subject.rfc4514_string() or "an empty subject"


def certificate_names(certificate: Any) -> tuple[list[str], list[str]]:
    """The DNS names and the IP addresses of the subjectAltName (the common name is not used:
    TLS clients that follow RFC 6125 ignore it when there is a subjectAltName, and modern ones always)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = [str(name) for name in san.get_values_for_type(x509.DNSName)]
    ips = [ipaddress.ip_address(address).compressed for address in san.get_values_for_type(x509.IPAddress)]
    return dns, ips


def normalise_name(name: str) -> str:
    """Lower-case, without a trailing dot or a port; IPv6 brackets removed; IDNA A-labels."""
    name = str(name).strip()
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    name = name.rstrip(".").lower()
    if not name.isascii():
        with contextlib.suppress(UnicodeError):
            name = name.encode("idna").decode("ascii")
    return name


def _ip(name: str) -> Any | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def dns_name_matches(pattern: str, name: str) -> bool:
    """RFC 6125 section 6.4: equal ignoring case, or a wildcard ``*`` that is the whole leftmost
    label and stands for exactly one label (``*.example.com`` matches ``a.example.com``, not
    ``example.com`` nor ``a.b.example.com``). Partial-label wildcards (``f*.example.com``) and
    wildcards over fewer than two labels (``*.com``) match nothing."""
    pattern, name = normalise_name(pattern), normalise_name(name)
    if not pattern or not name or _ip(name) is not None:
        return False
    if "*" not in pattern:
        return pattern == name
    labels, name_labels = pattern.split("."), name.split(".")
    if labels[0] != "*" or "*" in ".".join(labels[1:]) or len(labels) < 3:
        return False
    return len(name_labels) == len(labels) and name_labels[0] != "" and name_labels[1:] == labels[1:]


def covers(dns_names: Sequence[str], ip_addresses: Sequence[str], name: str) -> bool:
    """Whether a certificate with these subjectAltNames is valid for ``name`` (an IP address only
    through an IP address entry)."""
    name = normalise_name(name)
    ip = _ip(name)
    if ip is not None:
        return any(_ip(address) == ip for address in ip_addresses)
    return any(dns_name_matches(pattern, name) for pattern in dns_names)


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.timezone.utc)


def not_after(certificate: Any) -> datetime.datetime:
    """The end of the validity, timezone-aware (UTC)."""
    value = getattr(certificate, "not_valid_after_utc", None)
    return _utc(value if value is not None else certificate.not_valid_after)


def _not_before(certificate: Any) -> datetime.datetime:
    value = getattr(certificate, "not_valid_before_utc", None)
    return _utc(value if value is not None else certificate.not_valid_before)


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _days(delta: datetime.timedelta) -> int:
    return int(delta.total_seconds() // ONE_DAY.total_seconds())


def _the_certificate(source: str) -> str:
    return "the certificate" if source == "the certificate" else f"the certificate in {source}"


def _key_problem(chain: list[Any], key: Any, certificate_source: str, key_source: str) -> str | None:
    if key_matches(chain[0], key):
        return None
    for index, certificate in enumerate(chain[1:], start=2):
        if key_matches(certificate, key):
            return (
                f"{key_source} belongs to certificate number {index} in {certificate_source} ({_subject(certificate)}), "
                f"not to the first one ({_subject(chain[0])}): expected the server certificate first, then the "
                "intermediates"
            )
    return (
        f"{key_source} does not belong to {_the_certificate(certificate_source)} ({_subject(chain[0])}): their "
        f"public keys differ (certificate: {_describe_key(chain[0].public_key())}, key: "
        f"{_describe_key(key.public_key())}); expected the private key the certificate was issued for"
    )


def check_material(
    cert_pem: Pem,
    key_pem: Pem | None,
    names: Sequence[str] = (),
    warn_days: int = 30,
    certificate_source: str = "the certificate",
    key_source: str = "the private key",
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """Every problem of a certificate chain and its key, for a server that must answer ``names``.

    Problems: the chain or the key cannot be read, the key is encrypted or belongs to another
    certificate, a name is not covered by the subjectAltName, the certificate (or an
    intermediate) has expired or is not valid yet. Warnings: it expires within ``warn_days``.
    ``key_pem`` None skips the key. Returns ``{problems, warnings, not_after, days_left, names}``
    (``not_after`` an ISO 8601 UTC string, ``days_left`` whole days, negative once expired,
    ``names`` the certificate's DNS names then IP addresses); the last three are ``''``, ``None``
    and ``[]`` when the certificate cannot be read.
    """
    now = _utc(now) if now is not None else datetime.datetime.now(datetime.timezone.utc)
    result: dict[str, Any] = {"problems": [], "warnings": [], "not_after": "", "days_left": None, "names": []}
    problems: list[str] = result["problems"]
    chain: list[Any] = []
    try:
        chain = load_certificates(cert_pem, certificate_source)
    except TlsMaterialError as exc:
        problems.append(str(exc))
    key = None
    if key_pem is not None:
        try:
            key = load_private_key(key_pem, key_source)
        except TlsMaterialError as exc:
            problems.append(str(exc))
    if not chain:
        return result
    leaf = chain[0]
    if key is not None:
        problem = _key_problem(chain, key, certificate_source, key_source)
        if problem:
            problems.append(problem)

    dns, ips = certificate_names(leaf)
    result["names"] = dns + ips
    wanted = [str(name) for name in names if str(name).strip()]
    if wanted and not dns and not ips:
        problems.append(
            f"{_the_certificate(certificate_source)} ({_subject(leaf)}) has no subjectAltName: expected one naming "
            f"{', '.join(wanted)} (TLS clients ignore the common name)"
        )
    else:
        for name in wanted:
            if not covers(dns, ips, name):
                problems.append(
                    f"{_the_certificate(certificate_source)} is not valid for {normalise_name(name)}: expected that "
                    f"name among its subjectAltNames, found {', '.join(dns + ips)}"
                    + (" (an IP address must be an IP address entry)" if _ip(normalise_name(name)) else "")
                )

    end = not_after(leaf)
    result["not_after"] = _iso(end)
    result["days_left"] = _days(end - now)
    start = _not_before(leaf)
    if end <= now:
        problems.append(
            f"{_the_certificate(certificate_source)} expired on {_iso(end)} ({_days(now - end)} days ago): "
            "expected a valid one; renew it"
        )
    elif start > now:
        problems.append(
            f"{_the_certificate(certificate_source)} is not valid before {_iso(start)}: expected one valid now "
            "(is this machine's clock right?)"
        )
    elif end - now <= int(warn_days) * ONE_DAY:
        result["warnings"].append(
            f"{_the_certificate(certificate_source)} expires on {_iso(end)}, in {result['days_left']} days "
            f"(within the {int(warn_days)} days warned about): renew it"
        )
    for index, certificate in enumerate(chain[1:], start=2):
        if not_after(certificate) <= now:
            problems.append(
                f"certificate number {index} in {certificate_source} ({_subject(certificate)}) expired on "
                f"{_iso(not_after(certificate))}: expected a valid intermediate; get the current chain from the CA"
            )
    return result
