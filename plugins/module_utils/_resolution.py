# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Server-name resolution as a homeserver does it (Matrix server-server API, "Resolving server names").

Private module: not part of the collection's public API.

``resolve_server_name`` is the algorithm, a pure function over the ports of ``_model``: the DNS
port, the HTTPS port (through the well-known fetch of ``_wellknown``), a clock and a Parallel
port for the address lookups of several SRV targets. The shells (the ``resolve`` lookup, the
``federation_check`` module) get real adapters wired by ``_resolver``; the unit tests, fakes.

The algorithm applies an implementation profile (``_profiles``; ``SPEC`` by default, the
collection's behaviour). ``resolve_implementations`` resolves one name for several profiles
over one memo: the network is asked once, and each profile's result is judged from the same
answers, with the rules that made it differ from the spec's (``differs_from_spec``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

from ._address_policy import private_address_warnings, private_range
from ._memo import Memo
from ._model import (
    DEFAULT_PORT,
    PARSE_STEP,
    SYSTEM_CLOCK,
    AddressAnswer,
    Clock,
    DnsError,
    DnsPort,
    HttpsPort,
    Method,
    Parallel,
    Resolution,
    ResolutionError,
    Sequential,
    SrvAnswer,
    SrvLookup,
    SrvRecord,
    Target,
    WellKnown,
)
from ._profiles import SPEC, Divergence, NoticeTime, ObservationLimits, Profile, notice_times, observation_limits
from ._server_name import ServerName, ServerNameError, parse_server_name
from ._wellknown import WellKnownObservation, WellKnownVerdict, judge_well_known, observe_well_known

__all__ = [
    "MAX_PARALLEL_LOOKUPS",
    "SRV_SERVICES",
    "ProfileOutcome",
    "order_srv_records",
    "resolve_implementations",
    "resolve_server_name",
    "url_authority",
]

MAX_PARALLEL_LOOKUPS = 32
SRV_SERVICES = (("_matrix-fed._tcp", False), ("_matrix._tcp", True))


def _largest(values: list[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def url_authority(host: str, kind: str, port: int) -> str:
    """The authority of ``https://host:port`` as a URL library writes it: no port when it is 443."""
    shown = f"[{host}]" if kind == "ipv6" else host
    return shown if port == 443 else f"{shown}:{port}"


def _is_ipv4(address: str) -> bool:
    return ":" not in address


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


@dataclass
class _ResolutionRun:
    """One run of the algorithm for one server name; ``result`` grows as the steps go."""

    name: str
    dns: DnsPort
    https: HttpsPort
    memo: Memo
    rng: random.Random
    parallel: Parallel
    clock: Clock
    allow_private_addresses: bool
    well_known_budget: float | None
    step_timeout: float | None
    address_errors: dict[str, str] = field(default_factory=dict)
    profile: Profile = SPEC
    limits: ObservationLimits | None = None  # the well-known fetch's limits (default: the profile's own)
    divergences: list[Divergence] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.result = Resolution(server_name=self.name)
        self.server_host: str | None = None
        # The headers of the server name's well-known answer, when this profile accepts it (for
        # the migration timing, ``_profiles.notice_times``); None when it gives no delegation.
        self.well_known_headers: list[tuple] | None = None
        if self.limits is None:
            self.limits = observation_limits([self.profile])

    def diverge(self, rule: str, reason: str) -> None:
        """Record that ``rule`` of the profile made this run depart from the spec's algorithm."""
        divergence = self.profile.divergence(rule, reason)
        if divergence not in self.divergences:
            self.divergences.append(divergence)

    def fail(self, step: str, reason: str, code: str) -> ResolutionError:
        return ResolutionError(self.name, step, reason, partial=self.result, code=code)

    def warn(self, message: str) -> None:
        if message not in self.result.warnings:
            self.result.warnings.append(message)

    # -- DNS through the memo ----------------------------------------------------------------------
    def _addresses(self, host: str, deadline: float | None = None) -> AddressAnswer:
        """The memo's answer; a failure under an earlier deadline than ``deadline`` is asked again."""
        if deadline is None:
            return self.memo.get(("addresses", host), lambda: self.dns.addresses(host))
        return self.memo.get(
            ("addresses", host), lambda: self.dns.addresses(host, deadline=deadline), deadline=deadline
        )

    def prefetch_addresses(self, hosts: list[str]) -> float | None:
        """Look up the addresses of several hosts in parallel (results land in the memo).

        With ``step_timeout``, the whole round ends within one timeout however many hosts an
        SRV answer names. Returns the round's deadline: the targets are built under it, so a
        lookup that failed in the round is not asked again.
        """
        hosts = list(dict.fromkeys(hosts))
        if len(hosts) < 2:
            return None
        deadline = None if self.step_timeout is None else self.clock.monotonic() + self.step_timeout

        def one(host: str) -> None:
            # A failure is remembered by the memo and reported when the target is built.
            with contextlib.suppress(DnsError):
                self._addresses(host, deadline)

        self.parallel.map(one, hosts, limit=MAX_PARALLEL_LOOKUPS)
        return deadline

    def _srv(self, name: str) -> SrvAnswer:
        return self.memo.get(("srv", name), lambda: self.dns.srv(name))

    def target(self, host: str, port: int, *, srv_target: bool = False, deadline: float | None = None) -> Target:
        try:
            answer = self._addresses(host, deadline)
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
        if not self.allow_private_addresses:
            for message in private_address_warnings(host, addresses):
                self.warn(message)

    def family_filter(self, target: Target) -> Target:
        """The addresses of ``target`` this profile would dial, in its order (``address_family``)."""
        family = self.profile.address_family
        ipv4 = [address for address in target.addresses if _is_ipv4(address)]
        if family == "any" or len(ipv4) == len(target.addresses):
            return target
        if family == "ipv4_only":
            ipv6 = ", ".join(address for address in target.addresses if not _is_ipv4(address))
            self.diverge("address_family", f"dials IPv4 only, so not {ipv6}")
            if not ipv4:
                self.address_errors[target.host] = f"{target.host} has only IPv6 addresses ({ipv6}); it dials IPv4 only"
            return Target(target.host, target.port, ipv4)
        if ipv4:  # ipv4_then_ipv6: AAAA only when there is no A record
            self.diverge("address_family", f"uses the AAAA records of {target.host} only when it has no A record")
            return Target(target.host, target.port, ipv4)
        return target

    def set_targets(self, targets: list[Target], step: str) -> None:
        targets = [self.family_filter(target) for target in targets]
        self.result.targets = targets
        if not any(target.addresses for target in targets):
            reasons = []
            for host in dict.fromkeys(target.host for target in targets):
                reasons.append(self.address_errors.get(host, f"{host} has no AAAA or A records"))
            raise self.fail(step, "no IPv6 or IPv4 address found: " + "; ".join(reasons), "no-address")

    def ip_target(self, server: ServerName, step: str) -> None:
        self.result.tls_server_name = server.host
        self.result.sni = None
        port = server.port or DEFAULT_PORT
        if server.kind == "ipv6" and server.port is None and self.profile.ipv6_literal_default_port != DEFAULT_PORT:
            wrong = self.profile.ipv6_literal_default_port
            if wrong is None:
                host = str(server).split(":", 1)[0]
                reason = f"splits {server} at its first ':' and cannot look up the host {host!r}"
                self.diverge("ipv6_literal_default_port", reason)
                code = "invalid-server-name" if server.host == self.server_host else "invalid-m-server"
                raise self.fail(step, f"{reason}: no connection", code)
            self.diverge(
                "ipv6_literal_default_port", f"splits {server} at its first ':' and so connects on port {wrong}"
            )
            port = wrong
        self.check_private(server.host, [server.host])
        self.set_targets([Target(server.host, port, [server.host])], step)

    def srv(self, name: str) -> tuple[list[Target], bool] | None:
        """Steps 3.3/3.4 and 4/5: the SRV targets of ``name``, and whether they were legacy ones."""
        for service, legacy in SRV_SERVICES:
            qname = f"{service}.{name}"
            if service not in self.profile.srv_services:
                self.skipped_service(qname)
                continue
            entry = SrvLookup(name=qname, records=[])
            self.result.srv.append(entry)
            try:
                answer = self._srv(qname)
            except DnsError as exc:
                entry.error = exc.reason
                action = self.profile.srv_timeout if exc.kind == "timeout" else self.profile.srv_error
                rule = "srv_timeout" if exc.kind == "timeout" else "srv_error"
                if action == "next":
                    self.diverge(rule, f"takes the failed query {qname} ({exc.kind}) for 'no records' and goes on")
                    continue
                if action == "default_port":
                    self.diverge(rule, f"goes straight to port {DEFAULT_PORT} when {qname} fails ({exc.kind})")
                    return None
                raise self.fail(f"SRV query {qname}", exc.reason, "dns-failure") from exc
            entry.records = [record.to_dict() for record in answer.records]
            if not answer.records:
                continue
            if self.profile.srv_selection == "first_in_answer":
                return self.first_srv_target(name, qname, answer.records), legacy
            usable = [record for record in answer.records if record.target != "."]
            if not usable:
                raise self.fail(
                    f"SRV query {qname}",
                    "the only SRV record has target '.', which means the service is disabled",
                    "srv-disabled",
                )
            if len(usable) < len(answer.records):
                self.warn(f"{qname}: ignoring SRV records with target '.' next to usable records")
            if legacy:
                self.warn(f"{qname} is the deprecated SRV service name; publish _matrix-fed._tcp.{name} instead")
            ordered = order_srv_records(usable, self.rng)
            deadline = self.prefetch_addresses([record.target for record in ordered])
            targets = [
                self.target(record.target, record.port, srv_target=True, deadline=deadline) for record in ordered
            ]
            return [self.srv_target_addresses(name, target) for target in targets], legacy
        return None

    def skipped_service(self, qname: str) -> None:
        """A service name the profile never asks: say so when it has records (the spec's run asked it)."""
        try:
            answer = self._srv(qname)
        except DnsError:
            return
        if answer.records:
            self.diverge("srv_services", f"never queries {qname}, so ignores its records")

    def first_srv_target(self, name: str, qname: str, records: list[SrvRecord]) -> list[Target]:
        """``first_in_answer``: the first record of the DNS answer only, no failover."""
        first = records[0]
        if len(records) > 1:
            self.diverge(
                "srv_selection",
                f"uses only the first record of the {qname} answer ({first.target}:{first.port}), "
                f"not the RFC 2782 order of all {len(records)}, and does not fail over",
            )
        if self.profile.srv_name_override and name == self.server_host:
            own = self.own_addresses(name)
            if own:
                self.diverge(
                    "srv_name_override",
                    f"looked up {name}'s own addresses before step 3 and uses them on the SRV port "
                    f"{first.port} instead of the addresses of {first.target}",
                )
                return [Target(name, first.port, own)]
        # A target '.' is an empty name, so it has no address.
        empty = first.target == "."
        target = (
            Target(first.target, first.port, []) if empty else self.target(first.target, first.port, srv_target=True)
        )
        return [self.srv_target_addresses(name, target)]

    def own_addresses(self, name: str) -> list[str]:
        try:
            return list(self._addresses(name).addresses)
        except DnsError:
            return []

    def srv_target_addresses(self, name: str, target: Target) -> Target:
        """The profile's ``srv_target_without_address`` and ``srv_target_addresses`` rules."""
        if not target.addresses and self.profile.srv_target_without_address == "host_addresses":
            own = self.own_addresses(name)
            if own:
                self.diverge(
                    "srv_target_without_address",
                    f"the SRV target {target.host} has no address, so it connects to {name}'s own addresses "
                    f"on port {target.port}",
                )
                return Target(name, target.port, own)
        if self.profile.srv_target_addresses == "first" and len(target.addresses) > 1:
            # The first address of an IPv4-then-IPv6 lookup: an A record when there is one.
            first = next((a for a in target.addresses if _is_ipv4(a)), target.addresses[0])
            self.diverge("srv_target_addresses", f"uses only the first address of {target.host} ({first})")
            return Target(target.host, target.port, [first])
        return target

    def observe_well_known(self, hostname: str) -> WellKnownObservation:
        """The one fetch of step 3 for ``hostname`` (memoised: every profile judges the same fetch)."""
        limits = self.limits or observation_limits([self.profile])
        return self.memo.get(
            ("well_known", hostname, limits.key),
            lambda: observe_well_known(
                hostname,
                dns_addresses=self._addresses,
                https=self.https,
                budget=self.well_known_budget,
                clock=self.clock,
                body_limit=limits.body_limit,
                max_redirects=limits.max_redirects,
            ),
        )

    def well_known(self, hostname: str) -> tuple[WellKnown, ServerName | None, list[str]]:
        observation = self.observe_well_known(hostname)
        verdict = judge_well_known(observation, self.profile, now=self.clock.wall())
        if self.profile is not SPEC:
            self.compare_well_known(verdict, judge_well_known(observation, SPEC, now=self.clock.wall()))
        if verdict.unobserved:
            self.unobserved.append(verdict.unobserved)
        if verdict.fatal is not None:
            self.result.well_known = verdict.report
            raise self.fail(f"well-known {verdict.report.url}", verdict.fatal, "invalid-m-server")
        if verdict.delegated is not None and observation.failure is None:
            self.well_known_headers = list(observation.hops[-1][1].headers)
        return verdict.report, verdict.delegated, verdict.warnings

    def compare_well_known(self, verdict: WellKnownVerdict, spec: WellKnownVerdict) -> None:
        """A divergence when the profile and the spec make different things of the same file."""
        mine, theirs = verdict.delegated, spec.delegated
        if verdict.fatal is None and (mine is None) == (theirs is None) and str(mine) == str(theirs):
            return
        rule = verdict.report.rule or spec.report.rule or "well_known"
        if verdict.fatal is not None:
            reason = verdict.fatal
        elif mine is None:
            reason = f"gives no delegation: {verdict.report.error}"
        else:
            reason = f"delegates to {mine}, where the spec's rules refuse the file ({spec.report.error})"
        self.diverge(rule, reason)

    def run(self) -> Resolution:
        result = self.result
        try:
            server, warnings = parse_server_name(self.name)
        except ServerNameError as exc:
            raise self.fail(PARSE_STEP, str(exc), "invalid-server-name") from exc
        result.server_name = str(server)
        self.server_host = server.host
        for message in warnings:
            self.warn(message)

        if server.is_ip_literal:  # step 1
            result.method = Method.IP_LITERAL
            result.host_header = str(server)
            self.ip_target(server, f"connecting to {server}")
            return self.url_host_header(server)
        if server.port is not None:  # step 2
            result.method = Method.EXPLICIT_PORT
            result.host_header = str(server)
            result.tls_server_name = result.sni = server.host
            self.set_targets([self.target(server.host, server.port)], f"address lookup for {server.host}")
            return self.url_host_header(server)

        well_known, delegated, wk_warnings = self.well_known(server.host)  # step 3
        result.well_known = well_known
        for message in wk_warnings:
            self.warn(message)
        if delegated is not None:
            result.delegated_server = str(delegated)
            if delegated.is_ip_literal:  # 3.1
                result.method = Method.WELL_KNOWN_IP_LITERAL
                result.host_header = str(delegated)
                self.ip_target(delegated, f"connecting to delegated server {delegated}")
                return self.url_host_header(delegated)
            result.tls_server_name = result.sni = delegated.host
            if delegated.port is not None:  # 3.2
                result.method = Method.WELL_KNOWN_EXPLICIT_PORT
                result.host_header = str(delegated)
                self.set_targets(
                    [self.target(delegated.host, delegated.port)],
                    f"address lookup for delegated server {delegated.host}",
                )
                return self.url_host_header(delegated)
            result.host_header = delegated.host
            self.srv_or_default_port(delegated.host, delegated=True)  # 3.3 to 3.5
            return self.url_host_header(delegated)

        result.host_header = result.tls_server_name = result.sni = server.host
        self.srv_or_default_port(server.host, delegated=False)  # 4 to 6
        return self.url_host_header(server)

    def route_ttls(self) -> tuple[int | None, int | None]:
        """The largest TTLs of the SRV answers and of the target addresses this run used (memo hits)."""
        srv_ttls = []
        for lookup in self.result.srv:
            if lookup.error is None:
                srv_ttls.append(self._srv(lookup.name).ttl)
        address_ttls = []
        for target in self.result.targets:
            if target.addresses and target.addresses != [target.host]:  # looked up, not an IP literal
                address_ttls.append(self._addresses(target.host).ttl)
        return _largest(srv_ttls), _largest(address_ttls)

    def url_host_header(self, server: ServerName) -> Resolution:
        """``host_header: url``: the Host a URL library derives, ``host:port`` with the port in use."""
        result = self.result
        if self.profile.host_header == "url" and result.targets:
            host_header = url_authority(server.host, server.kind, result.targets[0].port)
            if host_header != result.host_header:
                self.diverge(
                    "host_header", f"sends Host {host_header!r} (the URL's authority), not {result.host_header!r}"
                )
                result.host_header = host_header
        return result

    def srv_or_default_port(self, host: str, *, delegated: bool) -> Resolution:
        """The SRV targets of ``host`` (methods *srv, *srv_legacy), else ``host`` on port 8448 (*default_port)."""
        found = self.srv(host)
        if found is None:
            self.result.method = Method.after_srv(delegated=delegated, legacy=None)
            role = "delegated server " if delegated else ""
            self.set_targets([self.target(host, DEFAULT_PORT)], f"address lookup for {role}{host}")
        else:
            targets, legacy = found
            self.result.method = Method.after_srv(delegated=delegated, legacy=legacy)
            self.set_targets(targets, f"address lookup for the SRV targets of {host}")
        return self.result


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
    clock: Clock = SYSTEM_CLOCK,
    parallel: Parallel | None = None,
    profile: Profile = SPEC,
    limits: ObservationLimits | None = None,
) -> Resolution:
    """Resolve one server name. Raises ResolutionError; never any other exception for bad peers.

    ``well_known_budget`` bounds step 3 as a whole (redirects included), in seconds;
    ``step_timeout`` (the per-step timeout) bounds a round of parallel SRV target lookups.
    ``clock`` gives the wall time (cache periods) and the monotonic time (deadlines); ``parallel``
    runs those lookups (one by one without it). ``profile``: the implementation whose rules
    apply (the spec's by default); ``limits``: the well-known fetch's limits (the profile's own
    by default).
    """
    resolver = _ResolutionRun(
        name if isinstance(name, str) else repr(name),
        dns=dns,
        https=https,
        memo=memo or Memo(),
        rng=rng or random.Random(),
        parallel=parallel or Sequential(),
        clock=clock,
        allow_private_addresses=allow_private_addresses,
        well_known_budget=well_known_budget,
        step_timeout=step_timeout,
        profile=profile,
        limits=limits,
    )
    if not isinstance(name, str):
        try:
            parse_server_name(name)
        except ServerNameError as exc:
            raise resolver.fail(PARSE_STEP, str(exc), "invalid-server-name") from exc
    return resolver.run()


@dataclass
class ProfileOutcome:
    """One implementation's view of one server name, at a cold cache.

    ``resolution`` or ``error`` (what that implementation would fail with); ``differs_from_spec``
    names the rules that made its targets, Host, SNI, method or failure differ from the spec's,
    empty when they agree; ``unobserved`` says where it would have gone further than the one
    fetch did (the result then assumes no delegation).
    """

    profile: Profile
    resolution: Resolution | None
    error: ResolutionError | None
    differs_from_spec: list[Divergence] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)
    well_known_headers: list[tuple] | None = None  # of the well-known answer it accepts (notice_times)
    srv_ttl: int | None = None  # the largest TTL of the SRV answers its route used
    address_ttl: int | None = None  # the largest TTL of its targets' addresses

    def notice_time(self, *, now: float) -> NoticeTime:
        """How long a peer of this implementation may keep an earlier answer (``notice_times``)."""
        return notice_times(
            [self.profile],
            well_known_headers=self.well_known_headers,
            now=now,
            srv_ttl=self.srv_ttl,
            address_ttl=self.address_ttl,
        )[0]

    def comparable(self) -> tuple:
        """What an implementation does with the name: the failure, or where and how it connects."""
        if self.error is not None or self.resolution is None:
            return ("error", None if self.error is None else self.error.code)
        result = self.resolution
        targets = tuple((target.host, target.port, tuple(target.addresses)) for target in result.targets)
        return (str(result.method), result.host_header, result.sni, targets)

    def to_dict(self) -> dict:
        """The implementation, its versions, where it connects (or its error) and why it differs."""
        entry: dict = {"implementation": self.profile.name, "versions": self.profile.versions}
        if self.resolution is not None:
            full = self.resolution.to_dict()
            for key in ("method", "delegated_server", "host_header", "tls_server_name", "sni", "targets"):
                entry[key] = full[key]
            entry["error"] = entry["code"] = None
        else:
            entry.update(method=None, delegated_server=None, host_header=None, tls_server_name=None, sni=None)
            entry["targets"] = []
            entry["error"] = None if self.error is None else str(self.error)
            entry["code"] = None if self.error is None else self.error.code
        entry["differs_from_spec"] = [divergence.to_dict() for divergence in self.differs_from_spec]
        entry["unobserved"] = list(self.unobserved)
        entry["caveats"] = self.caveats()
        return entry

    def caveats(self) -> list[str]:
        """What this result cannot see and that could change it, in words (the first always).

        A peer's cache, the profile's notes on the rules that made it differ from the spec, a
        default address deny list that would refuse a target address, and a route cache keyed by
        the delegated host name (D16). Each is stated only where it applies to this result.
        """
        profile = self.profile
        found = [COLD_CACHE_CAVEAT]
        for divergence in self.differs_from_spec:
            note = profile.notes.get(divergence.rule)
            if note and f"{divergence.rule}: {note}" not in found:
                found.append(f"{divergence.rule}: {note}")
        resolution = self.resolution
        if resolution is None:
            return found
        denylist = profile.default_denylist
        if denylist is not None:
            refused = sorted(
                {
                    address
                    for target in resolution.targets
                    if denylist.scope == "every" or _is_ip_literal(target.host)
                    for address in target.addresses
                    if private_range(address)
                }
            )
            if refused:
                found.append(
                    f"with its default {denylist.setting}, {profile.title} refuses {', '.join(refused)} "
                    "(not public addresses): a peer that keeps that default cannot connect here, and a "
                    f"peer's configuration cannot be seen from outside ({denylist.source})"
                )
        if profile.host_keyed_cache and resolution.delegated_server is not None:
            hosts = sorted(
                {
                    target.host
                    for target in resolution.targets
                    if not _is_ip_literal(target.host) and target.host.lower() != str(resolution.server_name).lower()
                }
            )
            for host in hosts:
                found.append(
                    f"{profile.title} caches routes under the host name: a peer that resolved {host} as a "
                    f"server name of its own may use that route for this name too (D16 in docs/implementations.md)"
                )
        return found


COLD_CACHE_CAVEAT = (
    "at a cold cache: a peer that resolved this name before may still use its earlier answer until "
    "its cache expires (federation_check's notice_seconds says for how long at most)"
)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolve_implementations(
    name: Any,
    profiles: list[Profile],
    *,
    dns: DnsPort,
    https: HttpsPort,
    memo: Memo | None = None,
    allow_private_addresses: bool = False,
    well_known_budget: float | None = None,
    step_timeout: float | None = None,
    rng: random.Random | None = None,
    clock: Clock = SYSTEM_CLOCK,
    parallel: Parallel | None = None,
) -> list[ProfileOutcome]:
    """Resolve ``name`` as each of ``profiles`` would, asking the network once (one memo).

    The spec's run comes first (its result is the comparison for ``differs_from_spec``), with the
    well-known fetch's limits widened to the most permissive of ``profiles``; the other profiles
    judge the same answers. Never raises for a bad peer or a bad name: each outcome carries its
    resolution or its ResolutionError.
    """
    memo = memo or Memo()
    rng = rng or random.Random()
    limits = observation_limits([SPEC, *profiles])
    seed = rng.random()  # every profile orders SRV records of equal priority the same way
    outcomes: dict[str, ProfileOutcome] = {}
    for profile in [SPEC, *[p for p in profiles if p is not SPEC]]:
        run = _ResolutionRun(
            name if isinstance(name, str) else repr(name),
            dns=dns,
            https=https,
            memo=memo,
            rng=random.Random(seed),
            parallel=parallel or Sequential(),
            clock=clock,
            allow_private_addresses=allow_private_addresses,
            well_known_budget=well_known_budget,
            step_timeout=step_timeout,
            profile=profile,
            limits=limits,
        )
        try:
            if not isinstance(name, str):
                parse_server_name(name)
            outcome = ProfileOutcome(profile, run.run(), None)
            outcome.srv_ttl, outcome.address_ttl = run.route_ttls()
        except ServerNameError as exc:
            outcome = ProfileOutcome(profile, None, run.fail(PARSE_STEP, str(exc), "invalid-server-name"))
        except ResolutionError as exc:
            outcome = ProfileOutcome(profile, None, exc)
        outcome.unobserved = list(run.unobserved)
        outcome.well_known_headers = run.well_known_headers
        if profile is not SPEC and outcome.comparable() != outcomes[SPEC.name].comparable():
            outcome.differs_from_spec = list(run.divergences) or [
                profile.divergence("unknown", "differs from the spec's result for a reason no rule names")
            ]
        outcomes[profile.name] = outcome
    return [outcomes[profile.name] for profile in profiles]
