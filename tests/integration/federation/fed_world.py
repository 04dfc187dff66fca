"""The federation check's world: DNS, hostile key servers, nginx and the lab's real Synapse.

Everything binds addresses of one ``<net>.0/24`` of loopback (``<net>`` is ``MATRIXOPS_FED_NET``,
e.g. ``127.0.40``, or else the first free one of ``127.0.40`` … ``127.0.59``; the lookup's world
uses ``127.0.1`` … ``127.0.20``), never a wildcard address:

=====================  =====================================================================
``<net>.53:5353``      knot, authoritative for ``example.test.`` (this world's own copy of the
                       lab zone: the lab's knot on 127.0.0.1:5353 is neither needed nor touched)
``<net>.2:443``        nginx, ``example.test``: the server, client and support well-knowns
``<net>.3:443``        nginx, ``matrix.example.test``: ``/_matrix`` proxied to Synapse
``<net>.8:8008``       the lab's real Synapse (tests/lab/synapse.py), server name example.test,
                       plain HTTP: this world's own instance, so that it never meets another
                       run's (the lab's default is 127.0.0.1:8008)
``<net>.10:8448``      hostile key servers (Python): one scenario per name, chosen by SNI (the
                       certificate) and by ``Host`` (the answers); keys are signed with
                       ``cryptography`` and canonical JSON written here, independently of the
                       collection's ``_signing`` module
``<net>.10:443``       the same server, for the client and support well-knowns of the scenarios
``<net>.11:8448``      plain HTTP where TLS is expected
``<net>.12:8448``      accepts TCP connections and never says anything
``<net>.99``           nothing listens: connections are refused
=====================  =====================================================================

Certificates come from a CA made for the run (tests/lab/pki.py).
"""

from __future__ import annotations

import base64
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

LAB_DIR = Path(__file__).resolve().parents[2] / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

import knot  # noqa: E402
import nginx  # noqa: E402
import pki  # noqa: E402


def _net_is_free(net: str) -> bool:
    binds = [
        (f"{net}.53", 5353),
        (f"{net}.2", 443),
        (f"{net}.3", 443),
        (f"{net}.8", 8008),
        (f"{net}.10", 443),
        (f"{net}.10", 8448),
    ]
    return not any(knot.port_in_use(address, port) for address, port in binds)


def _choose_net() -> str:
    configured = os.environ.get("MATRIXOPS_FED_NET")
    if configured:
        return configured
    for third in range(40, 60):
        if _net_is_free(f"127.0.{third}"):
            return f"127.0.{third}"
    return "127.0.40"  # all busy: fail later with a clear "already in use"


NET = _choose_net()
ZONE = "example.test"
DNS_IP = f"{NET}.53"
DNS_PORT = 5353
NAMESERVER = f"{DNS_IP}:{DNS_PORT}"
WK_IP = f"{NET}.2"  # nginx: example.test
MATRIX_IP = f"{NET}.3"  # nginx: matrix.example.test -> Synapse
HOSTILE_IP = f"{NET}.10"  # the Python key servers
PLAIN_IP = f"{NET}.11"  # plain HTTP on the federation port
SILENT_IP = f"{NET}.12"  # accepts, never answers
DEAD_IP = f"{NET}.99"  # nothing listens
FED_PORT = 8448

SERVER_NAME = ZONE  # the lab Synapse's server name
DELEGATED_HOST = f"matrix.{ZONE}"
SYNAPSE_LISTEN = f"{NET}.8:8008"
SYNAPSE_UPSTREAM = f"http://{SYNAPSE_LISTEN}"
CA_NAME = "matrixops federation test CA"

KEYS_PATH = "/_matrix/key/v2/server"
VERSION_PATH = "/_matrix/federation/v1/version"
CLIENT_PATH = "/.well-known/matrix/client"
SUPPORT_PATH = "/.well-known/matrix/support"
SERVER_WK_PATH = "/.well-known/matrix/server"
VERSIONS_PATH = "/_matrix/client/versions"

#: What every hostile server says it is.
HOSTILE_VERSION = {"name": "fedworld", "version": "0.1"}

#: The well-known files nginx serves for example.test (the passing case).
GOOD_CLIENT = {"m.homeserver": {"base_url": f"https://{DELEGATED_HOST}"}}
GOOD_SUPPORT = {
    "contacts": [{"matrix_id": "@admin:example.test", "email_address": "admin@example.test", "role": "m.role.admin"}],
    "support_page": "https://example.test/support",
}


def n(label: str) -> str:
    """``n("good")`` → ``good.example.test``."""
    return f"{label}.{ZONE}"


def fed(label: str) -> str:
    """The server name of a hostile scenario: ``good.example.test:8448`` (explicit port)."""
    return f"{n(label)}:{FED_PORT}"


def endpoint(address: str, port: int = FED_PORT) -> str:
    return f"{address}:{port}"


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- signed keys, written independently of plugins/module_utils/_signing.py -------------------------
def canonical_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def unpadded_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    seed: bytes

    @property
    def public_b64(self) -> str:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return unpadded_b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, value: dict) -> str:
        signable = {k: v for k, v in value.items() if k not in ("signatures", "unsigned")}
        return unpadded_b64(Ed25519PrivateKey.from_private_bytes(self.seed).sign(canonical_json(signable)))


KEY = SigningKey("ed25519:fed1", bytes(range(32)))
SECOND_KEY = SigningKey("ed25519:fed2", bytes(range(32, 64)))


def key_response(server_name: str, valid_until_ts: int, keys: Sequence[SigningKey] = (KEY,)) -> dict:
    """A ``/_matrix/key/v2/server`` answer for ``server_name``, self-signed with ``keys``."""
    body: dict = {
        "server_name": server_name,
        "valid_until_ts": valid_until_ts,
        "verify_keys": {key.key_id: {"key": key.public_b64} for key in keys},
        "old_verify_keys": {},
    }
    body["signatures"] = {server_name: {key.key_id: key.sign(body) for key in keys}}
    return body


# -- HTTP answers ---------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(value: object, *, status: int = 200, cors: bool = True) -> Reply:
    headers = {"Content-Type": "application/json"}
    if cors:
        headers["Access-Control-Allow-Origin"] = "*"
    return Reply(status, json.dumps(value).encode(), headers)


@dataclass
class Drip:
    """Headers at once, then one body byte every ``interval`` seconds."""

    interval: float = 0.25
    length: int = 200


# -- the scenarios ------------------------------------------------------------------------------------
@dataclass
class Times:
    """Fixed at world start so that tests know the exact values served."""

    now_ms: int
    valid_until_ts: int  # a day ahead
    expired_ts: int  # an hour ago


@dataclass
class Scenario:
    """One hostile name: ``<label>.example.test`` on ``addresses``, answered by ``routes``."""

    label: str
    addresses: list[str]
    routes: dict[str, Reply | Drip] = field(default_factory=dict)
    cert: str = "default"  # default | wrong_name | expired | self_signed | srv_target


OVERSIZE = 600 * 1024  # the module's JSON body limit is 512 KiB
ANCIENT_TS = -(2**53) + 1  # the smallest canonical JSON integer
#: SRV delegation: these names have no address, only ``_matrix-fed._tcp`` SRV records pointing to
#: srv-host.example.test:8448, and are checked under the bare name (no port).
SRV_NAMES = ("srv-cert", "srv-good")


def server_name(label: str) -> str:
    """The server name a scenario is checked under (and that its keys claim)."""
    return n(label) if label in SRV_NAMES else fed(label)


def scenarios(times: Times) -> list[Scenario]:
    version = json_reply({"server": HOSTILE_VERSION})

    def keys(label: str, **kwargs: object) -> dict[str, Reply | Drip]:
        body = key_response(server_name(label), times.valid_until_ts, **kwargs)  # type: ignore[arg-type]
        return {KEYS_PATH: json_reply(body), VERSION_PATH: version}

    bad_signature = key_response(fed("bad-signature"), times.valid_until_ts)
    bad_signature["valid_until_ts"] += 1  # changed after signing
    no_ed25519 = {
        "server_name": fed("no-ed25519"),
        "valid_until_ts": times.valid_until_ts,
        "verify_keys": {"ed448:1": {"key": "bm90IGFuIGVkMjU1MTkga2V5"}},
        "old_verify_keys": {},
        "signatures": {fed("no-ed25519"): {}},
    }
    versions = json_reply({"versions": ["v1.11", "v1.12"]})
    return [
        Scenario("good", [HOSTILE_IP], keys("good")),
        Scenario("wrong-name", [HOSTILE_IP], keys("wrong-name"), cert="wrong_name"),
        Scenario("expired-cert", [HOSTILE_IP], keys("expired-cert"), cert="expired"),
        Scenario("self-signed", [HOSTILE_IP], keys("self-signed"), cert="self_signed"),
        Scenario(
            "keys-other",
            [HOSTILE_IP],
            {**keys("keys-other"), KEYS_PATH: json_reply(key_response(n("other"), times.valid_until_ts))},
        ),
        Scenario(
            "keys-expired",
            [HOSTILE_IP],
            {**keys("keys-expired"), KEYS_PATH: json_reply(key_response(fed("keys-expired"), times.expired_ts))},
        ),
        Scenario("bad-signature", [HOSTILE_IP], {**keys("bad-signature"), KEYS_PATH: json_reply(bad_signature)}),
        Scenario("no-ed25519", [HOSTILE_IP], {**keys("no-ed25519"), KEYS_PATH: json_reply(no_ed25519)}),
        Scenario("two-keys", [HOSTILE_IP], keys("two-keys", keys=[KEY, SECOND_KEY])),
        Scenario("two-addresses", [HOSTILE_IP, DEAD_IP], keys("two-addresses")),
        Scenario("dead", [DEAD_IP]),
        Scenario(
            "no-cors",
            [HOSTILE_IP],
            {
                **keys("no-cors"),
                CLIENT_PATH: json_reply({"m.homeserver": {"base_url": f"https://{n('no-cors')}"}}, cors=False),
                VERSIONS_PATH: versions,
            },
        ),
        Scenario(
            "cors-redirect",  # the first hop (a redirect) lacks the header, the file itself has it
            [HOSTILE_IP],
            {
                **keys("cors-redirect"),
                CLIENT_PATH: Reply(302, b"", {"Location": f"https://{n('cors-redirect')}/client-file"}),
                "/client-file": json_reply({"m.homeserver": {"base_url": f"https://{n('cors-redirect')}"}}),
                VERSIONS_PATH: versions,
            },
        ),
        Scenario(
            "identity-down",  # m.identity_server whose /_matrix/identity/v2 answers 404
            [HOSTILE_IP],
            {
                **keys("identity-down"),
                CLIENT_PATH: json_reply(
                    {
                        "m.homeserver": {"base_url": f"https://{n('identity-down')}"},
                        "m.identity_server": {"base_url": f"https://{n('identity-down')}/identity"},
                    }
                ),
                VERSIONS_PATH: versions,
            },
        ),
        Scenario(
            "bad-support",
            [HOSTILE_IP],
            {**keys("bad-support"), SUPPORT_PATH: json_reply({"contacts": [{"email_address": "admin@example.test"}]})},
        ),
        Scenario(
            "not-json",
            [HOSTILE_IP],
            {**keys("not-json"), KEYS_PATH: Reply(200, b"<html>keys</html>", {"Content-Type": "text/html"})},
        ),
        Scenario("keys-array", [HOSTILE_IP], {**keys("keys-array"), KEYS_PATH: json_reply([1, 2])}),
        Scenario("keys-500", [HOSTILE_IP], {**keys("keys-500"), KEYS_PATH: json_reply({"errcode": "X"}, status=500)}),
        Scenario(
            "oversize",
            [HOSTILE_IP],
            {**keys("oversize"), KEYS_PATH: Reply(200, b'{"pad": "' + b"x" * OVERSIZE + b'"}', {})},
        ),
        Scenario("drip", [HOSTILE_IP], {**keys("drip"), KEYS_PATH: Drip()}),
        Scenario(
            "keys-ancient",  # valid_until_ts in the canonical JSON range, but before year 1
            [HOSTILE_IP],
            {**keys("keys-ancient"), KEYS_PATH: json_reply(key_response(fed("keys-ancient"), ANCIENT_TS))},
        ),
        Scenario("no-version", [HOSTILE_IP], {KEYS_PATH: keys("no-version")[KEYS_PATH]}),
        Scenario("plain-http", [PLAIN_IP], keys("plain-http")),
        Scenario("silent", [SILENT_IP]),
        # SRV delegation: the certificate must be valid for the server name, not the SRV target.
        Scenario("srv-host", [HOSTILE_IP]),
        Scenario("srv-cert", [], keys("srv-cert"), cert="srv_target"),
        Scenario("srv-good", [], keys("srv-good")),
    ]


def zone_text(all_scenarios: list[Scenario]) -> str:
    lines = [
        f"$ORIGIN {ZONE}.",
        "$TTL 60",
        f"@ SOA ns.{ZONE}. hostmaster.{ZONE}. 1 60 60 600 60",
        f"@ NS ns.{ZONE}.",
        f"ns A {DNS_IP}",
        f"@ A {WK_IP}",
        f"matrix A {MATRIX_IP}",
    ]
    for scenario in all_scenarios:
        lines += [f"{scenario.label} A {address}" for address in scenario.addresses]
    for label in SRV_NAMES:
        lines.append(f"_matrix-fed._tcp.{label} SRV 10 5 {FED_PORT} srv-host.{ZONE}.")
    return "\n".join(lines) + "\n"


# -- the hostile HTTPS server ------------------------------------------------------------------------
@dataclass
class Seen:
    """One request as the server saw it."""

    sni: str | None
    host: str | None
    path: str
    started: float
    client_gone: float | None = None  # when a write failed because the client had hung up


class Handler(http.server.BaseHTTPRequestHandler):
    server: HostileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        host = (self.headers.get("Host") or "").lower()
        hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        seen = Seen(getattr(self.connection, "matrixops_sni", None), host or None, self.path, time.monotonic())
        self.server.log(seen)
        reply = self.server.routes.get((hostname, self.path.split("?", 1)[0]))
        try:
            if reply is None:
                self._send(json_reply({"errcode": "M_NOT_FOUND"}, status=404))
            elif isinstance(reply, Drip):
                self._drip(reply)
            else:
                self._send(reply)
        except OSError:
            seen.client_gone = time.monotonic()
            self.close_connection = True

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()

    def _drip(self, drip: Drip) -> None:
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


class HostileServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """HTTP(S) on one address and port; TLS (certificate by SNI) in the connection's thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: str,
        port: int,
        routes: dict[tuple[str, str], Reply | Drip],
        context: ssl.SSLContext | None,
        by_sni: dict[str, ssl.SSLContext] | None = None,
    ) -> None:
        self.routes = routes
        self.context = context
        self.by_sni = by_sni or {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        if context is not None:
            for ctx in (context, *self.by_sni.values()):
                ctx.sni_callback = self._pick_context
        super().__init__((address, port), Handler)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def log(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def requests(self, host: str, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.host == host and s.path == path]

    def _pick_context(self, sslsock: ssl.SSLSocket, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        sslsock.matrixops_sni = server_name  # type: ignore[attr-defined]
        chosen = self.by_sni.get((server_name or "").lower())
        if chosen is not None:
            sslsock.context = chosen

    def finish_request(self, request: socket.socket, client_address: tuple) -> None:  # type: ignore[override]
        request.settimeout(30)
        if self.context is not None:
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # e.g. the client refused the certificate
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                request.close()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up mid-response are part of the scenarios

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def _server_context(cert: pki.IssuedCert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert_path, cert.key_path)
    return ctx


# -- the world ------------------------------------------------------------------------------------------
@dataclass
class World:
    workdir: Path
    ca_path: Path
    nameserver: str
    times: Times
    certs: dict[str, pki.IssuedCert]  # default, wrong_name, expired, self_signed, srv_target, example, matrix
    hostile: HostileServer  # <net>.10:8448
    nginx_workdir: Path

    def cert_details(self, which: str) -> dict:
        """The ``tls.certificate`` dict the module should report for one of our certificates."""
        cert = self.certs[which].certificate
        return {
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "sans": pki.cert_names(self.certs[which].cert_path),
            "not_after": iso(cert.not_valid_after_utc),
        }


class WorldRunner:
    """Starts knot, the hostile servers and nginx in ``workdir``; ``stop()`` stops all of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.knot: knot.KnotServer | None = None
        self.servers: list[HostileServer] = []
        self.silent: socket.socket | None = None
        self.nginx_workdir = self.workdir / "nginx"
        self.nginx_started = False

    def start(self) -> World:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> World:
        now = pki.utcnow()
        now_ms = int(now.timestamp() * 1000)
        times = Times(now_ms, now_ms + 86_400_000, now_ms - 3_600_000)
        all_scenarios = scenarios(times)

        pki_dir = self.workdir / "pki"
        ca = pki.create_ca(pki_dir / "ca", common_name=CA_NAME)
        default_names = sorted(n(s.label) for s in all_scenarios if s.cert == "default")
        certs = {
            "default": pki.issue_cert(ca, pki_dir / "default", default_names),
            "wrong_name": pki.issue_cert(ca, pki_dir / "wrong-name", [n("other")]),
            "expired": pki.issue_cert(
                ca,
                pki_dir / "expired",
                [n("expired-cert")],
                not_before=now - dt.timedelta(days=30),
                not_after=now - dt.timedelta(days=2),
            ),
            "self_signed": pki.self_signed_cert(pki_dir / "self-signed", [n("self-signed")]),
            "srv_target": pki.issue_cert(ca, pki_dir / "srv-target", [n("srv-host")]),
            "example": pki.issue_cert(ca, pki_dir / "example", [SERVER_NAME]),
            "matrix": pki.issue_cert(ca, pki_dir / "matrix", [DELEGATED_HOST]),
        }
        by_sni = {n(s.label): _server_context(certs[s.cert]) for s in all_scenarios if s.cert not in ("default",)}

        routes = {(n(s.label), path): reply for s in all_scenarios for path, reply in s.routes.items()}
        self.knot = knot.KnotServer(self.workdir / "knot", DNS_IP, DNS_PORT, {ZONE: zone_text(all_scenarios)})
        self.knot.start()
        hostile = HostileServer(HOSTILE_IP, FED_PORT, routes, _server_context(certs["default"]), by_sni)
        self.servers.append(hostile)
        self.servers.append(HostileServer(HOSTILE_IP, 443, routes, _server_context(certs["default"]), by_sni))
        self.servers.append(HostileServer(PLAIN_IP, FED_PORT, routes, None))
        self.silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.silent.bind((SILENT_IP, FED_PORT))
        self.silent.listen(16)  # never accepted: the kernel completes the handshake, nobody talks

        cors = {"Access-Control-Allow-Origin": "*"}
        servers = [
            nginx.Server(
                listen=f"{WK_IP}:443",
                server_name=SERVER_NAME,
                certificate=certs["example"].cert_path,
                key=certs["example"].key_path,
                locations={
                    f"= {SERVER_WK_PATH}": nginx.json_return({"m.server": f"{DELEGATED_HOST}:443"}, headers=cors),
                    f"= {CLIENT_PATH}": nginx.json_return(GOOD_CLIENT, headers=cors),
                    f"= {SUPPORT_PATH}": nginx.json_return(GOOD_SUPPORT, headers=cors),
                },
            ),
            nginx.Server(
                listen=f"{MATRIX_IP}:443",
                server_name=DELEGATED_HOST,
                certificate=certs["matrix"].cert_path,
                key=certs["matrix"].key_path,
                proxy_pass=SYNAPSE_UPSTREAM,
            ),
        ]
        self.nginx_started = True
        nginx.start(self.nginx_workdir, servers)
        return World(self.workdir, ca.bundle_path, NAMESERVER, times, certs, hostile, self.nginx_workdir)

    def stop(self) -> None:
        if self.nginx_started:
            nginx.stop(self.nginx_workdir)
            self.nginx_started = False
        while self.servers:
            self.servers.pop().close()
        if self.silent is not None:
            self.silent.close()
            self.silent = None
        if self.knot is not None:
            self.knot.stop()
            self.knot = None


def main_for_humans(argv: list[str]) -> int:  # pragma: no cover - a debugging aid
    """``python tests/integration/federation/fed_world.py DIR``: run the world (without Synapse)."""
    runner = WorldRunner(Path(argv[1] if len(argv) > 1 else "/tmp/matrixops-fed-world"))
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
