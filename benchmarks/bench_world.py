# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark's loopback world: a slow DNS server, slow HTTPS servers and N server names.

Everything binds addresses of one ``<net>.0/24`` of loopback (``<net>`` is ``MATRIXOPS_BENCH_NET``,
default ``127.0.90``), never a wildcard address:

=====================  ============================================================================
``<net>.53:5353``      DNS (UDP and TCP), authoritative for ``bench.test.``; every answer is sent
                       ``delay`` seconds after its query arrived
``<net>.10:443``       HTTPS: the ``/.well-known/matrix/server`` files of every server name
``<net>.10:8448``      HTTPS: the homeservers of the ``default_port`` names
``<net>.11:8443``      HTTPS: the homeservers of the ``well_known_explicit_port`` names
``<net>.11:8448``      HTTPS: the homeservers of the SRV names (``well_known_srv``, ``srv``)
=====================  ============================================================================

Every HTTP response is sent ``delay`` seconds after its request arrived (TCP connects and TLS
handshakes are not delayed). One certificate for ``*.bench.test`` from a CA made for the run
serves every name. The servers count DNS queries, completed TLS handshakes (by SNI) and HTTP
requests (by ``Host``), each attributed to the server name whose resolution or check needs it.

The server names (``i`` from 0 to N-1; the path is ``i % 4``):

* ``wkp<i>.bench.test``: well-known ``{"m.server": "wkp<i>-fed.bench.test:8443"}``;
* ``wks<i>.bench.test``: well-known ``{"m.server": "wks<i>-fed.bench.test"}`` and
  ``_matrix-fed._tcp.wks<i>-fed.bench.test`` SRV ``wks<i>-host.bench.test:8448``;
* ``srv<i>.bench.test``: no well-known (HTTP 404), ``_matrix-fed._tcp.srv<i>.bench.test`` SRV
  ``srv<i>-host.bench.test:8448``;
* ``plain<i>.bench.test``: no well-known (HTTP 404), no SRV records: port 8448.

No name has AAAA records (only 127.0.0.0/8 is used), so each address lookup is an AAAA query
answered "no data" and an A query answered with one address. The homeservers answer
``/_matrix/key/v2/server`` with keys signed (Ed25519, canonical JSON) for the server name their
``Host`` header belongs to, and ``/_matrix/federation/v1/version``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

LAB_DIR = Path(__file__).resolve().parents[1] / "tests" / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

import pki  # noqa: E402 - the lab library, found through LAB_DIR

NET = os.environ.get("MATRIXOPS_BENCH_NET", "127.0.90")
ZONE = "bench.test"
DNS_IP = f"{NET}.53"
DNS_PORT = 5353
WK_IP = f"{NET}.10"
FED_IP = f"{NET}.11"
LISTENERS = ((WK_IP, 443), (WK_IP, 8448), (FED_IP, 8443), (FED_IP, 8448))
TTL = 300

WELL_KNOWN_PATH = "/.well-known/matrix/server"
KEYS_PATH = "/_matrix/key/v2/server"
VERSION_PATH = "/_matrix/federation/v1/version"
VERSION = {"name": "bench", "version": "1.0"}
KEY_ID = "ed25519:bench"
KEY_SEED = bytes(range(100, 132))

KINDS = ("wkp", "wks", "srv", "plain")
#: The method each kind of name resolves by.
METHODS = {
    "wkp": "well_known_explicit_port",
    "wks": "well_known_srv",
    "srv": "srv",
    "plain": "default_port",
}
#: The fewest DNS queries, TLS handshakes and HTTP requests the spec's steps need to resolve a
#: name of each kind (A and AAAA are two queries; a host's addresses are looked up once).
RESOLVE_MINIMUM = {
    # AAAA+A of the name, the well-known, AAAA+A of the delegated host
    "wkp": {"dns": 4, "tls": 1, "http": 1},
    # AAAA+A of the name, the well-known, SRV of the delegated host, AAAA+A of the SRV target
    "wks": {"dns": 5, "tls": 1, "http": 1},
    # AAAA+A of the name, the well-known (404), SRV of the name, AAAA+A of the SRV target
    "srv": {"dns": 5, "tls": 1, "http": 1},
    # AAAA+A of the name, the well-known (404), both SRV names (no records), no more: the
    # name's addresses are already known
    "plain": {"dns": 4, "tls": 1, "http": 1},
}
#: federation_check also makes one connection per address (one here) with two requests on it.
CHECK_MINIMUM = {
    kind: {"dns": m["dns"], "tls": m["tls"] + 1, "http": m["http"] + 2} for kind, m in RESOLVE_MINIMUM.items()
}


@dataclass(frozen=True)
class BenchName:
    index: int
    kind: str

    @property
    def label(self) -> str:
        return f"{self.kind}{self.index:04d}"

    @property
    def server_name(self) -> str:
        return f"{self.label}.{ZONE}"

    @property
    def delegated(self) -> str | None:
        """The ``m.server`` of the well-known file, or None (HTTP 404)."""
        if self.kind == "wkp":
            return f"{self.label}-fed.{ZONE}:8443"
        if self.kind == "wks":
            return f"{self.label}-fed.{ZONE}"
        return None

    @property
    def target(self) -> tuple[str, int]:
        """Where the name resolves to: (host, port)."""
        if self.kind == "wkp":
            return f"{self.label}-fed.{ZONE}", 8443
        if self.kind in ("wks", "srv"):
            return f"{self.label}-host.{ZONE}", 8448
        return self.server_name, 8448

    @property
    def method(self) -> str:
        return METHODS[self.kind]


def bench_names(count: int) -> list[BenchName]:
    return [BenchName(index, KINDS[index % len(KINDS)]) for index in range(count)]


# -- signed keys (written here, independently of the collection's _signing module) ---------------
def canonical_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def unpadded_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def key_response(server_name: str, valid_until_ts: int) -> bytes:
    private = Ed25519PrivateKey.from_private_bytes(KEY_SEED)
    public = unpadded_b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    body: dict = {
        "server_name": server_name,
        "valid_until_ts": valid_until_ts,
        "verify_keys": {KEY_ID: {"key": public}},
        "old_verify_keys": {},
    }
    body["signatures"] = {server_name: {KEY_ID: unpadded_b64(private.sign(canonical_json(body)))}}
    return json.dumps(body).encode()


# -- the zone -------------------------------------------------------------------------------------
def zone_records(names: list[BenchName]) -> dict[str, dict[int, list[str]]]:
    """owner name (lower case, no final dot) → {rdtype: [rdata text]}; every owner is a name."""
    records: dict[str, dict[int, list[str]]] = {}

    def add(owner: str, rdtype: int, text: str) -> None:
        records.setdefault(owner.lower(), {}).setdefault(rdtype, []).append(text)

    add(ZONE, dns.rdatatype.SOA, f"ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 60")
    add(ZONE, dns.rdatatype.NS, f"ns.{ZONE}.")
    add(f"ns.{ZONE}", dns.rdatatype.A, DNS_IP)
    for name in names:
        add(name.server_name, dns.rdatatype.A, WK_IP)
        host, port = name.target
        if name.kind == "wkp":
            add(host, dns.rdatatype.A, FED_IP)
        elif name.kind == "wks":
            add(f"_matrix-fed._tcp.{name.label}-fed.{ZONE}", dns.rdatatype.SRV, f"10 5 {port} {host}.")
            add(host, dns.rdatatype.A, FED_IP)
        elif name.kind == "srv":
            add(f"_matrix-fed._tcp.{name.server_name}", dns.rdatatype.SRV, f"10 5 {port} {host}.")
            add(host, dns.rdatatype.A, FED_IP)
    return records


def owners(names: list[BenchName]) -> dict[str, int]:
    """Every DNS name, TLS server name and Host a name's resolution or check touches → its index."""
    result: dict[str, int] = {}
    for name in names:
        touched = [name.server_name, name.target[0]]
        if name.delegated:
            touched.append(name.delegated.split(":")[0])
        for host in list(touched):
            touched += [f"_matrix-fed._tcp.{host}", f"_matrix._tcp.{host}"]
        for host in touched:
            result[host.lower()] = name.index
    return result


# -- counters -------------------------------------------------------------------------------------
class Counters:
    """DNS queries, TLS handshakes and HTTP requests, per server name index (None: unattributed)."""

    def __init__(self, owner_of: dict[str, int]) -> None:
        self.owner_of = owner_of
        self.counts: Counter = Counter()
        self.lock = threading.Lock()
        self.first: float | None = None  # when the first query or request arrived
        self.last: float | None = None  # when the last answer or response was sent

    def add(self, what: str, host: str | None) -> None:
        owner = self.owner_of.get((host or "").lower().rstrip("."))
        with self.lock:
            self.counts[(what, owner)] += 1
            if self.first is None:
                self.first = time.monotonic()

    def answered(self) -> None:
        self.last = time.monotonic()

    def snapshot(self, *, reset: bool = False) -> dict:
        """{"dns"|"tls"|"http": {str(index) or "unattributed": count}, "span": seconds or None}.

        ``span`` is the time from the first query or request to the last answer: how long the
        clients kept the world busy.
        """
        with self.lock:
            counts = dict(self.counts)
            span = None if self.first is None or self.last is None else max(0.0, self.last - self.first)
            if reset:
                self.counts.clear()
                self.first = self.last = None
        result: dict = {"dns": {}, "tls": {}, "http": {}, "span": span}
        for (what, owner), count in counts.items():
            result[what]["unattributed" if owner is None else str(owner)] = count
        return result


# -- DNS ----------------------------------------------------------------------------------------------
def _rrset_wire(rrset: dns.rrset.RRset) -> bytes:
    out = io.BytesIO()
    rrset.to_wire(out)
    return out.getvalue()


class DnsAnswers:
    """Authoritative answers from ``zone_records``, prebuilt as wire bytes.

    A plain query (one question, no EDNS) is answered by copying its header ID, flags and
    question and appending the prebuilt sections: no parsing with dnspython for each query, so
    that the world spends little of the machine's CPU. Anything else goes through dnspython.
    """

    def __init__(self, records: dict[str, dict[int, list[str]]]) -> None:
        self.rrsets: dict[str, dict[int, dns.rrset.RRset]] = {}
        for owner, by_type in records.items():
            for rdtype, texts in by_type.items():
                rrset = dns.rrset.from_text_list(owner + ".", TTL, dns.rdataclass.IN, rdtype, texts)
                self.rrsets.setdefault(owner, {})[rdtype] = rrset
        self.soa = self.rrsets[ZONE][dns.rdatatype.SOA]
        self.soa_wire = _rrset_wire(self.soa)
        # (owner, rdtype) -> (rcode, ancount, nscount, section bytes)
        self.wire: dict[tuple[str, int], tuple[int, int, int, bytes]] = {}
        for owner, by_type in self.rrsets.items():
            for rdtype, rrset in by_type.items():
                self.wire[(owner, rdtype)] = (dns.rcode.NOERROR, len(rrset), 0, _rrset_wire(rrset))

    def _fast(self, wire: bytes) -> tuple[bytes | None, str | None]:
        """The answer to a plain query, or (None, None) when the query is not plain."""
        if len(wire) < 17 or wire[4:12] != b"\x00\x01\x00\x00\x00\x00\x00\x00" or wire[2] & 0xF8:
            return None, None  # not one question, has EDNS or other records, a response, or not QUERY
        labels = []
        offset = 12
        while True:
            length = wire[offset]
            if length == 0 or length > 63 or offset + 1 + length > len(wire):
                break
            labels.append(wire[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
            offset += 1 + length
        if wire[offset] != 0 or offset + 5 != len(wire):
            return None, None
        rdtype = int.from_bytes(wire[offset + 1 : offset + 3], "big")
        if wire[offset + 3 : offset + 5] != b"\x00\x01":
            return None, None  # not class IN
        qname = ".".join(labels).lower()
        found = self.wire.get((qname, rdtype))
        if found is None:
            rcode = dns.rcode.NOERROR if qname in self.rrsets else dns.rcode.NXDOMAIN
            found = (rcode, 0, 1, self.soa_wire)
        rcode, ancount, nscount, sections = found
        flags = 0x8000 | 0x0400 | (wire[2] & 0x01) << 8 | rcode  # QR, AA, the query's RD, rcode
        header = wire[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + bytes((0, ancount, 0, nscount, 0, 0))
        return header + wire[12 : offset + 5] + sections, qname

    def respond(self, wire: bytes) -> tuple[bytes | None, str | None]:
        """(response wire or None for garbage, the query name)."""
        answer, qname = self._fast(wire)
        if answer is not None:
            return answer, qname
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 - anything unparsable is dropped, as servers do
            return None, None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire(), None
        question = query.question[0]
        qname = question.name.to_text(omit_final_dot=True).lower()
        by_type = self.rrsets.get(qname)
        if by_type is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self.soa)
        elif question.rdtype in by_type:
            response.answer.append(by_type[question.rdtype])
        else:
            response.authority.append(self.soa)  # NODATA
        return response.to_wire(), qname


class _DnsUdp(asyncio.DatagramProtocol):
    def __init__(self, world: BenchWorld) -> None:
        self.world = world
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        answer, qname = self.world.answers.respond(data)
        if answer is None or self.transport is None:
            return
        self.world.counters.add("dns", qname)
        asyncio.get_running_loop().call_later(self.world.delay, self._send, answer, addr)

    def _send(self, answer: bytes, addr: tuple) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(answer, addr)
            self.world.counters.answered()


# -- the world ------------------------------------------------------------------------------------------
class BenchWorld:
    """The servers, in an asyncio loop of their own thread. ``start()``, ``counts()``, ``stop()``."""

    def __init__(self, workdir: Path, names: list[BenchName], *, delay: float = 0.05) -> None:
        self.workdir = Path(workdir)
        self.names = names
        self.delay = delay
        self.answers = DnsAnswers(zone_records(names))
        self.counters = Counters(owners(names))
        self.by_host = owners(names)
        self.valid_until_ts = int((time.time() + 86400) * 1000)
        self._keys: dict[int, bytes] = {}
        self.loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._servers: list = []
        self._transports: list = []
        self.ca_path: Path | None = None
        self.tls_context: ssl.SSLContext | None = None

    @property
    def nameserver(self) -> str:
        return f"{DNS_IP}:{DNS_PORT}"

    # -- set-up ---------------------------------------------------------------------------------
    def _make_tls(self) -> None:
        ca = pki.create_ca(self.workdir / "ca", common_name="matrixops bench CA")
        leaf = pki.issue_cert(ca, self.workdir / "wildcard", [f"*.{ZONE}"])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(leaf.cert_path, leaf.key_path)
        context.sni_callback = _remember_sni
        self.ca_path = ca.bundle_path
        self.tls_context = context

    def start(self) -> BenchWorld:
        self._make_tls()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._listen())
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name="bench-world", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise RuntimeError(f"the bench world cannot start: {failure[0]}") from failure[0]
        return self

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _protocol = await loop.create_datagram_endpoint(lambda: _DnsUdp(self), local_addr=(DNS_IP, DNS_PORT))
        self._transports.append(transport)
        self._servers.append(await asyncio.start_server(self._dns_tcp, DNS_IP, DNS_PORT, backlog=1024))
        for address, port in LISTENERS:
            server = await asyncio.start_server(
                self._https, address, port, ssl=self.tls_context, backlog=1024, ssl_handshake_timeout=30
            )
            self._servers.append(server)

    def stop(self) -> None:
        if self._thread is None:
            return

        async def close() -> None:
            for transport in self._transports:
                transport.close()
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._thread = None

    def counts(self, *, reset: bool = False) -> dict:
        return self.counters.snapshot(reset=reset)

    # -- DNS over TCP -------------------------------------------------------------------------------
    async def _dns_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                answer, qname = self.answers.respond(await reader.readexactly(size))
                if answer is None:
                    break
                self.counters.add("dns", qname)
                await asyncio.sleep(self.delay)
                writer.write(len(answer).to_bytes(2, "big") + answer)
                await writer.drain()
                self.counters.answered()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    # -- HTTPS -------------------------------------------------------------------------------------------
    async def _https(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sslobj = writer.get_extra_info("ssl_object")
        self.counters.add("tls", getattr(sslobj, "bench_sni", None))
        port = writer.get_extra_info("sockname")[1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("iso-8859-1").split("\r\n")
                path = lines[0].split(" ")[1] if lines[0].count(" ") >= 2 else "/"
                host = ""
                close = False
                for line in lines[1:]:
                    key, _sep, value = line.partition(":")
                    key = key.strip().lower()
                    if key == "host":
                        host = value.strip().lower()
                    elif key == "connection" and value.strip().lower() == "close":
                        close = True
                hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
                self.counters.add("http", hostname)
                status, body = self._route(hostname, port, path)
                await asyncio.sleep(self.delay)
                writer.write(
                    (
                        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                        "Content-Type: application/json\r\nCache-Control: max-age=3600\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    ).encode("ascii")
                    + body
                )
                await writer.drain()
                self.counters.answered()
                if close:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _route(self, hostname: str, port: int, path: str) -> tuple[int, bytes]:
        index = self.by_host.get(hostname)
        if index is None:
            return 404, b'{"errcode": "M_NOT_FOUND"}'
        name = self.names[index]
        if path == WELL_KNOWN_PATH and port == 443 and hostname == name.server_name and name.delegated:
            return 200, json.dumps({"m.server": name.delegated}).encode()
        if port != 443 and path == KEYS_PATH:
            if index not in self._keys:
                self._keys[index] = key_response(name.server_name, self.valid_until_ts)
            return 200, self._keys[index]
        if port != 443 and path == VERSION_PATH:
            return 200, json.dumps({"server": VERSION}).encode()
        return 404, b'{"errcode": "M_NOT_FOUND"}'


def _remember_sni(sslobj: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
    sslobj.bench_sni = server_name  # type: ignore[attr-defined]


def main_for_humans(argv: list[str]) -> int:  # pragma: no cover - a debugging aid
    """``python benchmarks/bench_world.py [N]``: run the world until Ctrl-C (or one hour)."""
    import signal
    import tempfile

    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))  # clean up on kill, too
    count = int(argv[1]) if len(argv) > 1 else 8
    with tempfile.TemporaryDirectory(prefix="matrixops-bench-") as workdir:
        world = BenchWorld(Path(workdir), bench_names(count)).start()
        print(f"nameservers=['{world.nameserver}'] ca_path='{world.ca_path}' names:")
        for name in world.names:
            print(f"  {name.server_name} -> {name.method} {name.target[0]}:{name.target[1]}")
        try:
            time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            print(json.dumps(world.counts()))
            world.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_for_humans(sys.argv))
