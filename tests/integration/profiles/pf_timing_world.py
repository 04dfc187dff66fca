# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""D11 (when each implementation notices a change) and D16 (a route cache keyed by host name) as a lab world.

The names of ``tm.test``, on a ``/24`` of its own of the ``profiles`` band of ``support.net``
(``MATRIXOPS_PROFILES_NET``, or else the first free one of ``127.0.110`` … ``127.0.119``: a
second one when pf_world.py's world is loaded in the same process). pf_world.py is not imported:
it allocates its own ``/24`` when it is loaded.

=====================  =====================================================================
``<net>.53:5353``      knot, authoritative for ``tm.test.``, every record with a chosen TTL
``<net>.10:443``       the well-known files of the D11 setups, by ``Host``, each with the cache
                       headers of its setup (``support.peers``)
``<net>.<host>:<port>``  each setup's landing peer: a Matrix server for that setup's server name
                       (``/_matrix/federation/v1/version`` and ``/_matrix/key/v2/server`` signed
                       for it, ``support.matrix``)
``<net>.16:443``       D16: the well-known of ``h16.tm.test``, itself a server name
=====================  =====================================================================

One certificate from a CA made for the run, valid for every name of the zone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import knot
import pki
from support import net, peers
from support.matrix import KEYS_PATH, VERSION_PATH, SigningKey, key_response
from support.matrix import WELL_KNOWN_PATH as WK_PATH
from support.nameserver import Zone

ZONE = "tm.test"
DNS_PORT = 5353
WK_HOST = 10
ADDRESS_TTL = 30  # the TTL of every landing address: shorter than every well-known period below but (d)'s
KEY = SigningKey("ed25519:tm1", bytes(range(100, 132)))
VERSION = {"server": {"name": "matrixops timing lab", "version": "1"}}


def n(label: str) -> str:
    """``n("a")`` → ``a.tm.test``."""
    return f"{label}.{ZONE}"


class TtlZone(Zone):
    """A :class:`Zone` whose records can carry their own TTL (knot's zone file: ``name. TTL TYPE rdata``)."""

    def __init__(self, origin: str, ns_address: str) -> None:
        self.ttls: dict[tuple[str, str], int] = {}
        super().__init__(origin, ns_address)

    def with_ttl(self, ttl: int, name: str, rdtype: str) -> None:
        self.ttls[(name.lower().rstrip("."), rdtype)] = ttl

    def text(self) -> str:
        lines = [f"$ORIGIN {self.origin}.", f"$TTL {self.ttl}"]
        for name, entry in self.entries.items():
            for rdtype, rdatas in entry.records.items():
                ttl = self.ttls.get((name, rdtype))
                lines += [f"{name}. {'' if ttl is None else f'{ttl} '}{rdtype} {rdata}" for rdata in rdatas]
        return "\n".join(lines) + "\n"


@dataclass
class TimingSetup:
    """One D11 server name: how it is published, and every profile's ``notice_seconds``."""

    sid: str
    server_name: str
    landing: tuple[int, int]  # (host, port) of its Matrix server
    notice: dict[str, int | None]  # profile -> the longest time a peer keeps an earlier answer


@dataclass
class World:
    net: net.Net
    zone: TtlZone
    setups: list[TimingSetup] = field(default_factory=list)
    routes: dict = field(default_factory=dict)  # (host, path) -> handler, on <net>.10:443
    extra_listeners: dict[tuple[int, int], dict] = field(default_factory=dict)  # (host, port) -> routes
    ca_path: Path | None = None

    def ip(self, host: int) -> str:
        return self.net.ip(host)

    @property
    def nameserver(self) -> str:
        return f"{self.ip(53)}:{DNS_PORT}"

    def setup(self, sid: str) -> TimingSetup:
        return next(setup for setup in self.setups if setup.sid == sid)


def notices(spec: int, synapse: int, conduit: int) -> dict[str, int | None]:
    """Every profile's ``notice_seconds`` where only the ``headers`` policies depend on the setup.

    The other rules (plugins/module_utils/_profiles.py ``CachePolicy``; docs/implementations.md
    "How long each keeps an earlier answer"), the same for every setup of this world:
    * dendrite: ``until_failure``: no time bound (None);
    * the conduwuit family (conduwuit, continuwuity-0.5, tuwunel, tuwunel-1.0): ``fixed``, 18-36 h
      whatever the headers: at most 36 h = 129600 s (their DNS minimum TTL, 3 h, is shorter);
    * continuwuity: ``fixed`` 24 h = 86400 s (no DNS minimum; every TTL here is shorter).
    """
    family = dict.fromkeys(("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0"), 36 * 3600)
    return {"spec": spec, "synapse": synapse, "dendrite": None, **family, "continuwuity": 24 * 3600, "conduit": conduit}


def build(world_net: net.Net) -> World:
    ip = world_net.ip
    zone = TtlZone(ZONE, ip(53))
    world = World(world_net, zone)
    wk_ip = ip(WK_HOST)

    def delegated(sid: str, label: str, host: int, headers: dict, notice: dict) -> None:
        """``label`` delegates by well-known (with ``headers``) to ``<label>-matrix:443`` at ``<net>.<host>``."""
        zone.a(n(label), wk_ip)
        zone.a(n(f"{label}-matrix"), ip(host))
        zone.with_ttl(ADDRESS_TTL, n(f"{label}-matrix"), "A")
        world.routes[(n(label), WK_PATH)] = peers.json_reply(
            {"m.server": f"{n(label + '-matrix')}:443"}, headers=headers
        )
        world.setups.append(TimingSetup(sid, n(label), (host, 443), notice))

    # (a) max-age=60. spec and conduit: 60 s (no minimum); synapse: raised to its minimum 5 min = 300 s.
    delegated("max-age-60", "a", 21, {"Cache-Control": "max-age=60"}, notices(60, 300, 60))
    # (b) max-age=604800 (7 days): spec, synapse and conduit clamp it to their maximum 48 h = 172800 s.
    delegated("max-age-7d", "b", 22, {"Cache-Control": "max-age=604800"}, notices(172800, 172800, 172800))
    # (c) no cache headers: spec and conduit the default 24 h = 86400 s; synapse 24 h + 10 % jitter = 95040 s.
    delegated("no-headers", "c", 23, {}, notices(86400, 95040, 86400))
    # (d) no-store: spec and conduit keep the well-known 0 s, synapse 5 min = 300 s (its no_store);
    # the landing address's TTL (ADDRESS_TTL = 30 s) is then the longest layer for spec and conduit.
    delegated("no-store", "d", 24, {"Cache-Control": "no-store"}, notices(ADDRESS_TTL, 300, ADDRESS_TTL))
    # (e) Cache-Control max-age=600, then HSTS max-age=63072000 (2 years): spec and synapse read
    # Cache-Control only (600 s); conduit reads every header as Cache-Control directives, the HSTS
    # max-age (the later one) wins, clamped to 48 h = 172800 s.
    hsts = {"Cache-Control": "max-age=600", "Strict-Transport-Security": "max-age=63072000"}
    delegated("hsts", "e", 25, hsts, notices(600, 600, 172800))
    # (e2) the same with "; includeSubDomains": conduit's parse of "max-age=63072000; includeSubDomains"
    # is not an integer, the whole parse fails: no header counts, its default 24 h = 86400 s.
    hsts_sub = {"Cache-Control": "max-age=600", "Strict-Transport-Security": "max-age=63072000; includeSubDomains"}
    delegated("hsts-subdomains", "e2", 26, hsts_sub, notices(600, 600, 86400))
    # (f) SRV only, TTL 7200, no address for the name (so no well-known): spec and conduit remember
    # "no usable well-known" 1 h, synapse 1.1 h = 3960 s; the SRV TTL 7200 s is longer for all three.
    # (The conduwuit family raises 7200 to its 3 h DNS minimum: still shorter than 36 h.)
    zone.srv(n("f"), f"10 0 8448 {n('f-matrix')}.")
    zone.with_ttl(7200, f"_matrix-fed._tcp.{n('f')}", "SRV")
    zone.a(n("f-matrix"), ip(27))
    zone.with_ttl(ADDRESS_TTL, n("f-matrix"), "A")
    world.setups.append(TimingSetup("srv-7200", n("f"), (27, 8448), notices(7200, 7200, 7200)))

    # D16: d16 delegates (explicit port: no SRV step, every profile agrees) to h16.tm.test:8448;
    # h16.tm.test is a server name of its own whose well-known (on <net>.16:443) delegates elsewhere.
    zone.a(n("d16"), wk_ip)
    world.routes[(n("d16"), WK_PATH)] = peers.json_reply({"m.server": f"{n('h16')}:8448"})
    zone.a(n("h16"), ip(16))
    zone.a(n("h16-other"), ip(17))
    world.extra_listeners[(16, 443)] = {WK_PATH: peers.json_reply({"m.server": f"{n('h16-other')}:443"})}
    return world


def landing_routes(server_name: str, valid_until_ts: int) -> dict:
    """A Matrix server for ``server_name``: its version and its keys, signed for it."""
    return {
        VERSION_PATH: peers.json_reply(VERSION),
        KEYS_PATH: peers.json_reply(key_response(server_name, valid_until_ts, (KEY,))),
    }


@contextlib.contextmanager
def running(world: World, workdir: Path) -> Iterator[World]:
    """Knot and every peer, files in ``workdir``, until the block ends."""
    ca = pki.create_ca(workdir / "pki" / "ca", common_name="matrixops timing lab CA")
    names = sorted(name for name in world.zone.entries if "_" not in name) + [s.server_name for s in world.setups]
    context = peers.server_context(pki.issue_cert(ca, workdir / "pki" / "peers", sorted(set(names))))
    valid_until_ts = int((time.time() + 86400) * 1000)
    listeners = [peers.Listener(world.ip(WK_HOST), 443, context, dict(world.routes))]
    for setup in world.setups:
        host, port = setup.landing
        listeners.append(
            peers.Listener(world.ip(host), port, context, landing_routes(setup.server_name, valid_until_ts))
        )
    for (host, port), routes in world.extra_listeners.items():
        listeners.append(peers.Listener(world.ip(host), port, context, routes))
    with contextlib.ExitStack() as stack:
        stack.enter_context(knot.KnotServer(workdir / "knot", world.ip(53), DNS_PORT, {ZONE: world.zone.text()}))
        stack.enter_context(peers.Peers(listeners))
        world.ca_path = ca.bundle_path
        yield world


def _binds() -> list[tuple[int, int]]:
    plan = build(net.Net("127.0.0"))
    places = {setup.landing for setup in plan.setups} | set(plan.extra_listeners)
    return sorted(places | {(53, DNS_PORT), (WK_HOST, 443)})


NET = net.allocate("profiles", binds=_binds())
WORLD = build(NET)
SETUPS = [setup.sid for setup in WORLD.setups]
