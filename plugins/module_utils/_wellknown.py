# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Step 3 of the resolution: fetching ``/.well-known/matrix/server`` and its cache period.

Private module: not part of the collection's public API. Redirects are followed here (https only,
no loops, at most MAX_REDIRECTS), the body is parsed as a JSON object and ``m.server`` validated;
every failure of the peer is a reason, never an exception that escapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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
from ._profiles import SPEC, Profile, parse_cache_headers
from ._server_name import ServerName, ServerNameError, parse_host, parse_server_name

__all__ = [
    "CACHE_DEFAULT",
    "CACHE_MAX",
    "CACHE_MIN",
    "MAX_REDIRECTS",
    "WELL_KNOWN_BODY_LIMIT",
    "WELL_KNOWN_PATH",
    "AddressLookup",
    "WellKnownObservation",
    "WellKnownVerdict",
    "cache_period",
    "fetch_following_redirects",
    "fetch_well_known",
    "json_type",
    "judge_well_known",
    "observe_well_known",
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
    headers = parse_cache_headers(response.headers, now=now)
    period: float | None = None
    if headers.no_store:
        period = 0
    elif headers.max_age is not None:
        period = headers.max_age
    elif headers.expires_in is not None:
        period = headers.expires_in
    if period is None:
        period = CACHE_DEFAULT
    return int(max(CACHE_MIN, min(period, CACHE_MAX)))


def fetch_following_redirects(
    url: str,
    *,
    dns_addresses: AddressLookup,
    https: HttpsPort,
    body_limit: int,
    deadline: float | None,
    clock: Clock = SYSTEM_CLOCK,
    max_redirects: int = MAX_REDIRECTS,
) -> list[tuple[str, HttpResponse]]:
    """GET ``url``, following 301/302/303/307/308 up to ``max_redirects`` hops, https only, no loops.

    Returns every (url, response) pair, the last being the final answer. Raises FetchFailure,
    whose ``kind`` says where it stopped.
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
            raise FetchFailure(
                f"HTTP {response.status} redirect from {current} without a Location header", hops, kind="no_location"
            )
        try:
            following = urljoin(current, location.strip())
            scheme = urlsplit(following).scheme.lower()
        except ValueError as exc:
            raise FetchFailure(
                f"HTTP {response.status} redirect from {current} to an invalid URL: {exc}", hops, kind="bad_location"
            ) from exc
        if scheme == "http":
            raise FetchFailure(
                f"refusing the redirect from {current} to plain http: {following}",
                hops,
                kind="http_redirect",
                location=following,
            )
        if scheme != "https":
            raise FetchFailure(
                f"refusing the redirect from {current} to {following}: not an https URL", hops, kind="other_scheme"
            )
        if len(hops) > max_redirects:
            raise FetchFailure(too_many_redirects(max_redirects, following), hops, kind="too_many", location=following)
        if following in visited:
            raise FetchFailure(
                f"redirect loop: {current} redirects back to {following}", hops, kind="loop", location=following
            )
        visited.add(following)
        current = following


def too_many_redirects(limit: int, following: str) -> str:
    return f"more than {limit} redirects (the last to {following})"


def body_too_large(url: str, largest: int) -> str:
    return f"{url}: body of {largest + 1} bytes or more (limit {largest})"


@dataclass
class WellKnownObservation:
    """The one fetch of a well-known file, before any profile judges it.

    ``hops`` holds every (url, response) received; ``failure`` says why fetching stopped before
    a final answer (None: the last hop is the final answer). ``body_limit`` and
    ``max_redirects`` are the limits it was fetched with (the most permissive of the profiles).
    """

    url: str
    body_limit: int
    max_redirects: int
    hops: list[tuple[str, HttpResponse]]
    failure: FetchFailure | None = None


@dataclass
class WellKnownVerdict:
    """One profile's judgement of an observation.

    ``fatal``: the profile makes the file a resolution error (no fallback to SRV).
    ``unobserved``: the profile would have gone further than the fetch did (a plain-http
    redirect, a body larger than was read); the verdict then assumes no delegation.
    """

    report: WellKnown
    delegated: ServerName | None
    warnings: list[str]
    fatal: str | None = None
    unobserved: str | None = None


def observe_well_known(
    hostname: str,
    *,
    dns_addresses: AddressLookup,
    https: HttpsPort,
    budget: float | None,
    clock: Clock = SYSTEM_CLOCK,
    body_limit: int = WELL_KNOWN_BODY_LIMIT,
    max_redirects: int = MAX_REDIRECTS,
) -> WellKnownObservation:
    """Fetch ``https://<hostname>/.well-known/matrix/server`` once, within ``budget``; never raises."""
    url = f"https://{hostname}{WELL_KNOWN_PATH}"
    deadline = None if budget is None else clock.monotonic() + budget
    try:
        hops = fetch_following_redirects(
            url,
            dns_addresses=dns_addresses,
            https=https,
            body_limit=body_limit,
            deadline=deadline,
            clock=clock,
            max_redirects=max_redirects,
        )
    except FetchFailure as exc:
        return WellKnownObservation(url, body_limit, max_redirects, list(exc.hops), exc)
    return WellKnownObservation(url, body_limit, max_redirects, hops)


def fetch_well_known(
    hostname: str,
    *,
    dns_addresses: AddressLookup,
    https: HttpsPort,
    budget: float | None,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[WellKnown, ServerName | None, list[str]]:
    """Step 3: fetch and validate ``https://<hostname>/.well-known/matrix/server``, the spec's way.

    Returns the report, the delegated server name (None when there is no delegation) and warnings.
    Never raises for the peer's faults: every failure is a reason in ``WellKnown.error``.
    """
    observation = observe_well_known(hostname, dns_addresses=dns_addresses, https=https, budget=budget, clock=clock)
    verdict = judge_well_known(observation, now=clock.wall())
    return verdict.report, verdict.delegated, verdict.warnings


def _refused(
    verdict: WellKnownVerdict,
    message: str,
    hops: list[tuple[str, HttpResponse]],
    *,
    status: int | None = None,
    rule: str | None = None,
) -> WellKnownVerdict:
    """``verdict`` as "no delegation" for ``message``, after the responses ``hops``."""
    report = verdict.report
    report.redirects = [hop[0] for hop in hops[1:]]
    report.status = hops[-1][1].status if hops else None
    if status is not None:
        report.status = status
    report.error = message
    report.rule = rule
    report.cache_seconds = CACHE_FAILURE
    return verdict


def _location(hop: tuple[str, HttpResponse]) -> str:
    """The URL a redirect response points to (it was followed, so it is valid)."""
    return urljoin(hop[0], (hop[1].header("location") or "").strip())


def judge_well_known(observation: WellKnownObservation, rules: Profile = SPEC, *, now: float) -> WellKnownVerdict:
    """What the implementation of ``rules`` makes of the fetch ``observation``.

    The spec's profile gives exactly what ``fetch_well_known`` always gave. Other profiles are
    judged on the same responses: their own redirect limit and plain-http rule, accepted
    statuses, body limit and ``m.server`` checks.
    """
    verdict = WellKnownVerdict(WellKnown(url=observation.url), None, [])
    hops = observation.hops
    failure = observation.failure
    redirect_kinds = ("no_location", "bad_location", "http_redirect", "other_scheme", "too_many", "loop")
    redirects = len(hops) - 1 if failure is None else len(hops)  # redirect responses among the hops
    limit = rules.well_known_max_redirects
    if redirects > limit:
        # This implementation stops at the redirect response number limit + 1, which was followed
        # here (or failed at the same place for a reason checked before the count).
        if failure is not None and failure.kind in redirect_kinds and len(hops) - 1 == limit:
            refused_scheme = failure.kind == "http_redirect" and not rules.well_known_http_redirects
            if refused_scheme or failure.kind in ("no_location", "bad_location", "other_scheme"):
                return _refused(verdict, str(failure), hops, status=failure.status)
        message = too_many_redirects(limit, _location(hops[limit]))
        return _refused(verdict, message, hops[: limit + 1], rule="well_known_max_redirects")
    if failure is not None:
        if failure.kind == "http_redirect" and rules.well_known_http_redirects:
            verdict.unobserved = (
                f"follows the redirect to plain http {failure.location}, which this check does not fetch: "
                "assumed to give no delegation"
            )
            return _refused(verdict, str(failure), hops, status=failure.status, rule="well_known_http_redirects")
        if failure.kind == "too_large":
            largest = rules.well_known_body_max
            if largest is None or largest + 1 > observation.body_limit:
                verdict.unobserved = (
                    f"reads a larger body than the {observation.body_limit - 1} bytes this check reads: "
                    "assumed to give no delegation"
                )
                return _refused(verdict, str(failure), hops, status=failure.status, rule="well_known_body_max")
            if largest + 1 < observation.body_limit:
                url = failure.location or observation.url
                message = f"{body_too_large(url, largest)}: the body is {observation.body_limit} bytes or more"
                return _refused(verdict, message, hops, status=failure.status, rule="well_known_body_max")
        return _refused(verdict, str(failure), hops, status=failure.status)
    return _judge_answer(verdict, observation, rules, now=now)


def _judge_answer(
    verdict: WellKnownVerdict, observation: WellKnownObservation, rules: Profile, *, now: float
) -> WellKnownVerdict:
    """The final answer of the fetch: body size, status, JSON and ``m.server``."""
    report, warnings, hops = verdict.report, verdict.warnings, observation.hops
    report.redirects = [hop[0] for hop in hops[1:]]
    final_url, response = hops[-1]
    largest = rules.well_known_body_max
    # The HTTPS port enforced the fetch's own limit; a profile's smaller limit is checked here.
    if largest is not None and largest + 1 < observation.body_limit and len(response.body) > largest:
        message = f"{body_too_large(final_url, largest)}: the body is {len(response.body)} bytes"
        return _refused(verdict, message, hops, status=response.status, rule="well_known_body_max")
    report.status = response.status
    accepted = {"200": response.status == 200, "2xx": 200 <= response.status <= 299, "any": True}
    if not accepted[rules.well_known_statuses]:
        expected = "200" if rules.well_known_statuses == "200" else "2xx"
        message = f"HTTP status {response.status} from {final_url} (expected {expected})"
        return _refused(verdict, message, hops, rule="well_known_statuses")
    content_type = (response.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        warnings.append(
            f"{final_url} is served with Content-Type '{content_type or 'none'}' instead of "
            "'application/json' (parsed as JSON anyway)"
        )
    try:
        data = parse_json_object(response.body)
    except FetchFailure as exc:
        return _refused(verdict, str(exc), hops)
    report.m_server = data.get("m.server")
    if "m.server" not in data:
        return _refused(verdict, "the JSON object has no 'm.server' key", hops)
    if not isinstance(report.m_server, str):
        return _refused(
            verdict,
            f"'m.server' is {json_type(report.m_server)}, expected a string like \"matrix.example.com:443\"",
            hops,
        )
    if report.m_server == "" and rules.m_server_validation != "validate":
        if rules.empty_m_server == "ignore":
            return _refused(verdict, "'m.server' is empty: no delegation", hops, rule="empty_m_server")
        return _fatal(verdict, "'m.server' is empty and is used as written: no usable destination", "empty_m_server")
    try:
        delegated, name_warnings = parse_server_name(report.m_server, allow_unicode=False)
    except ServerNameError as exc:
        reason = f"'m.server' is not a valid server name: {exc}"
        if rules.m_server_validation == "error":
            return _fatal(verdict, f"{reason}; it is an error, with no fallback to SRV", "m_server_validation")
        if rules.m_server_validation == "url_netloc":
            return _url_netloc(verdict, reason, rules, now=now, response=response)
        if rules.m_server_validation == "verbatim":
            return _fatal(verdict, f"{reason}; it is used as written: no usable destination", "m_server_validation")
        warnings.append(
            f"{report.url}: {reason}; homeservers disagree on such a file (the spec says to ignore it): fix it"
        )
        report.error_code = "invalid-m-server"
        return _refused(verdict, reason, hops, rule="m_server_validation")
    warnings.extend(name_warnings)
    report.cache_seconds = cache_period(response, now=now)
    verdict.delegated = delegated
    return verdict


def _url_netloc(
    verdict: WellKnownVerdict, reason: str, rules: Profile, *, now: float, response: HttpResponse
) -> WellKnownVerdict:
    """``url_netloc`` (Synapse): ``m.server`` is spliced into a URL, whose authority is then used.

    The authority ends at the first '/', '?' or '#' (``matrix.example.com/`` delegates to
    ``matrix.example.com``; ``https://matrix.example.com`` to the host ``https``); an empty port
    counts as none. Whatever is left must be a host name, or nothing can be connected to.
    """
    netloc = re.split(r"[/?#]", verdict.report.m_server, maxsplit=1)[0]
    netloc = netloc[:-1] if netloc.endswith(":") else netloc
    try:
        delegated, _warnings = parse_server_name(netloc, allow_unicode=False)
    except ServerNameError:
        return _fatal(verdict, f"{reason}; it is used as written: no usable destination", "m_server_validation")
    verdict.report.cache_seconds = cache_period(response, now=now)
    verdict.report.rule = "m_server_validation"
    verdict.delegated = delegated
    verdict.warnings.append(f"'m.server' {verdict.report.m_server!r} is used as the URL authority {netloc!r}")
    return verdict


def _fatal(verdict: WellKnownVerdict, reason: str, rule: str) -> WellKnownVerdict:
    verdict.report.error = reason
    verdict.report.error_code = "invalid-m-server"
    verdict.report.rule = rule
    verdict.fatal = reason
    return verdict


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
                f"{body_too_large(url, body_limit - 1)}: {exc}", status=exc.status, kind="too_large", location=url
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
