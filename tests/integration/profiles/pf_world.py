# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The divergence setups of issue 21 as a lab world: where each homeserver implementation connects.

Each :class:`Setup` is one server name of ``pf.test`` built so that at least two implementation
profiles connect to a different place or send a different ``Host``/SNI (D1-D5, D7-D10, D12,
D14, D15 of docs/implementations.md; the IPv6 ones, D6 and D13, are in
tests/integration/netns/test_profiles_ipv6.py). Its ``expect`` is every profile's answer as read
from the implementations' source (docs/implementations.md, the unit tests
tests/unit/plugins/module_utils/test_profiles_divergences.py with the lab's addresses), and its
``rules`` the rules ``differs_from_spec`` names.

Everything binds addresses of one ``<net>.0/24`` of loopback, the world ``profiles`` of
``support.net`` (``MATRIXOPS_PROFILES_NET``, or else the first free one of ``127.0.110`` …
``127.0.119``):

=====================  =====================================================================
``<net>.53:5353``      knot, authoritative for ``pf.test.``, and SERVFAIL for the zones
                       configured without a file (``_matrix-fed._tcp.d2.pf.test.``)
``<net>.52:5353``      the test-support nameserver (``support.nameserver``) for ``pf.test.``,
                       for what knot cannot do: a query that is never answered (D3) and REFUSED
                       inside a zone (D2), and SRV records in the order given, the
                       priority-20 one first (D4-answer-order; ``shuffle=False``: knot sorts
                       them, so D4-failover uses knot and a first target that is down)
``<net>.10:443``       the well-known files of every setup, by ``Host`` (``support.peers``)
every landing place    a TLS peer on each ``address:port`` where some profile would connect
                       (derived from ``expect``), except the ``down`` ones; it answers the
                       version request with what it saw: ``{"endpoint", "sni", "host", "path"}``
                       (and a ``server`` object), and ``/_matrix/key/v2/server`` signed for the
                       name it serves there (:func:`identities`, :meth:`Setup.connects`)
=====================  =====================================================================

All peers share one certificate from a CA made for the run, valid for every name of the zone
and every landing address (IP literals): certificates are not what these setups are about.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import knot
import pki
from support import net, peers
from support.matrix import KEYS_PATH, VERSION_PATH, SigningKey, key_response
from support.matrix import WELL_KNOWN_PATH as WK_PATH
from support.nameserver import Nameserver, Zone

from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import PROFILE_NAMES

ZONE = "pf.test"
DNS_PORT = 5353
WK_HOST = 10
#: The implementation profiles, in the lookup's order (its ``implementation`` choices).
PROFILES = PROFILE_NAMES  # spec first, then every implementation profile
RUST = ("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0", "continuwuity", "conduit")
CONDUWUIT_FAMILY = ("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0")
PRE_QUERY = ("conduwuit", "tuwunel", "tuwunel-1.0")  # D1: the server name's own addresses, looked up first


def n(label: str) -> str:
    """``n("d1")`` → ``d1.pf.test``."""
    return f"{label}.{ZONE}"


# A place: (Host header, SNI, [(host, port, [addresses])]) or ("error", code), as test_profiles_divergences.
Place = tuple


def expect(default: Place, **by_profile: Place) -> dict[str, Place]:
    """Every profile's place: ``default`` unless named (``continuwuity_05`` for ``continuwuity-0.5``)."""
    return {name: by_profile.get(name.replace("-", "_").replace(".", ""), default) for name in PROFILES}


def error(code: str) -> Place:
    return ("error", code)


@dataclass
class Setup:
    """One server name: its DNS, its well-known answers, and every profile's expected answer."""

    sid: str  # D1, D8-12288, ...
    server_name: str
    expect: dict[str, Place]
    rules: dict[str, list[str]] | None = None  # profile -> rules differs_from_spec names (all others: none)
    rules_include: dict[str, str] = field(default_factory=dict)  # profile -> one rule it must name
    dns: str = "knot"  # knot | support (the test-support nameserver on <net>.52)
    down: tuple[tuple[int, int], ...] = ()  # (host, port) of places where nothing listens

    def connects(self, world: World, profile: str) -> bool:
        """Whether ``profile``'s connections pass (``federation_check``'s ``connections_ok``).

        Derived from the setup, not observed: the profile resolves (no ``error`` place), and every
        address of every target it would use listens (not ``down``) and is this name's homeserver.
        The homeserver listens on the targets the records publish (``*-matrix``, ``d4-*``, an
        ``m.server`` IP literal); the server name's own address is its web server, whose
        federation ports answer as another homeserver (keys signed for :data:`OTHER`), so a
        profile that falls back to the server name itself (no delegation seen, D1's pre-query,
        Dendrite's 8448 on D2/D3) reaches a peer with the wrong name.
        """
        place = self.expect[profile]
        if place[0] == "error":
            return False
        down = {(world.ip(host), port) for host, port in self.down}
        return all(
            host != self.server_name and (address, port) not in down
            for host, port, addresses in place[2]
            for address in addresses
        )


@dataclass
class World:
    """The setups over one ``/24``: :func:`build` fills the zones and the routes."""

    net: net.Net
    setups: list[Setup] = field(default_factory=list)
    knot_zone: Zone | None = None
    support_zone: Zone | None = None
    broken_zones: list[str] = field(default_factory=list)
    routes: dict = field(default_factory=dict)  # (host, path) -> handler, on <net>.10:443
    ca_path: Path | None = None
    peers: peers.Peers | None = None

    def ip(self, host: int) -> str:
        return self.net.ip(host)

    @property
    def nameserver(self) -> str:
        return f"{self.ip(53)}:{DNS_PORT}"

    @property
    def support_nameserver(self) -> str:
        return f"{self.ip(52)}:{DNS_PORT}"

    def nameserver_of(self, setup: Setup) -> str:
        return self.nameserver if setup.dns == "knot" else self.support_nameserver

    def setup(self, sid: str) -> Setup:
        return next(setup for setup in self.setups if setup.sid == sid)

    def landing(self) -> set[tuple[str, int]]:
        """Every ``(address, port)`` some profile would connect to, but the ``down`` ones."""
        places = set()
        for setup in self.setups:
            down = {(self.ip(host), port) for host, port in setup.down}
            for place in setup.expect.values():
                if place[0] == "error":
                    continue
                for _host, port, addresses in place[2]:
                    places.update((address, port) for address in addresses if (address, port) not in down)
        return places

    def listening(self, address: str, port: int) -> bool:
        return (address, port) in self.landing() or (address, port) == (self.ip(WK_HOST), 443)


def echo(exchange: peers.Exchange) -> None:
    """The landing servers' version answer: what this request looked like from here (the Synapse
    reference runner reads it), and the ``server`` object a federation version answer has."""
    request = exchange.request
    seen = {"endpoint": request.listener, "sni": request.sni, "host": request.host, "path": request.path}
    peers.json_reply({**seen, "server": {"name": "pf-echo", "version": "1"}})(exchange)


OTHER = n("other")  # the homeserver on a server name's own address: not that name's (Setup.connects)
KEY = SigningKey("ed25519:pf1", bytes(range(32)))


def identities(world: World) -> dict[tuple[str, str], str]:
    """``(address:port, Host without port)`` -> the server name whose keys the peer there serves.

    A target that is the server name itself is its web server (:data:`OTHER`), every other target
    the setup's homeserver. One ``address:port`` serves several setups, told apart by ``Host``;
    two setups that would need different names for one key are a mistake of the world.
    """
    found: dict[tuple[str, str], str] = {}
    for setup in world.setups:
        for place in setup.expect.values():
            if place[0] == "error":
                continue
            host = place[0].lower()
            hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            for target, port, addresses in place[2]:
                name = OTHER if target == setup.server_name else setup.server_name
                for address in addresses:
                    key = (f"{address}:{port}", hostname)
                    assert found.setdefault(key, name) == name, (key, found[key], name, setup.sid)
    return found


def keys(world: World, valid_until_ts: int) -> peers.Handler:
    """The ``/_matrix/key/v2/server`` answer of every landing peer (see :func:`identities`)."""
    names = identities(world)

    def handler(exchange: peers.Exchange) -> None:
        request = exchange.request
        name = names.get((request.listener, request.hostname))
        if name is None:
            peers.NOT_FOUND(exchange)
            return
        peers.json_reply(key_response(name, valid_until_ts, (KEY,)))(exchange)

    return handler


def padded(m_server: str, size: int) -> bytes:
    """A JSON object delegating to ``m_server`` of exactly ``size`` bytes."""
    skeleton = {"m.server": m_server, "padding": ""}
    missing = size - len(json.dumps(skeleton).encode())
    body = json.dumps({"m.server": m_server, "padding": "x" * missing}).encode()
    assert len(body) == size
    return body


D8_SIZES = {  # body size -> the profiles that refuse it (docs/implementations.md, D8)
    8192: (),
    8193: ("continuwuity-0.5",),
    12287: ("continuwuity-0.5",),
    12288: ("conduwuit", "continuwuity-0.5", "tuwunel-1.0"),
    12289: CONDUWUIT_FAMILY,
    20 * 1024: CONDUWUIT_FAMILY,
    51199: CONDUWUIT_FAMILY,
    51200: (*CONDUWUIT_FAMILY, "spec", "synapse"),
    60 * 1024: (*CONDUWUIT_FAMILY, "spec", "synapse", "dendrite"),
    256 * 1024 + 1: (*CONDUWUIT_FAMILY, "spec", "synapse", "dendrite", "continuwuity"),
}
D9_STATUSES = {203: (*CONDUWUIT_FAMILY, "conduit"), 404: ("conduit",), 500: ("conduit",)}  # -> who delegates
D10_HOPS = {  # redirects -> the profiles that follow them all
    3: PROFILES,
    4: tuple(name for name in PROFILES if name != "conduwuit"),
    5: ("spec", "synapse", "dendrite", "conduit"),
    9: ("spec", "synapse", "dendrite", "conduit"),
    10: ("spec", "synapse"),
    20: ("synapse",),
    21: (),
}


def build(world_net: net.Net) -> World:  # noqa: PLR0915 - one setup after the other
    """Every setup on ``world_net``: zones, routes, expectations."""
    world = World(world_net)
    ip = world.ip
    knot_zone = Zone(ZONE, ip(53))
    support_zone = Zone(ZONE, ip(52))
    world.knot_zone, world.support_zone = knot_zone, support_zone
    wk_ip = ip(WK_HOST)
    add = world.setups.append

    def well_known(label: str, handler: peers.Handler, path: str = WK_PATH) -> None:
        if n(label) not in knot_zone.names_with_address(wk_ip):
            knot_zone.a(n(label), wk_ip)
        world.routes[(n(label), path)] = handler

    def fallback(label: str, rust: bool) -> Place:
        """No delegation: the server name on port 8448, its address <net>.10."""
        return (f"{n(label)}:8448" if rust else n(label), n(label), [(n(label), 8448, [wk_ip])])

    def delegated(label: str, target: str, host: int, rust: bool) -> Place:
        """``m.server`` ``<target>:443``: the Rust family's Host drops the port 443."""
        return (n(target) if rust else f"{n(target)}:443", n(target), [(n(target), 443, [ip(host)])])

    # -- D1: SRV delegation on a name that has its own address ----------------------------------
    knot_zone.a(n("d1"), ip(21))
    knot_zone.srv(n("d1"), f"10 0 8443 {n('d1-matrix')}.")
    knot_zone.a(n("d1-matrix"), ip(22))
    spec_place = (n("d1"), n("d1"), [(n("d1-matrix"), 8443, [ip(22)])])
    rust_place = (f"{n('d1')}:8443", n("d1"), [(n("d1-matrix"), 8443, [ip(22)])])
    own = (f"{n('d1')}:8443", n("d1"), [(n("d1"), 8443, [ip(21)])])
    rules = {name: ["host_header"] for name in RUST}
    rules.update({name: ["host_header", "srv_name_override"] for name in PRE_QUERY})
    add(
        Setup(
            "D1",
            n("d1"),
            expect(
                rust_place,
                spec=spec_place,
                synapse=spec_place,
                dendrite=spec_place,
                **dict.fromkeys(("conduwuit", "tuwunel", "tuwunel_10"), own),
            ),
            rules,
        )
    )
    # ... and without an own address, everyone follows the SRV record
    knot_zone.srv(n("d1n"), f"10 0 8448 {n('d1n-matrix')}.")
    knot_zone.a(n("d1n-matrix"), ip(23))
    spec_place = (n("d1n"), n("d1n"), [(n("d1n-matrix"), 8448, [ip(23)])])
    add(
        Setup(
            "D1-no-own-address",
            n("d1n"),
            expect(
                (f"{n('d1n')}:8448", n("d1n"), [(n("d1n-matrix"), 8448, [ip(23)])]),
                spec=spec_place,
                synapse=spec_place,
                dendrite=spec_place,
            ),
            {name: ["host_header"] for name in RUST},
        )
    )

    # -- D2, D3: the _matrix-fed._tcp query fails ----------------------------------------------------
    def failing_fed(label: str, kind: str, own_host: int, legacy_host: int) -> Setup:
        zone = knot_zone if kind == "SERVFAIL" else support_zone
        zone.a(n(label), ip(own_host))
        zone.srv(n(label), f"10 0 8449 {n(label + '-matrix')}.", service="_matrix._tcp")
        zone.a(n(label + "-matrix"), ip(legacy_host))
        fed_name = f"_matrix-fed._tcp.{n(label)}"
        if kind == "SERVFAIL":
            world.broken_zones.append(f"{fed_name}.")
        elif kind == "REFUSED":
            support_zone.add(fed_name, "SRV", rcode=5)  # dns.rcode.REFUSED
        else:
            support_zone.add(fed_name, "SRV", silent=True)
        name = n(label)
        legacy = (f"{name}:8449", name, [(n(label + "-matrix"), 8449, [ip(legacy_host)])])
        at_8448 = (name, name, [(name, 8448, [ip(own_host)])])
        if kind == "timeout":
            return Setup(
                "D3",
                name,
                expect(error("dns-failure"), dendrite=at_8448, continuwuity=legacy, conduit=legacy),
                {
                    "dendrite": ["srv_timeout"],
                    "continuwuity": ["host_header", "srv_timeout"],
                    "conduit": ["host_header", "srv_timeout"],
                },
                dns="support",
            )
        own_legacy = (f"{name}:8449", name, [(name, 8449, [ip(own_host)])])
        rules = {name_: ["host_header", "srv_error"] for name_ in RUST}
        rules["dendrite"] = ["srv_error"]
        rules.update({name_: ["host_header", "srv_error", "srv_name_override"] for name_ in ("conduwuit", "tuwunel")})
        rules["tuwunel-1.0"] = ["host_header", "srv_error", "srv_services"]
        return Setup(
            f"D2-{kind}",
            name,
            expect(
                legacy,
                spec=error("dns-failure"),
                synapse=error("dns-failure"),
                dendrite=at_8448,
                conduwuit=own_legacy,
                tuwunel=own_legacy,
                tuwunel_10=(f"{name}:8448", name, [(name, 8448, [ip(own_host)])]),
            ),
            rules,
            dns="knot" if kind == "SERVFAIL" else "support",
        )

    add(failing_fed("d2", "SERVFAIL", 24, 25))
    add(failing_fed("d2r", "REFUSED", 40, 41))
    add(failing_fed("d3", "timeout", 42, 43))

    # -- D4: two SRV records, priorities 10 (<label>-a) and 20 (<label>-b) ----------------------------
    def two_srv(sid: str, label: str, zone: Zone, records: tuple[str, str], hosts: tuple[int, int], **more) -> Setup:
        """``records`` in the order the nameserver lists them; the first-in-answer profiles take the first."""
        zone.srv(n(label), *records)
        targets = {}
        for target, host in zip((n(f"{label}-a"), n(f"{label}-b")), hosts, strict=True):
            zone.a(target, ip(host))
            targets[f"{target}."] = (target, 8448, [ip(host)])
        both = (n(label), n(label), list(targets.values()))
        first = (f"{n(label)}:8448", n(label), [targets[records[0].split()[-1]]])
        rules = {name: ["host_header", "srv_selection"] for name in RUST}
        return Setup(sid, n(label), expect(first, spec=both, synapse=both, dendrite=both), rules, **more)

    # knot lists them in priority order; the first target is down: only Synapse and Dendrite fail over.
    records = (f"10 0 8448 {n('d4-a')}.", f"20 0 8448 {n('d4-b')}.")
    add(two_srv("D4-failover", "d4", knot_zone, records, (28, 29), down=((28, 8448),)))
    # The answer lists the priority-20 record first (the support nameserver answers in the order
    # given): the first-in-answer profiles pick it, the others sort by priority. Both listen.
    records = (f"20 0 8448 {n('d4o-b')}.", f"10 0 8448 {n('d4o-a')}.")
    add(two_srv("D4-answer-order", "d4o", support_zone, records, (44, 45), dns="support"))
    # -- D5, D15: an SRV target without address --------------------------------------------------------
    for sid, label, target, host in (("D5", "d5", n("d5-matrix") + ".", 30), ("D15", "d15", ".", 38)):
        knot_zone.a(n(label), ip(host))
        knot_zone.srv(n(label), f"10 0 8443 {target}")
        failed = error("no-address" if sid == "D5" else "srv-disabled")
        rules = {name: ["host_header", "srv_target_without_address"] for name in RUST}
        rules.update({name: ["host_header", "srv_name_override"] for name in PRE_QUERY})
        add(
            Setup(
                sid,
                n(label),
                expect(
                    (f"{n(label)}:8443", n(label), [(n(label), 8443, [ip(host)])]),
                    spec=failed,
                    synapse=failed,
                    dendrite=failed,
                ),
                rules,
            )
        )
    knot_zone.add(n("d5-matrix"), "TXT", '"no address here"')

    # -- D7: an m.server that is not a valid server name -------------------------------------------------
    knot_zone.a(n("d7-matrix"), ip(31))
    d7_cases = {
        # Synapse takes the URL's host, "https": its SRV query is outside every zone (REFUSED).
        "url": (f"https://{n('d7-matrix')}", error("dns-failure")),
        # ... and "d7-matrix.pf.test" from "d7-matrix.pf.test/": it delegates (seen running Synapse).
        "slash": (f"{n('d7-matrix')}/", (n("d7-matrix"), n("d7-matrix"), [(n("d7-matrix"), 8448, [ip(31)])])),
        "space": (f"d7-matrix {ZONE}", error("invalid-m-server")),
    }
    for case, (m_server, synapse) in d7_cases.items():
        label = f"d7-{case}"
        well_known(label, peers.json_reply({"m.server": m_server}))
        invalid = error("invalid-m-server")
        rules = {name: ["m_server_validation"] for name in ("synapse", "dendrite", "continuwuity", "conduit")}
        rules.update({name: ["host_header"] for name in CONDUWUIT_FAMILY})
        add(
            Setup(
                f"D7-{case}",
                n(label),
                expect(
                    fallback(label, rust=True),
                    spec=fallback(label, rust=False),
                    synapse=synapse,
                    dendrite=invalid,
                    continuwuity=invalid,
                    conduit=invalid,
                ),
                rules,
            )
        )
    well_known("d7-empty", peers.json_reply({"m.server": ""}))
    rules = {name: ["host_header"] for name in CONDUWUIT_FAMILY}
    rules.update({name: ["empty_m_server"] for name in ("continuwuity", "conduit")})
    no_delegation = fallback("d7-empty", rust=False)
    add(
        Setup(
            "D7-empty",
            n("d7-empty"),
            expect(
                fallback("d7-empty", rust=True),
                spec=no_delegation,
                synapse=no_delegation,
                dendrite=no_delegation,
                continuwuity=error("invalid-m-server"),
                conduit=error("invalid-m-server"),
            ),
            rules,
        )
    )
    well_known("d7-int", peers.json_reply({"m.server": 123}))
    no_delegation = fallback("d7-int", rust=False)
    add(
        Setup(
            "D7-not-a-string",
            n("d7-int"),
            expect(fallback("d7-int", rust=True), spec=no_delegation, synapse=no_delegation, dendrite=no_delegation),
            {name: ["host_header"] for name in RUST},
        )
    )

    # -- D8: body sizes ------------------------------------------------------------------------------
    for size, refusing in D8_SIZES.items():
        label = f"d8-{size}"
        knot_zone.a(n(f"{label}-matrix"), ip(32))  # a target name per setup: its peer signs for its name
        body = padded(f"{n(label + '-matrix')}:443", size)
        well_known(label, peers.reply(200, body, {"Content-Type": "application/json"}))
        places = {}
        for name in PROFILES:
            rust = name in RUST
            places[name] = fallback(label, rust) if name in refusing else delegated(label, f"{label}-matrix", 32, rust)
        must = {name: "well_known_body_max" for name in PROFILES[1:] if (name in refusing) != ("spec" in refusing)}
        add(Setup(f"D8-{size}", n(label), places, rules_include=must))

    # -- D9: a status other than 200 -----------------------------------------------------------------
    for status, delegating in D9_STATUSES.items():
        label = f"d9-{status}"
        knot_zone.a(n(f"{label}-matrix"), ip(33))
        well_known(label, peers.json_reply({"m.server": f"{n(label + '-matrix')}:443"}, status=status))
        places = {}
        for name in PROFILES:
            rust = name in RUST
            places[name] = (
                delegated(label, f"{label}-matrix", 33, rust) if name in delegating else fallback(label, rust)
            )
        rules = {name: ["host_header", "well_known_statuses"] for name in delegating}
        rules.update({name: ["host_header"] for name in RUST if name not in delegating})
        add(Setup(f"D9-{status}", n(label), places, rules))

    # -- D10: redirect chains ------------------------------------------------------------------------
    for hops, following in D10_HOPS.items():
        label = f"d10-{hops}"
        knot_zone.a(n(f"{label}-matrix"), ip(34))
        path = WK_PATH
        for hop in range(1, hops + 1):
            well_known(label, peers.redirect(f"/hop{hop}", 307), path)
            path = f"/hop{hop}"
        well_known(label, peers.json_reply({"m.server": f"{n(label + '-matrix')}:443"}), path)
        places = {}
        for name in PROFILES:
            rust = name in RUST
            places[name] = delegated(label, f"{label}-matrix", 34, rust) if name in following else fallback(label, rust)
        must = {
            name: "well_known_max_redirects" for name in PROFILES[1:] if (name in following) != ("spec" in following)
        }
        add(Setup(f"D10-{hops}", n(label), places, rules_include=must))

    # -- D12: Host header forms ----------------------------------------------------------------------
    knot_zone.a(n("d12-matrix"), ip(35))
    d12_cases = {  # label: (m.server, Host of spec/Synapse/Dendrite, Host of the Rust family, port)
        "ip": (ip(35), ip(35), f"{ip(35)}:8448", 8448),
        "ip443": (f"{ip(35)}:443", f"{ip(35)}:443", ip(35), 443),
        "443": (f"{n('d12-matrix')}:443", f"{n('d12-matrix')}:443", n("d12-matrix"), 443),
        "8448": (f"{n('d12-matrix')}:8448", f"{n('d12-matrix')}:8448", f"{n('d12-matrix')}:8448", 8448),
    }
    for case, (m_server, authority, rust_host, port) in d12_cases.items():
        label = f"d12-{case}"
        well_known(label, peers.json_reply({"m.server": m_server}))
        literal = case.startswith("ip")
        sni = None if literal else n("d12-matrix")
        host = ip(35) if literal else n("d12-matrix")
        places = expect((authority, sni, [(host, port, [ip(35)])]))
        places.update({name: (rust_host, sni, [(host, port, [ip(35)])]) for name in RUST})
        rules = {} if rust_host == authority else {name: ["host_header"] for name in RUST}
        add(Setup(f"D12-{case}", n(label), places, rules))

    # -- D14: only _matrix._tcp ----------------------------------------------------------------------
    knot_zone.a(n("d14"), ip(36))
    knot_zone.srv(n("d14"), f"10 0 8449 {n('d14-matrix')}.", service="_matrix._tcp")
    knot_zone.a(n("d14-matrix"), ip(37))
    spec_place = (n("d14"), n("d14"), [(n("d14-matrix"), 8449, [ip(37)])])
    own = (f"{n('d14')}:8449", n("d14"), [(n("d14"), 8449, [ip(36)])])
    rules = {name: ["host_header"] for name in RUST}
    rules.update({name: ["host_header", "srv_name_override"] for name in ("conduwuit", "tuwunel")})
    rules["tuwunel-1.0"] = ["host_header", "srv_services"]
    add(
        Setup(
            "D14",
            n("d14"),
            expect(
                (f"{n('d14')}:8449", n("d14"), [(n("d14-matrix"), 8449, [ip(37)])]),
                spec=spec_place,
                synapse=spec_place,
                dendrite=spec_place,
                conduwuit=own,
                tuwunel=own,
                tuwunel_10=(f"{n('d14')}:8448", n("d14"), [(n("d14"), 8448, [ip(36)])]),
            ),
            rules,
        )
    )
    return world


def tls_names(world: World) -> list[str]:
    """Every server name, every name of both zones and every landing address."""
    assert world.knot_zone is not None and world.support_zone is not None
    names = {name for zone in (world.knot_zone, world.support_zone) for name in zone.entries if "_" not in name}
    names |= {setup.server_name for setup in world.setups}  # a name with only SRV records has no entry
    return sorted(names | {address for address, _port in world.landing()})


@contextlib.contextmanager
def running(world: World, workdir: Path) -> Iterator[World]:
    """Knot, the support nameserver and every peer, files in ``workdir``, until the block ends."""
    assert world.knot_zone is not None and world.support_zone is not None
    ca = pki.create_ca(workdir / "pki" / "ca", common_name="matrixops profiles lab CA")
    context = peers.server_context(pki.issue_cert(ca, workdir / "pki" / "peers", tls_names(world)))
    key_handler = keys(world, int((time.time() + 7 * 86400) * 1000))
    routes = {**world.routes, VERSION_PATH: echo, "/" + VERSION_PATH: echo}  # "//...": D7's trailing '/'
    routes.update({KEYS_PATH: key_handler, "/" + KEYS_PATH: key_handler})
    places = world.landing() | {(world.ip(WK_HOST), 443)}
    listeners = [peers.Listener(address, port, context, routes) for address, port in sorted(places)]
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            knot.KnotServer(
                workdir / "knot",
                world.ip(53),
                DNS_PORT,
                {ZONE: world.knot_zone.text()},
                broken_zones=dict.fromkeys(world.broken_zones),
            )
        )
        stack.enter_context(Nameserver(world.ip(52), DNS_PORT, world.support_zone, negative_soa=True, shuffle=False))
        world.peers = stack.enter_context(peers.Peers(listeners))
        world.ca_path = ca.bundle_path
        yield world


_SHARED: dict = {"users": 0, "stack": None, "world": None}


@contextlib.contextmanager
def shared(world: World, workdir: Path) -> Iterator[World]:
    """:func:`running`, started by the first user and stopped when the last one leaves: the test
    modules of this folder each have their fixture (no conftest.py), one world binds the addresses."""
    if _SHARED["users"] == 0:
        stack = contextlib.ExitStack()
        _SHARED["world"] = stack.enter_context(running(world, workdir))
        _SHARED["stack"] = stack
    _SHARED["users"] += 1
    try:
        yield _SHARED["world"]
    finally:
        _SHARED["users"] -= 1
        if _SHARED["users"] == 0:
            _SHARED["stack"].close()
            _SHARED["stack"] = _SHARED["world"] = None


def _binds() -> list[tuple[int, int]]:
    """The ``(host, port)`` pairs the world listens on (they do not depend on the ``/24``)."""
    plan = build(net.Net("127.0.0"))
    places = {(int(address.rsplit(".", 1)[1]), port) for address, port in plan.landing()}
    return sorted(places | {(53, DNS_PORT), (52, DNS_PORT), (WK_HOST, 443)})


NET = net.allocate("profiles", binds=_binds())
WORLD = build(NET)
SETUPS = [setup.sid for setup in WORLD.setups]
