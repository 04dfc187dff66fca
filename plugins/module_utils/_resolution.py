# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Server-name resolution as a homeserver does it (Matrix server-server API, "Resolving server names").

Private module: not part of the collection's public API.

``resolve_server_name`` is the algorithm, a pure function over the ports of ``_model``: the DNS
port, the HTTPS port (through the well-known fetch of ``_wellknown``), a clock and a Parallel
port for the address lookups of several SRV targets. The shells (the ``resolve`` lookup, the
``federation_check`` module) get real adapters wired by ``_resolver``; the unit tests, fakes.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from typing import Any

from ._address_policy import private_address_warnings
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
from ._server_name import ServerName, ServerNameError, parse_server_name
from ._wellknown import fetch_well_known

__all__ = [
    "MAX_PARALLEL_LOOKUPS",
    "SRV_SERVICES",
    "order_srv_records",
    "resolve_server_name",
]

MAX_PARALLEL_LOOKUPS = 32
SRV_SERVICES = (("_matrix-fed._tcp", False), ("_matrix._tcp", True))


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

    def __post_init__(self) -> None:
        self.result = Resolution(server_name=self.name)

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

    def set_targets(self, targets: list[Target], step: str) -> None:
        self.result.targets = targets
        if not any(target.addresses for target in targets):
            reasons = []
            for host in dict.fromkeys(target.host for target in targets):
                reasons.append(self.address_errors.get(host, f"{host} has no AAAA or A records"))
            raise self.fail(step, "no IPv6 or IPv4 address found: " + "; ".join(reasons), "no-address")

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
                raise self.fail(f"SRV query {qname}", exc.reason, "dns-failure") from exc
            entry.records = [record.to_dict() for record in answer.records]
            if not answer.records:
                continue
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
            return targets, legacy
        return None

    def well_known(self, hostname: str) -> tuple[WellKnown, ServerName | None, list[str]]:
        return self.memo.get(
            ("well_known", hostname),
            lambda: fetch_well_known(
                hostname,
                dns_addresses=self._addresses,
                https=self.https,
                budget=self.well_known_budget,
                clock=self.clock,
            ),
        )

    def run(self) -> Resolution:
        result = self.result
        try:
            server, warnings = parse_server_name(self.name)
        except ServerNameError as exc:
            raise self.fail(PARSE_STEP, str(exc), "invalid-server-name") from exc
        result.server_name = str(server)
        for message in warnings:
            self.warn(message)

        if server.is_ip_literal:  # step 1
            result.method = Method.IP_LITERAL
            result.host_header = str(server)
            self.ip_target(server)
            return result
        if server.port is not None:  # step 2
            result.method = Method.EXPLICIT_PORT
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
                result.method = Method.WELL_KNOWN_IP_LITERAL
                result.host_header = str(delegated)
                self.ip_target(delegated)
                return result
            result.tls_server_name = result.sni = delegated.host
            if delegated.port is not None:  # 3.2
                result.method = Method.WELL_KNOWN_EXPLICIT_PORT
                result.host_header = str(delegated)
                self.set_targets(
                    [self.target(delegated.host, delegated.port)],
                    f"address lookup for delegated server {delegated.host}",
                )
                return result
            result.host_header = delegated.host
            return self.srv_or_default_port(delegated.host, delegated=True)  # 3.3 to 3.5

        result.host_header = result.tls_server_name = result.sni = server.host
        return self.srv_or_default_port(server.host, delegated=False)  # 4 to 6

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
) -> Resolution:
    """Resolve one server name. Raises ResolutionError; never any other exception for bad peers.

    ``well_known_budget`` bounds step 3 as a whole (redirects included), in seconds;
    ``step_timeout`` (the per-step timeout) bounds a round of parallel SRV target lookups.
    ``clock`` gives the wall time (cache periods) and the monotonic time (deadlines); ``parallel``
    runs those lookups (one by one without it).
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
    )
    if not isinstance(name, str):
        try:
            parse_server_name(name)
        except ServerNameError as exc:
            raise resolver.fail(PARSE_STEP, str(exc), "invalid-server-name") from exc
    return resolver.run()
