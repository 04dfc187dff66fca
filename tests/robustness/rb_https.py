# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile HTTPS peers: one listener per ``address:port``, raw sockets, every misbehaviour on purpose.

A :class:`Listener` has a TLS context (``None``: plain TCP that accepts and never speaks, i.e. a
TLS handshake that stalls) and routes ``path -> handler``. A handler gets the :class:`Exchange`
(the TLS socket and the request) and writes whatever it likes: a canned response, an endless
body, a drip, silence. One thread accepts for every listener (a selector); each connection gets
its own thread, so a slow peer never delays another.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    listener: str  # address:port
    sni: str | None
    host: str | None
    path: str
    started: float
    finished: float | None = None


@dataclass
class Exchange:
    sock: socket.socket
    request: Request
    stopping: threading.Event

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hang(self, seconds: float = 60.0) -> None:
        """Say nothing until the client gives up (or the world stops)."""
        end = time.monotonic() + seconds
        self.sock.settimeout(0.05)
        while not self.stopping.is_set() and time.monotonic() < end:
            try:
                if not self.sock.recv(65536):
                    return
            except TimeoutError:
                continue
            except (OSError, ssl.SSLError):
                return


Handler = Callable[[Exchange], None]


@dataclass
class Listener:
    address: str
    port: int
    context: ssl.SSLContext | None
    routes: dict = field(default_factory=dict)  # path or (host, path) -> Handler; (host, path) wins

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


# -- handlers ------------------------------------------------------------------------------------
def http_response(
    status: int, body: bytes = b"", headers: dict | None = None, *, length: int | None | bool = True
) -> bytes:
    """Raw HTTP/1.1 bytes. ``length``: True = honest Content-Length, an int = that (lying) value,
    False/None = no Content-Length (close-delimited)."""
    lines = [f"HTTP/1.1 {status} X"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    if length is True:
        lines.append(f"Content-Length: {len(body)}")
    elif isinstance(length, int) and length is not False:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def raw(data: bytes, *, then: str = "close") -> Handler:
    """Send ``data``; then close the connection or (``then="hang"``) keep it open, silent."""

    def handler(exchange: Exchange) -> None:
        exchange.send(data)
        if then == "hang":
            exchange.hang()

    return handler


def reply(status: int, body: bytes | str = b"", headers: dict | None = None, **kwargs) -> Handler:
    data = body.encode() if isinstance(body, str) else body
    return raw(http_response(status, data, headers, **kwargs))


def json_reply(value: object, *, status: int = 200) -> Handler:
    return reply(status, json.dumps(value), {"Content-Type": "application/json"})


def redirect(location: str | bytes, status: int = 302) -> Handler:
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


def drip(data: bytes, interval: float) -> Handler:
    """The whole response (status line included), one byte every ``interval`` seconds."""

    def handler(exchange: Exchange) -> None:
        for index in range(len(data)):
            if exchange.stopping.wait(interval):
                return
            exchange.send(data[index : index + 1])

    return handler


def after(seconds: float, then: Handler) -> Handler:
    """Wait ``seconds`` (a slow peer that still answers in time), then ``then``."""

    def handler(exchange: Exchange) -> None:
        if not exchange.stopping.wait(seconds):
            then(exchange)

    return handler


def not_found(exchange: Exchange) -> None:
    exchange.send(http_response(404, b'{"errcode": "M_NOT_FOUND"}', {"Content-Type": "application/json"}))


# -- the server ------------------------------------------------------------------------------------
class Peers:
    """Serves every listener until ``close()``; ``requests`` logs what was asked."""

    def __init__(self, listeners: list[Listener]) -> None:
        self.listeners = {}
        self.requests: list[Request] = []
        self.tls_errors: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._sockets: list[socket.socket] = []
        try:
            for listener in listeners:
                sock = socket.create_server((listener.address, listener.port), backlog=64)
                sock.setblocking(False)
                self._sockets.append(sock)
                self._selector.register(sock, selectors.EVENT_READ, listener)
                self.listeners[listener.endpoint] = listener
                if listener.context is not None:
                    listener.context.sni_callback = _remember_sni
        except BaseException:
            self._close_sockets()
            raise
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="rb-https-accept")
        self._thread.start()

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
        if listener.context is None:  # accept TCP, never start TLS
            Exchange(conn, Request(listener.endpoint, None, None, "", time.monotonic()), self.stopping).hang()
            conn.close()
            return
        try:
            tls = listener.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            with self._lock:
                self.tls_errors.append((listener.endpoint, repr(exc)))
            conn.close()
            return
        try:
            request = self._read_request(listener, tls)
            if request is None:
                return
            path = request.path.split("?", 1)[0]
            host = (request.host or "").lower()
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            handler = listener.routes.get((host, path)) or listener.routes.get(path) or not_found
            try:
                handler(Exchange(tls, request, self.stopping))
            finally:
                request.finished = time.monotonic()
        except (ssl.SSLError, OSError):
            pass  # the client hung up: part of several scenarios
        finally:
            with contextlib.suppress(OSError, ssl.SSLError):
                tls.close()

    def _read_request(self, listener: Listener, tls: ssl.SSLSocket) -> Request | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            if not chunk:
                return None
            data += chunk
        lines = data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        host = next((line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("host:")), None)
        request = Request(
            listener.endpoint, getattr(tls, "rb_sni", None), host, parts[1] if len(parts) > 1 else "", time.monotonic()
        )
        with self._lock:
            self.requests.append(request)
        return request


def _remember_sni(sslsock: ssl.SSLSocket, server_name: str | None, _context: ssl.SSLContext) -> None:
    sslsock.rb_sni = server_name  # type: ignore[attr-defined]
