# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-implementation part of ``federation_check`` (its ``implementations`` option, issue #21).

Private module: not part of the collection's public API. Functions of data only: the
resolutions come from ``_resolution.resolve_implementations`` (one network pass for every
profile), the connection checks from ``_federation``. Here:

* which connections an implementation's view needs, and which the spec run already made (the
  same address, port, TLS server name and ``Host``: that result is reused, not asked again);
* each implementation's entry (where it connects, whether those connections pass, why it differs
  from the spec, how long it may keep an earlier answer);
* ``divergent``: the implementations whose outcome (pass or fail) is not the spec's, with the
  rule that made the difference and the change to the published records that makes all agree.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ._profiles import SPEC, Divergence, Profile
from ._resolution import ProfileOutcome

__all__ = [
    "ConnectionKey",
    "connection_key",
    "connections_ok",
    "divergent_entries",
    "fix_for",
    "implementation_entry",
    "needed_endpoints",
    "with_spec",
]

#: (address, port, TLS server name, Host header): connections with the same key give the same result.
ConnectionKey = tuple


def with_spec(profiles: Iterable[Profile]) -> list[Profile]:
    """``profiles`` with ``spec`` first (once): the spec's run is the comparison for every other."""
    return [SPEC, *[profile for profile in profiles if profile.name != SPEC.name]]


def connection_key(resolution: Any, address: str, port: int) -> ConnectionKey:
    """What decides a connection's result besides the server: where, the TLS name and the ``Host``."""
    return (address, port, str(resolution.tls_server_name), str(resolution.host_header))


def needed_endpoints(outcome: ProfileOutcome, wants: Any) -> list[tuple[str, int]]:
    """The ``(address, port)`` pairs of an implementation's targets that the check connects to, in order.

    ``wants(address)``: the module's ``address_family`` filter. Empty when the implementation
    would not connect at all (its resolution failed).
    """
    if outcome.resolution is None:
        return []
    endpoints: dict[tuple[str, int], None] = {}
    for target in outcome.resolution.targets:
        for address in target.addresses:
            if wants(address):
                endpoints.setdefault((address, target.port), None)
    return list(endpoints)


def _check(connection: Mapping, *, shared: bool) -> dict:
    """One line of an implementation's ``checks``, from a ``federation_check`` connection result."""
    error = connection.get("error")
    return {
        "address": connection["address"],
        "port": connection["port"],
        "ok": bool(connection.get("ok")),
        "state": connection.get("state") or ("ok" if connection.get("ok") else "error"),
        "error": None if error is None else str(error),
        "shared_with_spec": shared,
    }


def connections_ok(outcome: ProfileOutcome, checks: list[dict]) -> bool | None:
    """Whether this implementation's connections pass: False when it would not connect at all.

    None when none of its addresses could be checked from here (every one left out by
    ``address_family`` or without a route for its family): not known, so never ``divergent``.
    """
    if outcome.error is not None or outcome.resolution is None:
        return False
    checked = [check for check in checks if check["state"] != "no-route"]
    if not checked:
        return None
    return all(check["ok"] for check in checked)


def implementation_entry(
    outcome: ProfileOutcome,
    endpoints: list[tuple[str, int]],
    results: Mapping[ConnectionKey, Mapping],
    spec_keys: set,
    *,
    now: float,
) -> dict:
    """One implementation's part of a name's ``implementations``.

    ``results``: every connection result of this name by ``connection_key`` (the spec run's and
    the ones made for other views); ``spec_keys``: the keys the spec run checked.
    """
    entry = outcome.to_dict()
    del entry["implementation"]  # the key of the entry
    checks = []
    for address, port in endpoints:
        key = connection_key(outcome.resolution, address, port)
        checks.append(_check(results[key], shared=key in spec_keys))
    entry["connections_ok"] = connections_ok(outcome, checks)
    entry["checks"] = checks
    notice = outcome.notice_time(now=now)
    entry["notice_seconds"] = notice.seconds
    entry["notice_basis"] = list(notice.basis)
    return entry


# -- divergent: what differs in outcome, why, and the change that makes every implementation agree ---------
def _endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _route(outcome: ProfileOutcome | None) -> str | None:
    """``host:port`` of the first target of a view that resolved, else None."""
    if outcome is None or outcome.resolution is None or not outcome.resolution.targets:
        return None
    target = outcome.resolution.targets[0]
    return _endpoint(target.host, target.port)


def _host_only(spec_checks: list[dict], checks: list[dict]) -> bool:
    """Whether a check of this view failed on an endpoint the spec's checks passed on."""
    passed = {(check["address"], check["port"]) for check in spec_checks if check["ok"]}
    return any(not check["ok"] and (check["address"], check["port"]) in passed for check in checks)


def _causes(outcome: ProfileOutcome, spec: ProfileOutcome, spec_checks: list[dict], checks: list[dict]) -> list:
    """The divergences that can explain a different outcome.

    ``host_header`` counts only when it is the only one, or when a connection failed where the
    spec's passed with the same address, port and TLS name (then the Host was all that differed).
    """
    divergences = list(outcome.differs_from_spec)
    others = [divergence for divergence in divergences if divergence.rule != "host_header"]
    if not others:
        return divergences
    same_tls = (
        outcome.resolution is not None
        and spec.resolution is not None
        and str(outcome.resolution.tls_server_name) == str(spec.resolution.tls_server_name)
    )
    if same_tls and _host_only(spec_checks, checks):
        return divergences
    return others


def divergent_entries(
    name: str,
    spec: ProfileOutcome,
    spec_checks: list[dict],
    views: list[tuple[ProfileOutcome, dict]],
) -> list[dict]:
    """``divergent``: one entry per rule for each implementation whose pass/fail is not the spec's.

    ``views``: each implementation's outcome with its entry (``implementation_entry``); the spec's
    own view, and views whose result is not known from here (``connections_ok`` None), never are.
    """
    spec_ok = connections_ok(spec, spec_checks)
    entries: list[dict] = []
    for outcome, entry in views:
        mine = entry["connections_ok"]
        if outcome.profile.name == SPEC.name or mine is None or spec_ok is None or mine == spec_ok:
            continue
        causes = _causes(outcome, spec, spec_checks, entry["checks"]) or [
            outcome.profile.divergence("unknown", "its connections give another result than the spec's")
        ]
        working = spec if spec_ok else outcome
        for divergence in causes:
            entries.append(
                {
                    "implementation": outcome.profile.name,
                    "versions": outcome.profile.versions,
                    "spec_ok": spec_ok,
                    "implementation_ok": mine,
                    "rule": divergence.rule,
                    "reason": divergence.reason,
                    "fix": fix_for(divergence, name=name, spec=spec, outcome=outcome, working=working),
                }
            )
    return entries


def fix_for(
    divergence: Divergence,
    *,
    name: str,
    spec: ProfileOutcome,
    outcome: ProfileOutcome,
    working: ProfileOutcome | None = None,
) -> str:
    """The change to what ``name`` publishes that makes every implementation agree on ``divergence``.

    ``working``: the view whose connections passed (its first target is suggested as ``m.server``).
    """
    resolution = spec.resolution or outcome.resolution
    server = resolution.server_name if resolution is not None else name
    host = server.rsplit(":", 1)[0] if server.count(":") == 1 else server
    url = f"https://{host}/.well-known/matrix/server"
    route = _route(working) or _route(spec) or _route(outcome) or "host:port"
    explicit = (
        f'serve {{"m.server": "{route}"}} at {url} - an explicit port, so that no implementation queries SRV records'
    )
    # The host whose SRV records were asked: the delegated host, else the server name's.
    srv_host = str(resolution.tls_server_name or host) if resolution is not None else host
    delegated = resolution.delegated_server if resolution is not None else None
    fixes = {
        "srv_name_override": f"{explicit}; or make {host}'s own address serve federation on the SRV port as well",
        "srv_error": f"repair the DNS zone so that the SRV queries of {srv_host} are answered "
        f"(records, or 'no such name'), or {explicit}",
        "srv_timeout": f"make the SRV queries of {srv_host} answer in time (repair the zone or its name servers), "
        f"or {explicit}",
        "srv_selection": f"publish one SRV record for {srv_host} (balance the load behind one name), or {explicit}",
        "srv_target_addresses": "make every address of the SRV target serve federation, or publish only the "
        f"addresses that do (some implementations use the first address only), or {explicit}",
        "srv_target_without_address": "give the SRV target its A record (and AAAA where IPv6 works); to disable "
        "federation, publish no SRV record and no well-known file rather than an SRV target '.'",
        "srv_services": f"publish _matrix-fed._tcp.{srv_host} (with or instead of the deprecated "
        f"_matrix._tcp.{srv_host}): some implementations never ask for the old name",
        "well_known_max_redirects": f"serve {url} where it is asked for, or with one redirect at most, over https",
        "well_known_http_redirects": f"serve {url} over https, with no redirect to plain http",
        "well_known_statuses": f"answer {url} with status 200 when it delegates, and with 404 and no JSON body "
        "when it does not",
        "well_known_body_max": f'make {url} small: {{"m.server": "{route}"}} is enough (some implementations '
        "refuse 8 192 bytes or more)",
        "m_server_validation": f"make m.server in {url} a valid server name - a host, or host:port, with no "
        f'scheme, path or spaces, such as "{route}"',
        "empty_m_server": f'remove the empty m.server from {url} (or the file), or set it to a server name such as "{route}"',
        "host_header": "route on the host name alone in the reverse proxy in front of the homeserver, ignoring "
        "any port in Host: implementations send 'host' or 'host:port' for the same target",
        "address_family": "publish A records whose addresses serve federation (some implementations dial IPv4 "
        "only or use AAAA only without an A record), and AAAA records only where IPv6 works as well",
        "ipv6_literal_default_port": (
            f'write the port with the IPv6 literal in {url}: "{delegated}:8448" instead of "{delegated}"'
            if delegated
            else f"a server name that is a bracketed IPv6 literal without a port ({server}) is resolved to "
            "different ports (8448, 443) or not at all: use a host name as the server name"
        )
        + " - implementations disagree on the port of a bracketed literal without one",
        "well_known": f"serve {url} with status 200 and a valid m.server, directly, or serve no file at all",
    }
    return fixes.get(
        divergence.rule,
        f"give every implementation the same route: {explicit} (see docs/implementations.md)",
    )
