# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzz target: SRV answer handling.

* ``order_srv_records`` with arbitrary records (RFC 2782 order, a permutation, always ends);
* the SRV steps of ``resolve_server_name`` with a DNS port answering arbitrary records, errors
  and address answers;
* the real dnspython port (``DnsClient.srv`` / ``.addresses``) against a nameserver on
  loopback that answers each query with an arbitrary message: any response code, records of
  any type for the name or for others, CNAMEs, truncation, and plain garbage.

The property: a valid result or the code's own error type (ResolutionError, DnsError); never
anything else, never a hang.
"""

from __future__ import annotations

import ipaddress
import random
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import pytest
import rb_world as w
from hypothesis import given
from hypothesis import strategies as st
from support.nameserver import Nameserver

from ansible_collections.matrixops.delegation.plugins.module_utils._dns import DnsClient
from ansible_collections.matrixops.delegation.plugins.module_utils._dns import (
    Nameserver as NameserverOption,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._model import (
    METHODS,
    AddressAnswer,
    DnsError,
    HttpsError,
    Resolution,
    ResolutionError,
    SrvAnswer,
    SrvRecord,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolution import (
    order_srv_records,
    resolve_server_name,
)

U16 = st.integers(0, 65535)
TARGETS = st.one_of(
    st.sampled_from(
        [
            ".",
            "a.example.test",
            "b.example.test",
            "c.example.test",
            "example.test",
            "192.0.2.1",
            "xn--bcher-kva.test",
            "a\\032b.test",
            "*.test",
            "-.test",
        ]
    ),
    st.text(max_size=20),
)
RECORDS = st.lists(st.builds(SrvRecord, priority=U16, weight=U16, port=U16, target=TARGETS), max_size=40)


@given(RECORDS, st.integers(0, 2**32))
def test_fuzz_order_srv_records(records, seed):
    ordered = order_srv_records(list(records), random.Random(seed))
    assert sorted(ordered, key=repr) == sorted(records, key=repr)  # a permutation
    priorities = [record.priority for record in ordered]
    assert priorities == sorted(priorities)


# -- the SRV steps with arbitrary answers at the port --------------------------------------------------
def srv_answers():
    return st.one_of(
        st.just("NXDOMAIN"),
        st.just("NODATA"),
        st.builds(lambda reason: DnsError("q SRV", reason), st.sampled_from(["answered SERVFAIL", "timed out"])),
        RECORDS,
    )


ADDRESS_ANSWERS = st.one_of(
    st.lists(st.one_of(st.ip_addresses().map(str)), max_size=4).map(lambda addresses: ("ok", addresses)),
    st.just(("error", "answered SERVFAIL")),
)


class ArbitraryDns:
    def __init__(self, srv: dict, addresses: dict) -> None:
        self.srv_answers = srv
        self.address_answers = addresses

    def srv(self, name: str) -> SrvAnswer:
        answer = self.srv_answers.get(name, "NXDOMAIN")
        if isinstance(answer, DnsError):
            raise answer
        if isinstance(answer, str):
            return SrvAnswer(name=name, records=[], status=answer)
        return SrvAnswer(name=name, records=list(answer), status="NOERROR" if answer else "NODATA")

    def addresses(self, name: str) -> AddressAnswer:
        kind, value = self.address_answers.get(name, ("ok", []))
        if kind == "error":
            raise DnsError(f"{name} AAAA/A", value)
        return AddressAnswer(name=name, addresses=list(value), cnames=[name] if len(value) == 1 else [])


class NoWellKnown:
    def get(self, host, port, path, *, addresses, body_limit, deadline):
        raise HttpsError(f"{host}:{port}: no well-known here", kind="http")


@given(
    srv_answers(),
    srv_answers(),
    st.dictionaries(TARGETS, ADDRESS_ANSWERS, max_size=6),
    st.sampled_from(["example.test", "example.test:8448"]),
    st.integers(0, 2**32),
)
def test_fuzz_srv_steps_of_the_resolution(fed, legacy, addresses, name, seed):
    dns_port = ArbitraryDns({"_matrix-fed._tcp.example.test": fed, "_matrix._tcp.example.test": legacy}, addresses)
    try:
        result = resolve_server_name(name, dns=dns_port, https=NoWellKnown(), rng=random.Random(seed))
    except ResolutionError as exc:
        assert exc.step.startswith(("SRV query ", "address lookup for "))
        return
    assert isinstance(result, Resolution)
    assert result.method in METHODS
    assert any(target.addresses for target in result.targets)
    assert all(target.host != "." for target in result.targets)
    if result.method in ("srv", "srv_legacy"):
        assert result.tls_server_name == result.host_header == "example.test"
        assert fed not in ("NXDOMAIN", "NODATA") or result.method == "srv_legacy"


# -- the real dnspython port against a nameserver sending anything -------------------------------------
QNAME = "_matrix-fed._tcp.example.test"
OWNERS = st.sampled_from([QNAME, "example.test", "other.test", "target.example.test", "_matrix._tcp.example.test"])
RDATA = {
    "SRV": st.builds(
        lambda p, wt, port, target: f"{p} {wt} {port} {target}",
        U16,
        U16,
        U16,
        st.sampled_from([".", "target.example.test.", "example.test.", "a\\032b.test.", "xn--bcher-kva.test."]),
    ),
    "CNAME": st.sampled_from(["example.test.", "target.example.test.", f"{QNAME}.", "other.test.", "."]),
    "A": st.ip_addresses(v=4).map(str),
    "AAAA": st.ip_addresses(v=6).map(str),
    "TXT": st.just('"hello"'),
}
RRSETS = st.sampled_from(sorted(RDATA)).flatmap(
    lambda rdtype: st.tuples(OWNERS, st.just(rdtype), st.lists(RDATA[rdtype], min_size=1, max_size=4))
)
MESSAGES = st.one_of(
    st.tuples(
        st.sampled_from(["NOERROR", "NOERROR", "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"]),
        st.lists(RRSETS, max_size=5),
        st.booleans(),  # truncated
    ),
    st.binary(max_size=40),  # garbage
)


class ScriptedAnswers:
    """Answers the queries of one example in turn with the drawn messages (the last one repeats)."""

    def __init__(self, messages: list) -> None:
        self.messages = messages
        self.index = 0
        self.lock = threading.Lock()

    def __call__(self, query: dns.message.Message, transport: str):
        with self.lock:
            drawn = self.messages[min(self.index, len(self.messages) - 1)]
            self.index += 1
        if isinstance(drawn, bytes):
            return query.to_wire()[:2] + drawn  # the query's id, then garbage
        rcode, rrsets, truncated = drawn
        reply = dns.message.make_response(query)
        reply.set_rcode(dns.rcode.from_text(rcode))
        for owner, rdtype, rdatas in rrsets:
            reply.answer.append(dns.rrset.from_text_list(dns.name.from_text(owner), 60, "IN", rdtype, rdatas))
        if truncated and transport == "udp":
            reply.flags |= dns.flags.TC
        return reply


@pytest.fixture(scope="module")
def scripted_nameserver():
    server = Nameserver(w.NET.ip(54), 0)
    port = DnsClient([NameserverOption(server.address, server.port)], 0.5, workers=4)
    yield server, port
    port.close()
    server.close()


@given(st.lists(MESSAGES, min_size=1, max_size=10))
def test_fuzz_dnspython_port_with_arbitrary_answers(scripted_nameserver, messages):
    server, port = scripted_nameserver
    server.responder = ScriptedAnswers(messages)
    try:
        srv = port.srv(QNAME)
    except DnsError as exc:
        assert exc.query.endswith(" SRV") and exc.reason
    else:
        assert srv.status in ("NOERROR", "NXDOMAIN", "NODATA")
        for record in srv.records:
            assert all(0 <= value <= 65535 for value in (record.priority, record.weight, record.port))
            assert isinstance(record.target, str) and record.target
    server.responder = ScriptedAnswers(messages)
    try:
        addresses = port.addresses("example.test")
    except DnsError as exc:
        assert exc.reason
    else:
        for address in addresses.addresses:
            ipaddress.ip_address(address)
        assert all(isinstance(warning, str) for warning in addresses.warnings)
