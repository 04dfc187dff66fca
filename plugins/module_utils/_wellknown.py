# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Step 3 of the resolution: fetching ``/.well-known/matrix/server`` and its cache period.

Private module: not part of the collection's public API. Redirects are followed here (https only,
no loops, at most MAX_REDIRECTS), the body is parsed as a JSON object and ``m.server`` validated;
every failure of the peer is a reason, never an exception that escapes.
"""

from __future__ import annotations

import email.utils
import json
from datetime import timezone
from typing import Any, Callable
from urllib.parse import quote, urljoin, urlsplit

from ._model import (
    CACHE_FAILURE,
    SYSTEM_CLOCK,
    AddressAnswer,
    Clock,
    DnsError,
    FetchFailure,
    HttpResponse,
    HttpsError,
    HttpsPort,
    WellKnown,
)
from ._server_name import ServerName, ServerNameError, parse_host, parse_server_name

__all__ = [
    "CACHE_DEFAULT",
    "CACHE_MAX",
    "CACHE_MIN",
    "MAX_REDIRECTS",
    "WELL_KNOWN_BODY_LIMIT",
    "WELL_KNOWN_PATH",
    "AddressLookup",
    "cache_period",
    "fetch_following_redirects",
    "fetch_well_known",
    "json_type",
    "parse_json_object",
]

WELL_KNOWN_PATH = "/.well-known/matrix/server"
WELL_KNOWN_BODY_LIMIT = 51200  # a body of 51 200 bytes or more is refused
MAX_REDIRECTS = 10
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
CACHE_DEFAULT = 86400
CACHE_MIN = 300
CACHE_MAX = 172800
_URL_SAFE = "/%:@!$&'()*+,;=-._~"

#: ``lookup(host)`` or ``lookup(host, deadline=...)``: the AAAA and A records of a host.
AddressLookup = Callable[..., AddressAnswer]


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


def fetch_following_redirects(
    url: str,
    *,
    dns_addresses: AddressLookup,
    https: HttpsPort,
    body_limit: int,
    deadline: float | None,
    clock: Clock = SYSTEM_CLOCK,
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
                current, dns_addresses=dns_addresses, https=https, body_limit=body_limit, deadline=deadline, clock=clock
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


def fetch_well_known(
    hostname: str,
    *,
    dns_addresses: AddressLookup,
    https: HttpsPort,
    budget: float | None,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[WellKnown, ServerName | None, list[str]]:
    """Step 3: fetch and validate ``https://<hostname>/.well-known/matrix/server``.

    Returns the report, the delegated server name (None when there is no delegation) and warnings.
    Never raises for the peer's faults: every failure is a reason in ``WellKnown.error``.
    """
    url = f"https://{hostname}{WELL_KNOWN_PATH}"
    report = WellKnown(url=url)
    warnings: list[str] = []
    deadline = None if budget is None else clock.monotonic() + budget
    hops: list[tuple[str, HttpResponse]] = []
    try:
        try:
            hops = fetch_following_redirects(
                url,
                dns_addresses=dns_addresses,
                https=https,
                body_limit=WELL_KNOWN_BODY_LIMIT,
                deadline=deadline,
                clock=clock,
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
            report.error_code = "invalid-m-server"
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
    report.cache_seconds = cache_period(response, now=clock.wall())
    return report, delegated, warnings


def _get_url(
    url: str,
    *,
    dns_addresses: AddressLookup,
    https: HttpsPort,
    body_limit: int,
    deadline: float | None,
    clock: Clock,
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
    if deadline is not None and clock.monotonic() >= deadline:
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
