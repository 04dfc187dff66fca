"""The integration tests' world: one DNS zone with a sub-name per scenario, and HTTPS servers.

* Knot DNS (``tests/lab/knot.py``) on ``<net>.53:5353``, authoritative for ``it.test.``, plus
  zones configured without a zone file so that knot answers SERVFAIL for them.
* One HTTPS server on ``<net>.10:443`` with certificates from a CA made for the run
  (``tests/lab/pki.py``).  An SNI callback picks the certificate per scenario (a self-signed,
  an expired or a wrong-name one for the certificate failures; one certificate with every other
  scenario name otherwise), and the handler answers by ``Host`` header from ``ROUTES``.
* ``<net>.99`` has no listener: connections there are refused.

``<net>`` is ``MATRIXOPS_IT_NET`` (e.g. ``127.0.2``) or else the first of ``127.0.1`` …
``127.0.20`` whose addresses are free, so that two worlds can run side by side.  Nothing binds a
wildcard address.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parents[1] / "lab"
sys.path.insert(0, str(LAB_DIR))

import knot  # noqa: E402
import pki  # noqa: E402


def _net_is_free(net: str) -> bool:
    """Nothing listens on the addresses and ports this world (and test_lab_library) binds."""
    binds = ((f"{net}.53", 5353), (f"{net}.54", 5353), (f"{net}.10", 443))
    return not any(knot.port_in_use(address, port) for address, port in binds)


def _choose_net() -> str:
    """``MATRIXOPS_IT_NET`` if set, else the first of 127.0.1 … 127.0.20 whose addresses are free.

    So two runs at once (two ansible-core versions, two developers on one machine) each get a
    world of their own instead of failing with "address already in use".
    """
    configured = os.environ.get("MATRIXOPS_IT_NET")
    if configured:
        return configured
    for third in range(1, 21):
        if _net_is_free(f"127.0.{third}"):
            return f"127.0.{third}"
    return "127.0.1"  # all busy: fail later with a clear "already in use"


NET = _choose_net()
ZONE = "it.test"
DNS_IP = f"{NET}.53"
DNS_PORT = 5353
NAMESERVER = f"{DNS_IP}:{DNS_PORT}"
WK_IP = f"{NET}.10"  # the HTTPS well-known server, port 443
DEAD_IP = f"{NET}.99"  # nothing listens here


def ip(n: int) -> str:
    """An address of the world's /24 (targets that nobody connects to)."""
    return f"{NET}.{n}"


def n(label: str) -> str:
    """The full scenario name for a label: ``n("srv")`` → ``srv.it.test``."""
    return f"{label}.{ZONE}"


WK_PATH = "/.well-known/matrix/server"
TIMEOUT = 5  # seconds: the lookup's ``timeout`` in the batched run
DRIP_TIMEOUT = 2  # ... and for the dripping well-known


def wk_url(host: str, path: str = WK_PATH, scheme: str = "https") -> str:
    return f"{scheme}://{host}{path}"


# -- HTTP behaviours ----------------------------------------------------------------------------
@dataclass
class Reply:
    """A canned HTTP response."""

    status: int = 200
    body: bytes | str | dict | list | int = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True  # False: close-delimited body, no Content-Length header

    def body_bytes(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def json_reply(obj: object, **headers: str) -> Reply:
    return Reply(200, obj, {"Content-Type": "application/json", **headers})


def redirect(status: int, location: str) -> Reply:
    return Reply(status, b"", {"Location": location})


@dataclass
class Drip:
    """Headers at once, then one body byte every ``interval`` seconds (for the timeout rule)."""

    interval: float = 0.25
    length: int = 120


def padded_json(m_server: str, size: int) -> bytes:
    """A valid JSON object with ``m.server`` of exactly ``size`` bytes."""
    head = json.dumps({"m.server": m_server, "pad": ""}).encode()
    pad = size - len(head)
    assert pad >= 0
    return json.dumps({"m.server": m_server, "pad": "x" * pad}).encode()


# -- the scenarios: DNS records and HTTP routes -----------------------------------------------
RECORDS: list[str] = []
ROUTES: dict[tuple[str, str], Reply | Drip] = {}
UNTRUSTED: set[str] = set()  # served with a self-signed certificate
EXPIRED: set[str] = set()  # served with an expired certificate from the test CA
WRONG_NAME: set[str] = set()  # served with a valid certificate for another name
BROKEN_ZONES: list[str] = []  # configured without a zone file: knot answers SERVFAIL


def a(label: str, *addresses: str) -> None:
    for address in addresses:
        RECORDS.append(f"{label} {'AAAA' if ':' in address else 'A'} {address}")


def srv(label: str, priority: int, weight: int, port: int, target: str, *, legacy: bool = False) -> None:
    service = "_matrix._tcp" if legacy else "_matrix-fed._tcp"
    target = target if target == "." else f"{target}.{ZONE}."
    RECORDS.append(f"{service}.{label} SRV {priority} {weight} {port} {target}")


def well_known(label: str, reply: Reply | Drip, path: str = WK_PATH, *, address: str = WK_IP) -> None:
    """``label`` gets an A record to the HTTPS server, which answers ``reply`` for ``path``."""
    if f"{label} A {address}" not in RECORDS:
        a(label, address)
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
well_known("wk-500", Reply(500, b"oops", {"Content-Type": "text/plain"}))
well_known("wk-404-srv", Reply(404, b"not here", {"Content-Type": "text/plain"}))
srv("wk-404-srv", 10, 5, 8454, "srv-host")
well_known("wk-badjson", Reply(200, b'{"m.server": ', {"Content-Type": "application/json"}))
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
well_known("wk-oversize", Reply(200, padded_json(DELEGATED, BODY_LIMIT), {"Content-Type": "application/json"}))
well_known(
    "wk-oversize-nolength",
    Reply(200, padded_json(DELEGATED, 4 * BODY_LIMIT), {"Content-Type": "application/json"}, content_length=False),
)
well_known(
    "wk-just-under-limit", Reply(200, padded_json(DELEGATED, BODY_LIMIT - 1), {"Content-Type": "application/json"})
)
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
        well_known(host.removesuffix("." + ZONE), redirect(status, url), path)
        host, rest = url.removeprefix("https://").split("/", 1)
        path = "/" + rest


chain(n("wk-redirect"), REDIRECT_CHAIN)
well_known("wk-redirect-final", json_reply({"m.server": DELEGATED}))


def redirect_hops(label: str, hops: int, final: Reply) -> list[str]:
    """``hops`` redirects on ``label`` (/r/1 … /r/hops), then ``final``; returns the URLs."""
    urls = [wk_url(n(label), f"/r/{i}") for i in range(1, hops + 1)]
    well_known(label, redirect(302, urls[0]))
    for i, url in enumerate(urls[1:], start=1):
        well_known(label, redirect(302, url), f"/r/{i}")
    well_known(label, final, f"/r/{hops}")
    return urls


TEN_REDIRECTS = redirect_hops("wk-10-redirects", 10, json_reply({"m.server": DELEGATED}))
ELEVEN_REDIRECTS = redirect_hops("wk-11-redirects", 11, json_reply({"m.server": DELEGATED}))
well_known("wk-loop", redirect(302, wk_url(n("wk-loop"), "/loop/a")))
well_known("wk-loop", redirect(302, wk_url(n("wk-loop"), "/loop/b")), "/loop/a")
well_known("wk-loop", redirect(302, wk_url(n("wk-loop"))), "/loop/b")
well_known("wk-to-http", redirect(301, wk_url(n("wk-to-http"), scheme="http")))
well_known("wk-untrusted", json_reply({"m.server": DELEGATED}))
UNTRUSTED.add(n("wk-untrusted"))
srv("wk-untrusted", 10, 5, 8454, "srv-host")
well_known("wk-expired", json_reply({"m.server": DELEGATED}))
EXPIRED.add(n("wk-expired"))
well_known("wk-wrong-name", json_reply({"m.server": DELEGATED}))
WRONG_NAME.add(n("wk-wrong-name"))
a("wk-refused", DEAD_IP)
well_known("wk-drip", Drip())
# Content-Type is not checked, only warned about.
well_known("wk-text-plain", Reply(200, json.dumps({"m.server": DELEGATED}), {"Content-Type": "text/plain"}))
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
RECORDS.append(f"srv-alias CNAME srv-real.{ZONE}.")
a("srv-real", ip(34))
a("srv-servfail", WK_IP)
BROKEN_ZONES.append(f"_matrix-fed._tcp.srv-servfail.{ZONE}.")
a("srv-servfail-legacy", WK_IP)
BROKEN_ZONES.append(f"_matrix._tcp.srv-servfail-legacy.{ZONE}.")
a("srv-nxdomain", WK_IP)
a("srv-nodata", WK_IP)
RECORDS.append('_matrix-fed._tcp.srv-nodata TXT "no SRV here"')
RECORDS.append('_matrix._tcp.srv-nodata TXT "no SRV here"')

# Addresses.
a("dual", "::1", ip(35))
a("v6only", "::1")
a("xn--bcher-kva", ip(36))  # bücher.it.test
LONG_NAME = ".".join(["a" * 60, "b" * 60, "c" * 60, "d" * 40, ZONE])  # 231 characters: a warning
a(LONG_NAME.removesuffix("." + ZONE), ip(37))

# Once per call, never across tasks.
well_known("once", json_reply({"m.server": DELEGATED}))
well_known("twice", json_reply({"m.server": DELEGATED}))


def zone_text() -> str:
    head = [
        f"$ORIGIN {ZONE}.",
        "$TTL 60",
        f"@ SOA ns.{ZONE}. hostmaster.{ZONE}. 1 60 60 600 60",
        f"@ NS ns.{ZONE}.",
        f"ns A {DNS_IP}",
    ]
    return "\n".join(head + RECORDS) + "\n"


def tls_names() -> list[str]:
    """Every name the default certificate covers: all names with an address of the HTTPS server."""
    special = UNTRUSTED | EXPIRED | WRONG_NAME
    on_server = {n(line.split()[0]) for line in RECORDS if line.endswith(f" A {WK_IP}")}
    return sorted(({route[0] for route in ROUTES} | on_server) - special)


# -- the HTTPS server --------------------------------------------------------------------------
@dataclass
class Request:
    sni: str | None
    host: str | None
    path: str
    started: float
    finished: float | None = None
    note: str = ""


class Handler(http.server.BaseHTTPRequestHandler):
    server: WellKnownServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        host = (self.headers.get("Host") or "").lower()
        bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        record = Request(getattr(self.request, "matrixops_sni", None), host or None, self.path, time.monotonic())
        self.server.log(record)
        reply = ROUTES.get((bare, self.path.split("?", 1)[0]))
        try:
            if reply is None:
                self._send(Reply(404, b'{"errcode": "M_NOT_FOUND"}', {"Content-Type": "application/json"}))
            elif isinstance(reply, Drip):
                self._drip(reply, record)
            else:
                self._send(reply)
        except OSError as exc:
            record.note = f"client went away: {exc!r}"
        finally:
            record.finished = time.monotonic()

    def _send(self, reply: Reply) -> None:
        body = reply.body_bytes()
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if reply.content_length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _drip(self, drip: Drip, record: Request) -> None:
        body = b"{" + b" " * (drip.length - 2) + b"}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        for i in range(len(body)):
            time.sleep(drip.interval)
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
        record.note = "dripped the whole body"


class WellKnownServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """HTTPS on one address; TLS is done in the connection's thread, never in the accept loop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: str, port: int, default_ctx: ssl.SSLContext, by_sni: dict[str, ssl.SSLContext]):
        self.default_ctx = default_ctx
        self.by_sni = by_sni
        self.requests: list[Request] = []
        self.tls_errors: list[str] = []
        self._lock = threading.Lock()
        default_ctx.sni_callback = self._pick_context
        for ctx in by_sni.values():
            ctx.sni_callback = self._pick_context
        super().__init__((address, port), Handler)

    def log(self, record: Request) -> None:
        with self._lock:
            self.requests.append(record)

    def _pick_context(self, sslsock: ssl.SSLSocket, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        sslsock.matrixops_sni = server_name  # type: ignore[attr-defined]
        chosen = self.by_sni.get((server_name or "").lower())
        if chosen is not None:
            sslsock.context = chosen
        return None

    def finish_request(self, request: socket.socket, client_address: tuple) -> None:  # type: ignore[override]
        request.settimeout(30)
        try:
            tls = self.default_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:  # e.g. the client refused our certificate
            with self._lock:
                self.tls_errors.append(repr(exc))
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-response is part of some scenarios

    def requests_for(self, host: str, path: str = WK_PATH) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.host == host and r.path == path]


def _server_context(cert: pki.IssuedCert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert_path, cert.key_path)
    return ctx


# -- the world -------------------------------------------------------------------------------------
@dataclass
class World:
    ca_path: Path
    nameserver: str
    https: WellKnownServer
    knot_log: Path


class WorldRunner:
    """Starts knot and the HTTPS server in ``workdir``; ``stop()`` stops them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.knot: knot.KnotServer | None = None
        self.https: WellKnownServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> World:
        pki_dir = self.workdir / "pki"
        ca = pki.create_ca(pki_dir / "ca", common_name="matrixops integration CA")
        now = pki.utcnow()
        default = pki.issue_cert(ca, pki_dir / "default", tls_names())
        by_sni: dict[str, ssl.SSLContext] = {}
        for host in UNTRUSTED:
            by_sni[host] = _server_context(pki.self_signed_cert(pki_dir / host, [host]))
        for host in EXPIRED:
            cert = pki.issue_cert(
                ca, pki_dir / host, [host], not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
            )
            by_sni[host] = _server_context(cert)
        for host in WRONG_NAME:
            by_sni[host] = _server_context(pki.issue_cert(ca, pki_dir / host, [f"other.{ZONE}"]))

        self.knot = knot.KnotServer(
            self.workdir / "knot", DNS_IP, DNS_PORT, {ZONE: zone_text()}, broken_zones=dict.fromkeys(BROKEN_ZONES)
        )
        self.knot.start()
        try:
            self.https = WellKnownServer(WK_IP, 443, _server_context(default), by_sni)
        except BaseException:
            self.knot.stop()
            raise
        self._thread = threading.Thread(target=self.https.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return World(ca.bundle_path, NAMESERVER, self.https, self.knot.log_path)

    def stop(self) -> None:
        if self.https is not None:
            self.https.shutdown()
            self.https.server_close()
            self.https = None
        if self.knot is not None:
            self.knot.stop()
            self.knot = None


def main_for_humans(argv: list[str]) -> int:  # pragma: no cover - a debugging aid
    """``python tests/integration/it_world.py DIR``: run the world until Ctrl-C."""
    runner = WorldRunner(Path(argv[1] if len(argv) > 1 else "/tmp/matrixops-it-world"))
    world = runner.start()
    print(f"nameservers=['{world.nameserver}'] ca_path='{world.ca_path}' (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_for_humans(sys.argv))
