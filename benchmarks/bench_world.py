# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark's loopback world: a slow DNS server, slow HTTPS servers and N server names.

Everything binds addresses of one ``<net>.0/24`` of loopback, the world ``bench`` of
``support.net`` (``MATRIXOPS_BENCH_NET``, or else the first free one of ``127.0.90`` …
``127.0.99``), never a wildcard address:

=====================  ============================================================================
``<net>.53:5353``      DNS (``support.nameserver``, UDP and TCP), authoritative for ``bench.test.``;
                       every answer is sent ``delay`` seconds after its query arrived
``<net>.10:443``       HTTPS: the ``/.well-known/matrix/server`` files of every server name
``<net>.10:8448``      HTTPS: the homeservers of the ``default_port`` names
``<net>.11:8443``      HTTPS: the homeservers of the ``well_known_explicit_port`` names
``<net>.11:8448``      HTTPS: the homeservers of the SRV names (``well_known_srv``, ``srv``)
=====================  ============================================================================

The HTTPS servers are ``support.peers`` listeners with keep-alive. Every HTTP response is sent
``delay`` seconds after its request arrived (TCP connects and TLS handshakes are not delayed).
One certificate for ``*.bench.test`` from a CA made for the run serves every name. The servers
log DNS queries, completed TLS handshakes (by SNI) and HTTP requests (by ``Host``);
:meth:`BenchWorld.counts` attributes each to the server name whose resolution or check needs it.

The server names (``i`` from 0 to N-1; the path is ``i % 4``):

* ``wkp<i>.bench.test``: well-known ``{"m.server": "wkp<i>-fed.bench.test:8443"}``;
* ``wks<i>.bench.test``: well-known ``{"m.server": "wks<i>-fed.bench.test"}`` and
  ``_matrix-fed._tcp.wks<i>-fed.bench.test`` SRV ``wks<i>-host.bench.test:8448``;
* ``srv<i>.bench.test``: no well-known (HTTP 404), ``_matrix-fed._tcp.srv<i>.bench.test`` SRV
  ``srv<i>-host.bench.test:8448``;
* ``plain<i>.bench.test``: no well-known (HTTP 404), no SRV records: port 8448.

No name has AAAA records (only 127.0.0.0/8 is used), so each address lookup is an AAAA query
answered "no data" and an A query answered with one address. The homeservers answer
``/_matrix/key/v2/server`` with keys signed by ``support.matrix`` for the server name their
``Host`` header belongs to, and ``/_matrix/federation/v1/version``.
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pki
from support import net, peers
from support.matrix import KEYS_PATH, VERSION_PATH, WELL_KNOWN_PATH, SigningKey, key_response
from support.nameserver import Nameserver, Zone

DNS_PORT = 5353
NET = net.allocate("bench", binds=[(53, DNS_PORT), (10, 443), (10, 8448), (11, 8443), (11, 8448)])
ZONE = "bench.test"
DNS_IP = NET.ip(53)
WK_IP = NET.ip(10)
FED_IP = NET.ip(11)
TTL = 300

VERSION = {"name": "bench", "version": "1.0"}
KEY = SigningKey("ed25519:bench", bytes(range(100, 132)))
CACHE = {"Cache-Control": "max-age=3600"}

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


# -- the zone -------------------------------------------------------------------------------------
def zone(names: list[BenchName]) -> Zone:
    records = Zone(ZONE, DNS_IP, ttl=TTL, timers="3600 600 86400 60")
    for name in names:
        records.a(name.server_name, WK_IP)
        host, port = name.target
        if name.kind == "wks":
            records.srv(f"{name.label}-fed.{ZONE}", f"10 5 {port} {host}.")
        elif name.kind == "srv":
            records.srv(name.server_name, f"10 5 {port} {host}.")
        if name.kind != "plain":
            records.a(host, FED_IP)
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


def routes(names: list[BenchName], valid_until_ts: int) -> tuple[dict, dict]:
    """The routes of the well-known server (port 443) and of the homeservers (the other ports)."""
    well_known: dict = {}
    homeservers: dict = {}
    version = peers.json_reply({"server": VERSION}, headers=CACHE)
    for name in names:
        if name.delegated:
            reply = peers.json_reply({"m.server": name.delegated}, headers=CACHE)
            well_known[(name.server_name, WELL_KNOWN_PATH)] = reply
        keys = peers.json_reply(key_response(name.server_name, valid_until_ts, [KEY]), headers=CACHE)
        for host in {name.server_name, name.target[0], *([name.delegated.split(":")[0]] if name.delegated else [])}:
            homeservers[(host, KEYS_PATH)] = keys
            homeservers[(host, VERSION_PATH)] = version
    return well_known, homeservers


# -- the world ------------------------------------------------------------------------------------------
class BenchWorld:
    """The servers. ``start()``, ``counts()``, ``stop()``."""

    def __init__(self, workdir: Path, names: list[BenchName], *, delay: float = 0.05) -> None:
        self.workdir = Path(workdir)
        self.names = names
        self.delay = delay
        self.owner_of = owners(names)
        self.dns: Nameserver | None = None
        self.peers: peers.Peers | None = None
        self.ca_path: Path | None = None

    @property
    def nameserver(self) -> str:
        return f"{DNS_IP}:{DNS_PORT}"

    def start(self) -> BenchWorld:
        ca = pki.create_ca(self.workdir / "ca", common_name="matrixops bench CA")
        context = peers.server_context(pki.issue_cert(ca, self.workdir / "wildcard", [f"*.{ZONE}"]))
        self.ca_path = ca.bundle_path
        well_known, homeservers = routes(self.names, int((time.time() + 86400) * 1000))
        listeners = [
            peers.Listener(
                address, port, context, well_known if port == 443 else homeservers, keep_alive=True, delay=self.delay
            )
            for address, port in ((WK_IP, 443), (WK_IP, 8448), (FED_IP, 8443), (FED_IP, 8448))
        ]
        self.dns = Nameserver(DNS_IP, DNS_PORT, zone(self.names), delay=self.delay, negative_soa=True)
        try:
            self.peers = peers.Peers(listeners)
        except BaseException:
            self.dns.close()
            raise
        return self

    def stop(self) -> None:
        for server in (self.peers, self.dns):
            if server is not None:
                server.close()
        self.peers = self.dns = None

    def counts(self) -> dict:
        """The DNS queries, TLS handshakes and HTTP requests since the last call, per server name.

        ``{"dns"|"tls"|"http": {str(index) or "unattributed": count}, "span": seconds or None}``;
        ``span`` is the time from the first query or request to the last answer: how long the
        clients kept the world busy.
        """
        assert self.dns is not None and self.peers is not None, "the world is not running"
        queries = self.dns.take_queries()
        handshakes, requests = self.peers.take_log()
        seen = [("dns", query.name) for query in queries]
        seen += [("tls", sni) for _listener, sni, _at in handshakes]
        seen += [("http", request.hostname) for request in requests]
        counts = Counter((what, self.owner_of.get((host or "").lower().rstrip("."))) for what, host in seen)
        result: dict = {"dns": {}, "tls": {}, "http": {}}
        for (what, owner), count in counts.items():
            result[what]["unattributed" if owner is None else str(owner)] = count
        arrived = [q.at for q in queries] + [at for _l, _s, at in handshakes] + [r.started for r in requests]
        answered = [q.answered for q in queries] + [r.finished for r in requests]
        answered = [when for when in answered if when is not None]
        result["span"] = max(0.0, max(answered) - min(arrived)) if arrived and answered else None
        return result


def main_for_humans(argv: list[str]) -> int:  # pragma: no cover - a debugging aid
    """``PYTHONPATH=tests:tests/lab python benchmarks/bench_world.py [N]``: run the world until
    Ctrl-C (or one hour)."""
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
