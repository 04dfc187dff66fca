# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure checks of ``federation_check``: certificates, signing keys, well-known schemas, the summary.

Private module: not part of the collection's public API. Functions of data only: the network
is ``_federation_probe``'s, the orchestration ``_federation``'s.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from ._catalogue import Problem
from ._model import HttpsError, Resolution
from ._signing import decode_base64, verify_signed_json
from ._wellknown import json_type

try:
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID
except ImportError:  # pragma: no cover - the module reports missing cryptography first
    HAS_X509 = False
else:
    HAS_X509 = True

__all__ = [
    "CLIENT_PATH",
    "JSON_BODY_LIMIT",
    "KEYS_PATH",
    "SUPPORT_PATH",
    "VERSION_PATH",
    "certificate_details",
    "certificate_error",
    "check_keys",
    "check_support_file",
    "check_versions",
    "summarise",
]

KEYS_PATH = "/_matrix/key/v2/server"
VERSION_PATH = "/_matrix/federation/v1/version"
CLIENT_PATH = "/.well-known/matrix/client"
SUPPORT_PATH = "/.well-known/matrix/support"
JSON_BODY_LIMIT = 512 * 1024

# OpenSSL X509_V_ERR_* codes that deserve their own explanation.
_CERT_NOT_YET_VALID = 9
_CERT_EXPIRED = 10
_SELF_SIGNED = (18, 19)
_UNKNOWN_ISSUER = (2, 20, 21)
_NAME_MISMATCH = (62, 64)

_SRV_METHODS = ("srv", "srv_legacy", "well_known_srv", "well_known_srv_legacy")


def _iso(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return f"{timestamp:.0f} seconds after the epoch"


def certificate_details(der: bytes | None) -> dict | None:
    """Subject and issuer (RFC 4514), SANs (names and addresses) and not_after of a DER certificate."""
    if not der or not HAS_X509:
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    sans: list[str] = []
    try:
        extension = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        pass
    else:
        names: x509.SubjectAlternativeName = extension.value  # type: ignore[assignment]
        sans.extend(names.get_values_for_type(x509.DNSName))
        sans.extend(str(address) for address in names.get_values_for_type(x509.IPAddress))
    not_after = getattr(cert, "not_valid_after_utc", None)
    if not_after is None:  # cryptography < 42
        not_after = cert.not_valid_after.replace(tzinfo=timezone.utc)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": sans,
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def certificate_error(endpoint: str, exc: HttpsError, details: dict | None, resolution: Resolution) -> Problem:
    """One line that says what is wrong with a certificate and what the spec wants instead."""
    wanted = resolution.tls_server_name
    code = exc.verify_code
    if code in _NAME_MISMATCH:
        names = ", ".join(details["sans"]) if details and details["sans"] else "no names"
        reason = ""
        if resolution.method in ("srv", "srv_legacy"):
            reason = " (SRV delegation: the certificate must be valid for the server name, not for the SRV target)"
        elif resolution.method in _SRV_METHODS:
            reason = " (the certificate must be valid for the delegated server name, not for the SRV target)"
        elif resolution.method in ("ip_literal", "well_known_ip_literal"):
            reason = " (an IP literal server name needs a certificate with that IP address)"
        return Problem(
            "certificate-wrong-name",
            f"certificate presented by {endpoint} is valid for {names} but the spec requires it to be valid for {wanted}{reason}",
        )
    if code == _CERT_EXPIRED:
        when = details["not_after"] if details else "an earlier date"
        return Problem("certificate-expired", f"certificate presented by {endpoint} expired on {when}: renew it")
    if code == _CERT_NOT_YET_VALID:
        return Problem(
            "certificate-expired",
            f"certificate presented by {endpoint} is not valid yet: check its dates and the server clock",
        )
    if code in _SELF_SIGNED or code in _UNKNOWN_ISSUER:
        issuer = details["issuer"] if details else "an unknown issuer"
        return Problem(
            "certificate-untrusted",
            f"certificate presented by {endpoint} is not signed by a trusted CA (issuer {issuer}): use a "
            "certificate from a public CA and serve the full chain (or pass ca_path for a private CA)",
        )
    return Problem("certificate-refused", f"certificate presented by {endpoint} is not valid for {wanted}: {exc}")


def check_keys(keys: Any, *, server_name: str, now_ms: int, endpoint: str) -> tuple[dict, dict | None, list[str]]:
    """Checks of a ``/_matrix/key/v2/server`` response. Returns (checks, keys summary, errors)."""
    checks: dict[str, bool | None] = {
        "matching_server_name": False,
        "future_valid_until_ts": False,
        "has_ed25519_key": False,
        "all_ed25519_checks_ok": None,
    }
    errors: list[str] = []  # Problems
    if not isinstance(keys, dict):
        errors.append(
            Problem("not-a-homeserver", f"keys served by {endpoint} are {json_type(keys)}, expected a JSON object")
        )
        return checks, None, errors
    claimed = keys.get("server_name")
    valid_until = keys.get("valid_until_ts")
    verify_keys: dict = keys["verify_keys"] if isinstance(keys.get("verify_keys"), dict) else {}
    summary = {"server_name": claimed, "valid_until_ts": valid_until, "verify_keys": sorted(verify_keys)}

    checks["matching_server_name"] = claimed == server_name
    if not checks["matching_server_name"]:
        errors.append(
            Problem(
                "keys-wrong-server-name",
                f"keys served by {endpoint} are for server name {json.dumps(claimed)} but the server name is "
                f"'{server_name}': set server_name in homeserver.yaml to '{server_name}', or delegate to the right server",
            )
        )
    if isinstance(valid_until, int) and not isinstance(valid_until, bool):
        checks["future_valid_until_ts"] = valid_until > now_ms
        if not checks["future_valid_until_ts"]:
            errors.append(
                Problem(
                    "keys-expired",
                    f"keys served by {endpoint} expired at {_iso(valid_until / 1000)} (valid_until_ts is in the past): "
                    "the server must publish fresh keys",
                )
            )
    else:
        errors.append(
            Problem(
                "keys-expired",
                f"keys served by {endpoint} have no valid_until_ts integer (got {json.dumps(valid_until)})",
            )
        )

    ed25519_ids = sorted(key_id for key_id in verify_keys if isinstance(key_id, str) and key_id.startswith("ed25519:"))
    checks["has_ed25519_key"] = bool(ed25519_ids)
    if not ed25519_ids:
        errors.append(Problem("keys-bad-signature", f"keys served by {endpoint} have no ed25519 verify key"))
        return checks, summary, errors
    all_ok = True
    for key_id in ed25519_ids:
        entry = verify_keys[key_id]
        try:
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                raise ValueError("the verify key has no 'key' string")
            public_key = decode_base64(entry["key"])
            if len(public_key) != 32:
                raise ValueError(f"the key is {len(public_key)} bytes, an Ed25519 key is 32")
            verify_signed_json(
                keys,
                signing_name=claimed if isinstance(claimed, str) else server_name,
                key_id=key_id,
                public_key=public_key,
            )
        except ValueError as exc:
            all_ok = False
            errors.append(Problem("keys-bad-signature", f"keys served by {endpoint}: {key_id}: {exc}"))
    checks["all_ed25519_checks_ok"] = all_ok
    return checks, summary, errors


def check_support_file(data: Any) -> list[str]:
    """Schema errors of a ``/.well-known/matrix/support`` document (empty list when valid)."""
    if not isinstance(data, dict):
        return [f"the support file is {json_type(data)}, expected a JSON object"]
    errors = []
    contacts = data.get("contacts")
    page = data.get("support_page")
    if contacts is None and page is None:
        errors.append("the support file has neither 'contacts' nor 'support_page'")
    elif page is None and contacts == []:
        errors.append("'contacts' is empty and there is no 'support_page': list at least one contact")
    if page is not None and not (isinstance(page, str) and urlsplit(page).scheme in ("http", "https")):
        errors.append(f"'support_page' must be an http(s) URL, got {json.dumps(page)}")
    if contacts is not None:
        if not isinstance(contacts, list):
            errors.append(f"'contacts' is {json_type(contacts)}, expected an array")
            contacts = []
        for index, contact in enumerate(contacts):
            where = f"contacts[{index}]"
            if not isinstance(contact, dict):
                errors.append(f"{where} is {json_type(contact)}, expected an object")
                continue
            if not isinstance(contact.get("role"), str) or not contact["role"]:
                errors.append(f"{where} has no 'role' (m.role.admin, m.role.security or a namespaced role)")
            if not isinstance(contact.get("matrix_id"), str) and not isinstance(contact.get("email_address"), str):
                errors.append(f"{where} needs a 'matrix_id' or an 'email_address'")
    return errors


def check_versions(url: str, data: dict) -> list[str]:
    """The errors of a ``/_matrix/client/versions`` answer: it needs a non-empty list of strings."""
    versions = data.get("versions")
    if isinstance(versions, list) and versions and all(isinstance(version, str) for version in versions):
        return []
    return [Problem("client-well-known", f"{url} has no 'versions' list of strings: clients will not connect")]


def summarise(result: dict) -> str:
    """A few human lines, like a federation tester's report."""
    resolution = result.get("resolution") or {}
    lines = [f"Federation report for {result['server_name']}"]
    method = resolution.get("method")
    if method:
        well_known = resolution.get("well_known") or {}
        via = ""
        if resolution.get("delegated_server"):
            via = f" via {well_known.get('url')} (m.server {resolution['delegated_server']})"
        elif well_known.get("error"):
            via = f" (no delegation file: {well_known['error']})"
        lines.append(f"Resolution: {method}{via}")
        lines.append(
            f"Host header {resolution.get('host_header')}, certificate name {resolution.get('tls_server_name')}, "
            f"SNI {resolution.get('sni') or 'none'}"
        )
        for target in resolution.get("targets") or []:
            host = f"[{target['host']}]" if ":" in target["host"] else target["host"]
            lines.append(f"Target {host}:{target['port']} -> {', '.join(target['addresses']) or 'no address'}")
    for connection in result.get("connections") or []:
        host = f"[{connection['address']}]" if ":" in connection["address"] else connection["address"]
        head = f"  {host}:{connection['port']}  {'OK' if connection['ok'] else 'FAILED'}"
        tls = connection.get("tls")
        if tls:
            head += (
                f"  {tls['version']} {tls['cipher']}, certificate {'valid' if tls['certificate_valid'] else 'INVALID'}"
            )
        keys = connection.get("keys")
        if keys:
            head += f", keys for {keys['server_name']} ({', '.join(keys['verify_keys'])})"
        lines.append(head)
    version = result.get("version")
    if version:
        lines.append(f"Version: {version.get('name')} {version.get('version')}")
    for part in ("client", "support"):
        value = result.get(part)
        if value:
            lines.append(f"{part.capitalize()} well-known: {'OK' if not value.get('error') else value['error']}")
    errors = result.get("errors") or []
    if result.get("ok"):
        lines.append("Federation OK")
    else:
        lines.append(f"Federation FAILED ({len(errors)} problem{'s' if len(errors) != 1 else ''}):")
        lines.extend(f"  - {error}" for error in errors)
    if isinstance(result.get("implementations"), dict):
        lines.extend(_implementation_lines(result["implementations"], result.get("divergent") or []))
    return "\n".join(lines) + "\n"


def _implementation_lines(implementations: dict, divergent: list) -> list[str]:
    """The ``implementations`` part of the summary: one line per implementation, then ``divergent``."""
    lines = ["Implementations (at a cold cache):"]
    states = {True: "OK", False: "FAILED", None: "NOT CHECKED"}
    for name, entry in implementations.items():
        if entry.get("error"):
            where = f"no connection: {entry['error']}"
        else:
            targets = ", ".join(
                f"[{t['host']}]:{t['port']}" if ":" in t["host"] else f"{t['host']}:{t['port']}"
                for t in entry.get("targets") or []
            )
            where = f"{targets or 'no target'}, Host {entry.get('host_header')}, SNI {entry.get('sni') or 'none'}"
        rules = sorted({d["rule"] for d in entry.get("differs_from_spec") or []})
        differs = f" (differs from the spec: {', '.join(rules)})" if rules else ""
        # why its connections fail: the first failed check's error (a failed resolution is `where`)
        why = next((check["error"] for check in entry.get("checks") or [] if not check["ok"] and check["error"]), None)
        because = f": {why}" if why and entry.get("connections_ok") is False else ""
        lines.append(f"  {name}: {states.get(entry.get('connections_ok'), 'FAILED')} - {where}{differs}{because}")
    if divergent:
        lines.append("Divergent from the spec:")
        for item in divergent:
            outcome = "works" if item["implementation_ok"] else "fails"
            spec = "works" if item["spec_ok"] else "fails"
            lines.append(
                f"  - {item['implementation']} {outcome} where the spec {spec} ({item['rule']}): {item['reason']}; "
                f"fix: {item['fix']}"
            )
    return lines
