# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The model of server-name resolution: value types, errors, the ports and the clock.

Private module: not part of the collection's public API. It imports no other module_utils file:
the resolution core (``_resolution``, ``_wellknown``), the adapters (``_dns``, ``_https``,
``_federation_probe``) and the composition (``_resolver``, ``_federation``) meet here.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Protocol, TypeVar

__all__ = [
    "CACHE_FAILURE",
    "DEFAULT_PORT",
    "METHODS",
    "PARSE_STEP",
    "SYSTEM_CLOCK",
    "AddressAnswer",
    "Clock",
    "Closing",
    "ConfigError",
    "DnsError",
    "DnsPort",
    "FederationProbe",
    "FetchFailure",
    "HttpResponse",
    "HttpsError",
    "HttpsPort",
    "Method",
    "Parallel",
    "Resolution",
    "ResolutionError",
    "Sequential",
    "SrvAnswer",
    "SrvLookup",
    "SrvRecord",
    "Target",
    "TlsSession",
    "WellKnown",
]

DEFAULT_PORT = 8448
CACHE_FAILURE = 3600  # seconds a failed well-known fetch is cached
PARSE_STEP = "parsing the server name"

_T = TypeVar("_T")
_R = TypeVar("_R")
_Self = TypeVar("_Self", bound="Closing")


class Method(str, Enum):
    """How a server name was resolved (the steps of the spec's "Resolving server names")."""

    IP_LITERAL = "ip_literal"  # 1
    EXPLICIT_PORT = "explicit_port"  # 2
    WELL_KNOWN_IP_LITERAL = "well_known_ip_literal"  # 3.1
    WELL_KNOWN_EXPLICIT_PORT = "well_known_explicit_port"  # 3.2
    WELL_KNOWN_SRV = "well_known_srv"  # 3.3
    WELL_KNOWN_SRV_LEGACY = "well_known_srv_legacy"  # 3.4
    WELL_KNOWN_DEFAULT_PORT = "well_known_default_port"  # 3.5
    SRV = "srv"  # 4
    SRV_LEGACY = "srv_legacy"  # 5
    DEFAULT_PORT = "default_port"  # 6

    def __str__(self) -> str:
        return self.value

    @classmethod
    def after_srv(cls, *, delegated: bool, legacy: bool | None) -> Method:
        """The method of steps 3.3 to 3.5 (``delegated``) or 4 to 6: ``legacy`` None means no SRV records."""
        if legacy is None:
            return cls.WELL_KNOWN_DEFAULT_PORT if delegated else cls.DEFAULT_PORT
        if delegated:
            return cls.WELL_KNOWN_SRV_LEGACY if legacy else cls.WELL_KNOWN_SRV
        return cls.SRV_LEGACY if legacy else cls.SRV


#: The method names, as the ``method`` of a result holds them.
METHODS = tuple(method.value for method in Method)


class ConfigError(ValueError):
    """An option is unusable (bad nameserver, unreadable CA bundle, bad number)."""


# -- DNS ---------------------------------------------------------------------------------------------
class DnsError(Exception):
    """A DNS query failed (SERVFAIL, REFUSED, time-out, malformed answer, CNAME loop)."""

    def __init__(self, query: str, reason: str, *, kind: str = "other") -> None:
        super().__init__(f"{query}: {reason}")
        self.query = query
        self.reason = reason
        self.kind = kind  # "SERVFAIL", "REFUSED", "timeout" or "other" (implementations treat them apart)


@dataclass(frozen=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str  # without the trailing dot; "." for "service disabled"

    def to_dict(self) -> dict:
        return {"priority": self.priority, "weight": self.weight, "port": self.port, "target": self.target}


@dataclass
class SrvAnswer:
    name: str
    records: list[SrvRecord]
    status: str  # "NOERROR", "NXDOMAIN" or "NODATA"
    ttl: int | None = None  # the answer's TTL (negative TTL for NXDOMAIN/NODATA), None when unknown


@dataclass
class AddressAnswer:
    name: str
    addresses: list[str]  # AAAA first, then A
    cnames: list[str] = field(default_factory=list)  # names of the CNAME chain followed
    warnings: list[str] = field(default_factory=list)  # one family failed, the other answered
    ttl: int | None = None  # the smallest TTL of the addresses (CNAMEs included), None when unknown


# -- HTTPS -------------------------------------------------------------------------------------------
#: The catalogue code (``_catalogue``) of an HttpsError of each kind, unless the raiser names one.
_HTTPS_CODES = {
    "connect": "cannot-connect",
    "tls": "tls-handshake-failed",
    "certificate": "certificate-refused",
}


class HttpsError(Exception):
    """Connecting, the TLS handshake or reading a response failed. ``kind`` says which."""

    def __init__(
        self, message: str, *, kind: str = "http", verify_code: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind  # "connect", "tls", "certificate", "timeout", "http", "too_large", "config"
        self.verify_code = verify_code  # OpenSSL X509_V_ERR_* for kind "certificate"
        self.status: int | None = None  # the HTTP status, when the failure came after the status line
        self.code = code or _HTTPS_CODES.get(kind, "slow-or-broken-response")  # its catalogue code


@dataclass
class HttpResponse:
    status: int
    reason: str
    headers: list[tuple]  # (name lower-cased, value), in order
    body: bytes

    def header(self, name: str) -> str | None:
        """The last value of a header, or None."""
        values = self.header_values(name)
        return values[-1] if values else None

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


class FetchFailure(Exception):
    """An HTTPS fetch gave no usable answer; ``hops`` holds the responses received until then."""

    def __init__(
        self,
        message: str,
        hops: list[tuple[str, HttpResponse]] | None = None,
        *,
        status: int | None = None,
        kind: str = "error",
        location: str | None = None,
    ) -> None:
        super().__init__(message)
        self.hops = hops or []
        self.status = status  # the status of a response whose body could not be read
        # Where fetching stopped: "error" (connect, TLS, DNS...), "too_large", "no_location",
        # "bad_location", "http_redirect", "other_scheme", "too_many" or "loop"; ``location`` is
        # the redirect not followed. Implementation profiles judge the same fetch by them.
        self.kind = kind
        self.location = location


# -- the result ----------------------------------------------------------------------------------------
@dataclass
class Target:
    host: str
    port: int
    addresses: list[str]


@dataclass
class WellKnown:
    url: str
    status: int | None = None
    m_server: Any = None
    error: str | None = None
    redirects: list[str] = field(default_factory=list)
    cache_seconds: int = CACHE_FAILURE

    def __post_init__(self) -> None:
        self.error_code: str | None = None  # the catalogue code of an ``error`` worth reporting (not in to_dict)
        self.rule: str | None = None  # the profile rule that refused the file (not in to_dict)


@dataclass
class SrvLookup:
    name: str
    records: list[dict]
    error: str | None = None


@dataclass
class Resolution:
    server_name: str
    method: str | None = None  # a Method; a str subclass, so to_dict() holds the plain name
    delegated_server: str | None = None
    host_header: str | None = None
    tls_server_name: str | None = None
    sni: str | None = None
    targets: list[Target] = field(default_factory=list)
    well_known: WellKnown | None = None
    srv: list[SrvLookup] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The lookup's result dict: plain ``str``/``int``/``list``/``dict`` values, nothing shared.

        Built field by field, not with ``dataclasses.asdict``: ``asdict`` deep-copies every
        leaf, and under Ansible the names are tagged ``str`` subclasses whose deep copy pickles
        their tags - the profile of a 1000-name lookup through ``ansible-playbook`` showed 80 %
        of the worker's Python time there (docs/performance.md). Only ``m_server``, the one
        value of arbitrary JSON shape, is deep-copied.
        """
        well_known = self.well_known
        return {
            "server_name": _plain(self.server_name),
            "method": None if self.method is None else str.__str__(self.method),
            "delegated_server": _plain(self.delegated_server),
            "host_header": _plain(self.host_header),
            "tls_server_name": _plain(self.tls_server_name),
            "sni": _plain(self.sni),
            "targets": [
                {
                    "host": _plain(target.host),
                    "port": target.port,
                    "addresses": [_plain(address) for address in target.addresses],
                }
                for target in self.targets
            ],
            "well_known": None
            if well_known is None
            else {
                "url": _plain(well_known.url),
                "status": well_known.status,
                "m_server": copy.deepcopy(well_known.m_server),
                "error": _plain(well_known.error),
                "redirects": [_plain(url) for url in well_known.redirects],
                "cache_seconds": well_known.cache_seconds,
            },
            "srv": [
                {
                    "name": _plain(lookup.name),
                    "records": [dict(record) for record in lookup.records],
                    "error": _plain(lookup.error),
                }
                for lookup in self.srv
            ],
            "warnings": [_plain(warning) for warning in self.warnings],
        }


def _plain(value: str | None) -> str | None:
    """``value`` as an exact ``str`` (a ``str`` subclass, such as Ansible's tagged strings, copied)."""
    return value if value is None or value.__class__ is str else str.__str__(value)


class ResolutionError(Exception):
    """A server name cannot be resolved: names the server name, the step and the reason."""

    def __init__(
        self,
        server_name: str,
        step: str,
        reason: str,
        *,
        code: str,
        partial: Resolution | None = None,
    ) -> None:
        shown = f"'{server_name}'"
        if partial is not None and partial.server_name != server_name:
            shown += f" ({partial.server_name})"
        super().__init__(f"cannot resolve server name {shown}: {step}: {reason}")
        self.server_name = server_name
        self.step = step
        self.reason = reason
        self.partial = partial
        self.code = code  # its catalogue code (``_catalogue``)


# -- the ports -------------------------------------------------------------------------------------------
class DnsPort(Protocol):
    """DNS: NXDOMAIN and NODATA are empty answers; SERVFAIL, REFUSED and time-outs raise DnsError."""

    def srv(self, name: str, *, deadline: float | None = None) -> SrvAnswer: ...

    def addresses(self, name: str, *, deadline: float | None = None) -> AddressAnswer: ...


class HttpsPort(Protocol):
    """One GET to one of ``addresses`` with SNI and certificate checks for ``host``; raises HttpsError."""

    def get(
        self, host: str, port: int, path: str, *, addresses: list[str], body_limit: int, deadline: float | None
    ) -> HttpResponse: ...


class Parallel(Protocol):
    """Runs ``function`` over ``items``, at most ``limit`` at a time; results in the order of ``items``."""

    def map(self, function: Callable[[_T], _R], items: list[_T], *, limit: int | None = None) -> list[_R]: ...


class Sequential:
    """The Parallel port without threads: one item after the other."""

    def map(self, function: Callable[[_T], _R], items: list[_T], *, limit: int | None = None) -> list[_R]:
        return [function(item) for item in items]


class TlsSession(Protocol):
    """One TLS connection of the federation checks, made whether or not its certificate is valid."""

    version: str | None
    cipher: str | None
    certificate: bytes | None  # DER
    certificate_problem: HttpsError | None  # why the certificate is not valid (kind "certificate")

    def get(self, path: str, *, host_header: str, body_limit: int) -> HttpResponse: ...

    def close(self) -> None: ...


class FederationProbe(Protocol):
    """The network of ``federation_check``: TLS connections to targets and HTTPS fetches of URLs."""

    def connect(self, address: str, port: int, *, server_hostname: str) -> TlsSession:
        """Raises HttpsError when no TLS session comes about (a bad certificate is no such case)."""

    def fetch(self, url: str, *, body_limit: int) -> list[tuple[str, HttpResponse]]:
        """GET ``url`` following redirects: every (url, response); raises FetchFailure."""


@dataclass(frozen=True)
class Clock:
    """The wall clock (HTTP dates, key expiry) and the monotonic clock (deadlines)."""

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic


SYSTEM_CLOCK = Clock()


class Closing:
    """Has ``close()``; ``with`` calls it."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
