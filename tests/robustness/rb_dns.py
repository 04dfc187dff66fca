# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small nameserver (dnspython, UDP and TCP) for what knot cannot be made to do.

Each name has an :class:`Entry`: its records and how the server misbehaves for it (time-outs,
response codes, a delay on every query, truncated UDP answers, answers for another name). A
CNAME is answered alone, never chased, so a CNAME chain or loop costs the client one query per
hop. Names without an entry are NXDOMAIN; an entry without records of the asked type is an
empty NOERROR answer without an SOA. ``responder`` replaces the whole logic (the fuzz targets
use it to send anything at all, garbage included).
"""

from __future__ import annotations

import contextlib
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
import dns.rdataclass
import dns.rdatatype
import dns.rrset


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


@dataclass
class Query:
    name: str
    rdtype: str
    transport: str  # "udp" or "tcp"
    at: float


Responder = Callable[[dns.message.Message, str], "bytes | dns.message.Message | None"]


class Nameserver:
    """Answers on ``address:port`` (UDP and TCP) from ``entries``; ``close()`` stops it."""

    def __init__(self, address: str, port: int, entries: dict[str, Entry] | None = None) -> None:
        self.entries = {name.lower().rstrip("."): entry for name, entry in (entries or {}).items()}
        self.responder: Responder | None = None
        self.queries: list[Query] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((address, port))
        self.udp.settimeout(0.05)
        self.address, self.port = self.udp.getsockname()
        self.tcp = socket.create_server((self.address, self.port))
        self.tcp.settimeout(0.05)
        self._threads = [
            threading.Thread(target=self._serve_udp, daemon=True, name="rb-dns-udp"),
            threading.Thread(target=self._serve_tcp, daemon=True, name="rb-dns-tcp"),
        ]
        for thread in self._threads:
            thread.start()

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

    # -- answers ------------------------------------------------------------------------------
    def answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries.append(Query(name, rdtype, transport, time.monotonic()))
        if self.responder is not None:
            reply = self.responder(query, transport)
            if reply is None or isinstance(reply, bytes):
                return reply
            return self._wire(reply, query, transport)
        entry = self.entries.get(name)
        if entry is not None:
            if entry.silent:
                return None
            pause = entry.delay + (entry.tcp_delay if transport == "tcp" else 0.0)
            if pause and self._stop.wait(pause):
                return None
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        if entry is None:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        elif entry.rcode is not None:
            reply.set_rcode(entry.rcode)
        elif entry.truncate and transport == "udp":
            reply.flags |= dns.flags.TC
        else:
            owner = dns.name.from_text(entry.owner) if entry.owner else question.name
            for answer_type in ("CNAME", rdtype):
                if answer_type in entry.records:
                    reply.answer.append(
                        dns.rrset.from_text_list(owner, 60, "IN", answer_type, entry.records[answer_type])
                    )
                    break
        if entry is not None and entry.question:
            reply.question = [dns.rrset.RRset(dns.name.from_text(entry.question), question.rdclass, question.rdtype)]
        return self._wire(reply, query, transport)

    @staticmethod
    def _wire(reply: dns.message.Message, query: dns.message.Message, transport: str) -> bytes:
        if transport == "tcp":
            return reply.to_wire(max_size=65535)
        limit = max(512, query.payload if query.edns >= 0 else 512)
        try:
            return reply.to_wire(max_size=limit)
        except dns.exception.TooBig:
            short = dns.message.make_response(query)
            short.flags |= dns.flags.TC | dns.flags.AA
            return short.to_wire()

    # -- transports ---------------------------------------------------------------------------
    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._udp_reply, args=(data, peer), daemon=True).start()

    def _udp_reply(self, data: bytes, peer: tuple) -> None:
        reply = self.answer(data, "udp")
        if reply is not None and not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _peer = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._tcp_connection, args=(conn,), daemon=True).start()

    def _tcp_connection(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with conn:
            try:
                while not self._stop.is_set():
                    head = _recv_exact(conn, 2)
                    if head is None:
                        return
                    data = _recv_exact(conn, struct.unpack("!H", head)[0])
                    if data is None:
                        return
                    reply = self.answer(data, "tcp")
                    if reply is None:
                        return
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
