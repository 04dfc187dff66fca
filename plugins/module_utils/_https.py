# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small HTTPS/1.1 client that connects to a chosen address with a chosen SNI and Host header.

Private module: not part of the collection's public API. Standard library only.
``HttpsFetcher`` is the HTTPS port of ``_model`` over it.

Every network step is bounded: the TCP connect and TLS handshake together by ``timeout``, and
one whole response (status line, headers and body) by ``timeout`` too, however slowly the peer
sends it. Bodies are limited in size. Connections are kept alive so that several requests to the
same address reuse one TLS session.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time

from ._model import ConfigError, HttpResponse, HttpsError

__all__ = ["HttpsConnection", "HttpsFetcher", "make_ssl_context"]

MAX_HEADER_BYTES = 65536
USER_AGENT = "matrixops.delegation"


def make_ssl_context(*, ca_path: str | None = None, validate_certs: bool = True) -> ssl.SSLContext:
    """A client context: the system store or ``ca_path`` (a PEM bundle), TLS 1.2 or newer."""
    if not validate_certs:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            context = ssl.create_default_context(cafile=ca_path)
        except (OSError, ssl.SSLError) as exc:
            raise HttpsError(f"cannot load CA bundle '{ca_path}': {exc}", kind="config") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _host_header(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port == 443 else f"{host}:{port}"


class HttpsConnection:
    """One TLS connection to ``address:port``.

    ``server_hostname`` is both the SNI sent and the name the certificate is checked against;
    for an IP literal Python sends no SNI and checks the certificate's IP addresses.
    """

    def __init__(
        self,
        address: str,
        port: int,
        *,
        server_hostname: str,
        context: ssl.SSLContext,
        timeout: float,
    ) -> None:
        self.address = address
        self.port = port
        self.server_hostname = server_hostname
        self.context = context
        self.timeout = timeout
        self.sock: ssl.SSLSocket | None = None
        self._buffer = b""

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def connect(self, *, deadline: float | None = None) -> ssl.SSLSocket:
        end = time.monotonic() + self.timeout
        if deadline is not None:
            end = min(end, deadline)
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise HttpsError(f"{self.endpoint}: no time left to connect", kind="timeout", code="cannot-connect")
        try:
            raw = socket.create_connection((self.address, self.port), timeout=remaining)
        except socket.timeout as exc:
            raise HttpsError(f"{self.endpoint}: connection timed out", kind="timeout", code="cannot-connect") from exc
        except OSError as exc:
            raise HttpsError(f"{self.endpoint}: cannot connect: {exc.strerror or exc}", kind="connect") from exc
        try:
            raw.settimeout(max(end - time.monotonic(), 0.001))
            self.sock = self.context.wrap_socket(raw, server_hostname=self.server_hostname)
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            raise HttpsError(
                f"{self.endpoint}: TLS certificate not valid for '{self.server_hostname}': "
                f"{exc.verify_message or exc.reason}",
                kind="certificate",
                verify_code=exc.verify_code,
            ) from exc
        except socket.timeout as exc:
            raw.close()
            raise HttpsError(
                f"{self.endpoint}: TLS handshake timed out", kind="timeout", code="tls-handshake-failed"
            ) from exc
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            raise HttpsError(f"{self.endpoint}: TLS handshake failed: {exc}", kind="tls") from exc
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        self._buffer = b""

    def __enter__(self) -> HttpsConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------
    def request(
        self,
        path: str,
        *,
        host_header: str | None = None,
        method: str = "GET",
        body_limit: int = 1 << 20,
        deadline: float | None = None,
    ) -> HttpResponse:
        """Send one request and read the whole response within ``timeout``.

        A body of ``body_limit`` bytes or more is refused with ``kind == "too_large"``.
        """
        if self.sock is None:
            self.connect(deadline=deadline)
        end = time.monotonic() + self.timeout
        if deadline is not None:
            end = min(end, deadline)
        host_header = host_header or _host_header(self.server_hostname, self.port)
        try:
            request = (
                f"{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
                "Accept: application/json\r\nConnection: keep-alive\r\n\r\n"
            ).encode("ascii")
        except UnicodeEncodeError as exc:
            raise HttpsError(
                f"{self.endpoint}: the request path or Host header is not ASCII: {path!r}", code="invalid-server-name"
            ) from exc
        try:
            self._send(request, end)
            response, reusable = self._read_response(end, body_limit, method)
        except HttpsError:
            self.close()
            raise
        if not reusable:
            self.close()
        return response

    def _send(self, data: bytes, end: float) -> None:
        if self.sock is None:
            raise HttpsError(f"{self.endpoint}: not connected", kind="connect", code="slow-or-broken-response")
        try:
            self.sock.settimeout(self._remaining(end))
            self.sock.sendall(data)
        except socket.timeout as exc:
            raise HttpsError(f"{self.endpoint}: sending the request timed out", kind="timeout") from exc
        except OSError as exc:
            raise HttpsError(
                f"{self.endpoint}: sending the request failed: {exc}", kind="connect", code="slow-or-broken-response"
            ) from exc

    def _remaining(self, end: float) -> float:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise HttpsError(f"{self.endpoint}: no complete response within {self.timeout:g}s", kind="timeout")
        return remaining

    def _recv(self, end: float) -> bytes:
        if self.sock is None:
            raise HttpsError(f"{self.endpoint}: not connected", kind="connect", code="slow-or-broken-response")
        if self._buffer:
            data, self._buffer = self._buffer, b""
            return data
        try:
            self.sock.settimeout(self._remaining(end))
            return self.sock.recv(65536)
        except ssl.SSLEOFError:
            return b""  # closed without close_notify: treated as end of stream
        except socket.timeout as exc:
            raise HttpsError(f"{self.endpoint}: no complete response within {self.timeout:g}s", kind="timeout") from exc
        except (ssl.SSLError, OSError) as exc:
            raise HttpsError(
                f"{self.endpoint}: reading the response failed: {exc}", kind="connect", code="slow-or-broken-response"
            ) from exc

    def _read_until(self, marker: bytes, end: float, limit: int, what: str) -> bytes:
        data = b""
        while marker not in data:
            if len(data) > limit:
                raise HttpsError(f"{self.endpoint}: {what} longer than {limit} bytes", kind="too_large")
            chunk = self._recv(end)
            if not chunk:
                raise HttpsError(f"{self.endpoint}: connection closed while reading {what}", kind="http")
            data += chunk
        head, _marker, rest = data.partition(marker)
        self._buffer = rest + self._buffer
        return head

    def _read_exact(self, size: int, end: float, what: str) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._recv(end)
            if not chunk:
                raise HttpsError(
                    f"{self.endpoint}: connection closed after {len(data)} of {size} bytes of {what}",
                    kind="http",
                )
            data += chunk
        self._buffer = data[size:] + self._buffer
        return data[:size]

    def _read_response(self, end: float, body_limit: int, method: str) -> tuple[HttpResponse, bool]:
        while True:
            response, reusable = self._read_head(end)
            if not 100 <= response.status < 200:  # informational responses (103 Early Hints) are skipped
                break
        if method == "HEAD" or response.status in (204, 304):
            return response, reusable
        try:
            reusable = self._read_body(response, end, body_limit) and reusable
        except HttpsError as exc:
            exc.status = response.status
            raise
        return response, reusable

    def _read_head(self, end: float) -> tuple[HttpResponse, bool]:
        head = self._read_until(b"\r\n\r\n", end, MAX_HEADER_BYTES, "the response headers")
        try:
            lines = head.decode("iso-8859-1").split("\r\n")
        except UnicodeDecodeError as exc:  # pragma: no cover - iso-8859-1 decodes everything
            raise HttpsError(f"{self.endpoint}: undecodable response headers", kind="http") from exc
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
            raise HttpsError(f"{self.endpoint}: not an HTTP/1.x response: {lines[0][:80]!r}", kind="http")
        status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpsError(f"{self.endpoint}: malformed response header {line[:80]!r}", kind="http")
            headers.append((name.lower(), value.strip()))
        response = HttpResponse(status=status, reason=reason, headers=headers, body=b"")
        reusable = parts[0] == "HTTP/1.1" and (response.header("connection") or "").lower() != "close"
        return response, reusable

    def _read_body(self, response: HttpResponse, end: float, body_limit: int) -> bool:
        """Read the body into ``response``; returns False when the connection cannot be reused."""
        transfer = (response.header("transfer-encoding") or "").lower()
        length_text = response.header("content-length")
        if transfer and transfer != "identity":
            if transfer != "chunked":
                raise HttpsError(f"{self.endpoint}: unsupported Transfer-Encoding '{transfer}'", kind="http")
            response.body = self._read_chunked(end, body_limit)
        elif length_text is not None:
            if not length_text.isdigit():
                raise HttpsError(f"{self.endpoint}: invalid Content-Length {length_text!r}", kind="http")
            length = int(length_text)
            if length >= body_limit:
                raise HttpsError(
                    f"{self.endpoint}: response body is {length} bytes, the limit is {body_limit - 1}",
                    kind="too_large",
                )
            response.body = self._read_exact(length, end, "the body")
        else:
            response.body = self._read_to_close(end, body_limit)
            return False
        return True

    def _read_chunked(self, end: float, body_limit: int) -> bytes:
        body = b""
        while True:
            line = self._read_until(b"\r\n", end, 1024, "a chunk header").split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError as exc:
                raise HttpsError(f"{self.endpoint}: invalid chunk size {line[:20]!r}", kind="http") from exc
            if size == 0:
                while self._read_until(b"\r\n", end, MAX_HEADER_BYTES, "the trailer"):
                    pass  # trailer fields are read and ignored
                return body
            if len(body) + size >= body_limit:
                raise HttpsError(
                    f"{self.endpoint}: response body reached {len(body) + size} bytes, the limit is {body_limit - 1}",
                    kind="too_large",
                )
            body += self._read_exact(size, end, "a chunk")
            self._read_exact(2, end, "a chunk")

    def _read_to_close(self, end: float, body_limit: int) -> bytes:
        body = b""
        while True:
            chunk = self._recv(end)
            if not chunk:
                return body
            body += chunk
            if len(body) >= body_limit:
                raise HttpsError(
                    f"{self.endpoint}: response body reached {len(body)} bytes, the limit is {body_limit - 1}",
                    kind="too_large",
                )


class HttpsFetcher:
    """The HTTPS port: one GET to the first of ``addresses`` that answers."""

    def __init__(self, *, ca_path: str | None, validate_certs: bool, timeout: float) -> None:
        try:
            self.context = make_ssl_context(ca_path=ca_path, validate_certs=validate_certs)
        except HttpsError as exc:
            raise ConfigError(str(exc)) from exc
        self.timeout = timeout

    def get(
        self, host: str, port: int, path: str, *, addresses: list[str], body_limit: int, deadline: float | None
    ) -> HttpResponse:
        failures = []
        for address in addresses:
            connection = HttpsConnection(
                address, port, server_hostname=host, context=self.context, timeout=self.timeout
            )
            try:
                return connection.request(path, body_limit=body_limit, deadline=deadline)
            except HttpsError as exc:
                if exc.kind not in ("connect", "timeout", "tls", "certificate"):
                    raise  # the server answered: its answer is the result
                failures.append(exc)
                if deadline is not None and time.monotonic() >= deadline:
                    break
            finally:
                connection.close()
        if not failures:
            raise HttpsError(f"no address to connect to for {host}", kind="connect")
        if len(failures) == 1:
            raise failures[0]
        last = failures[-1]
        raise HttpsError("; ".join(str(failure) for failure in failures), kind=last.kind, code=last.code)
