# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzz target: the well-known body parser and the whole well-known fetch.

* ``parse_json_object`` with arbitrary bytes and with JSON documents of every shape;
* ``fetch_well_known`` (step 3: redirects, status, body, ``m.server``, cache period) through an
  HTTPS port whose connections are the real ``HttpsConnection`` reading arbitrary response
  bytes (status lines, headers, lying lengths, chunked framing, redirects to anywhere) from a
  socket stand-in, so the real HTTP parsing and request writing run too.

The property: a valid result or the code's own error type; the fetch itself never raises.
"""

from __future__ import annotations

import json
import ssl

from hypothesis import example, given
from hypothesis import strategies as st

from ansible_collections.matrixops.delegation.plugins.module_utils._https import HttpsConnection
from ansible_collections.matrixops.delegation.plugins.module_utils._model import (
    AddressAnswer,
    Clock,
    FetchFailure,
    HttpsError,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._server_name import parse_server_name
from ansible_collections.matrixops.delegation.plugins.module_utils._wellknown import (
    CACHE_MAX,
    CACHE_MIN,
    MAX_REDIRECTS,
    WELL_KNOWN_BODY_LIMIT,
    fetch_well_known,
    parse_json_object,
)

HOST = "example.test"
NOW = 1_800_000_000.0

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
M_SERVERS = st.one_of(
    st.sampled_from(
        [
            "matrix.example.test",
            "matrix.example.test:443",
            "192.0.2.7",
            "[2001:db8::7]:8448",
            "::1",
            "",
            "https://matrix.example.test",
            "matrix.example.test/x",
            "matrix.example.test:0",
            "b\u00fccher.test",
            "Matrix.Example.Test",
            "a" * 240 + ".test",
            " matrix.example.test",
            "matrix.example.test.",
            "1.2.3",
        ]
    ),
    st.text(max_size=30),
    JSON_SCALARS,
    JSON_VALUES,
)


def documents() -> st.SearchStrategy[bytes]:
    delegation = st.builds(
        lambda m, extra: json.dumps({**extra, "m.server": m}),
        M_SERVERS,
        st.dictionaries(st.text(max_size=8), JSON_SCALARS, max_size=3),
    )
    return st.one_of(
        st.binary(max_size=300),
        JSON_VALUES.map(json.dumps).map(str.encode),
        delegation.map(str.encode),
        delegation.map(lambda text: text.encode("utf-16")),
        st.builds(lambda text, cut: text.encode()[:cut], delegation, st.integers(0, 60)),
        st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(4000, 6000).map(lambda digits: b'{"m.server": ' + b"9" * digits + b"}"),
    )


# The bodies of the fetch target: cheaper to draw, since a chain holds up to a dozen of them.
BODIES = st.one_of(
    st.binary(max_size=100),
    st.builds(lambda m: json.dumps({"m.server": m}).encode(), M_SERVERS),
    st.builds(lambda m, cut: json.dumps({"m.server": m}).encode()[:cut], M_SERVERS, st.integers(0, 40)),
)


@given(documents())
def test_fuzz_parse_json_object(body):
    try:
        data = parse_json_object(body)
    except FetchFailure as exc:
        assert str(exc)
        return
    assert isinstance(data, dict)


# -- the whole fetch, over real HttpsConnection objects reading arbitrary bytes ------------------------
LOCATIONS = st.one_of(
    st.sampled_from(
        [
            "/next",
            "next",
            "../../x",
            "https://example.test/next",
            "https://other.test/x",
            "https://other.test:8443/x",
            "http://example.test/x",
            "https://192.0.2.9/x",
            "https://[2001:db8::9]:443/x",
            "https://[::1/x",
            "https://exa mple.test/",
            "https://example.test:99999/",
            "ftp://example.test/",
            "//other.test/x",
            "https://user@other.test/x",
            "https://example.test/caf\u00e9",
            "https://b\u00fccher.test/",
            "https://example.test/?q=\u00ff",
            "",
            "https://",
            "https://example.test/.well-known/matrix/server",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40),
)
STATUSES = st.one_of(
    st.sampled_from([200, 200, 200, 301, 302, 303, 307, 308, 204, 304, 404, 500, 100, 103]), st.integers(100, 999)
)
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)


@st.composite
def responses(draw) -> bytes:
    """One raw HTTP response: honest or broken status line, headers, framing and body."""
    status = draw(STATUSES)
    status_line = draw(
        st.sampled_from(
            [
                f"HTTP/1.1 {status} X",
                f"HTTP/1.0 {status}",
                f"HTTP/1.1 {status}",
                "HTTP/2 200 OK",
                "garbage",
                f"HTTP/1.1 {status:04d} X",
            ]
        )
    )
    body = draw(BODIES)
    headers = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["Content-Type", "Cache-Control", "Expires", "Location", "X-Other", "Connection"]),
                st.one_of(
                    HEADER_VALUES,
                    st.sampled_from(
                        [
                            "application/json",
                            "text/plain",
                            "max-age=600",
                            "no-store",
                            "private; max-age=0",
                            "max-age=-5",
                            "max-age=99999999999999999",
                            "Wed, 01 Jan 2100 00:00:00 GMT",
                            "0",
                            "close",
                            "keep-alive",
                        ]
                    ),
                ),
            ),
            max_size=3,
        )
    )
    if status in (301, 302, 303, 307, 308) and draw(st.booleans()):
        headers.append(("Location", draw(LOCATIONS)))
    framing = draw(
        st.sampled_from(
            [
                "length",
                "length",
                "lie-short",
                "lie-long",
                "bad-length",
                "none",
                "chunked",
                "bad-chunk",
                "huge-length",
                "identity",
            ]
        )
    )
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
    elif framing == "lie-short":
        headers.append(("Content-Length", str(max(0, len(body) - draw(st.integers(1, 20))))))
    elif framing == "lie-long":
        headers.append(("Content-Length", str(len(body) + draw(st.integers(1, 20)))))
    elif framing == "bad-length":
        headers.append(("Content-Length", draw(st.sampled_from(["-1", "1e3", "", " 12", "0x10", "12, 12"]))))
    elif framing == "huge-length":
        headers.append(("Content-Length", str(draw(st.integers(WELL_KNOWN_BODY_LIMIT, 10**20)))))
    elif framing == "identity":
        headers.append(("Transfer-Encoding", "identity"))
    elif framing in ("chunked", "bad-chunk"):
        headers.append(("Transfer-Encoding", draw(st.sampled_from(["chunked", "Chunked", "gzip, chunked"]))))
        size = draw(st.integers(1, 64))
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
        if framing == "bad-chunk":
            chunks = draw(
                st.sampled_from(
                    [
                        b"zz\r\n",
                        b"-5\r\nabc\r\n0\r\n\r\n",
                        b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",
                        b"ffffffffffffffff\r\n",
                        chunks[: len(chunks) // 2],
                    ]
                )
            )
        body = chunks
    head = "\r\n".join([status_line, *(f"{name}: {value}" for name, value in headers)]) + "\r\n\r\n"
    return head.encode("latin-1") + body


class ByteStream:
    """Stands in for the TLS socket: replays ``data`` in ``sizes`` pieces, then closes or goes silent."""

    def __init__(self, data: bytes, sizes: list[int], *, then_silent: bool) -> None:
        self.data = data
        self.sizes = sizes or [65536]
        self.then_silent = then_silent
        self.sent = b""

    def settimeout(self, value: float) -> None:
        assert value > 0

    def sendall(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        self.sent += data

    def recv(self, size: int) -> bytes:
        if not self.data:
            if self.then_silent:
                raise TimeoutError("timed out")
            return b""
        piece = min(size, self.sizes[0] if len(self.sizes) == 1 else self.sizes.pop(0))
        chunk, self.data = self.data[:piece], self.data[piece:]
        return chunk

    def close(self) -> None:
        pass


class ReplayHttps:
    """The HTTPS port: each request gets the next recorded response over a real HttpsConnection."""

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self, replies: list[tuple[bytes, list[int], bool]]) -> None:
        self.replies = list(replies)
        self.requests: list[bytes] = []

    def get(self, host, port, path, *, addresses, body_limit, deadline):
        assert addresses
        if not self.replies:
            raise HttpsError(f"{host}:{port}: cannot connect: Connection refused", kind="connect")
        data, sizes, then_silent = self.replies.pop(0)
        connection = HttpsConnection(addresses[0], port, server_hostname=host, context=self.context, timeout=5)
        stream = ByteStream(data, sizes, then_silent=then_silent)
        connection.sock = stream  # type: ignore[assignment]
        try:
            return connection.request(path, body_limit=body_limit, deadline=deadline)
        finally:
            self.requests.append(stream.sent)
            connection.close()


def addresses_of(name: str, deadline: float | None = None) -> AddressAnswer:
    return AddressAnswer(name=name, addresses=["192.0.2.1"])


REPLIES = st.lists(
    st.tuples(responses(), st.lists(st.integers(1, 4096), max_size=4), st.booleans()),
    min_size=1,
    max_size=MAX_REDIRECTS + 2,
)


@given(REPLIES)
@example(  # found by this target: a redirect to a URL with a non-ASCII (latin-1) byte in its path
    [
        (b"HTTP/1.1 301 X\r\nLocation: https://example.test/caf\xe9\r\nContent-Length: 0\r\n\r\n", [], False),
        (b"HTTP/1.1 200 X\r\nContent-Length: 0\r\n\r\n", [], False),
    ]
)
def test_fuzz_fetch_well_known_over_real_http_parsing(replies):
    https = ReplayHttps(replies)
    report, delegated, warnings = fetch_well_known(
        HOST, dns_addresses=addresses_of, https=https, budget=60, clock=Clock(wall=lambda: NOW)
    )
    assert (report.error is None) == (delegated is not None), report
    assert CACHE_MIN <= report.cache_seconds <= CACHE_MAX
    assert len(report.redirects) <= MAX_REDIRECTS
    assert all(isinstance(warning, str) for warning in warnings)
    assert report.status is None or 100 <= report.status <= 999
    if delegated is not None:
        assert report.status == 200
        assert parse_server_name(str(delegated))[0] == delegated
        assert report.m_server == str(delegated) or parse_server_name(report.m_server)[0] == delegated
    for request in https.requests:
        assert request.startswith(b"GET /") and request.endswith(b"\r\n\r\n")
