# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ACME certificates through certbot: when to order, the command line, the renewal conf, failures.

Private module: not part of the collection's public API. Pure functions (no process, no file
access) used by the ``certbot_certificate`` module:

    current = certificate_facts(pem)                      # or None when there is no lineage
    renewal = parse_renewal_conf(text)                    # or None
    decision = decide(request, current, renewal, now=utcnow())
    argv = certbot_command(request, lineage_exists=current is not None)
    text = set_renew_before_expiry(text, request.renew_before_days)
    msg = failure_message(request, output, log)           # certbot's output → what to fix

Nothing here sees a secret: the DNS credentials stay in their file, whose path alone is passed.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from ansible_collections.matrixops.delegation.plugins.module_utils._tls_material import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
)

if HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "CHALLENGES",
    "CRYPTOGRAPHY_IMPORT_ERROR",
    "HAS_CRYPTOGRAPHY",
    "KEY_TYPES",
    "LETS_ENCRYPT",
    "LETS_ENCRYPT_STAGING",
    "AcmeError",
    "CertificateFacts",
    "Decision",
    "Request",
    "certbot_command",
    "certificate_facts",
    "decide",
    "failure_message",
    "parse_renewal_conf",
    "set_renew_before_expiry",
    "validate_domain",
]

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
CHALLENGES = ("http-01", "dns-01")
KEY_TYPES = ("ecdsa", "rsa")
ONE_DAY = datetime.timedelta(days=1)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class AcmeError(ValueError):
    """A request that cannot be made (bad option values); the message says which option and why."""


@dataclass(frozen=True)
class Request:
    """One certificate as the module's options ask for it."""

    cert_name: str
    domains: Sequence[str]
    challenge: str = "http-01"
    webroot: str | None = None
    dns_credentials: str | None = None
    dns_propagation_seconds: int = 30
    directory: str = LETS_ENCRYPT
    email: str = ""
    key_type: str = "ecdsa"
    rsa_key_size: int = 2048
    renew_before_days: int = 30
    certbot_dir: str = "/etc/letsencrypt"
    work_dir: str = "/var/lib/letsencrypt"
    logs_dir: str = "/var/log/letsencrypt"
    certbot: str = "certbot"
    force: bool = False
    dns_server: str | None = field(default=None, compare=False)  # for messages only (from the credentials file)

    @property
    def live_dir(self) -> str:
        return f"{self.certbot_dir.rstrip('/')}/live/{self.cert_name}"

    @property
    def renewal_config(self) -> str:
        return f"{self.certbot_dir.rstrip('/')}/renewal/{self.cert_name}.conf"

    @property
    def subject(self) -> str:
        """``certificate NAME (a, b), challenge http-01``: how every message names the request."""
        return f"certificate {self.cert_name} ({', '.join(self.domains)}), challenge {self.challenge}"


@dataclass(frozen=True)
class CertificateFacts:
    """What the lineage's ``cert.pem`` says."""

    domains: list[str]
    not_after: datetime.datetime
    serial: str
    issuer: str
    key_type: str
    key_size: int

    def days_left(self, now: datetime.datetime) -> int:
        return int((self.not_after - now) // ONE_DAY)

    def to_dict(self, now: datetime.datetime) -> dict[str, Any]:
        return {
            "not_after": iso(self.not_after),
            "days_left": self.days_left(now),
            "serial": self.serial,
            "issuer": self.issuer,
        }


@dataclass(frozen=True)
class Decision:
    """Whether to order, why (for people), and whether the renewal conf needs ``renew_before_expiry``."""

    order: bool
    reason: str


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- options -----------------------------------------------------------------------------------------
def validate_domain(name: str) -> str:
    """``name`` lower-cased without a trailing dot, if it is a DNS name (``*.`` allowed first); else AcmeError."""
    text = str(name).strip().lower().rstrip(".")
    labels = text.split(".")
    if labels and labels[0] == "*":
        labels = labels[1:]
    if len(labels) < 2 or len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        raise AcmeError(f"domains: {name!r} is not a DNS name (expected labels of letters, digits and hyphens)")
    return text


def check_request(request: Request) -> None:
    """AcmeError naming the option when the request cannot be ordered as given."""
    if not request.domains:
        raise AcmeError("domains: at least one name is needed")
    if request.challenge not in CHALLENGES:
        raise AcmeError(f"challenge: expected one of {', '.join(CHALLENGES)}, got {request.challenge!r}")
    if request.challenge == "http-01" and not request.webroot:
        raise AcmeError(
            "webroot: http-01 needs the directory that is served at http://<domain>/ (certbot --webroot -w)"
        )
    if request.challenge == "dns-01" and not request.dns_credentials:
        raise AcmeError("dns_credentials: dns-01 needs the certbot-dns-rfc2136 credentials file (server, key, secret)")
    if request.key_type not in KEY_TYPES:
        raise AcmeError(f"key_type: expected one of {', '.join(KEY_TYPES)}, got {request.key_type!r}")
    if request.renew_before_days < 1:
        raise AcmeError(f"renew_before_days: expected a positive number of days, got {request.renew_before_days}")
    if "/" in request.cert_name or request.cert_name in ("", ".", ".."):
        raise AcmeError(f"cert_name: {request.cert_name!r} cannot name a directory under live/")


# -- the current lineage -----------------------------------------------------------------------------
def certificate_facts(pem: bytes) -> CertificateFacts:
    """Facts of the first certificate in ``pem``; ValueError when it is not one."""
    cert = x509.load_pem_x509_certificate(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        domains = [str(name).lower() for name in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        domains = []
    public_key = cert.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        key_type, key_size = "ecdsa", public_key.curve.key_size
    elif isinstance(public_key, rsa.RSAPublicKey):
        key_type, key_size = "rsa", public_key.key_size
    else:  # pragma: no cover - ACME CAs issue for RSA and ECDSA keys only
        key_type, key_size = type(public_key).__name__, 0
    try:
        not_after = cert.not_valid_after_utc
    except AttributeError:  # pragma: no cover - cryptography < 42
        not_after = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return CertificateFacts(
        domains=domains,
        not_after=not_after,
        serial=f"{cert.serial_number:x}",
        issuer=cert.issuer.rfc4514_string(),
        key_type=key_type,
        key_size=key_size,
    )


def parse_renewal_conf(text: str) -> dict[str, str]:
    """The ``key = value`` lines of a certbot renewal conf, top level and ``[renewalparams]`` in one dict.

    Top-level keys (``renew_before_expiry``, ``cert``...) keep their names; nested sections
    (``[[webroot_map]]``) are skipped.  Comments do not count.
    """
    values: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        key, sep, value = line.partition("=")
        if sep and section in ("", "[renewalparams]"):
            values.setdefault(key.strip(), value.strip())
    return values


def _same_directory(a: str, b: str) -> bool:
    return a.strip().rstrip("/") == b.strip().rstrip("/")


def decide(
    request: Request,
    current: CertificateFacts | None,
    renewal: dict[str, str] | None,
    *,
    now: datetime.datetime,
) -> Decision:
    """Order or not: the first reason that applies, in the order of the contract's list."""
    if current is None:
        return Decision(True, f"no certificate yet at {request.live_dir}/cert.pem")
    if renewal is None:
        return Decision(True, f"no renewal configuration {request.renewal_config}: certbot could not renew it")
    wanted = sorted({validate_domain(name) for name in request.domains})
    have = sorted(set(current.domains))
    if wanted != have:
        return Decision(
            True, f"domains differ: the certificate has {', '.join(have) or 'none'}, wanted {', '.join(wanted)}"
        )
    server = renewal.get("server", "")
    if not _same_directory(server, request.directory):
        return Decision(True, f"issued through {server or 'an unknown directory'}, wanted {request.directory}")
    if current.key_type != request.key_type:
        return Decision(True, f"key type {current.key_type}, wanted {request.key_type}")
    if request.key_type == "rsa" and current.key_size != request.rsa_key_size:
        return Decision(True, f"RSA key of {current.key_size} bits, wanted {request.rsa_key_size}")
    days = current.days_left(now)
    window = f"renewal window {request.renew_before_days} days"
    if current.not_after - now <= request.renew_before_days * ONE_DAY:
        return Decision(True, f"expires {iso(current.not_after)} ({days} days left; {window})")
    if request.force:
        return Decision(True, f"force: true (valid until {iso(current.not_after)}, {days} days left)")
    return Decision(False, f"valid until {iso(current.not_after)} ({days} days left; {window})")


# -- certbot ------------------------------------------------------------------------------------------
def certbot_command(request: Request, *, lineage_exists: bool) -> list[str]:
    """``certbot certonly ...`` for the request (no secret on it: DNS credentials are a file)."""
    argv = [request.certbot, "certonly", "--non-interactive", "--agree-tos", "--cert-name", request.cert_name]
    for name in request.domains:
        argv += ["-d", validate_domain(name)]
    argv += ["--server", request.directory, "--key-type", request.key_type]
    if request.key_type == "rsa":
        argv += ["--rsa-key-size", str(request.rsa_key_size)]
    argv += ["--email", request.email] if request.email else ["--register-unsafely-without-email"]
    if request.challenge == "http-01":
        argv += ["--webroot", "-w", str(request.webroot)]
    else:
        argv += [
            "--dns-rfc2136",
            "--dns-rfc2136-credentials",
            str(request.dns_credentials),
            "--dns-rfc2136-propagation-seconds",
            str(request.dns_propagation_seconds),
        ]
    argv += ["--config-dir", request.certbot_dir, "--work-dir", request.work_dir, "--logs-dir", request.logs_dir]
    if lineage_exists:
        argv.append("--force-renewal")
    return argv


_RENEW_BEFORE = re.compile(r"^\s*#?\s*renew_before_expiry\s*=.*$", re.MULTILINE)


def set_renew_before_expiry(text: str, days: int) -> str:
    """The renewal conf with ``renew_before_expiry = <days> days`` at its top level (replacing any such line)."""
    line = f"renew_before_expiry = {days} days"
    if _RENEW_BEFORE.search(text):
        return _RENEW_BEFORE.sub(line, text, count=1)
    return f"{line}\n{text}"


# -- failures ----------------------------------------------------------------------------------------
_PROBLEM = re.compile(
    r"^\s*Domain:\s*(?P<domain>\S+)\s*\n\s*Type:\s*(?P<type>\S+)\s*\n\s*Detail:\s*(?P<detail>.*)$", re.MULTILINE
)
_ACME_ERROR = re.compile(r"urn:ietf:params:acme:error:(?P<type>\w+)(?P<rest>(?: :: .*)?)")
_UNREACHABLE = (
    "Connection refused",
    "Failed to establish a new connection",
    "Name or service not known",
    "Temporary failure in name resolution",
    "No route to host",
    "timed out",
    "Network is unreachable",
    "Max retries exceeded",
)
_TSIG = ("didn't like the signature", "BADSIG", "BADKEY", "BADTIME", "NOTAUTH", "not authorized")


def _interesting_lines(text: str, limit: int = 3) -> str:
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip()
        and not line.startswith(("Saving debug log", "Ask for help", "Requesting a certificate", "- - -", "Hint:"))
    ]
    return " / ".join(lines[-limit:]) or "no output"


def _dns_server(request: Request) -> str:
    return request.dns_server or "the DNS server of dns_credentials"


def _challenge_problem(request: Request, domain: str, kind: str, detail: str) -> str:
    """What to fix for one failed authorization, as certbot lists them."""
    what = f"{request.challenge} for {domain} failed ({kind}: {detail})"
    if request.challenge == "http-01":
        if "could not resolve" in detail or "NXDOMAIN" in detail or "no valid A records" in detail:
            return f"{what}: {domain} does not resolve for the ACME server; publish its A/AAAA record pointing at this host"
        if kind == "connection" or "connection refused" in detail or "timeout" in detail.lower():
            return (
                f"{what}: port 80 of {domain} not reachable from the ACME server; make {domain} resolve to "
                "this host and let a web server listen on port 80 there (firewall, listen address)"
            )
        return (
            f"{what}: challenge file not served from {request.webroot}; serve "
            f"http://{domain}/.well-known/acme-challenge/ from the webroot {request.webroot} (option webroot)"
        )
    return (
        f"{what}: the ACME server did not find the TXT record _acme-challenge.{domain}; check that "
        f"{_dns_server(request)} is the primary of the zone the ACME server queries, and raise "
        f"dns_propagation_seconds ({request.dns_propagation_seconds}) if its secondaries lag"
    )


def failure_message(request: Request, output: str, log: str = "") -> str:
    """A message for a failed ``certbot certonly``: what failed for which domain, and what to change.

    ``output`` is certbot's stdout and stderr, ``log`` the part of its log file this run wrote
    (certbot 2.1 prints only "An unexpected error occurred" for some ACME errors, which the log
    names).  Never raises.
    """
    text = f"{output}\n{log}"
    head = f"{request.subject}: "
    errors = list(_ACME_ERROR.finditer(text))
    detailed = [match for match in errors if match.group("rest")]
    acme = (detailed or errors)[-1] if errors else None
    # ``acme.messages.Error`` prints "<urn> :: <title> :: <detail>"; the detail is the last part.
    parts = acme.group("rest").split(" :: ") if acme else []
    detail = parts[-1].strip() if len(parts) > 2 else ""
    if acme and acme.group("type") in ("rejectedIdentifier", "rejectedidentifier", "caa"):
        return (
            f"{head}the ACME server {request.directory} refuses to issue for these names "
            f"({acme.group('type')}: {detail or 'forbidden by policy'}); use names its policy allows, "
            "or another directory"
        )
    if acme and acme.group("type") == "rateLimited":
        return (
            f"{head}rate limited by {request.directory} ({detail or 'too many requests'}); wait for the limit "
            "to reset and do not force renewals, or use the staging directory while testing "
            f"({LETS_ENCRYPT_STAGING})"
        )
    problems: list[str] = []
    for match in _PROBLEM.finditer(text):
        problem = _challenge_problem(request, match["domain"], match["type"], match["detail"].strip())
        if problem not in problems:  # certbot's log repeats what it printed
            problems.append(problem)
    if problems:
        return head + "; ".join(problems)
    if request.challenge == "dns-01" and any(marker in text for marker in _TSIG):
        return (
            f"{head}TSIG key refused by {_dns_server(request)} when adding the TXT record: check the key "
            "name, secret and algorithm in dns_credentials (dns_rfc2136_name, _secret, _algorithm) against "
            "the DNS server's key, and that its ACL allows that key to update the zone"
        )
    if request.challenge == "dns-01" and "Unable to determine base domain" in text:
        return (
            f"{head}{_dns_server(request)} is not authoritative for a zone holding _acme-challenge of these "
            "names (no SOA found); set dns_rfc2136_server in dns_credentials to the zone's primary server"
        )
    if request.challenge == "dns-01" and "REFUSED" in text:
        return (
            f"{head}{_dns_server(request)} REFUSED the update of the TXT record; allow the TSIG key to update the zone"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text:
        return (
            f"{head}the HTTPS certificate of the ACME server {request.directory} is not trusted "
            f"({_interesting_lines(output, 1)}); set ca_bundle to the CA bundle that signs it"
        )
    if any(marker in text for marker in _UNREACHABLE):
        return (
            f"{head}the ACME server {request.directory} is unreachable ({_interesting_lines(output, 1)}); "
            "check the directory URL (host, port) and that this host can reach it"
        )
    if acme:
        return f"{head}the ACME server {request.directory} answered {acme.group('type')}: {detail or _interesting_lines(output)}"
    return f"{head}certbot failed: {_interesting_lines(output)}"
