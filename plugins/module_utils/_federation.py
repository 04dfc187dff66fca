# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The federation tester behind ``matrixops.delegation.federation_check``.

Private module: not part of the collection's public API.

It resolves a server name once (the shared resolution core), then connects to every address of
every target with the SNI and Host header the spec requires and checks TLS, the server's signing
keys (``/_matrix/key/v2/server``, canonical JSON + Ed25519) and its version; optionally the client
and support well-known files. Pure checks (keys, certificates, well-known schemas, the summary)
are functions of data; ``FederationChecker`` does the network part.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from ._https import HttpsConnection, make_ssl_context
from ._model import PARSE_STEP, Closing, ConfigError, FetchFailure, HttpsError, Resolution, ResolutionError
from ._resolver import ResolveOptions, Resolver
from ._server_name import ServerNameError, parse_server_name
from ._signing import decode_base64, verify_signed_json
from ._wellknown import fetch_following_redirects, json_type, parse_json_object

try:
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID
except ImportError:  # pragma: no cover - the module reports missing cryptography first
    x509 = None

__all__ = [
    "FederationChecker",
    "certificate_details",
    "check_keys",
    "check_support_file",
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
    if not der or x509 is None:
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
        sans.extend(extension.value.get_values_for_type(x509.DNSName))
        sans.extend(str(address) for address in extension.value.get_values_for_type(x509.IPAddress))
    not_after = getattr(cert, "not_valid_after_utc", None)
    if not_after is None:  # cryptography < 42
        not_after = cert.not_valid_after.replace(tzinfo=timezone.utc)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": sans,
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def certificate_error(endpoint: str, exc: HttpsError, details: dict | None, resolution: Resolution) -> str:
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
        return f"certificate presented by {endpoint} is valid for {names} but the spec requires it to be valid for {wanted}{reason}"
    if code == _CERT_EXPIRED:
        when = details["not_after"] if details else "an earlier date"
        return f"certificate presented by {endpoint} expired on {when}: renew it"
    if code == _CERT_NOT_YET_VALID:
        return f"certificate presented by {endpoint} is not valid yet: check its dates and the server clock"
    if code in _SELF_SIGNED or code in _UNKNOWN_ISSUER:
        issuer = details["issuer"] if details else "an unknown issuer"
        return (
            f"certificate presented by {endpoint} is not signed by a trusted CA (issuer {issuer}): use a "
            "certificate from a public CA and serve the full chain (or pass ca_path for a private CA)"
        )
    return f"certificate presented by {endpoint} is not valid for {wanted}: {exc}"


def check_keys(keys: Any, *, server_name: str, now_ms: int, endpoint: str) -> tuple[dict, dict | None, list[str]]:
    """Checks of a ``/_matrix/key/v2/server`` response. Returns (checks, keys summary, errors)."""
    checks: dict[str, bool | None] = {
        "matching_server_name": False,
        "future_valid_until_ts": False,
        "has_ed25519_key": False,
        "all_ed25519_checks_ok": None,
    }
    errors: list[str] = []
    if not isinstance(keys, dict):
        errors.append(f"keys served by {endpoint} are {json_type(keys)}, expected a JSON object")
        return checks, None, errors
    claimed = keys.get("server_name")
    valid_until = keys.get("valid_until_ts")
    verify_keys = keys.get("verify_keys") if isinstance(keys.get("verify_keys"), dict) else {}
    summary = {"server_name": claimed, "valid_until_ts": valid_until, "verify_keys": sorted(verify_keys)}

    checks["matching_server_name"] = claimed == server_name
    if not checks["matching_server_name"]:
        errors.append(
            f"keys served by {endpoint} are for server name {json.dumps(claimed)} but the server name is "
            f"'{server_name}': set server_name in homeserver.yaml to '{server_name}', or delegate to the right server"
        )
    if isinstance(valid_until, int) and not isinstance(valid_until, bool):
        checks["future_valid_until_ts"] = valid_until > now_ms
        if not checks["future_valid_until_ts"]:
            errors.append(
                f"keys served by {endpoint} expired at {_iso(valid_until / 1000)} (valid_until_ts is in the past): "
                "the server must publish fresh keys"
            )
    else:
        errors.append(f"keys served by {endpoint} have no valid_until_ts integer (got {json.dumps(valid_until)})")

    ed25519_ids = sorted(key_id for key_id in verify_keys if isinstance(key_id, str) and key_id.startswith("ed25519:"))
    checks["has_ed25519_key"] = bool(ed25519_ids)
    if not ed25519_ids:
        errors.append(f"keys served by {endpoint} have no ed25519 verify key")
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
            errors.append(f"keys served by {endpoint}: {key_id}: {exc}")
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
    return "\n".join(lines) + "\n"


class FederationChecker(Closing):
    """One run of the federation check (one resolver, one memo; nothing kept afterwards)."""

    def __init__(self, options: ResolveOptions, *, now=time.time) -> None:
        self.options = options
        self.now = now
        self.resolver = Resolver(options)
        # Certificates are always verified, to report on them; validate_certs only decides
        # whether an invalid one stops the checks on that connection.
        try:
            self.verifying = make_ssl_context(ca_path=options.ca_path, validate_certs=True)
        except HttpsError as exc:
            raise ConfigError(str(exc)) from exc
        self.inspecting = make_ssl_context(validate_certs=False)
        self.warnings: list[str] = []

    def close(self) -> None:
        self.resolver.close()

    # -- connections --------------------------------------------------------------------------------
    def check_connection(self, resolution: Resolution, address: str, port: int) -> dict:
        endpoint = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        result: dict[str, Any] = {
            "address": address,
            "port": port,
            "ok": False,
            "error": None,
            "tls": None,
            "checks": {
                "valid_certificate": False,
                "matching_server_name": None,
                "future_valid_until_ts": None,
                "has_ed25519_key": None,
                "all_ed25519_checks_ok": None,
            },
            "keys": None,
        }
        errors: list[str] = []
        server_hostname = resolution.tls_server_name
        connection = HttpsConnection(
            address, port, server_hostname=server_hostname, context=self.verifying, timeout=self.options.timeout
        )
        certificate_valid = True
        certificate_problem = None
        try:
            try:
                sock = connection.connect()
            except HttpsError as exc:
                if exc.kind != "certificate":
                    raise
                certificate_valid = False
                certificate_problem = exc
                connection = HttpsConnection(
                    address,
                    port,
                    server_hostname=server_hostname,
                    context=self.inspecting,
                    timeout=self.options.timeout,
                )
                sock = connection.connect()
            details = certificate_details(sock.getpeercert(binary_form=True))
            cipher = sock.cipher()
            result["tls"] = {
                "version": sock.version(),
                "cipher": cipher[0] if cipher else None,
                "certificate_valid": certificate_valid,
                "certificate": details,
            }
            result["checks"]["valid_certificate"] = certificate_valid
            if not certificate_valid:
                message = certificate_error(endpoint, certificate_problem, details, resolution)
                if self.options.validate_certs:
                    result["error"] = message
                    return result
                self.warnings.append(f"{message} (ignored: validate_certs is false)")
            errors.extend(self._check_keys(connection, resolution, endpoint, result))
            version = self._get_json(connection, VERSION_PATH, resolution.host_header, endpoint, errors)
            if version is not None:
                server = version.get("server") if isinstance(version, dict) else None
                if isinstance(server, dict):
                    result["version"] = {"name": server.get("name"), "version": server.get("version")}
                else:
                    errors.append(f"{VERSION_PATH} on {endpoint} has no 'server' object")
        except HttpsError as exc:
            reason = str(exc)
            if reason.startswith(endpoint + ": "):
                reason = reason[len(endpoint) + 2 :]
            errors.append(f"cannot check {endpoint}: {reason}")
        finally:
            connection.close()
        if errors:
            result["error"] = "; ".join(errors)
        required = dict(result["checks"])
        if not self.options.validate_certs:
            required.pop("valid_certificate")  # reported as a warning above
        result["ok"] = not errors and all(value is not False for value in required.values())
        return result

    def _get_json(self, connection: HttpsConnection, path: str, host_header: str, endpoint: str, errors: list[str]):
        response = connection.request(path, host_header=host_header, body_limit=JSON_BODY_LIMIT)
        if response.status != 200:
            errors.append(f"GET {path} on {endpoint} answered HTTP {response.status} (expected 200)")
            return None
        try:
            return parse_json_object(response.body)
        except FetchFailure as exc:
            errors.append(f"GET {path} on {endpoint}: {exc}")
            return None

    def _check_keys(
        self, connection: HttpsConnection, resolution: Resolution, endpoint: str, result: dict
    ) -> list[str]:
        errors: list[str] = []
        keys = self._get_json(connection, KEYS_PATH, resolution.host_header, endpoint, errors)
        if keys is None:
            for name in ("matching_server_name", "future_valid_until_ts", "has_ed25519_key"):
                result["checks"][name] = False
            return errors
        checks, summary, key_errors = check_keys(
            keys, server_name=resolution.server_name, now_ms=int(self.now() * 1000), endpoint=endpoint
        )
        result["checks"].update(checks)
        result["keys"] = summary
        return errors + key_errors

    # -- well-known files ---------------------------------------------------------------------------
    def _fetch(self, url: str) -> list:
        return fetch_following_redirects(
            url,
            dns_addresses=self.resolver.addresses,
            https=self.resolver.https,
            body_limit=JSON_BODY_LIMIT,
            deadline=self.resolver.clock.monotonic() + self.resolver.well_known_budget,
        )

    def check_client(self, host: str) -> tuple[dict, list[str]]:
        url = f"https://{host}{CLIENT_PATH}"
        report: dict[str, Any] = {
            "url": url,
            "status": None,
            "base_url": None,
            "cors": None,
            "versions_ok": None,
            "error": None,
        }
        errors: list[str] = []
        fetched = True
        try:
            hops = self._fetch(url)
        except FetchFailure as exc:
            hops, fetched = exc.hops, False
            errors.append(f"client well-known: {exc}")
        if hops:
            report["status"] = hops[-1][1].status
            missing = [hop_url for hop_url, response in hops if response.header("access-control-allow-origin") != "*"]
            report["cors"] = not missing
            errors.extend(
                f"{hop_url} is served without 'Access-Control-Allow-Origin: *': web clients cannot read it; add the header"
                for hop_url in missing
            )
        if fetched:
            errors.extend(self._check_client_body(hops[-1], report))
        report["error"] = errors[0] if errors else None
        return report, errors

    def _check_client_body(self, hop: tuple, report: dict) -> list[str]:
        url, response = hop
        if response.status != 200:
            report["versions_ok"] = False
            return [f"client well-known {url} answered HTTP {response.status} (expected 200)"]
        try:
            data = parse_json_object(response.body)
        except FetchFailure as exc:
            report["versions_ok"] = False
            return [f"client well-known {url}: {exc}"]
        homeserver = data.get("m.homeserver")
        base_url = homeserver.get("base_url") if isinstance(homeserver, dict) else None
        if not isinstance(base_url, str):
            report["versions_ok"] = False
            return [f"client well-known {url} has no m.homeserver.base_url string"]
        report["base_url"] = base_url
        errors = self._check_base_url(base_url, "/_matrix/client/versions", "m.homeserver.base_url", report)
        identity = data.get("m.identity_server")
        if identity is not None:
            is_url = identity.get("base_url") if isinstance(identity, dict) else None
            if not isinstance(is_url, str):
                errors.append(f"client well-known {url}: m.identity_server has no base_url string")
            else:
                errors.extend(self._check_base_url(is_url, "/_matrix/identity/v2", "m.identity_server.base_url", None))
        return errors

    def _check_base_url(self, base_url: str, path: str, label: str, report: dict | None) -> list[str]:
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.netloc:
            if report is not None:
                report["versions_ok"] = False
            return [f"{label} {base_url!r} must be an https:// URL"]
        url = base_url.rstrip("/") + path
        try:
            hops = self._fetch(url)
            final_url, response = hops[-1]
            if response.status != 200:
                raise FetchFailure(f"HTTP status {response.status} from {final_url} (expected 200)")
            data = parse_json_object(response.body)
        except FetchFailure as exc:
            if report is not None:
                report["versions_ok"] = False
            return [f"{label}: {url}: {exc}"]
        if report is not None:
            versions = data.get("versions")
            report["versions_ok"] = (
                isinstance(versions, list) and all(isinstance(v, str) for v in versions) and bool(versions)
            )
            if not report["versions_ok"]:
                return [f"{url} has no 'versions' list of strings: clients will not connect"]
        return []

    def check_support(self, host: str) -> tuple[dict, list[str]]:
        url = f"https://{host}{SUPPORT_PATH}"
        report: dict[str, Any] = {"url": url, "status": None, "valid": False, "error": None}
        try:
            hops = self._fetch(url)
            final_url, response = hops[-1]
            report["status"] = response.status
            if response.status != 200:
                raise FetchFailure(f"HTTP status {response.status} from {final_url} (expected 200)")
            errors = [
                f"support well-known {url}: {error}" for error in check_support_file(parse_json_object(response.body))
            ]
        except FetchFailure as exc:
            if exc.hops:
                report["status"] = exc.hops[-1][1].status
            errors = [f"support well-known: {exc}"]
        report["valid"] = not errors
        report["error"] = errors[0] if errors else None
        return report, errors

    # -- the whole run --------------------------------------------------------------------------------
    def run(
        self,
        server_name: str,
        *,
        expected_target: str | None = None,
        check_client: bool = False,
        check_support: bool = False,
    ) -> dict:
        result: dict[str, Any] = {
            "ok": False,
            "server_name": server_name,
            "resolution": None,
            "connections": [],
            "version": None,
            "client": None,
            "support": None,
            "errors": [],
        }
        errors: list[str] = result["errors"]
        expected = None
        if expected_target is not None:
            try:
                expected = parse_server_name(expected_target)[0]
            except ServerNameError as exc:
                errors.append(f"expected_target: {exc}")
            else:
                if expected.port is None:
                    errors.append(f"expected_target '{expected_target}' needs a port, like 'matrix.example.com:443'")
                    expected = None
        try:
            resolution = self.resolver.resolve(server_name)
        except ResolutionError as exc:
            resolution = None
            if exc.partial is not None and exc.step != PARSE_STEP:
                result["resolution"] = exc.partial.to_dict()
                result["server_name"] = exc.partial.server_name
            errors.append(str(exc))
        if resolution is not None:
            result["resolution"] = resolution.to_dict()
            result["server_name"] = resolution.server_name
            self.warnings.extend(resolution.warnings)
            well_known = resolution.well_known
            if (
                well_known is not None
                and well_known.error
                and "'m.server' is not a valid server name" in well_known.error
            ):
                errors.append(f"{well_known.url}: {well_known.error}")
            endpoints = [
                (target.host, address, target.port) for target in resolution.targets for address in target.addresses
            ]
            connections = self.resolver.pool.map(
                lambda endpoint: self.check_connection(resolution, endpoint[1], endpoint[2]), endpoints, limit=8
            )
            for connection in connections:
                version = connection.pop("version", None)
                if version and result["version"] is None:
                    result["version"] = version
                if connection["error"]:
                    errors.append(connection["error"])
            result["connections"] = connections
            if expected is not None:
                reached = [(target.host, target.port) for target in resolution.targets]
                if (expected.host, expected.port) not in reached:
                    shown = ", ".join(f"{host}:{port}" for host, port in reached) or "nothing"
                    errors.append(
                        f"expected_target {expected_target} is not where {resolution.server_name} resolves to "
                        f"({resolution.method} gives {shown}): fix the delegation or expected_target"
                    )
        try:
            host = parse_server_name(server_name)[0].host_for_url
        except ServerNameError:
            host = None
        if host is not None:
            if check_client:
                result["client"], client_errors = self.check_client(host)
                errors.extend(client_errors)
            if check_support:
                result["support"], support_errors = self.check_support(host)
                errors.extend(support_errors)
        result["ok"] = not errors and bool(result["connections"]) and all(c["ok"] for c in result["connections"])
        if not result["ok"] and not errors:
            errors.append(f"no connection to {result['server_name']} could be checked")
        result["summary"] = summarise(result)
        return result
