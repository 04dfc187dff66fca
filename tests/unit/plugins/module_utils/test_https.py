# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTPS client against real TLS servers on 127.0.0.1: bodies, keep-alive, limits, deadlines, certificates."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from support.loopback import bound_socket, daemon, serve_until

from ansible_collections.matrixops.delegation.plugins.module_utils._federation_probe import HttpsProbe
from ansible_collections.matrixops.delegation.plugins.module_utils._https import (
    HttpsConnection,
    HttpsFetcher,
    make_ssl_context,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._model import HttpsError
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions, Resolver

SERVER_NAME = "server.test"
MARGIN = 0.4  # seconds allowed past a deadline on a loaded machine


# -- a throwaway PKI -----------------------------------------------------------------------------------
@dataclass
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    path: Path


@dataclass
class Leaf:
    cert_path: Path
    key_path: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, *, ca: bool):
    """A certificate valid from yesterday for 30 days, with its basic constraints, key usage and key id."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_key_usage(ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_authority(directory: Path, common_name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _builder(_name(common_name), _name(common_name), key, ca=True).sign(key, hashes.SHA256())
    path = directory / f"{common_name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(cert, key, path)


def issue(authority: Authority, directory: Path, stem: str, dns_names: list[str], ips: list[str]) -> Leaf:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    ski = authority.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        _builder(_name(stem), authority.cert.subject, key, ca=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Leaf(cert_path, key_path)


@dataclass
class Pki:
    ca: Authority
    leaf: Leaf  # server.test and 127.0.0.1, from ``ca``
    stranger: Leaf  # server.test and 127.0.0.1, from a CA nobody trusts


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_authority(directory, "Unit Test CA")
    other = make_authority(directory, "Untrusted CA")
    return Pki(
        ca=ca,
        leaf=issue(ca, directory, "server", [SERVER_NAME], ["127.0.0.1"]),
        stranger=issue(other, directory, "stranger", [SERVER_NAME], ["127.0.0.1"]),
    )


# -- small servers on 127.0.0.1 ------------------------------------------------------------------------
class Peer:
    """The server side of one connection."""

    def __init__(self, sock, server):
        self.sock = sock
        self.server = server
        self.buffer = b""

    def read_request(self) -> str | None:
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buffer += data
        head, _separator, self.buffer = self.buffer.partition(b"\r\n\r\n")
        text = head.decode("latin-1")
        self.server.requests.append(text)
        return text

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def drip(self, data: bytes, interval: float = 0.2) -> None:
        for index in range(len(data)):
            if self.server.stopping.is_set():
                return
            self.sock.sendall(data[index : index + 1])
            time.sleep(interval)

    def hang(self) -> None:
        self.server.stopping.wait(10)


class Server:
    def __init__(self, handler, *, leaf: Leaf | None, accept: bool = True):
        self.handler = handler
        self.requests: list[str] = []
        self.sni: list[str | None] = []
        self.connections = 0
        self.stopping = threading.Event()
        self.context = None
        if leaf is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(leaf.cert_path, leaf.key_path)
            self.context.sni_callback = lambda sslobj, name, context: self.sni.append(name)
        self.listener = bound_socket(socket.SOCK_STREAM, timeout=0.05)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        if accept:
            self.threads.append(daemon(serve_until, self.stopping, self.listener.accept, self._accepted))

    def _accepted(self, accepted):
        self.connections += 1
        self.threads.append(daemon(self._serve, accepted[0]))

    def _serve(self, raw):
        raw.settimeout(5)
        try:
            sock = self.context.wrap_socket(raw, server_side=True) if self.context else raw
        except (ssl.SSLError, OSError):
            raw.close()
            return
        try:
            self.handler(Peer(sock, self))
        except (ssl.SSLError, OSError):
            pass
        finally:
            sock.close()

    def close(self):
        self.stopping.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(2)


@pytest.fixture
def serve(pki, closing):
    def start(handler=None, *, leaf="trusted", accept=True) -> Server:
        chosen = {"trusted": pki.leaf, "stranger": pki.stranger, "plain": None}[leaf]
        return closing(Server(handler, leaf=chosen, accept=accept))

    return start


@pytest.fixture
def connect(pki, closing):
    def make(
        server: Server, *, timeout: float = 2.0, server_hostname: str = SERVER_NAME, ca_path=None, validate_certs=True
    ):
        context = make_ssl_context(ca_path=str(ca_path or pki.ca.path), validate_certs=validate_certs)
        return closing(
            HttpsConnection("127.0.0.1", server.port, server_hostname=server_hostname, context=context, timeout=timeout)
        )

    return make


def http(
    body: bytes = b"", *, status: str = "200 OK", headers: tuple = (), length: int | None = None, version="HTTP/1.1"
) -> bytes:
    lines = [f"{version} {status}", *headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def once(response: bytes, *, then_close: bool = True):
    def handler(peer: Peer):
        if peer.read_request() is None:
            return
        peer.send(response)
        if not then_close:
            peer.hang()

    return handler


def keep_alive(response: bytes):
    def handler(peer: Peer):
        while peer.read_request() is not None:
            peer.send(response)

    return handler


# -- bodies --------------------------------------------------------------------------------------------
BODY = b'{"m.server": "matrix.example.test:443"}'


def test_content_length_body(serve, connect):
    server = serve(
        once(http(BODY, headers=("Content-Type: application/json", "X-Two: a", "X-Two: b"), length=len(BODY)))
    )
    response = connect(server).request("/.well-known/matrix/server")
    assert response.status == 200
    assert response.reason == "OK"
    assert response.body == BODY
    assert response.header("Content-Type") == "application/json"
    assert response.header_values("x-two") == ["a", "b"]
    assert response.headers[0] == ("content-type", "application/json")
    assert server.sni == [SERVER_NAME]
    request = server.requests[0]
    assert request.startswith("GET /.well-known/matrix/server HTTP/1.1\r\n")
    assert f"\r\nHost: {SERVER_NAME}:{server.port}\r\n" in request


def test_host_header_is_sent_as_given(serve, connect):
    server = serve(once(http(BODY, length=len(BODY))))
    connect(server).request("/x", host_header="example.test")
    assert "\r\nHost: example.test\r\n" in server.requests[0]
    assert server.sni == [SERVER_NAME]


def test_chunked_body(serve, connect):
    chunked = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    server = serve(once(http(chunked, headers=("Transfer-Encoding: chunked",)), then_close=False))
    connection = connect(server)
    response = connection.request("/")
    assert response.body == b"hello world"
    assert connection.sock is not None  # the connection stays usable


def test_close_delimited_body(serve, connect):
    server = serve(once(http(BODY)))
    connection = connect(server)
    response = connection.request("/")
    assert response.body == BODY
    assert connection.sock is None  # a close-delimited body ends the connection


def test_keep_alive_reuses_one_connection(serve, connect):
    server = serve(keep_alive(http(BODY, length=len(BODY))))
    connection = connect(server)
    first = connection.request("/one")
    second = connection.request("/two")
    assert first.body == second.body == BODY
    assert server.connections == 1
    assert [request.split(" ")[1] for request in server.requests] == ["/one", "/two"]


@pytest.mark.parametrize(
    "response",
    [http(BODY, headers=("Connection: close",), length=len(BODY)), http(BODY, length=len(BODY), version="HTTP/1.0")],
    ids=["connection-close", "http-1.0"],
)
def test_connection_not_reused_when_the_server_closes_it(serve, connect, response):
    server = serve(keep_alive(response))
    connection = connect(server)
    connection.request("/one")
    assert connection.sock is None
    connection.request("/two")
    assert server.connections == 2


def test_content_length_longer_than_sent_is_an_error_not_a_hang(serve, connect):
    server = serve(once(http(b"0123456789", length=100)))
    start = time.monotonic()
    with pytest.raises(HttpsError) as info:
        connect(server, timeout=5).request("/")
    assert time.monotonic() - start < 1
    assert info.value.kind == "http"
    assert "10 of 100 bytes" in str(info.value)


def test_content_length_longer_than_sent_on_an_open_connection_times_out(serve, connect):
    server = serve(once(http(b"0123456789", length=100), then_close=False))
    connection = connect(server, timeout=0.5)
    connection.connect()
    start = time.monotonic()
    with pytest.raises(HttpsError) as info:
        connection.request("/")
    assert info.value.kind == "timeout"
    assert time.monotonic() - start < 0.5 + MARGIN


# -- body limit ----------------------------------------------------------------------------------------
def test_body_below_the_limit_is_accepted(serve, connect):
    body = b"x" * 999
    server = serve(once(http(body, length=len(body))))
    assert connect(server).request("/", body_limit=1000).body == body


@pytest.mark.parametrize("length", [1000, 10**12])
def test_body_at_or_over_the_limit_by_content_length_is_refused(serve, connect, length):
    server = serve(once(http(b"", length=length), then_close=False))
    start = time.monotonic()
    with pytest.raises(HttpsError) as info:
        connect(server).request("/", body_limit=1000)
    assert info.value.kind == "too_large"
    assert time.monotonic() - start < 1  # refused from the header, without waiting for the body


def test_chunked_body_reaching_the_limit_is_refused(serve, connect):
    chunk = b"258\r\n" + b"x" * 600 + b"\r\n"
    server = serve(once(http(chunk * 2 + b"0\r\n\r\n", headers=("Transfer-Encoding: chunked",)), then_close=False))
    with pytest.raises(HttpsError) as info:
        connect(server).request("/", body_limit=1000)
    assert info.value.kind == "too_large"


@pytest.mark.parametrize("size", [1000, 200000])
def test_close_delimited_body_reaching_the_limit_is_refused(serve, connect, size):
    server = serve(once(http(b"x" * size)))
    with pytest.raises(HttpsError) as info:
        connect(server).request("/", body_limit=1000)
    assert info.value.kind == "too_large"


def test_close_delimited_body_just_below_the_limit_is_accepted(serve, connect):
    server = serve(once(http(b"x" * 999)))
    assert len(connect(server).request("/", body_limit=1000).body) == 999


# -- deadlines -----------------------------------------------------------------------------------------
def _drip_handler(head: bytes, body: bytes):
    def handler(peer: Peer):
        if peer.read_request() is None:
            return
        peer.send(head)
        peer.drip(body)

    return handler


@pytest.mark.parametrize(
    ("head", "dripped"),
    [(http(length=50), b"x" * 50), (b"", http(BODY, length=len(BODY)))],
    ids=["body", "headers"],
)
def test_dripping_server_is_cut_off_at_timeout(serve, connect, head, dripped):
    timeout = 1.0
    server = serve(_drip_handler(head, dripped))
    connection = connect(server, timeout=timeout)
    connection.connect()
    start = time.monotonic()
    with pytest.raises(HttpsError) as info:
        connection.request("/")
    elapsed = time.monotonic() - start
    assert info.value.kind == "timeout"
    assert timeout - 0.05 <= elapsed < timeout + MARGIN


def test_server_that_never_answers_after_the_handshake_times_out(serve, connect):
    server = serve(lambda peer: peer.hang())
    connection = connect(server, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(HttpsError) as info:
        connection.request("/")
    elapsed = time.monotonic() - start
    assert info.value.kind == "timeout"
    assert server.sni == [SERVER_NAME]  # the handshake did happen
    assert elapsed < 2 * 0.5 + MARGIN  # connect + handshake, then the response, each bounded


def test_handshake_that_never_completes_times_out(serve, connect):
    server = serve(accept=False)  # the kernel completes TCP; nobody speaks TLS
    connection = connect(server, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(HttpsError) as info:
        connection.connect()
    assert info.value.kind == "timeout"
    assert time.monotonic() - start < 0.5 + MARGIN


def test_deadline_shortens_the_timeout(serve, connect):
    server = serve(lambda peer: peer.hang())
    connection = connect(server, timeout=5)
    start = time.monotonic()
    with pytest.raises(HttpsError) as info:
        connection.request("/", deadline=time.monotonic() + 0.4)
    assert info.value.kind == "timeout"
    assert time.monotonic() - start < 0.4 + MARGIN


# -- certificates and connection failures ---------------------------------------------------------------
def test_wrong_certificate_name_is_a_certificate_error(serve, connect):
    server = serve(once(http(BODY, length=len(BODY))))
    with pytest.raises(HttpsError) as info:
        connect(server, server_hostname="other.test").request("/")
    assert info.value.kind == "certificate"
    assert "other.test" in str(info.value)
    assert server.requests == []


def test_untrusted_ca_is_a_certificate_error(serve, connect):
    server = serve(once(http(BODY, length=len(BODY))), leaf="stranger")
    with pytest.raises(HttpsError) as info:
        connect(server).request("/")
    assert info.value.kind == "certificate"
    assert server.requests == []


def test_untrusted_ca_is_accepted_without_validation(serve, connect):
    server = serve(once(http(BODY, length=len(BODY))), leaf="stranger")
    assert connect(server, validate_certs=False).request("/").body == BODY


def test_ip_literal_sends_no_sni_and_checks_the_ip(serve, connect):
    server = serve(once(http(BODY, length=len(BODY))))
    assert connect(server, server_hostname="127.0.0.1").request("/").body == BODY
    assert server.sni == [None]
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n" in server.requests[0]


def test_plain_http_server_is_a_tls_error(serve, connect):
    server = serve(lambda peer: peer.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), leaf="plain")
    with pytest.raises(HttpsError) as info:
        connect(server).request("/")
    assert info.value.kind == "tls"


def test_refused_connection_is_a_connect_error(serve, connect):
    server = serve(accept=False)
    server.listener.close()
    with pytest.raises(HttpsError) as info:
        connect(server).request("/")
    assert info.value.kind == "connect"


@pytest.mark.parametrize(
    "reply", [b"garbage\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"]
)
def test_malformed_response_is_an_http_error(serve, connect, reply):
    server = serve(once(reply))
    with pytest.raises(HttpsError) as info:
        connect(server).request("/")
    assert info.value.kind == "http"


def test_unreadable_ca_bundle_is_a_config_error(tmp_path):
    with pytest.raises(HttpsError) as info:
        make_ssl_context(ca_path=str(tmp_path / "missing.pem"))
    assert info.value.kind == "config"


# -- the HTTPS port --------------------------------------------------------------------------------------
def test_fetcher_tries_the_next_address_when_one_refuses(serve, pki):
    server = serve(once(http(BODY, length=len(BODY))))
    fetcher = HttpsFetcher(ca_path=str(pki.ca.path), validate_certs=True, timeout=2)
    response = fetcher.get(
        SERVER_NAME, server.port, "/x", addresses=["127.0.0.9", "127.0.0.1"], body_limit=1000, deadline=None
    )
    assert response.body == BODY
    assert server.sni == [SERVER_NAME]


def test_fetcher_reports_the_answer_of_a_server_that_answered(serve, pki):
    server = serve(once(http(b"", length=5000)))
    fetcher = HttpsFetcher(ca_path=str(pki.ca.path), validate_certs=True, timeout=2)
    with pytest.raises(HttpsError) as info:
        fetcher.get(
            SERVER_NAME, server.port, "/x", addresses=["127.0.0.1", "127.0.0.1"], body_limit=1000, deadline=None
        )
    assert info.value.kind == "too_large"
    assert server.connections == 1


# -- HttpsProbe, the federation checker's network ---------------------------------------------------------
@pytest.fixture
def probe(pki, closing):
    options = ResolveOptions(nameservers=["127.0.0.1:53"], ca_path=str(pki.ca.path), timeout=2.0)
    return HttpsProbe(closing(Resolver(options)))


def test_probe_session_with_a_valid_certificate(serve, probe):
    server = serve(keep_alive(http(b'{"a": 1}', length=8)))
    session = probe.connect("127.0.0.1", server.port, server_hostname=SERVER_NAME)
    try:
        assert session.certificate_problem is None
        assert session.version in ("TLSv1.2", "TLSv1.3") and session.cipher
        assert session.certificate.startswith(b"0")  # DER
        answer = session.get("/x", host_header="example.test", body_limit=100)
        assert (answer.status, answer.body) == (200, b'{"a": 1}')
        assert "Host: example.test" in server.requests[0]
    finally:
        session.close()


def test_probe_session_with_an_untrusted_certificate_reports_it(serve, probe):
    server = serve(once(http(b"", length=0)), leaf="stranger")
    session = probe.connect("127.0.0.1", server.port, server_hostname=SERVER_NAME)
    session.close()
    assert session.certificate_problem is not None and session.certificate_problem.kind == "certificate"
    assert session.certificate  # still read, to report on it


def test_probe_connection_failures_raise(probe):
    with bound_socket(socket.SOCK_STREAM, timeout=1) as sock:
        port = sock.getsockname()[1]
    with pytest.raises(HttpsError) as info:
        probe.connect("127.0.0.1", port, server_hostname=SERVER_NAME)
    assert (info.value.kind, info.value.code) == ("connect", "cannot-connect")


def by_path(responses: dict[str, bytes]):
    """Answers each request on a kept-alive connection with the response for its path (else 404)."""

    def handler(peer: Peer):
        while (request := peer.read_request()) is not None:
            path = request.split(" ", 2)[1]
            peer.send(responses.get(path, http(b"", status="404 Not Found", length=0)))

    return handler


def test_probe_fetch_follows_redirects(serve, probe):
    moved = http(b"", status="301 Moved Permanently", headers=("Location: /moved",), length=0)
    server = serve(by_path({"/.well-known/matrix/client": moved, "/moved": http(b"{}", length=2)}))
    base = f"https://127.0.0.1:{server.port}"
    hops = probe.fetch(f"{base}/.well-known/matrix/client", body_limit=100)
    assert [(url, response.status) for url, response in hops] == [
        (f"{base}/.well-known/matrix/client", 301),
        (f"{base}/moved", 200),
    ]
    assert hops[-1][1].body == b"{}"
    assert [request.split(" ", 2)[1] for request in server.requests] == ["/.well-known/matrix/client", "/moved"]
