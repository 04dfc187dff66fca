# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS for server-name resolution, through dnspython.

Private module: not part of the collection's public API. This is the real implementation of
the DNS port of ``_model`` (``DnsClient``); it asks the configured nameservers directly (UDP with
TCP fallback on truncation), follows CNAME chains itself and tells NXDOMAIN and NODATA ("no such
record", resolution goes on) apart from SERVFAIL, REFUSED and time-outs (errors).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

from ._model import AddressAnswer, Closing, DnsError, Parallel, SrvAnswer, SrvRecord
from ._parallel import ThreadPool

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
except ImportError as exc:  # pragma: no cover - exercised through the shells' error messages
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR: Exception | None = exc
else:
    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None

__all__ = [
    "HAS_DNSPYTHON",
    "DNSPYTHON_IMPORT_ERROR",
    "DnsConfigError",
    "DnsClient",
    "Nameserver",
    "error_class",
    "parse_nameservers",
    "srv_fields",
]

MAX_CNAME_HOPS = 8
UDP_RETRY_SECONDS = 1.0  # an unanswered UDP query is sent again after this, then twice as long


def _has_soa(response: Any) -> bool:
    """Whether a negative answer carries an SOA (whose minimum is its negative-caching TTL)."""
    return any(rrset.rdtype == dns.rdatatype.SOA for rrset in response.authority)


def error_class(kinds: list[str]) -> str:
    """The class of a failed query from its attempts' failures: SERVFAIL, REFUSED, timeout or other.

    An answer names the class (SERVFAIL before REFUSED: one server's SERVFAIL is what a
    recursive resolver passes on); only time-outs (or no attempt at all) make a time-out.
    """
    for rcode in ("SERVFAIL", "REFUSED"):
        if rcode in kinds:
            return rcode
    if all(kind == "timeout" for kind in kinds):
        return "timeout"
    return "other"


class Rdatas(list):
    """The records of one answer (a list), with ``ttl``: the smallest TTL along its CNAME chain.

    For NXDOMAIN and NODATA, ``ttl`` is the negative-caching TTL (the SOA's minimum), when the
    answer carries an SOA. The migration timing (``_profiles.notice_times``) reads it.
    """

    def __init__(self, records: list, ttl: int | None) -> None:
        super().__init__(records)
        self.ttl = ttl


class DnsConfigError(ValueError):
    """The DNS options are unusable (bad nameserver syntax, no system resolver)."""


@dataclass(frozen=True)
class Nameserver:
    address: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def srv_fields(rdata: Any) -> tuple[int, int, int, str]:
    """Priority, weight, port and target of an SRV rdata (the target without the trailing dot, "." for none)."""
    return rdata.priority, rdata.weight, rdata.port, rdata.target.to_text(omit_final_dot=True) or "."


def parse_nameservers(values: list | None) -> list[Nameserver] | None:
    """Parse ``IP``, ``IP:port``, ``[IPv6]:port`` strings. ``None`` or empty means "system"."""
    if not values:
        return None
    result = []
    for value in values:
        text = str(value).strip()
        address, port = text, 53
        if text.startswith("["):
            end = text.find("]")
            address, rest = text[1:end], text[end + 1 :]
            if end < 0 or (rest and not rest.startswith(":")):
                raise DnsConfigError(f"nameserver '{value}': expected IP, IP:port or [IPv6]:port")
            if rest:
                port = _nameserver_port(rest[1:], value)
        elif text.count(":") == 1:
            address, port_text = text.split(":")
            port = _nameserver_port(port_text, value)
        try:
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise DnsConfigError(
                f"nameserver '{value}': expected an IP address (optionally with :port), "
                f"got '{address}'; host names are not accepted"
            ) from exc
        result.append(Nameserver(address, port))
    return result


def _nameserver_port(text: str, value: object) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= 65535:
        raise DnsConfigError(f"nameserver '{value}': the port must be a number from 1 to 65535")
    return int(text)


def system_nameservers() -> list[Nameserver]:
    try:
        resolver = dns.resolver.Resolver(configure=True)
    except dns.resolver.NoResolverConfiguration as exc:
        raise DnsConfigError(
            "no nameservers are configured on this host (/etc/resolv.conf); pass the nameservers option"
        ) from exc
    servers = []
    for entry in resolver.nameservers:
        address = getattr(entry, "address", entry)
        port = getattr(entry, "port", resolver.port)
        servers.append(Nameserver(str(address), int(port)))
    if not servers:
        raise DnsConfigError("no nameservers are configured on this host; pass the nameservers option")
    return servers


def _udp_many(requests: list, server: Nameserver, timeout: float) -> list:
    """Send ``requests`` over one UDP socket and wait for all their answers, within ``timeout``.

    Returns, per request, its response or the exception ``dns.query.udp`` would have raised for
    it alone: ``dns.exception.Timeout``; ``UnexpectedSource`` (an answer from another address)
    and ``BadResponse`` (an answer to none of them) for every request still waiting; a parse
    error of its own answer. Unlike ``dns.query.udp`` it makes no selector per query: the
    profile of ``make bench`` showed that set-up (an epoll instance made, registered, waited on
    and closed twice per query), and the thread hand-off of a second query, among the largest
    costs of a name. The AAAA and A queries of a host go out together over one socket from the
    calling thread.
    """
    address = str(ipaddress.ip_address(server.address))
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    end = time.monotonic() + timeout
    outcomes: list = [None] * len(requests)
    by_id = {request.id: index for index, request in enumerate(requests)}
    wires = [request.to_wire() for request in requests]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            for wire in wires:
                sock.sendto(wire, (address, server.port))
            # A datagram lost on the way (a busy server's full receive buffer) is sent again
            # after 1 s, then 2 s, 4 s... while time is left, as stub resolvers do: without
            # it one lost datagram cost the whole timeout.
            interval = UDP_RETRY_SECONDS
            resend_at = time.monotonic() + interval
            while None in outcomes:
                now = time.monotonic()
                if now >= resend_at:
                    for index, wire in enumerate(wires):
                        if outcomes[index] is None:
                            sock.sendto(wire, (address, server.port))
                    interval *= 2
                    resend_at = now + interval
                sock.settimeout(max(min(end, resend_at) - now, 0.000001))
                try:
                    wire, source = sock.recvfrom(65535)
                except socket.timeout:
                    if time.monotonic() >= end:
                        raise
                    continue
                waiting = [index for index, outcome in enumerate(outcomes) if outcome is None]
                if str(ipaddress.ip_address(source[0].split("%")[0])) != address or source[1] != server.port:
                    error: Exception = dns.query.UnexpectedSource(f"got a response from {source} instead of {server}")
                    for index in waiting:
                        outcomes[index] = error
                    break
                matched = by_id.get(int.from_bytes(wire[:2], "big")) if len(wire) >= 2 else None
                if matched is None:
                    for index in waiting:
                        outcomes[index] = dns.query.BadResponse()
                    break
                if outcomes[matched] is not None:
                    continue  # the answer to a query sent again, answered already
                request = requests[matched]
                try:
                    response = dns.message.from_wire(wire, keyring=request.keyring, request_mac=request.mac)
                except Exception as exc:  # noqa: BLE001 - dnspython's own parse error, for this query
                    outcomes[matched] = exc
                    continue
                outcomes[matched] = response if request.is_response(response) else dns.query.BadResponse()
        except socket.timeout:
            pass
        except OSError as exc:
            outcomes = [exc if outcome is None else outcome for outcome in outcomes]
    return [dns.exception.Timeout(timeout=timeout) if outcome is None else outcome for outcome in outcomes]


class DnsClient(Closing):
    """The DNS port over dnspython. Thread-safe.

    AAAA and A are asked together, over one socket from the calling thread (``_first_answers``);
    a CNAME chain is then followed for each type in turn. ``parallel`` (the composition's pool;
    without one, a pool of ``workers`` threads of the client's own, which ``close()`` ends) is
    kept for callers that fan out through the client.
    """

    def __init__(
        self,
        nameservers: list[Nameserver] | None,
        timeout: float,
        *,
        parallel: Parallel | None = None,
        workers: int = 2,
    ) -> None:
        if not HAS_DNSPYTHON:
            raise DnsConfigError(f"the dnspython library is required: {DNSPYTHON_IMPORT_ERROR}")
        self.nameservers = nameservers or system_nameservers()
        self.timeout = timeout
        self._own_pool = ThreadPool(workers) if parallel is None else None
        self.parallel: Parallel = parallel or self._own_pool  # type: ignore[assignment]

    def close(self) -> None:
        if self._own_pool is not None:
            self._own_pool.close()

    # -- one query ---------------------------------------------------------------------------
    def _deadline(self, deadline: float | None) -> float:
        """One query (a CNAME chain and a TCP retry included) gets ``timeout`` at most."""
        own = time.monotonic() + self.timeout
        return own if deadline is None else min(own, deadline)

    def _exchange(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, label: str, deadline: float
    ) -> dns.message.QueryMessage:
        """Send one query to the nameservers in order; return the first NOERROR/NXDOMAIN answer.

        UDP first, TCP when the answer is truncated, all within ``deadline``.
        """
        outcome = self._exchange_many(qname, [rdtype], deadline)[rdtype]
        if isinstance(outcome, DnsError):
            raise DnsError(label, outcome.reason, kind=outcome.kind)
        return outcome

    def _exchange_many(self, qname: dns.name.Name, rdtypes: list, deadline: float) -> dict:
        """``_exchange`` for several types of one name at once: {rdtype: answer or DnsError}.

        Each nameserver in order gets the queries still unanswered, together over one socket;
        a type's failures are listed as ``_exchange`` lists them.
        """
        requests: dict = {}
        for rdtype in rdtypes:
            request = dns.message.make_query(qname, rdtype)
            while any(request.id == other.id for other in requests.values()):
                request.id = (request.id + 1) % 65536
            requests[rdtype] = request
        failures: dict = {rdtype: [] for rdtype in rdtypes}
        kinds: dict = {rdtype: [] for rdtype in rdtypes}  # the error class of each failure
        answers: dict = {}
        servers = list(self.nameservers)
        for index, server in enumerate(servers):
            pending = [rdtype for rdtype in rdtypes if rdtype not in answers]
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                break
            attempt = remaining / (len(servers) - index)
            attempt_end = time.monotonic() + attempt
            outcomes = _udp_many([requests[rdtype] for rdtype in pending], server, attempt)
            for rdtype, outcome in zip(pending, outcomes):
                try:
                    if isinstance(outcome, BaseException):
                        raise outcome
                    response = outcome
                    if response.flags & dns.flags.TC:
                        response = dns.query.tcp(
                            requests[rdtype],
                            server.address,
                            timeout=max(attempt_end - time.monotonic(), 0.001),
                            port=server.port,
                        )
                except dns.exception.Timeout:
                    failures[rdtype].append(f"{server} timed out after {attempt:.1f}s")
                    kinds[rdtype].append("timeout")
                    continue
                except (OSError, EOFError, dns.exception.DNSException) as exc:
                    failures[rdtype].append(f"{server} failed: {exc or type(exc).__name__}")
                    kinds[rdtype].append("other")
                    continue
                rcode = response.rcode()
                if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) and isinstance(response, dns.message.QueryMessage):
                    answers[rdtype] = response
                else:
                    failures[rdtype].append(f"{server} answered {dns.rcode.to_text(rcode)}")
                    kinds[rdtype].append(dns.rcode.to_text(rcode))
        result: dict = {}
        for rdtype in rdtypes:
            if rdtype in answers:
                result[rdtype] = answers[rdtype]
                continue
            reasons = failures[rdtype] or [f"no answer in time (timeout {self.timeout:g}s)"]
            label = f"{qname.to_text(omit_final_dot=True)} {dns.rdatatype.to_text(rdtype)}"
            result[rdtype] = DnsError(label, "; ".join(reasons), kind=error_class(kinds[rdtype]))
        return result

    def _lookup(
        self, name: str, rdtype: dns.rdatatype.RdataType, deadline: float, first: object = None
    ) -> tuple[str, list, list[str]]:
        """Query ``name``, following CNAMEs, by ``deadline``. Returns (status, rdatas, CNAMEs followed).

        ``first``: the answer (or DnsError) to the first query, when it was asked already.
        """
        type_text = dns.rdatatype.to_text(rdtype)
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException as exc:
            raise DnsError(f"{name} {type_text}", f"not a valid DNS name ({exc})") from exc
        cnames: list[str] = []
        seen = {qname}
        ttl: int | None = None
        for _hop in range(MAX_CNAME_HOPS):
            label = f"{qname.to_text(omit_final_dot=True)} {type_text}"
            if first is None:
                response = self._exchange(qname, rdtype, label, deadline)
            elif isinstance(first, DnsError):
                raise first
            else:
                response, first = first, None  # type: ignore[assignment] # the answer _first_answers got
            try:
                chain = response.resolve_chaining()
            except dns.exception.DNSException as exc:
                raise DnsError(label, f"malformed answer ({exc})") from exc
            cnames.extend(rrset.name.to_text(omit_final_dot=True) for rrset in chain.cnames)
            if chain.minimum_ttl is not None and (chain.answer is not None or chain.cnames or _has_soa(response)):
                ttl = chain.minimum_ttl if ttl is None else min(ttl, chain.minimum_ttl)
            if response.rcode() == dns.rcode.NXDOMAIN:
                return "NXDOMAIN", Rdatas([], ttl), cnames
            if chain.answer is not None:
                return "NOERROR", Rdatas(list(chain.answer), ttl), cnames
            if not chain.cnames:
                return "NODATA", Rdatas([], ttl), cnames
            qname = chain.canonical_name
            if qname in seen:
                raise DnsError(label, f"CNAME loop at {qname.to_text(omit_final_dot=True)}")
            seen.add(qname)
        raise DnsError(f"{name} {type_text}", f"more than {MAX_CNAME_HOPS} CNAMEs in a chain")

    def _first_answers(self, name: str, deadline: float) -> dict:
        """The first AAAA and A queries of ``name``, together: {rdtype: answer or DnsError}.

        Empty when ``name`` is no DNS name (``_lookup`` then says so for each type).
        """
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException:
            return {}
        return self._exchange_many(qname, [dns.rdatatype.AAAA, dns.rdatatype.A], deadline)

    # -- the port ----------------------------------------------------------------------------
    def srv(self, name: str, *, deadline: float | None = None) -> SrvAnswer:
        status, rdatas, _cnames = self._lookup(name, dns.rdatatype.SRV, self._deadline(deadline))
        records = [SrvRecord(*srv_fields(rdata)) for rdata in rdatas]
        return SrvAnswer(name=name, records=records, status=status, ttl=getattr(rdatas, "ttl", None))

    def addresses(self, name: str, *, deadline: float | None = None) -> AddressAnswer:
        """AAAA and A, asked together. One family failing is a warning; both failing an error."""
        end = self._deadline(deadline)

        firsts = self._first_answers(name, end)

        def lookup(rdtype: dns.rdatatype.RdataType) -> tuple[str, list, list[str]] | DnsError:
            try:
                return self._lookup(name, rdtype, end, firsts.get(rdtype))
            except DnsError as exc:
                return exc

        addresses: list[str] = []
        cnames: list[str] = []
        errors: list[DnsError] = []
        ttls: list[int] = []
        for outcome in [lookup(dns.rdatatype.AAAA), lookup(dns.rdatatype.A)]:
            if isinstance(outcome, DnsError):
                errors.append(outcome)
                continue
            _status, rdatas, chain = outcome
            addresses.extend(rdata.address for rdata in rdatas)
            ttl = getattr(rdatas, "ttl", None)
            if rdatas and ttl is not None:
                ttls.append(ttl)
            for cname in chain:
                if cname not in cnames:
                    cnames.append(cname)
        if len(errors) == 2:
            raise DnsError(f"{name} AAAA/A", "; ".join(str(error) for error in errors), kind=errors[0].kind)
        warnings = [f"address lookup {error} (using the other address family)" for error in errors if addresses]
        if errors and not addresses:
            raise errors[0]
        return AddressAnswer(
            name=name, addresses=addresses, cnames=cnames, warnings=warnings, ttl=min(ttls) if ttls else None
        )
