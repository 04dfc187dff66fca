# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the DNS adapter observes for the implementation profiles: the error class and the TTLs."""

from __future__ import annotations

import dns.rcode
import pytest
from test_dns import TinyNameserver

from ansible_collections.matrixops.delegation.plugins.module_utils._dns import DnsClient
from ansible_collections.matrixops.delegation.plugins.module_utils._model import DnsError

ZONE = {
    "_matrix-fed._tcp.example.test": {"SRV": ["10 5 8448 matrix.example.test."]},
    "matrix.example.test": {"A": ["127.0.0.3"], "AAAA": ["::1"]},
    "alias.example.test": {"CNAME": ["matrix.example.test."]},
}
SRV = "_matrix-fed._tcp.example.test"


@pytest.fixture
def client(closing):
    def make(*args, timeout=2.0, **kwargs):
        server = closing(TinyNameserver(*args, **kwargs))
        return closing(DnsClient([server.nameserver], timeout))

    return make


@pytest.mark.parametrize(("rcode", "kind"), [(dns.rcode.SERVFAIL, "SERVFAIL"), (dns.rcode.REFUSED, "REFUSED")])
def test_a_failed_srv_query_keeps_its_class(client, rcode, kind):
    with pytest.raises(DnsError) as info:
        client(ZONE, rcodes={SRV: rcode}).srv(SRV)
    assert info.value.kind == kind


def test_a_timed_out_srv_query_is_of_class_timeout(client):
    with pytest.raises(DnsError) as info:
        client(ZONE, silent={SRV}, timeout=0.3).srv(SRV)
    assert info.value.kind == "timeout"


def test_answers_carry_their_ttl(client):
    port = client(ZONE)
    assert port.srv(SRV).ttl == 300
    assert port.addresses("matrix.example.test").ttl == 300
    assert port.addresses("alias.example.test").ttl == 300  # the smallest along the CNAME chain


def test_a_negative_answer_without_soa_has_no_ttl(client):
    port = client(ZONE)
    assert port.srv("_matrix-fed._tcp.nowhere.example.test").ttl is None
    assert port.addresses("nowhere.example.test").ttl is None
