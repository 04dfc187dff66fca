# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Programmable TLS/HTTP peers: one :class:`Listener` per ``address:port``, raw sockets, every
misbehaviour on purpose.

A listener speaks TLS (``context``, with a certificate per SNI from ``by_sni``), plain HTTP
(no context), or nothing at all (``stall``: it accepts TCP and never says a word, i.e. a TLS
handshake or a DNS-over-TCP query that stalls). Its ``routes`` map ``(host, path)`` or ``path``
to a handler, which gets the :class:`Exchange` (the socket and the request) and writes whatever
it likes: a :class:`Reply`, an endless body, a drip, silence, bytes that lie about their length.
With ``keep_alive`` an honest reply leaves the connection open for the next request.

One thread accepts for every listener (a selector); each connection gets its own thread, so a
slow peer never delays another. :class:`Peers` logs every TLS handshake and request.
"""

from __future__ import annotations

import contextlib
import http
import json
import re
import selectors
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    listener: str  # address:port
    sni: str | None
    host: str | None  # the Host header, lower case
    path: str
    started: float
    finished: float | None = None
    client_gone: float | None = None  # when writing failed because the client had hung up

    @property
    def hostname(self) -> str:
        """The Host header without its port."""
        host = self.host or ""
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass
class Exchange:
    sock: socket.socket
    request: Request
    stopping: threading.Event
    keep_alive: bool = False  # the listener keeps connections open after honest replies
    reusable: bool = False  # set by a handler that left the connection fit for another request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hang(self, seconds: float = 60.0) -> None:
        """Say nothing until the client gives up (or the peers stop)."""
        end = time.monotonic() + seconds
        self.sock.settimeout(0.05)
        while not self.stopping.is_set() and time.monotonic() < end:
            try:
                if not self.sock.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


Handler = Callable[[Exchange], None]


@dataclass
class Listener:
    address: str
    port: int
    context: ssl.SSLContext | None = None  # None: plain HTTP (or nothing, with stall)
    routes: dict = field(default_factory=dict)  # path or (host, path) -> Handler; (host, path) wins
    by_sni: dict[str, ssl.SSLContext] = field(default_factory=dict)  # SNI -> its own certificate
    stall: bool = False  # accept TCP, never say anything
    keep_alive: bool = False
    delay: float = 0.0  # seconds between a request's arrival and its handler

    @property
    def endpoint(self) -> str:
        """``address:port``, ``[address]:port`` for IPv6."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def server_context(cert: object, *, tls10: bool = False) -> ssl.SSLContext:
    """A server context for an issued certificate (``cert_path``, ``key_path``: tests/lab/pki.py).

    ``tls10``: TLS 1.0 only, with every cipher allowed (a peer too old to talk to).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert_path, cert.key_path)  # type: ignore[attr-defined]
    if tls10:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


# -- handlers ------------------------------------------------------------------------------------
def http_response(
    status: int, body: bytes = b"", headers: dict | None = None, *, length: int | bool = True, close: bool = True
) -> bytes:
    """Raw HTTP/1.1 bytes. ``length``: True = honest Content-Length, an int = that (lying) value,
    False = no Content-Length (close-delimited). ``close``: say ``Connection: close``."""
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "X"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    if length is not False:
        lines.append(f"Content-Length: {len(body) if length is True else length}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class Reply:
    """A canned response; on a keep-alive listener an honest one leaves the connection open."""

    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    length: bool = True  # False: no Content-Length, the body ends when the connection closes

    def __call__(self, exchange: Exchange) -> None:
        reusable = exchange.keep_alive and self.length
        exchange.send(http_response(self.status, self.body, self.headers, length=self.length, close=not reusable))
        exchange.reusable = reusable


def raw(data: bytes, *, then: str = "close") -> Handler:
    """Send ``data``; then close the connection or (``then="hang"``) keep it open, silent."""

    def handler(exchange: Exchange) -> None:
        exchange.send(data)
        if then == "hang":
            exchange.hang()

    return handler


def reply(status: int, body: bytes | str = b"", headers: dict | None = None, **kwargs: bool) -> Reply:
    return Reply(status, body.encode() if isinstance(body, str) else body, headers or {}, **kwargs)


def json_reply(value: object, *, status: int = 200, headers: dict | None = None) -> Reply:
    """``value`` as JSON; ``headers`` are added to (or replace) ``Content-Type: application/json``."""
    return reply(status, json.dumps(value), {"Content-Type": "application/json", **(headers or {})})


def redirect(location: str | bytes, status: int = 302) -> Reply:
    text = location.decode("latin-1") if isinstance(location, bytes) else location
    return reply(status, b"", {"Location": text})


def silent() -> Handler:
    """The TLS handshake completes, the request is read, nothing is ever answered."""
    return lambda exchange: exchange.hang()


def endless(*, chunked: bool = False) -> Handler:
    """Status and headers, then a body that never ends (until the client hangs up)."""

    def handler(exchange: Exchange) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else "Connection: close\r\n\r\n"
        exchange.send(head.encode())
        piece = b"x" * 16384
        if chunked:
            piece = b"4000\r\n" + piece + b"\r\n"
        while not exchange.stopping.is_set():
            exchange.send(piece)

    return handler


def drip(data: bytes, interval: float, *, head: bytes = b"") -> Handler:
    """``head`` at once, then ``data`` one byte every ``interval`` seconds."""

    def handler(exchange: Exchange) -> None:
        exchange.send(head)
        for index in range(len(data)):
            if exchange.stopping.wait(interval):
                return
            exchange.send(data[index : index + 1])

    return handler


def dripping_json(length: int, interval: float = 0.25) -> Handler:
    """Status and headers (an honest Content-Length) at once, then a JSON body of ``length``
    bytes, one byte every ``interval`` seconds."""
    body = b"{" + b" " * (length - 2) + b"}"
    head = http_response(200, b"", {"Content-Type": "application/json"}, length=len(body))
    return drip(body, interval, head=head)


def after(seconds: float, then: Handler) -> Handler:
    """Wait ``seconds`` (a slow peer that still answers in time), then ``then``."""

    def handler(exchange: Exchange) -> None:
        if not exchange.stopping.wait(seconds):
            then(exchange)

    return handler


NOT_FOUND = json_reply({"errcode": "M_NOT_FOUND"}, status=404)
REQUEST_LINE = re.compile(rb"[A-Z]+ \S+ HTTP/\d")


# -- the server ------------------------------------------------------------------------------------
class Peers:
    """Serves every listener until ``close()`` (or the end of a ``with`` block)."""

    def __init__(self, listeners: list[Listener]) -> None:
        self.listeners: dict[str, Listener] = {}
        self.requests: list[Request] = []
        self.handshakes: list[tuple[str, str | None, float]] = []  # (listener, SNI, when)
        self.tls_errors: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._sockets: list[socket.socket] = []
        try:
            for listener in listeners:
                family = socket.AF_INET6 if ":" in listener.address else socket.AF_INET
                sock = socket.create_server((listener.address, listener.port), family=family, backlog=1024)
                sock.setblocking(False)
                self._sockets.append(sock)
                self._selector.register(sock, selectors.EVENT_READ, listener)
                self.listeners[listener.endpoint] = listener
                for context in (listener.context, *listener.by_sni.values()):
                    if context is not None:
                        context.sni_callback = _on_sni
        except BaseException:
            self._close_sockets()
            raise
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="peers-accept")
        self._thread.start()

    def __enter__(self) -> Peers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._selector.close()

    def close(self) -> None:
        self.stopping.set()
        self._thread.join(2)
        self._close_sockets()

    def requests_to(self, endpoint: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.listener == endpoint]

    def requests_for(self, host: str, path: str) -> list[Request]:
        """The requests with this ``Host`` header (port included, if sent) and path."""
        with self._lock:
            return [request for request in self.requests if request.host == host and request.path == path]

    def take_log(self) -> tuple[list[tuple[str, str | None, float]], list[Request]]:
        """The handshakes and requests logged so far, which are forgotten."""
        with self._lock:
            taken = self.handshakes, self.requests
            self.handshakes, self.requests = [], []
        return taken

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            for key, _events in self._selector.select(timeout=0.05):
                try:
                    conn, _peer = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                conn.setblocking(True)
                threading.Thread(target=self._serve, args=(key.data, conn), daemon=True).start()

    def _serve(self, listener: Listener, conn: socket.socket) -> None:
        conn.settimeout(10)
        if listener.stall:
            Exchange(conn, Request(listener.endpoint, None, None, "", time.monotonic()), self.stopping).hang()
            conn.close()
            return
        sock: socket.socket = conn
        if listener.context is not None:
            try:
                sock = listener.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
                sock.matrixops_listener = listener  # type: ignore[attr-defined] # for _on_sni
                sock.do_handshake()
            except OSError as exc:  # ssl.SSLError too: e.g. the client refused the certificate
                with self._lock:
                    self.tls_errors.append((listener.endpoint, repr(exc)))
                sock.close()
                return
            with self._lock:
                self.handshakes.append((listener.endpoint, getattr(sock, "matrixops_sni", None), time.monotonic()))
        try:
            self._exchanges(listener, sock)
        except OSError:
            pass  # the client hung up or stayed silent: part of several scenarios
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _exchanges(self, listener: Listener, sock: socket.socket) -> None:
        """Answer requests on one connection until a handler leaves it unfit for another."""
        while True:
            request = self._read_request(listener, sock)
            if request is None or (listener.delay and self.stopping.wait(listener.delay)):
                return
            path = request.path.split("?", 1)[0]
            handler = listener.routes.get((request.hostname, path)) or listener.routes.get(path) or NOT_FOUND
            exchange = Exchange(sock, request, self.stopping, keep_alive=listener.keep_alive)
            try:
                handler(exchange)
            except OSError:
                request.client_gone = time.monotonic()
                raise
            finally:
                request.finished = time.monotonic()
            if not exchange.reusable:
                return

    def _read_request(self, listener: Listener, sock: socket.socket) -> Request | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
            if b"\n" in data and not REQUEST_LINE.match(data):  # e.g. a TLS ClientHello on plain HTTP
                sock.sendall(http_response(400, b"Bad request line"))
                return None
        lines = data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        host = next((line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("host:")), None)
        request = Request(
            listener.endpoint,
            getattr(sock, "matrixops_sni", None),
            host.lower() if host else None,
            parts[1] if len(parts) > 1 else "",
            time.monotonic(),
        )
        with self._lock:
            self.requests.append(request)
        return request


def _on_sni(sslsock: ssl.SSLSocket, server_name: str | None, _context: ssl.SSLContext) -> None:
    """Remember the SNI; switch to the listener's certificate for that name, if it has one."""
    sslsock.matrixops_sni = server_name  # type: ignore[attr-defined]
    listener: Listener | None = getattr(sslsock, "matrixops_listener", None)
    chosen = listener.by_sni.get((server_name or "").lower()) if listener is not None else None
    if chosen is not None:
        sslsock.context = chosen
