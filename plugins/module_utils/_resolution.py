# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Server-name resolution as a homeserver does it (Matrix server-server API, "Resolving server names").

Private module: not part of the collection's public API.

``resolve_server_name`` is a pure function over two injected ports, so that it can be unit-tested
with fakes and shared by the ``resolve`` lookup and the ``federation_check`` module:

* the DNS port: ``srv(name) -> SrvAnswer`` and ``addresses(name) -> AddressAnswer``, raising
  ``DnsError`` for SERVFAIL, REFUSED and time-outs (NXDOMAIN and NODATA are empty answers);
* the HTTPS port: ``get(host, port, path, *, addresses, body_limit, deadline) -> HttpResponse``,
  raising ``HttpsError``; it connects to one of ``addresses`` with SNI and certificate checks for
  ``host``.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import json
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timezone
from typing import Any, Callable, Protocol
from urllib.parse import quote, urljoin, urlsplit

from ._dns import AddressAnswer, DnsError, SrvAnswer, SrvRecord
from ._https import HttpResponse, HttpsError
from ._server_name import ServerName, ServerNameError, parse_host, parse_server_name

__all__ = [
    "PARSE_STEP",
    "FetchFailure",
    "METHODS",
    "fetch_following_redirects",
    "json_type",
    "parse_json_object",
    "Memo",
    "Resolution",
    "ResolutionError",
    "cache_period",
    "order_srv_records",
    "resolve_server_name",
]

DEFAULT_PORT = 8448
WELL_KNOWN_PATH = "/.well-known/matrix/server"
WELL_KNOWN_BODY_LIMIT = 51200  # a body of 51 200 bytes or more is refused
MAX_REDIRECTS = 10
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
CACHE_DEFAULT = 86400
CACHE_FAILURE = 3600
CACHE_MIN = 300
CACHE_MAX = 172800
PARSE_STEP = "parsing the server name"
MAX_PARALLEL_LOOKUPS = 32
_URL_SAFE = "/%:@!$&'()*+,;=-._~"
SRV_SERVICES = (("_matrix-fed._tcp", False), ("_matrix._tcp", True))

METHODS = (
    "ip_literal",
    "explicit_port",
    "well_known_ip_literal",
    "well_known_explicit_port",
    "well_known_srv",
    "well_known_srv_legacy",
    "well_known_default_port",
    "srv",
    "srv_legacy",
    "default_port",
)


class DnsPort(Protocol):
    def srv(self, name: str) -> SrvAnswer: ...

    def addresses(self, name: str) -> AddressAnswer: ...


class HttpsPort(Protocol):
    def get(
        self, host: str, port: int, path: str, *, addresses: list[str], body_limit: int, deadline: float | None
    ) -> HttpResponse: ...


class ResolutionError(Exception):
    """A server name cannot be resolved: names the server name, the step and the reason."""

    def __init__(self, server_name: str, step: str, reason: str, *, partial: Resolution | None = None) -> None:
        shown = f"'{server_name}'"
        if partial is not None and partial.server_name != server_name:
            shown += f" ({partial.server_name})"
        super().__init__(f"cannot resolve server name {shown}: {step}: {reason}")
        self.server_name = server_name
        self.step = step
        self.reason = reason
        self.partial = partial


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


@dataclass
class SrvLookup:
    name: str
    records: list[dict]
    error: str | None = None


@dataclass
class Resolution:
    server_name: str
    method: str | None = None
    delegated_server: str | None = None
    host_header: str | None = None
    tls_server_name: str | None = None
    sni: str | None = None
    targets: list[Target] = field(default_factory=list)
    well_known: WellKnown | None = None
    srv: list[SrvLookup] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class Memo:
    """A thread-safe, single-flight memo: each key is computed once; errors are remembered too.

    One Memo lives for one lookup call or one module run, never longer, so a verify step right
    after a deploy sees the new state.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Any, Future] = {}

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if owner:
                future = self._futures[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as exc:  # noqa: BLE001 - stored and re-raised to every caller
                future.set_exception(exc)
        return future.result()


# -- pure helpers --------------------------------------------------------------------------------
def cache_period(response: HttpResponse | None, *, now: float) -> int:
    """The well-known cache period in seconds, Synapse's way, clamped to [300, 172800]."""
    if response is None:
        return CACHE_FAILURE
    directives: dict[str, str | None] = {}
    for value in response.header_values("cache-control"):
        for directive in value.split(","):
            key, sep, argument = directive.partition("=")
            directives[key.strip().lower()] = argument.strip() if sep else None
    period: float | None = None
    if "no-store" in directives:
        period = 0
    else:
        max_age = directives.get("max-age")
        if max_age:
            try:
                period = int(max_age)
            except ValueError:
                period = None
        if period is None:
            expires = response.header("expires")
            if expires is not None:
                period = _seconds_until(expires, now)
    if period is None:
        period = CACHE_DEFAULT
    return int(max(CACHE_MIN, min(period, CACHE_MAX)))


def _seconds_until(http_date: str, now: float) -> float:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return 0  # RFC 9111: an invalid Expires (such as "0") means "already expired"
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp() - now


def order_srv_records(records: list[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782 order: ascending priority; within a priority, weighted random selection."""
    ordered: list[SrvRecord] = []
    for priority in sorted({record.priority for record in records}):
        group = [record for record in records if record.priority == priority]
        pending = [r for r in group if r.weight == 0] + [r for r in group if r.weight > 0]
        while pending:
            pick = rng.randint(0, sum(record.weight for record in pending))
            running = 0
            for index, record in enumerate(pending):
                running += record.weight
                if running >= pick:
                    ordered.append(pending.pop(index))
                    break
    return ordered


_BLOCKED_NETWORKS = [
    ipaddress.ip_network(net)
    for net in (
        # Synapse's default ip_range_blacklist
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "169.254.0.0/16",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "0.0.0.0/8",
        "255.255.255.255/32",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
        "2001:db8::/32",
        "ff00::/8",
        "fec0::/10",
        "::/128",
    )
]


def private_range(address: str) -> str | None:
    """The blocked range an address falls in (as Synapse's default ``ip_range_blacklist``), or None."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network in _BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return str(network)
    return None


# -- the algorithm ---------------------------------------------------------------------------------
@dataclass
class _Resolver:
    name: str
    dns: DnsPort
    https: HttpsPort
    memo: Memo
    rng: random.Random
    allow_private_addresses: bool
    well_known_budget: float | None
    step_timeout: float | None
    now: Callable[[], float]
    address_errors: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.result = Resolution(server_name=self.name)

    def fail(self, step: str, reason: str) -> ResolutionError:
        return ResolutionError(self.name, step, reason, partial=self.result)

    def warn(self, message: str) -> None:
        if message not in self.result.warnings:
            self.result.warnings.append(message)

    # -- DNS through the memo ----------------------------------------------------------------------
    def _addresses(self, host: str, deadline: float | None = None) -> AddressAnswer:
        if deadline is None:
            return self.memo.get(("addresses", host), lambda: self.dns.addresses(host))
        return self.memo.get(("addresses", host), lambda: self.dns.addresses(host, deadline=deadline))

    def prefetch_addresses(self, hosts: list[str]) -> None:
        """Look up the addresses of several hosts in parallel (results land in the memo).

        With ``step_timeout``, the whole round ends within one timeout however many hosts an
        SRV answer names.
        """
        hosts = list(dict.fromkeys(hosts))
        if len(hosts) < 2:
            return
        deadline = None if self.step_timeout is None else time.monotonic() + self.step_timeout

        def one(host: str) -> None:
            # A failure is remembered by the memo and reported when the target is built.
            with contextlib.suppress(DnsError):
                self._addresses(host, deadline)

        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_LOOKUPS, len(hosts))) as pool:
            list(pool.map(one, hosts))

    def _srv(self, name: str) -> SrvAnswer:
        return self.memo.get(("srv", name), lambda: self.dns.srv(name))

    def target(self, host: str, port: int, *, srv_target: bool = False) -> Target:
        try:
            answer = self._addresses(host)
        except DnsError as exc:
            self.address_errors[host] = str(exc)
            self.warn(f"no address for {host}: {exc}")
            return Target(host, port, [])
        for message in answer.warnings:
            self.warn(message)
        if srv_target and answer.cnames:
            self.warn(f"SRV target {host} is a CNAME (RFC 2782 forbids it; point the SRV record at the canonical name)")
        if not answer.addresses:
            self.warn(f"{host} has no AAAA or A records")
        self.check_private(host, answer.addresses)
        return Target(host, port, list(answer.addresses))

    def check_private(self, host: str, addresses: list[str]) -> None:
        if self.allow_private_addresses:
            return
        for address in addresses:
            network = private_range(address)
            if network:
                where = address if host == address else f"{host} resolves to {address}, which"
                self.warn(
                    f"{where} is in {network}, a range stock Synapse refuses to federate with "
                    "(its default ip_range_blacklist)"
                )

    def set_targets(self, targets: list[Target], step: str) -> None:
        self.result.targets = targets
        if not any(target.addresses for target in targets):
            reasons = []
            for host in dict.fromkeys(target.host for target in targets):
                reasons.append(self.address_errors.get(host, f"{host} has no AAAA or A records"))
            raise self.fail(step, "no IPv6 or IPv4 address found: " + "; ".join(reasons))

    def ip_target(self, server: ServerName) -> None:
        self.result.tls_server_name = server.host
        self.result.sni = None
        self.result.targets = [Target(server.host, server.port or DEFAULT_PORT, [server.host])]
        self.check_private(server.host, [server.host])

    def srv(self, name: str) -> tuple[list[Target], bool] | None:
        """Steps 3.3/3.4 and 4/5: the SRV targets of ``name``, and whether they were legacy ones."""
        for service, legacy in SRV_SERVICES:
            qname = f"{service}.{name}"
            entry = SrvLookup(name=qname, records=[])
            self.result.srv.append(entry)
            try:
                answer = self._srv(qname)
            except DnsError as exc:
                entry.error = exc.reason
                raise self.fail(f"SRV query {qname}", exc.reason) from exc
            entry.records = [record.to_dict() for record in answer.records]
            if not answer.records:
                continue
            usable = [record for record in answer.records if record.target != "."]
            if not usable:
                raise self.fail(
                    f"SRV query {qname}",
                    "the only SRV record has target '.', which means the service is disabled",
                )
            if len(usable) < len(answer.records):
                self.warn(f"{qname}: ignoring SRV records with target '.' next to usable records")
            if legacy:
                self.warn(f"{qname} is the deprecated SRV service name; publish _matrix-fed._tcp.{name} instead")
            ordered = order_srv_records(usable, self.rng)
            self.prefetch_addresses([record.target for record in ordered])
            targets = [self.target(record.target, record.port, srv_target=True) for record in ordered]
            return targets, legacy
        return None

    def well_known(self, hostname: str) -> tuple[WellKnown, ServerName | None, list[str]]:
        return self.memo.get(
            ("well_known", hostname),
            lambda: _fetch_well_known(
                hostname,
                dns_addresses=self._addresses,
                https=self.https,
                budget=self.well_known_budget,
                now=self.now,
            ),
        )

    def run(self) -> Resolution:
        result = self.result
        try:
            server, warnings = parse_server_name(self.name)
        except ServerNameError as exc:
            raise self.fail(PARSE_STEP, str(exc)) from exc
        result.server_name = str(server)
        for message in warnings:
            self.warn(message)

        if server.is_ip_literal:  # step 1
            result.method = "ip_literal"
            result.host_header = str(server)
            self.ip_target(server)
            return result
        if server.port is not None:  # step 2
            result.method = "explicit_port"
            result.host_header = str(server)
            result.tls_server_name = result.sni = server.host
            self.set_targets([self.target(server.host, server.port)], f"address lookup for {server.host}")
            return result

        well_known, delegated, wk_warnings = self.well_known(server.host)  # step 3
        result.well_known = well_known
        for message in wk_warnings:
            self.warn(message)
        if delegated is not None:
            result.delegated_server = str(delegated)
            if delegated.is_ip_literal:  # 3.1
                result.method = "well_known_ip_literal"
                result.host_header = str(delegated)
                self.ip_target(delegated)
                return result
            result.tls_server_name = result.sni = delegated.host
            if delegated.port is not None:  # 3.2
                result.method = "well_known_explicit_port"
                result.host_header = str(delegated)
                self.set_targets(
                    [self.target(delegated.host, delegated.port)],
                    f"address lookup for delegated server {delegated.host}",
                )
                return result
            result.host_header = delegated.host
            return self.srv_or_default_port(delegated.host, "well_known_", "delegated server ")  # 3.3 to 3.5

        result.host_header = result.tls_server_name = result.sni = server.host
        return self.srv_or_default_port(server.host, "", "")  # 4 to 6

    def srv_or_default_port(self, host: str, prefix: str, role: str) -> Resolution:
        """The SRV targets of ``host`` (methods srv, srv_legacy), else ``host`` on port 8448 (default_port)."""
        found = self.srv(host)
        if found is None:
            self.result.method = prefix + "default_port"
            self.set_targets([self.target(host, DEFAULT_PORT)], f"address lookup for {role}{host}")
        else:
            targets, legacy = found
            self.result.method = prefix + ("srv_legacy" if legacy else "srv")
            self.set_targets(targets, f"address lookup for the SRV targets of {host}")
        return self.result


class FetchFailure(Exception):
    """An HTTPS fetch gave no usable answer; ``hops`` holds the responses received until then."""

    def __init__(
        self, message: str, hops: list[tuple[str, HttpResponse]] | None = None, *, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.hops = hops or []
        self.status = status  # the status of a response whose body could not be read


def fetch_following_redirects(
    url: str,
    *,
    dns_addresses: Callable[[str], AddressAnswer],
    https: HttpsPort,
    body_limit: int,
    deadline: float | None,
) -> list[tuple[str, HttpResponse]]:
    """GET ``url``, following 301/302/303/307/308 up to MAX_REDIRECTS hops, https only, no loops.

    Returns every (url, response) pair, the last being the final answer. Raises FetchFailure.
    """
    hops: list[tuple[str, HttpResponse]] = []
    visited = {url}
    current = url
    while True:
        try:
            response = _get_url(
                current, dns_addresses=dns_addresses, https=https, body_limit=body_limit, deadline=deadline
            )
        except FetchFailure as exc:
            exc.hops = hops
            raise
        hops.append((current, response))
        if response.status not in REDIRECT_STATUSES:
            return hops
        location = response.header("location")
        if not location:
            raise FetchFailure(f"HTTP {response.status} redirect from {current} without a Location header", hops)
        try:
            following = urljoin(current, location.strip())
            scheme = urlsplit(following).scheme.lower()
        except ValueError as exc:
            raise FetchFailure(
                f"HTTP {response.status} redirect from {current} to an invalid URL: {exc}", hops
            ) from exc
        if scheme == "http":
            raise FetchFailure(f"refusing the redirect from {current} to plain http: {following}", hops)
        if scheme != "https":
            raise FetchFailure(f"refusing the redirect from {current} to {following}: not an https URL", hops)
        if len(hops) > MAX_REDIRECTS:
            raise FetchFailure(f"more than {MAX_REDIRECTS} redirects (the last to {following})", hops)
        if following in visited:
            raise FetchFailure(f"redirect loop: {current} redirects back to {following}", hops)
        visited.add(following)
        current = following


def _fetch_well_known(
    hostname: str,
    *,
    dns_addresses: Callable[[str], AddressAnswer],
    https: HttpsPort,
    budget: float | None,
    now: Callable[[], float],
) -> tuple[WellKnown, ServerName | None, list[str]]:
    """Step 3: fetch and validate ``https://<hostname>/.well-known/matrix/server``.

    Returns the report, the delegated server name (None when there is no delegation) and warnings.
    Never raises for the peer's faults: every failure is a reason in ``WellKnown.error``.
    """
    url = f"https://{hostname}{WELL_KNOWN_PATH}"
    report = WellKnown(url=url)
    warnings: list[str] = []
    deadline = None if budget is None else time.monotonic() + budget
    hops: list[tuple[str, HttpResponse]] = []
    try:
        try:
            hops = fetch_following_redirects(
                url, dns_addresses=dns_addresses, https=https, body_limit=WELL_KNOWN_BODY_LIMIT, deadline=deadline
            )
        finally:
            report.redirects = [hop[0] for hop in hops[1:]]
        final_url, response = hops[-1]
        report.status = response.status
        if response.status != 200:
            raise FetchFailure(f"HTTP status {response.status} from {final_url} (expected 200)")
        content_type = (response.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            warnings.append(
                f"{final_url} is served with Content-Type '{content_type or 'none'}' instead of "
                "'application/json' (parsed as JSON anyway)"
            )
        data = parse_json_object(response.body)
        report.m_server = data.get("m.server")
        if "m.server" not in data:
            raise FetchFailure("the JSON object has no 'm.server' key")
        if not isinstance(report.m_server, str):
            raise FetchFailure(
                f"'m.server' is {json_type(report.m_server)}, expected a string like \"matrix.example.com:443\""
            )
        try:
            delegated, name_warnings = parse_server_name(report.m_server, allow_unicode=False)
        except ServerNameError as exc:
            reason = f"'m.server' is not a valid server name: {exc}"
            warnings.append(
                f"{url}: {reason}; homeservers disagree on such a file (the spec says to ignore it): fix it"
            )
            raise FetchFailure(reason) from exc
        warnings.extend(name_warnings)
    except FetchFailure as exc:
        if exc.hops:
            report.status = exc.hops[-1][1].status
            report.redirects = [hop[0] for hop in exc.hops[1:]]
        if exc.status is not None:
            report.status = exc.status
        report.error = str(exc)
        report.cache_seconds = CACHE_FAILURE
        return report, None, warnings
    report.cache_seconds = cache_period(response, now=now())
    return report, delegated, warnings


def _get_url(
    url: str,
    *,
    dns_addresses: Callable[[str], AddressAnswer],
    https: HttpsPort,
    body_limit: int,
    deadline: float | None,
) -> HttpResponse:
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise FetchFailure(f"invalid URL {url}: {exc}") from exc
    raw_host = parts.netloc.rsplit("@", 1)[-1]
    raw_host = raw_host[: raw_host.rindex("]") + 1] if raw_host.startswith("[") else raw_host.split(":")[0]
    try:
        host, kind, _warnings = parse_host(raw_host, allow_unicode=False)
    except ServerNameError as exc:
        raise FetchFailure(f"invalid host in {url}: {exc}") from exc
    if deadline is not None and time.monotonic() >= deadline:
        raise FetchFailure(f"{url}: the well-known step ran out of time before this request")
    if kind == "dns":
        try:
            answer = dns_addresses(host) if deadline is None else dns_addresses(host, deadline=deadline)
        except DnsError as exc:
            raise FetchFailure(f"cannot look up {host}: {exc}") from exc
        addresses = list(answer.addresses)
        if not addresses:
            raise FetchFailure(f"{host} has no AAAA or A records")
    else:
        addresses = [host]
    # A Location header may carry raw non-ASCII bytes: send them percent-encoded.
    path = quote(parts.path or "/", safe=_URL_SAFE)
    if parts.query:
        path = f"{path}?{quote(parts.query, safe=_URL_SAFE)}"
    try:
        return https.get(host, port, path, addresses=addresses, body_limit=body_limit, deadline=deadline)
    except HttpsError as exc:
        if exc.kind == "too_large":
            raise FetchFailure(
                f"{url}: body of {body_limit} bytes or more (limit {body_limit - 1}): {exc}", status=exc.status
            ) from exc
        raise FetchFailure(f"{url}: {exc}", status=exc.status) from exc


def parse_json_object(body: bytes) -> dict:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FetchFailure(f"the body is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise FetchFailure("the body is JSON nested too deeply") from exc
    except ValueError as exc:
        raise FetchFailure(f"the body is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise FetchFailure(f"the body is JSON {json_type(data)}, expected an object")
    return data


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def resolve_server_name(
    name: Any,
    *,
    dns: DnsPort,
    https: HttpsPort,
    memo: Memo | None = None,
    allow_private_addresses: bool = False,
    well_known_budget: float | None = None,
    step_timeout: float | None = None,
    rng: random.Random | None = None,
    now: Callable[[], float] = time.time,
) -> Resolution:
    """Resolve one server name. Raises ResolutionError; never any other exception for bad peers.

    ``well_known_budget`` bounds step 3 as a whole (redirects included), in seconds;
    ``step_timeout`` (the per-step timeout) bounds a round of parallel SRV target lookups.
    """
    resolver = _Resolver(
        name if isinstance(name, str) else repr(name),
        dns=dns,
        https=https,
        memo=memo or Memo(),
        rng=rng or random.Random(),
        allow_private_addresses=allow_private_addresses,
        well_known_budget=well_known_budget,
        step_timeout=step_timeout,
        now=now,
    )
    if not isinstance(name, str):
        try:
            parse_server_name(name)
        except ServerNameError as exc:
            raise resolver.fail(PARSE_STEP, str(exc)) from exc
    return resolver.run()
