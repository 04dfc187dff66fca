"""The integration tests' world: one DNS zone with a sub-name per scenario, and HTTPS servers.

* Knot DNS (``tests/lab/knot.py``) on ``<net>.53:5353``, authoritative for ``it.test.``, plus
  zones configured without a zone file so that knot answers SERVFAIL for them.
* One HTTPS peer (``support.peers``) on ``<net>.10:443`` with certificates from a CA made for
  the run (``tests/lab/pki.py``): by SNI a self-signed, an expired or a wrong-name one for the
  certificate failures, one certificate with every other scenario name otherwise; it answers by
  ``Host`` header and path from ``ROUTES``.
* ``<net>.99`` has no listener: connections there are refused.

``<net>`` is the world ``it`` of ``support.net``: ``MATRIXOPS_IT_NET`` or the first free one of
``127.0.1`` … ``127.0.20`` (``<net>.54:5353`` is test_lab_library's).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import knot
import pki
from support import net, peers
from support.matrix import WELL_KNOWN_PATH as WK_PATH
from support.nameserver import Zone

LAB_DIR = Path(knot.__file__).resolve().parent
NET = net.allocate("it", binds=[(53, 5353), (54, 5353), (10, 443)])
ZONE = "it.test"
DNS_IP = NET.ip(53)
DNS_PORT = 5353
NAMESERVER = f"{DNS_IP}:{DNS_PORT}"
WK_IP = NET.ip(10)  # the HTTPS well-known server, port 443
DEAD_IP = NET.ip(99)  # nothing listens here
ip = NET.ip  # an address of the world's /24 (targets that nobody connects to)


def n(label: str) -> str:
    """The full scenario name for a label: ``n("srv")`` → ``srv.it.test``."""
    return f"{label}.{ZONE}"


TIMEOUT = 5  # seconds: the lookup's ``timeout`` in the batched run
DRIP_TIMEOUT = 2  # ... and for the dripping well-known


def wk_url(host: str, path: str = WK_PATH, scheme: str = "https") -> str:
    return f"{scheme}://{host}{path}"


def json_reply(obj: object, **headers: str) -> peers.Reply:
    return peers.json_reply(obj, headers=headers)


def padded_json(m_server: str, size: int) -> bytes:
    """A valid JSON object with ``m.server`` of exactly ``size`` bytes."""
    head = json.dumps({"m.server": m_server, "pad": ""}).encode()
    pad = size - len(head)
    assert pad >= 0
    return json.dumps({"m.server": m_server, "pad": "x" * pad}).encode()


# -- the scenarios: DNS records and HTTP routes -----------------------------------------------
DNS = Zone(ZONE, DNS_IP)
ROUTES: dict[tuple[str, str], peers.Handler] = {}
UNTRUSTED: set[str] = set()  # served with a self-signed certificate
EXPIRED: set[str] = set()  # served with an expired certificate from the test CA
WRONG_NAME: set[str] = set()  # served with a valid certificate for another name
BROKEN_ZONES: list[str] = []  # configured without a zone file: knot answers SERVFAIL


def a(label: str, *addresses: str) -> None:
    DNS.a(n(label), *addresses)


def srv(label: str, priority: int, weight: int, port: int, target: str, *, legacy: bool = False) -> None:
    target = target if target == "." else f"{n(target)}."
    DNS.srv(n(label), f"{priority} {weight} {port} {target}", service="_matrix._tcp" if legacy else "_matrix-fed._tcp")


def well_known(label: str, reply: peers.Handler, path: str = WK_PATH) -> None:
    """``label`` gets an A record to the HTTPS server, which answers ``reply`` for ``path``."""
    if n(label) not in DNS.names_with_address(WK_IP):
        a(label, WK_IP)
    ROUTES[(n(label), path)] = reply


# The delegation targets that the well-known files point at.
a("wk-port-target", ip(23))
DELEGATED = "wk-port-target.it.test:8451"  # m.server of the successful well-known answers

# 1 ip_literal / 2 explicit_port: no DNS for ip literals
a("explicit", ip(21))
# 3.1 well_known_ip_literal
well_known("wk-ip", json_reply({"m.server": f"{ip(22)}:8450"}))
well_known("wk-ip6", json_reply({"m.server": "[::1]"}))
# 3.2 well_known_explicit_port
well_known("wk-port", json_reply({"m.server": DELEGATED}))
# 3.3 well_known_srv: the delegated name has its own A record, but SRV wins
well_known("wk-srv", json_reply({"m.server": "wk-srv-target.it.test"}))
a("wk-srv-target", ip(25))
srv("wk-srv-target", 10, 5, 8452, "wk-srv-host")
a("wk-srv-host", ip(24))
# 3.4 well_known_srv_legacy
well_known("wk-legacy", json_reply({"m.server": "wk-legacy-target.it.test"}))
a("wk-legacy-target", ip(27))
srv("wk-legacy-target", 10, 5, 8453, "wk-legacy-host", legacy=True)
a("wk-legacy-host", ip(26))
# 3.5 well_known_default_port
well_known("wk-default", json_reply({"m.server": "wk-default-target.it.test"}))
a("wk-default-target", ip(28))
# 4 srv: the server-name host answers 404 for the well-known
a("srv", WK_IP)
srv("srv", 10, 5, 8454, "srv-host")
a("srv-host", ip(29))
# 5 srv_legacy
a("srv-legacy", WK_IP)
srv("srv-legacy", 10, 5, 8455, "srv-legacy-host", legacy=True)
a("srv-legacy-host", ip(30))
# 6 default_port
a("default", WK_IP)

# Well-known failures: each falls through (to srv or default_port) with well_known.error set.
well_known("wk-500", peers.reply(500, b"oops", {"Content-Type": "text/plain"}))
well_known("wk-404-srv", peers.reply(404, b"not here", {"Content-Type": "text/plain"}))
srv("wk-404-srv", 10, 5, 8454, "srv-host")
well_known("wk-badjson", peers.reply(200, b'{"m.server": ', {"Content-Type": "application/json"}))
well_known("wk-notobject", json_reply([DELEGATED]))
well_known("wk-missing", json_reply({"m.client": "https://example.test"}))
well_known("wk-nonstring", json_reply({"m.server": 8448}))
GRAMMAR_BREAKERS = {
    "wk-grammar-url": "https://wk-port-target.it.test",
    "wk-grammar-path": "wk-port-target.it.test/path",
    "wk-grammar-port0": "wk-port-target.it.test:0",
}
for label, value in GRAMMAR_BREAKERS.items():
    well_known(label, json_reply({"m.server": value}))
BODY_LIMIT = 51200
JSON = {"Content-Type": "application/json"}
well_known("wk-oversize", peers.reply(200, padded_json(DELEGATED, BODY_LIMIT), JSON))
well_known("wk-oversize-nolength", peers.reply(200, padded_json(DELEGATED, 4 * BODY_LIMIT), JSON, length=False))
well_known("wk-just-under-limit", peers.reply(200, padded_json(DELEGATED, BODY_LIMIT - 1), JSON))
# A redirect chain through every redirect status and across hosts, then the answer.
REDIRECT_CHAIN = [
    (301, wk_url(n("wk-redirect"), "/hop/1")),
    (302, wk_url(n("wk-redirect-b"), "/hop/2")),
    (303, wk_url(n("wk-redirect-b"), "/hop/3")),
    (307, wk_url(n("wk-redirect"), "/hop/4")),
    (308, wk_url(n("wk-redirect-final"))),
]


def chain(start_host: str, hops: list[tuple[int, str]]) -> None:
    """Each URL in turn answers with a redirect to the next; the first is ``start_host``'s well-known."""
    host, path = start_host, WK_PATH
    for status, url in hops:
        well_known(host.removesuffix("." + ZONE), peers.redirect(url, status), path)
        host, rest = url.removeprefix("https://").split("/", 1)
        path = "/" + rest


chain(n("wk-redirect"), REDIRECT_CHAIN)
well_known("wk-redirect-final", json_reply({"m.server": DELEGATED}))


def redirect_hops(label: str, hops: int, final: peers.Handler) -> list[str]:
    """``hops`` redirects on ``label`` (/r/1 … /r/hops), then ``final``; returns the URLs."""
    urls = [wk_url(n(label), f"/r/{i}") for i in range(1, hops + 1)]
    well_known(label, peers.redirect(urls[0]))
    for i, url in enumerate(urls[1:], start=1):
        well_known(label, peers.redirect(url), f"/r/{i}")
    well_known(label, final, f"/r/{hops}")
    return urls


TEN_REDIRECTS = redirect_hops("wk-10-redirects", 10, json_reply({"m.server": DELEGATED}))
ELEVEN_REDIRECTS = redirect_hops("wk-11-redirects", 11, json_reply({"m.server": DELEGATED}))
well_known("wk-loop", peers.redirect(wk_url(n("wk-loop"), "/loop/a")))
well_known("wk-loop", peers.redirect(wk_url(n("wk-loop"), "/loop/b")), "/loop/a")
well_known("wk-loop", peers.redirect(wk_url(n("wk-loop"))), "/loop/b")
well_known("wk-to-http", peers.redirect(wk_url(n("wk-to-http"), scheme="http"), 301))
well_known("wk-untrusted", json_reply({"m.server": DELEGATED}))
UNTRUSTED.add(n("wk-untrusted"))
srv("wk-untrusted", 10, 5, 8454, "srv-host")
well_known("wk-expired", json_reply({"m.server": DELEGATED}))
EXPIRED.add(n("wk-expired"))
well_known("wk-wrong-name", json_reply({"m.server": DELEGATED}))
WRONG_NAME.add(n("wk-wrong-name"))
a("wk-refused", DEAD_IP)
well_known("wk-drip", peers.dripping_json(120))  # the body would take 30 s
# Content-Type is not checked, only warned about.
well_known("wk-text-plain", peers.reply(200, json.dumps({"m.server": DELEGATED}), {"Content-Type": "text/plain"}))
well_known(
    "wk-json-charset", json_reply({"m.server": DELEGATED}, **{"Content-Type": "application/json; charset=utf-8"})
)

# Cache period of the well-known answer.
CACHE_CASES = {
    "cache-none": ({}, 86400),
    "cache-600": ({"Cache-Control": "max-age=600"}, 600),
    "cache-no-store": ({"Cache-Control": "no-store"}, 300),
    "cache-huge": ({"Cache-Control": "public, max-age=31536000"}, 172800),
    "cache-tiny": ({"Cache-Control": "max-age=10"}, 300),
    "cache-max-age-beats-expires": (
        {"Cache-Control": "max-age=600", "Expires": "Wed, 01 Jan 2100 00:00:00 GMT"},
        600,
    ),
    "cache-semicolon-is-no-max-age": ({"Cache-Control": "private; max-age=0"}, 86400),
}
for label, (headers, _seconds) in CACHE_CASES.items():
    well_known(label, json_reply({"m.server": DELEGATED}, **headers))

# SRV rules.
a("srv-priority", WK_IP)
srv("srv-priority", 30, 0, 8463, "prio-c")
srv("srv-priority", 10, 0, 8461, "prio-a")
srv("srv-priority", 20, 0, 8462, "prio-b")
a("prio-a", ip(31))
a("prio-b", ip(32))
a("prio-c", ip(33))
a("srv-fed-and-legacy", WK_IP)
srv("srv-fed-and-legacy", 10, 5, 8464, "srv-host")
srv("srv-fed-and-legacy", 10, 5, 8465, "srv-host", legacy=True)
a("srv-fed-no-address", WK_IP)  # _matrix-fed points nowhere: no fallback to _matrix or 8448
srv("srv-fed-no-address", 10, 5, 8464, "no-such-host")
srv("srv-fed-no-address", 10, 5, 8465, "srv-host", legacy=True)
a("srv-disabled", WK_IP)
srv("srv-disabled", 0, 0, 0, ".")
a("srv-cname", WK_IP)
srv("srv-cname", 10, 5, 8466, "srv-alias")
DNS.cname(n("srv-alias"), n("srv-real"))
a("srv-real", ip(34))
a("srv-servfail", WK_IP)
BROKEN_ZONES.append(f"_matrix-fed._tcp.srv-servfail.{ZONE}.")
a("srv-servfail-legacy", WK_IP)
BROKEN_ZONES.append(f"_matrix._tcp.srv-servfail-legacy.{ZONE}.")
a("srv-nxdomain", WK_IP)
a("srv-nodata", WK_IP)
for service in ("_matrix-fed._tcp", "_matrix._tcp"):
    DNS.add(f"{service}.{n('srv-nodata')}", "TXT", '"no SRV here"')

# Addresses.
a("dual", "::1", ip(35))
a("v6only", "::1")
a("xn--bcher-kva", ip(36))  # bücher.it.test
LONG_NAME = ".".join(["a" * 60, "b" * 60, "c" * 60, "d" * 40, ZONE])  # 231 characters: a warning
DNS.a(LONG_NAME, ip(37))

# Once per call, never across tasks.
well_known("once", json_reply({"m.server": DELEGATED}))
well_known("twice", json_reply({"m.server": DELEGATED}))


def tls_names() -> list[str]:
    """Every name the default certificate covers: all names with an address of the HTTPS server."""
    special = UNTRUSTED | EXPIRED | WRONG_NAME
    return sorted(({route[0] for route in ROUTES} | set(DNS.names_with_address(WK_IP))) - special)


# -- the world -------------------------------------------------------------------------------------
@dataclass
class World:
    ca_path: Path
    nameserver: str
    https: peers.Peers


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[World]:
    """Knot and the HTTPS peer, with their files in ``workdir``, until the block ends."""
    pki_dir = workdir / "pki"
    ca = pki.create_ca(pki_dir / "ca", common_name="matrixops integration CA")
    now = pki.utcnow()
    default = pki.issue_cert(ca, pki_dir / "default", tls_names())
    by_sni = {host: peers.server_context(pki.self_signed_cert(pki_dir / host, [host])) for host in UNTRUSTED}
    for host in EXPIRED:
        month_ago, yesterday = now - dt.timedelta(days=30), now - dt.timedelta(days=1)
        by_sni[host] = peers.server_context(
            pki.issue_cert(ca, pki_dir / host, [host], not_before=month_ago, not_after=yesterday)
        )
    for host in WRONG_NAME:
        by_sni[host] = peers.server_context(pki.issue_cert(ca, pki_dir / host, [f"other.{ZONE}"]))
    broken = dict.fromkeys(BROKEN_ZONES)
    with (
        knot.KnotServer(workdir / "knot", DNS_IP, DNS_PORT, {ZONE: DNS.text()}, broken_zones=broken),
        peers.Peers([peers.Listener(WK_IP, 443, peers.server_context(default), ROUTES, by_sni)]) as https,
    ):
        yield World(ca.bundle_path, NAMESERVER, https)
