# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS on loopback: a :class:`Zone` of records, served by knot (tests/lab/knot.py, from
:meth:`Zone.text`) or by the :class:`Nameserver` here (dnspython, UDP and TCP), which does what
knot cannot be made to do.

Each name of a zone has an :class:`Entry`: its records and how the Nameserver misbehaves for it
(time-outs, response codes, a delay on every query, truncated UDP answers, answers for another
name). A CNAME is answered alone, never chased, so a CNAME chain or loop costs the client one
query per hop. Names without an entry are NXDOMAIN; an entry without records of the asked type
is an empty NOERROR answer, without an SOA unless ``negative_soa`` is set. ``responder``
replaces the whole logic (the fuzz targets use it to send anything at all, garbage included).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from support.loopback import serve_until


@dataclass
class Entry:
    records: dict[str, list[str]] = field(default_factory=dict)  # type -> rdata texts (absolute names)
    rcode: int | None = None  # answer this response code instead
    silent: bool = False  # never answer (the client times out)
    delay: float = 0.0  # seconds before every answer, UDP or TCP
    tcp_delay: float = 0.0  # extra seconds before a TCP answer
    truncate: bool = False  # UDP answers have TC set and no records; TCP answers are complete
    owner: str | None = None  # the answer's records are owned by this other name
    question: str | None = None  # the response's question section names this other name


class Zone:
    """The names of one zone (absolute, without the final dot) and their :class:`Entry`.

    It starts with the SOA and NS records of ``origin`` and the address of ``ns.<origin>``.
    """

    def __init__(self, origin: str, ns_address: str, *, ttl: int = 60, timers: str = "60 60 600 60") -> None:
        self.origin = origin.rstrip(".").lower()
        self.ttl = ttl
        self.entries: dict[str, Entry] = {}
        self.add(self.origin, "SOA", f"ns.{self.origin}. hostmaster.{self.origin}. 1 {timers}")
        self.add(self.origin, "NS", f"ns.{self.origin}.")
        self.a(f"ns.{self.origin}", ns_address)

    def entry(self, name: str) -> Entry:
        return self.entries.setdefault(name.lower().rstrip("."), Entry())

    def add(self, name: str, rdtype: str, *rdatas: str, **behaviour: object) -> str:
        """``rdatas`` (absolute names end in a dot) of ``rdtype`` at ``name``; ``behaviour`` sets
        :class:`Entry` fields. Returns ``name``."""
        entry = self.entry(name)
        if rdatas:
            entry.records.setdefault(rdtype, []).extend(rdatas)
        for key, value in behaviour.items():
            if not hasattr(entry, key):
                raise TypeError(f"Entry has no field {key!r}")
            setattr(entry, key, value)
        return name

    def a(self, name: str, *addresses: str, **behaviour: object) -> str:
        """A records (AAAA for IPv6 addresses) of ``name``."""
        self.add(name, "AAAA", *(address for address in addresses if ":" in address))
        return self.add(name, "A", *(address for address in addresses if ":" not in address), **behaviour)

    def srv(self, name: str, *records: str, service: str = "_matrix-fed._tcp", **behaviour: object) -> str:
        """SRV records ``"priority weight port target."`` at ``<service>.<name>``; returns that name."""
        return self.add(f"{service}.{name}", "SRV", *records, **behaviour)

    def cname(self, name: str, target: str, **behaviour: object) -> str:
        return self.add(name, "CNAME", f"{target}.", **behaviour)

    def names_with_address(self, address: str) -> list[str]:
        return [name for name, entry in self.entries.items() if address in entry.records.get("A", [])]

    def text(self) -> str:
        """The zone file (the misbehaviours are the Nameserver's only)."""
        lines = [f"$ORIGIN {self.origin}.", f"$TTL {self.ttl}"]
        for name, entry in self.entries.items():
            lines += [f"{name}. {rdtype} {rdata}" for rdtype, rdatas in entry.records.items() for rdata in rdatas]
        return "\n".join(lines) + "\n"


@dataclass
class Query:
    name: str
    rdtype: str
    transport: str  # "udp" or "tcp"
    at: float
    answered: float | None = None


Responder = Callable[[dns.message.Message, str], "bytes | dns.message.Message | None"]


class Nameserver:
    """Answers on ``address:port`` (UDP and TCP) from ``zone``; ``close()`` stops it.

    ``delay``: seconds between a query's arrival and its answer (on top of an entry's own delay).
    ``negative_soa``: NXDOMAIN and empty answers carry the zone's SOA, as an authoritative
    server's do. ``shuffle=False``: the records of an answer in the order they were added to the
    zone (dnspython shuffles an RRset it writes; knot sorts them), e.g. SRV records whose first
    one is not the one of the lowest priority. The zone must not change while the server runs: each distinct query is answered
    from scratch once, then from a cache (the benchmark asks thousands of them).
    """

    def __init__(
        self,
        address: str,
        port: int,
        zone: Zone | None = None,
        *,
        delay: float = 0.0,
        negative_soa: bool = False,
        shuffle: bool = True,
    ) -> None:
        self.shuffle = shuffle
        self.entries = zone.entries if zone is not None else {}
        self.ttl = zone.ttl if zone is not None else 60
        self.soa = None
        if zone is not None and negative_soa:
            soa = zone.entries[zone.origin].records["SOA"]
            self.soa = dns.rrset.from_text_list(f"{zone.origin}.", self.ttl, "IN", "SOA", soa)
        self.delay = delay
        self.responder: Responder | None = None
        self.queries: list[Query] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._cache: dict[tuple[str, bytes], tuple[str, str, float, bytes | None]] = {}
        self._due: list[tuple[float, int, bytes, tuple, Query | None]] = []  # UDP responses, by time
        self._due_changed = threading.Condition()
        self._sequence = itertools.count()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.udp.bind((address, port))
            self.udp.settimeout(0.05)
            self.address, self.port = self.udp.getsockname()
            self.tcp = socket.create_server((self.address, self.port), backlog=1024)
        except BaseException:
            self.udp.close()
            raise
        self.tcp.settimeout(0.05)
        self._threads = [
            threading.Thread(target=self._serve, args=(self._datagram, self._udp_query), daemon=True, name="dns-udp"),
            threading.Thread(
                target=self._serve, args=(self._connection, self._tcp_thread), daemon=True, name="dns-tcp"
            ),
            threading.Thread(target=self._send_due, daemon=True, name="dns-udp-send"),
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> Nameserver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def nameserver(self) -> str:
        return f"{self.address}:{self.port}"

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self.udp.close()
        self.tcp.close()

    def queries_for(self, name: str) -> list[Query]:
        with self._lock:
            return [query for query in self.queries if query.name == name.lower()]

    def take_queries(self) -> list[Query]:
        """The queries logged so far, which are forgotten."""
        with self._lock:
            taken, self.queries = self.queries, []
        return taken

    # -- answers ------------------------------------------------------------------------------
    def _log(self, name: str, rdtype: str, transport: str) -> Query:
        logged = Query(name, rdtype, transport, time.monotonic())
        with self._lock:
            self.queries.append(logged)
        return logged

    def answer(self, wire: bytes, transport: str) -> tuple[bytes | None, float, Query | None]:
        """The response to a query (None: no response at all), the seconds to wait before sending
        it, and the query as logged."""
        if self.responder is None and (transport, wire[2:]) in self._cache:
            name, rdtype, pause, rest = self._cache[(transport, wire[2:])]  # all but the query's ID
            return None if rest is None else wire[:2] + rest, pause, self._log(name, rdtype, transport)
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None, 0.0, None
        if not query.question:
            return None, 0.0, None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        logged = self._log(name, rdtype, transport)
        if self.responder is not None:
            response = self.responder(query, transport)
            if isinstance(response, dns.message.Message):
                response = self._wire(response, query, transport)
            return response, 0.0, logged
        entry = self.entries.get(name)
        pause = self.delay
        if entry is not None:
            pause += entry.delay + (entry.tcp_delay if transport == "tcp" else 0.0)
        silent = entry is not None and entry.silent
        response = None if silent else self._wire(self._response(query, entry, transport), query, transport)
        self._cache[(transport, wire[2:])] = (name, rdtype, pause, None if response is None else response[2:])
        return response, pause, logged

    def _response(self, query: dns.message.Message, entry: Entry | None, transport: str) -> dns.message.Message:
        question = query.question[0]
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        rdtype = dns.rdatatype.to_text(question.rdtype)
        if entry is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif entry.rcode is not None:
            response.set_rcode(entry.rcode)
        elif entry.truncate and transport == "udp":
            response.flags |= dns.flags.TC
        else:
            owner = dns.name.from_text(entry.owner) if entry.owner else question.name
            for answer_type in ("CNAME", rdtype):
                if answer_type in entry.records:
                    response.answer.append(
                        dns.rrset.from_text_list(owner, self.ttl, "IN", answer_type, entry.records[answer_type])
                    )
                    break
        if self.soa is not None and not response.answer and response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            response.authority.append(self.soa)
        if entry is not None and entry.question:
            response.question = [dns.rrset.RRset(dns.name.from_text(entry.question), question.rdclass, question.rdtype)]
        return response

    def _wire(self, response: dns.message.Message, query: dns.message.Message, transport: str) -> bytes:
        if transport == "tcp":
            return response.to_wire(max_size=65535, want_shuffle=self.shuffle)
        limit = max(512, query.payload if query.edns >= 0 else 512)
        try:
            return response.to_wire(max_size=limit, want_shuffle=self.shuffle)
        except dns.exception.TooBig:
            short = dns.message.make_response(query)
            short.flags |= dns.flags.TC | dns.flags.AA
            return short.to_wire()

    # -- transports ---------------------------------------------------------------------------
    def _serve(self, receive: Callable[[], tuple], handle: Callable[..., None]) -> None:
        """Until closed: take each datagram (or connection) and ``handle`` it."""
        serve_until(self._stop, receive, lambda received: handle(*received))

    def _datagram(self) -> tuple[bytes, tuple]:
        return self.udp.recvfrom(65535)

    def _connection(self) -> tuple[socket.socket]:
        return (self.tcp.accept()[0],)

    def _udp_query(self, data: bytes, peer: tuple) -> None:
        arrived = time.monotonic()
        response, pause, logged = self.answer(data, "udp")
        if response is not None:
            with self._due_changed:
                heapq.heappush(self._due, (arrived + pause, next(self._sequence), response, peer, logged))
                self._due_changed.notify()

    def _send_due(self) -> None:
        """Sends each UDP response when its time has come."""
        while not self._stop.is_set():
            with self._due_changed:
                wait = self._due[0][0] - time.monotonic() if self._due else 0.05
                if wait > 0:
                    self._due_changed.wait(min(wait, 0.05))
                    continue
                _when, _sequence, response, peer, logged = heapq.heappop(self._due)
            with contextlib.suppress(OSError):
                self.udp.sendto(response, peer)
                _answered(logged)

    def _tcp_thread(self, conn: socket.socket) -> None:
        threading.Thread(target=self._tcp_connection, args=(conn,), daemon=True).start()

    def _tcp_connection(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with conn:
            try:
                while not self._stop.is_set():
                    head = _recv_exact(conn, 2)
                    data = None if head is None else _recv_exact(conn, struct.unpack("!H", head)[0])
                    arrived = time.monotonic()
                    response, pause, logged = (None, 0.0, None) if data is None else self.answer(data, "tcp")
                    if response is None or self._stop.wait(max(0.0, arrived + pause - time.monotonic())):
                        return
                    conn.sendall(struct.pack("!H", len(response)) + response)
                    _answered(logged)
            except OSError:
                return


def _answered(query: Query | None) -> None:
    if query is not None:
        query.answered = time.monotonic()


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
