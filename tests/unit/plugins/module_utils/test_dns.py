# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The DNS port: nameserver options, AAAA + A together, and NXDOMAIN / NODATA / SERVFAIL / time-outs."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.loopback import bound_socket, daemon, serve_until

from ansible_collections.matrixops.delegation.plugins.module_utils import _dns
from ansible_collections.matrixops.delegation.plugins.module_utils._dns import (
    DnsClient,
    DnsConfigError,
    Nameserver,
    parse_nameservers,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._model import DnsError, SrvRecord


# -- parse_nameservers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["127.0.0.1"], [Nameserver("127.0.0.1", 53)]),
        (["127.0.0.1:5353"], [Nameserver("127.0.0.1", 5353)]),
        ([" 192.0.2.1:53 "], [Nameserver("192.0.2.1", 53)]),
        (["::1"], [Nameserver("::1", 53)]),
        (["2001:db8::1"], [Nameserver("2001:db8::1", 53)]),
        (["[::1]"], [Nameserver("::1", 53)]),
        (["[::1]:5353"], [Nameserver("::1", 5353)]),
        (["[2001:db8::1]:65535"], [Nameserver("2001:db8::1", 65535)]),
        (["127.0.0.1:1"], [Nameserver("127.0.0.1", 1)]),
        (
            ["127.0.0.1:5353", "[::1]:53", "10.0.0.1"],
            [Nameserver("127.0.0.1", 5353), Nameserver("::1", 53), Nameserver("10.0.0.1", 53)],
        ),
    ],
)
def test_parse_nameservers(values, expected):
    assert parse_nameservers(values) == expected


@pytest.mark.parametrize("values", [None, []])
def test_parse_nameservers_empty_means_the_system_resolver(values):
    assert parse_nameservers(values) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ns1.example.com", "host names are not accepted"),
        ("ns1.example.com:53", "host names are not accepted"),
        ("", "expected an IP address"),
        ("999.1.1.1", "expected an IP address"),
        ("127.0.0.1:0", "port must be a number from 1 to 65535"),
        ("127.0.0.1:65536", "port must be a number from 1 to 65535"),
        ("127.0.0.1:", "port must be a number from 1 to 65535"),
        ("127.0.0.1:abc", "port must be a number from 1 to 65535"),
        ("127.0.0.1:-53", "port must be a number from 1 to 65535"),
        ("127.0.0.1:\u00b2", "port must be a number from 1 to 65535"),
        ("[::1]:0", "port must be a number from 1 to 65535"),
        ("[::1]:x", "port must be a number from 1 to 65535"),
        ("[::1", "expected IP, IP:port or [IPv6]:port"),
        ("[::1]53", "expected IP, IP:port or [IPv6]:port"),
        ("[ns1.example.com]:53", "expected an IP address"),
        ("[]:53", "expected an IP address"),
        (None, "expected an IP address"),
        (53, "expected an IP address"),
    ],
)
def test_parse_nameservers_rejects_bad_values_clearly(value, message):
    with pytest.raises(DnsConfigError) as info:
        parse_nameservers(["127.0.0.1", value])
    assert f"nameserver '{value}'" in str(info.value)
    assert message in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), st.text("0123456789.:[]abf% \u00b2", max_size=30)))
def test_property_parse_nameservers_raises_nothing_but_dns_config_error(text):
    try:
        servers = parse_nameservers([text])
    except DnsConfigError:
        return
    assert servers is not None and len(servers) == 1
    assert 1 <= servers[0].port <= 65535


def test_nameserver_str_brackets_ipv6():
    assert str(Nameserver("::1", 5353)) == "[::1]:5353"
    assert str(Nameserver("127.0.0.1", 53)) == "127.0.0.1:53"


# -- DnsClient.addresses with a fake _lookup -----------------------------------------------------
class FakeLookupPort(DnsClient):
    """The real port with ``_lookup`` (one query, CNAMEs followed) replaced by a table."""

    def __init__(self, answers):
        super().__init__([Nameserver("127.0.0.1", 53)], 1.0, workers=2)
        self.answers = answers  # (name, "A"/"AAAA") -> (status, [addresses], [cnames]) or DnsError

    def _first_answers(self, name, deadline):
        return {}  # no network: each type's _lookup below asks its table

    def _lookup(self, name, rdtype, deadline, first=None):
        assert deadline > 0
        assert first is None
        answer = self.answers[(name, dns.rdatatype.to_text(rdtype))]
        if isinstance(answer, Exception):
            raise answer
        status, addresses, cnames = answer
        return status, [SimpleNamespace(address=address) for address in addresses], list(cnames)


@pytest.fixture
def lookup_port():
    ports = []

    def make(answers):
        port = FakeLookupPort(answers)
        ports.append(port)
        return port

    yield make
    for port in ports:
        port.close()


def test_addresses_reports_aaaa_first_then_a(lookup_port):
    port = lookup_port(
        {
            ("h.example", "A"): ("NOERROR", ["192.0.2.1", "192.0.2.2"], []),
            ("h.example", "AAAA"): ("NOERROR", ["2001:db8::1"], []),
        }
    )
    answer = port.addresses("h.example")
    assert answer.name == "h.example"
    assert answer.addresses == ["2001:db8::1", "192.0.2.1", "192.0.2.2"]
    assert answer.cnames == []
    assert answer.warnings == []


@pytest.mark.parametrize(
    ("failing", "answering", "addresses"), [("A", "AAAA", ["2001:db8::1"]), ("AAAA", "A", ["192.0.2.1"])]
)
def test_addresses_one_family_failing_uses_the_other_with_a_warning(lookup_port, failing, answering, addresses):
    port = lookup_port(
        {
            ("h.example", failing): DnsError(f"h.example {failing}", "127.0.0.1:53 answered SERVFAIL"),
            ("h.example", answering): ("NOERROR", addresses, []),
        }
    )
    answer = port.addresses("h.example")
    assert answer.addresses == addresses
    assert len(answer.warnings) == 1
    assert f"h.example {failing}" in answer.warnings[0]
    assert "SERVFAIL" in answer.warnings[0]


def test_addresses_both_families_failing_is_an_error(lookup_port):
    port = lookup_port(
        {
            ("h.example", "A"): DnsError("h.example A", "127.0.0.1:53 timed out after 1.0s"),
            ("h.example", "AAAA"): DnsError("h.example AAAA", "127.0.0.1:53 answered REFUSED"),
        }
    )
    with pytest.raises(DnsError) as info:
        port.addresses("h.example")
    assert "timed out" in str(info.value)
    assert "REFUSED" in str(info.value)


def test_addresses_one_family_failing_and_the_other_empty_is_an_error(lookup_port):
    port = lookup_port(
        {
            ("h.example", "A"): DnsError("h.example A", "127.0.0.1:53 answered SERVFAIL"),
            ("h.example", "AAAA"): ("NODATA", [], []),
        }
    )
    with pytest.raises(DnsError, match="SERVFAIL"):
        port.addresses("h.example")


@pytest.mark.parametrize("status", ["NXDOMAIN", "NODATA"])
def test_addresses_without_records_is_an_empty_answer(lookup_port, status):
    port = lookup_port({("h.example", "A"): (status, [], []), ("h.example", "AAAA"): (status, [], [])})
    answer = port.addresses("h.example")
    assert answer.addresses == []
    assert answer.warnings == []


def test_addresses_reports_the_cname_chain_once(lookup_port):
    port = lookup_port(
        {
            ("alias.example", "A"): ("NOERROR", ["192.0.2.1"], ["alias.example"]),
            ("alias.example", "AAAA"): ("NOERROR", ["2001:db8::1"], ["alias.example"]),
        }
    )
    answer = port.addresses("alias.example")
    assert answer.cnames == ["alias.example"]


# -- DnsClient against a small UDP nameserver on 127.0.0.1 -----------------------------------------
class TinyNameserver:
    """Answers from a table; ``rcodes`` force a response code, ``silent`` names get no answer."""

    def __init__(self, records=None, *, rcodes=None, silent=()):
        self.records = records or {}  # name -> {"A": [...], "CNAME": [...], ...}
        self.rcodes = rcodes or {}  # name or (name, type) -> rcode
        self.silent = set(silent)
        self.queries: list[tuple[str, str]] = []
        self.sock = bound_socket(socket.SOCK_DGRAM, timeout=0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = daemon(serve_until, self._stop, lambda: self.sock.recvfrom(65535), self._reply)

    def _reply(self, received):
        data, peer = received
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in self.silent:
            return
        reply = dns.message.make_response(query)
        rcode = self.rcodes.get((name, rdtype), self.rcodes.get(name))
        if rcode is not None:
            reply.set_rcode(rcode)
        elif name not in self.records:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        else:
            entries = self.records[name]
            for answer_type in ("CNAME", rdtype):
                if answer_type in entries:
                    reply.answer.append(
                        dns.rrset.from_text_list(question.name, 300, "IN", answer_type, entries[answer_type])
                    )
                    break
        self.sock.sendto(reply.to_wire(), peer)

    def close(self):
        self._stop.set()
        self._thread.join(1)
        self.sock.close()

    @property
    def nameserver(self) -> Nameserver:
        return Nameserver("127.0.0.1", self.port)


@pytest.fixture
def nameserver(closing):
    return lambda *args, **kwargs: closing(TinyNameserver(*args, **kwargs))


@pytest.fixture
def dns_port(closing):
    def make(*servers, timeout=2.0):
        nameservers = [server if isinstance(server, Nameserver) else server.nameserver for server in servers]
        return closing(DnsClient(nameservers, timeout))

    return make


ZONE = {
    "_matrix-fed._tcp.example.test": {
        "SRV": ["10 5 8448 matrix.example.test.", "20 0 443 backup.example.test."],
    },
    "_matrix-fed._tcp.disabled.example.test": {"SRV": ["0 0 0 ."]},
    "example.test": {"A": ["127.0.0.2"], "TXT": ['"v=x"']},
    "matrix.example.test": {"A": ["127.0.0.3"], "AAAA": ["::1"]},
    "alias.example.test": {"CNAME": ["matrix.example.test."]},
    "alias2.example.test": {"CNAME": ["alias.example.test."]},
    "loop1.example.test": {"CNAME": ["loop2.example.test."]},
    "loop2.example.test": {"CNAME": ["loop1.example.test."]},
}


def test_srv_answer(nameserver, dns_port):
    port = dns_port(nameserver(ZONE))
    answer = port.srv("_matrix-fed._tcp.example.test")
    assert answer.status == "NOERROR"
    assert answer.name == "_matrix-fed._tcp.example.test"
    # an RRset has no order: ordering is the resolution core's job
    assert sorted(answer.records, key=lambda r: r.priority) == [
        SrvRecord(10, 5, 8448, "matrix.example.test"),
        SrvRecord(20, 0, 443, "backup.example.test"),
    ]


def test_srv_target_dot_is_reported_as_dot(nameserver, dns_port):
    answer = dns_port(nameserver(ZONE)).srv("_matrix-fed._tcp.disabled.example.test")
    assert answer.records == [SrvRecord(0, 0, 0, ".")]


@pytest.mark.parametrize(
    ("name", "status"), [("_matrix-fed._tcp.nowhere.example.test", "NXDOMAIN"), ("example.test", "NODATA")]
)
def test_srv_nxdomain_and_nodata_are_empty_answers(nameserver, dns_port, name, status):
    answer = dns_port(nameserver(ZONE)).srv(name)
    assert answer.status == status
    assert answer.records == []


@pytest.mark.parametrize("rcode", [dns.rcode.SERVFAIL, dns.rcode.REFUSED])
def test_srv_servfail_and_refused_are_errors_naming_query_and_code(nameserver, dns_port, rcode):
    server = nameserver(ZONE, rcodes={"_matrix-fed._tcp.example.test": rcode})
    with pytest.raises(DnsError) as info:
        dns_port(server).srv("_matrix-fed._tcp.example.test")
    assert info.value.query == "_matrix-fed._tcp.example.test SRV"
    assert dns.rcode.to_text(rcode) in info.value.reason
    assert f"127.0.0.1:{server.port}" in info.value.reason


def test_srv_timeout_is_an_error_within_the_timeout(nameserver, dns_port):
    server = nameserver(ZONE, silent={"_matrix-fed._tcp.example.test"})
    port = dns_port(server, timeout=0.4)
    start = time.monotonic()
    with pytest.raises(DnsError) as info:
        port.srv("_matrix-fed._tcp.example.test")
    elapsed = time.monotonic() - start
    assert "timed out" in info.value.reason
    assert 0.35 <= elapsed < 0.4 + 0.3


def test_next_nameserver_is_asked_after_a_failure(nameserver, dns_port):
    failing = nameserver(ZONE, rcodes={"example.test": dns.rcode.SERVFAIL})
    silent = nameserver(ZONE, silent={"example.test"})
    good = nameserver(ZONE)
    answer = dns_port(failing, silent, good, timeout=0.9).addresses("example.test")
    assert answer.addresses == ["127.0.0.2"]
    assert ("example.test", "A") in failing.queries and ("example.test", "A") in good.queries


def test_addresses_aaaa_and_a(nameserver, dns_port):
    answer = dns_port(nameserver(ZONE)).addresses("matrix.example.test")
    assert answer.addresses == ["::1", "127.0.0.3"]
    assert answer.cnames == []
    assert answer.warnings == []


def test_addresses_follow_cname_chains(nameserver, dns_port):
    server = nameserver(ZONE)
    answer = dns_port(server).addresses("alias2.example.test")
    assert answer.addresses == ["::1", "127.0.0.3"]
    assert answer.cnames == ["alias2.example.test", "alias.example.test"]
    assert ("matrix.example.test", "A") in server.queries


def test_addresses_cname_loop_is_an_error(nameserver, dns_port):
    with pytest.raises(DnsError, match="CNAME loop"):
        dns_port(nameserver(ZONE)).addresses("loop1.example.test")


def test_addresses_one_family_servfail_is_a_warning(nameserver, dns_port):
    server = nameserver(ZONE, rcodes={("matrix.example.test", "AAAA"): dns.rcode.SERVFAIL})
    answer = dns_port(server).addresses("matrix.example.test")
    assert answer.addresses == ["127.0.0.3"]
    assert len(answer.warnings) == 1
    assert "matrix.example.test AAAA" in answer.warnings[0] and "SERVFAIL" in answer.warnings[0]


def test_addresses_nxdomain_is_an_empty_answer(nameserver, dns_port):
    answer = dns_port(nameserver(ZONE)).addresses("nowhere.example.test")
    assert answer.addresses == []


@pytest.mark.parametrize("name", ["a" * 64 + ".example.test", "a..example.test"])
def test_invalid_dns_name_is_a_dns_error(nameserver, dns_port, name):
    with pytest.raises(DnsError, match="not a valid DNS name"):
        dns_port(nameserver(ZONE)).srv(name)


# -- _udp_many: one socket, several queries, a lost datagram sent again ---------------------------
def _udp_server(drop_first: int):
    """A loopback UDP nameserver that ignores the first ``drop_first`` datagrams, then answers NOERROR."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    seen = []

    def serve():
        while True:
            try:
                wire, peer = sock.recvfrom(65535)
            except OSError:
                return
            seen.append(wire)
            if len(seen) <= drop_first:
                continue
            query = dns.message.from_wire(wire)
            sock.sendto(dns.message.make_response(query).to_wire(), peer)

    threading.Thread(target=serve, daemon=True).start()
    return sock, seen


@pytest.mark.parametrize("dropped", [0, 2])
def test_udp_many_answers_every_query_and_sends_lost_ones_again(monkeypatch, dropped):
    monkeypatch.setattr(_dns, "UDP_RETRY_SECONDS", 0.2)
    sock, seen = _udp_server(dropped)
    try:
        requests = [dns.message.make_query("h.example.", rdtype) for rdtype in ("AAAA", "A")]
        requests[1].id = (requests[0].id + 1) % 65536
        outcomes = _dns._udp_many(requests, Nameserver("127.0.0.1", sock.getsockname()[1]), 3.0)
    finally:
        sock.close()
    assert [request.is_response(outcome) for request, outcome in zip(requests, outcomes, strict=True)] == [True, True]
    assert len(seen) == 2 + dropped


def test_udp_many_times_out_when_nothing_answers(monkeypatch):
    monkeypatch.setattr(_dns, "UDP_RETRY_SECONDS", 0.2)
    sock, seen = _udp_server(1000)
    try:
        outcomes = _dns._udp_many(
            [dns.message.make_query("h.example.", "A")], Nameserver("127.0.0.1", sock.getsockname()[1]), 0.7
        )
    finally:
        sock.close()
    assert isinstance(outcomes[0], dns.exception.Timeout)
    assert len(seen) == 3  # sent at 0 s, again at 0.2 s and at 0.6 s (the interval doubles)
