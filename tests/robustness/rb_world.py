# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The robustness world: a nameserver and hostile HTTPS peers on ``<net>.0/24`` of loopback.

``<net>`` is the world ``rb`` of ``support.net``: ``MATRIXOPS_RB_NET`` (e.g. ``127.0.70``) or else
the first free one of ``127.0.70`` … ``127.0.79``. Nothing binds a wildcard address.

=====================  ==========================================================================
``<net>.53:5353``      ``support.nameserver`` for ``rb.test`` (UDP and TCP), every name's
                       misbehaviour in :data:`DNS`
``<net>.10:443``       the well-known server: one virtual host per scenario (by ``Host``), a
                       certificate from the run's CA for every scenario name; ``:8443`` too
``<net>.11:443``       accepts TCP, never starts TLS (a stalled handshake)
``<net>.12:443``       a redirect target by IP literal: its certificate has ``<net>.12`` as an IP SAN
``<net>.13:443``       the same certificate, which does not name ``<net>.13``
``<net>.20-22``        TLS peers on 443 and 8448: not-yet-valid, IP-only, TLS 1.0 only
``<net>.30:8448``      key servers (one virtual host per scenario), keys signed by
                       ``support.matrix``, independently of the collection's ``_signing``
``<net>.40``           an HTTP site on a free port (test_robustness_config_files, test_faults_*)
``<net>.41:443``       a private nginx (test_faults_config_files_nginx)
``<net>.54``           a scripted nameserver on a free port (test_fuzz_srv)
``<net>.99``           nothing listens: connections are refused
=====================  ==========================================================================
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pki
from support import net
from support import peers as h
from support.matrix import KEYS_PATH, VERSION_PATH, SigningKey, canonical_json, key_response
from support.matrix import WELL_KNOWN_PATH as WK_PATH
from support.nameserver import Nameserver, Zone

DNS_PORT = 5353
NET = net.allocate(
    "rb",
    binds=[(53, DNS_PORT), (10, 443), (10, 8443), (11, 443), (12, 443), (13, 443), (30, 8448)]
    + [(host, port) for host in (20, 21, 22) for port in (443, 8448)],
)
ZONE = "rb.test"
DNS_IP = NET.ip(53)
WK_IP = NET.ip(10)
STALL_IP = NET.ip(11)
IP_TARGET = NET.ip(12)  # its certificate names this address
IP_TARGET_UNNAMED = NET.ip(13)  # same certificate: does not name this address
TLS_FUTURE_IP = NET.ip(20)
TLS_IP_ONLY_IP = NET.ip(21)
TLS_10_IP = NET.ip(22)
KEYS_IP = NET.ip(30)
DEAD_IP = NET.ip(99)
FED_PORT = 8448

TIMEOUT = 1.0  # the resolver's timeout for the catalogue rows
DL_T = 0.5  # ... and for the deadline tests


def n(label: str) -> str:
    return f"{label}.{ZONE}"


DELEGATED = f"target.{ZONE}:8448"  # the m.server of the answers that delegate

# -- DNS ----------------------------------------------------------------------------------------------
DNS = Zone(ZONE, DNS_IP)
a, srv, cname = DNS.a, DNS.srv, DNS.cname

a(n("target"), DEAD_IP)

# -- HTTPS ----------------------------------------------------------------------------------------------
WK_ROUTES: dict = {}  # (host, path) -> handler on <net>.10:443
WK_8443_ROUTES: dict = {}
GOOD_NAMES: set[str] = {n("target")}


def well_known(label: str, handler: h.Handler, path: str = WK_PATH, **dns_behaviour: object) -> str:
    """``<label>.rb.test`` points at the well-known server, which answers ``handler`` for ``path``."""
    name = n(label)
    if name not in DNS.names_with_address(WK_IP):
        a(name, WK_IP)
    a(name, **dns_behaviour)
    WK_ROUTES[(name, path)] = handler
    GOOD_NAMES.add(name)
    return name


def delegation(m_server: object) -> h.Handler:
    return h.json_reply({"m.server": m_server})


def padded(value: dict, size: int) -> bytes:
    """``value`` as JSON, padded with spaces to ``size`` bytes."""
    text = json.dumps(value).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}"


# Well-known bodies and framing.
well_known("wk-good", delegation(DELEGATED))
well_known("wk-endless", h.endless())
well_known("wk-endless-chunked", h.endless(chunked=True))
well_known("wk-silent", h.silent())
well_known(
    "wk-invalid-utf8", h.reply(200, b'{"m.server": "target.rb.test:8448\xff"}', {"Content-Type": "application/json"})
)
well_known("wk-json-list", h.json_reply([DELEGATED]))
well_known("wk-json-string", h.json_reply(DELEGATED))
BAD_M_SERVERS = {
    "wk-m-empty": "",
    "wk-m-scheme": f"https://{DELEGATED}",
    "wk-m-path": f"{DELEGATED}/_matrix",
    "wk-m-leading-space": f" {DELEGATED}",
    "wk-m-trailing-newline": f"{DELEGATED}\n",
    "wk-m-inner-space": "target .rb.test:8448",
    "wk-m-tab": "\ttarget.rb.test",
    "wk-m-v6-bare": "2001:db8::1",
    "wk-m-v6-bare-port": "2001:db8::1:8448",
    "wk-m-v6-loopback": "::1",
}
for label, value in BAD_M_SERVERS.items():
    well_known(label, delegation(value))
WRONG_TYPES = {"wk-m-number": 8448, "wk-m-object": {"host": "target.rb.test"}, "wk-m-null": None}
for label, value in WRONG_TYPES.items():
    well_known(label, delegation(value))
GOOD_BODY = json.dumps({"m.server": DELEGATED}).encode()
well_known("wk-length-short", h.raw(h.http_response(200, GOOD_BODY, length=len(GOOD_BODY) - 12)))
well_known("wk-length-long-close", h.raw(h.http_response(200, GOOD_BODY, length=len(GOOD_BODY) + 100)))
well_known("wk-length-long-open", h.raw(h.http_response(200, GOOD_BODY, length=len(GOOD_BODY) + 100), then="hang"))

# Redirects.
well_known("wk-redirect-ip", h.redirect(f"https://{IP_TARGET}{WK_PATH}"))
well_known("wk-redirect-ip-unnamed", h.redirect(f"https://{IP_TARGET_UNNAMED}{WK_PATH}"))
IP_TARGET_ROUTES = {WK_PATH: delegation(DELEGATED)}
well_known("wk-redirect-port", h.redirect(f"https://{n('wk-redirect-port')}:8443/delegation", status=301))
WK_8443_ROUTES[(n("wk-redirect-port"), "/delegation")] = delegation(DELEGATED)
LATIN1_LOCATION = f"https://{n('wk-redirect-latin1')}/d\xe9l\xe9gation".encode("latin-1")
well_known("wk-redirect-latin1", h.redirect(LATIN1_LOCATION))
WK_ROUTES[(n("wk-redirect-latin1"), "/d\xe9l\xe9gation")] = delegation(DELEGATED)
a(n("wk-stall"), STALL_IP)

# -- DNS scenarios -----------------------------------------------------------------------------------
# The hostname itself has no address (NXDOMAIN): the well-known step fails at once and the SRV
# step is the one under test.
srv(n("dns-timeout"), silent=True)
srv(n("dns-servfail"), rcode=2)  # dns.rcode.SERVFAIL
srv(n("dns-refused"), rcode=5)  # dns.rcode.REFUSED
srv(n("dns-legacy-refused"))  # _matrix-fed: NOERROR without records, then _matrix: REFUSED
srv(n("dns-legacy-refused"), service="_matrix._tcp", rcode=5)
a(n("dns-nxdomain"), DEAD_IP)
a(n("dns-empty"), DEAD_IP)
srv(n("dns-empty"))  # NOERROR, no records, no SOA
srv(n("dns-empty"), service="_matrix._tcp")
srv(n("dns-srv-dot"), "0 0 0 .")
srv(n("dns-srv-cname"), f"10 5 8448 {n('srv-alias')}.")
cname(n("srv-alias"), n("srv-real"))
a(n("srv-real"), DEAD_IP)
cname(n("loop-a"), n("loop-b"))
cname(n("loop-b"), n("loop-a"))
a(n("dns-tc"), DEAD_IP, truncate=True)
MANY = 24  # SRV records: far over 512 bytes, so the UDP answer is truncated
srv(n("dns-many"), *(f"{10 + i} 0 {8400 + i} many-{i}.{ZONE}." for i in range(MANY)))
for i in range(MANY):
    a(n(f"many-{i}"), DEAD_IP)
EVIL_IP = NET.ip(66)
a(n("dns-foreign-owner"), EVIL_IP, owner=n("evil"))
srv(n("dns-foreign-srv"), f"10 5 8448 {n('evil')}.", owner=f"_matrix-fed._tcp.{n('evil')}")
a(n("dns-foreign-srv"), DEAD_IP)
a(n("dns-foreign-question"), EVIL_IP, question=n("evil"))
a(n("evil"), EVIL_IP)

# -- TLS peers and key servers ----------------------------------------------------------------------
TLS_PEERS = {"tls-future": TLS_FUTURE_IP, "tls-ip-only": TLS_IP_ONLY_IP, "tls-10": TLS_10_IP}
for label, address in TLS_PEERS.items():
    a(n(label), address)
KEY_SCENARIOS = ("keys-good", "keys-dup-first", "keys-dup-last")
for label in KEY_SCENARIOS:
    a(n(label), KEYS_IP)
    GOOD_NAMES.add(n(label))


def server_name(label: str) -> str:
    return f"{n(label)}:{FED_PORT}"


KEY = SigningKey("ed25519:rb", bytes(range(100, 132)))


def duplicate_key(document: dict, key: str, value: object, *, first: bool) -> bytes:
    """``document`` as JSON text with ``key`` written twice: ``value`` first (or last)."""
    text = canonical_json(document)
    extra = json.dumps(key).encode() + b":" + json.dumps(value).encode()
    return b"{" + extra + b"," + text[1:] if first else text[:-1] + b"," + extra + b"}"


def key_routes(label: str, valid_until_ts: int) -> dict:
    name = server_name(label)
    keys = key_response(name, valid_until_ts, [KEY])
    if label == "keys-dup-first":  # a wrong server_name first, the signed one last
        body = duplicate_key(keys, "server_name", "evil.rb.test:8448", first=True)
    elif label == "keys-dup-last":  # the signed server_name first, a wrong one last
        body = duplicate_key(keys, "server_name", "evil.rb.test:8448", first=False)
    else:
        body = canonical_json(keys)
    host = n(label)
    return {
        (host, KEYS_PATH): h.reply(200, body, {"Content-Type": "application/json"}),
        (host, VERSION_PATH): h.json_reply({"server": {"name": "rb", "version": "0.1"}}),
    }


# -- deadline scenarios (timeout DL_T) -----------------------------------------------------------------
DL_HOPS = 10
# A redirect chain where every hop answers just before the timeout.
for i in range(DL_HOPS):
    well_known(f"dl-hop{i}", h.after(0.9 * DL_T, h.redirect(f"https://{n(f'dl-hop{i + 1}')}{WK_PATH}")))
well_known(f"dl-hop{DL_HOPS}", delegation(DELEGATED))
# A redirect chain over new host names, each of whose address lookups is slow.
for i in range(DL_HOPS):
    well_known(f"dl-dnshop{i}", h.redirect(f"https://{n(f'dl-dnshop{i + 1}')}{WK_PATH}"), delay=0.95 * DL_T)
well_known(f"dl-dnshop{DL_HOPS}", delegation(DELEGATED), delay=0.95 * DL_T)
# A byte every 0.1 s: the response would take 30 s.
well_known("dl-drip", h.drip(h.http_response(200, padded({"m.server": DELEGATED}, 300)), 0.1))
# A CNAME chain of MAX_CNAME_HOPS names, each answered just before the timeout.
DL_CNAMES = 8
for i in range(DL_CNAMES - 1):
    cname(n(f"dl-c{i}"), n(f"dl-c{i + 1}"), delay=0.9 * DL_T)
a(n(f"dl-c{DL_CNAMES - 1}"), DEAD_IP, delay=0.9 * DL_T)
# Truncated over UDP just before the timeout, then TCP just before the timeout again.
a(n("dl-tc"), DEAD_IP, truncate=True, delay=0.8 * DL_T)
# Many SRV targets, each address lookup slow.
DL_TARGETS = 12
srv(n("dl-many"), *(f"10 0 {8400 + i} dl-t{i}.{ZONE}." for i in range(DL_TARGETS)))
for i in range(DL_TARGETS):
    a(n(f"dl-t{i}"), DEAD_IP, delay=0.8 * DL_T)
# Everything slow but within the rules: slow DNS on every query, a silent well-known server.
well_known("dl-all", h.silent(), delay=0.9 * DL_T)
srv(n("dl-all"), f"10 0 8448 {n('dl-all-target')}.", delay=0.9 * DL_T)
a(n("dl-all-target"), DEAD_IP, delay=0.9 * DL_T)
a(n("dl-stall"), STALL_IP)


# -- the world ------------------------------------------------------------------------------------------
@dataclass
class World:
    ca_path: Path
    nameserver: str
    dns: Nameserver
    peers: h.Peers
    now_ms: int


def listeners(ca: pki.CertificateAuthority, base: Path, now: dt.datetime, valid_until: int) -> list[h.Listener]:
    """Every HTTPS peer, with certificates from ``ca`` (written under ``base``)."""
    good = h.server_context(pki.issue_cert(ca, base / "good", [*sorted(GOOD_NAMES), IP_TARGET]))
    future = pki.issue_cert(
        ca,
        base / "future",
        [n("tls-future")],
        not_before=now + dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
    )
    tls_contexts = {
        "tls-future": h.server_context(future),
        "tls-ip-only": h.server_context(pki.issue_cert(ca, base / "ip-only", [TLS_IP_ONLY_IP])),
        "tls-10": h.server_context(pki.issue_cert(ca, base / "tls10", [n("tls-10")]), tls10=True),
    }
    key_server = {
        route: handler for label in KEY_SCENARIOS for route, handler in key_routes(label, valid_until).items()
    }
    result = [
        h.Listener(WK_IP, 443, good, WK_ROUTES),
        h.Listener(WK_IP, 8443, good, WK_8443_ROUTES),
        h.Listener(STALL_IP, 443, stall=True),
        h.Listener(IP_TARGET, 443, good, IP_TARGET_ROUTES),
        h.Listener(IP_TARGET_UNNAMED, 443, good, IP_TARGET_ROUTES),
        h.Listener(KEYS_IP, FED_PORT, good, key_server),
    ]
    for label, context in tls_contexts.items():
        routes = {
            WK_PATH: delegation(DELEGATED),
            **{path: reply for (_host, path), reply in key_routes(label, valid_until).items()},
        }
        result += [h.Listener(TLS_PEERS[label], port, context, routes) for port in (443, FED_PORT)]
    return result


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[World]:
    """The nameserver and the peers, with the certificates in ``workdir``, until the block ends."""
    ca = pki.create_ca(workdir / "pki" / "ca", common_name="matrixops robustness CA")
    now = pki.utcnow()
    now_ms = int(now.timestamp() * 1000)
    with (
        Nameserver(DNS_IP, DNS_PORT, DNS) as dns,
        h.Peers(listeners(ca, workdir / "pki", now, now_ms + 86_400_000)) as peers,
    ):
        yield World(ca.bundle_path, dns.nameserver, dns, peers, now_ms)
