# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Broken DNS, through the real dnspython port against the world's nameserver (support.nameserver)."""

from __future__ import annotations

import pytest
import rb_world as w


# -- errors on an SRV query: the lookup fails, naming the query and the response --------------------
@pytest.mark.parametrize(
    ("label", "query", "reason"),
    [
        ("dns-timeout", "_matrix-fed._tcp.dns-timeout.rb.test", "timed out after 1.0s"),
        ("dns-servfail", "_matrix-fed._tcp.dns-servfail.rb.test", "answered SERVFAIL"),
        ("dns-refused", "_matrix-fed._tcp.dns-refused.rb.test", "answered REFUSED"),
        ("dns-legacy-refused", "_matrix._tcp.dns-legacy-refused.rb.test", "answered REFUSED"),
    ],
    ids=["dns-timeout", "dns-servfail", "dns-refused", "dns-legacy-refused"],
)
def test_srv_query_failure_is_an_error_naming_the_query_and_the_response(resolve, label, query, reason):
    outcome, seconds = resolve.timed(w.n(label))
    assert (
        str(outcome)
        == f"cannot resolve server name '{w.n(label)}': SRV query {query}: {w.DNS_IP}:{w.DNS_PORT} {reason}"
    )
    assert outcome.partial.srv[-1].error is not None
    assert seconds < w.TIMEOUT + 0.5


# -- "no such record": resolution goes on ------------------------------------------------------------
@pytest.mark.parametrize("label", ["dns-nxdomain", "dns-empty"])
def test_nxdomain_and_an_empty_answer_are_no_records(resolve, label):
    result = resolve(w.n(label))
    assert result["method"] == "default_port"
    assert [(entry["name"], entry["records"], entry["error"]) for entry in result["srv"]] == [
        (f"_matrix-fed._tcp.{w.n(label)}", [], None),
        (f"_matrix._tcp.{w.n(label)}", [], None),
    ]
    assert result["targets"] == [{"host": w.n(label), "port": 8448, "addresses": [w.DEAD_IP]}]


def test_srv_target_dot_means_service_disabled(resolve):
    error = resolve.error(w.n("dns-srv-dot"))
    assert str(error) == (
        "cannot resolve server name 'dns-srv-dot.rb.test': SRV query _matrix-fed._tcp.dns-srv-dot.rb.test: "
        "the only SRV record has target '.', which means the service is disabled"
    )


def test_srv_target_that_is_a_cname_is_followed_with_a_warning(resolve):
    result = resolve(w.n("dns-srv-cname"))
    assert result["method"] == "srv"
    assert result["targets"] == [{"host": w.n("srv-alias"), "port": 8448, "addresses": [w.DEAD_IP]}]
    assert result["warnings"] == [
        "SRV target srv-alias.rb.test is a CNAME (RFC 2782 forbids it; point the SRV record at the canonical name)"
    ]


def test_cname_loop_across_queries_is_an_error_not_a_hang(resolve, world):
    asked_before = len(world.dns.queries_for("loop-a.rb.test"))
    outcome, seconds = resolve.timed("loop-a.rb.test:8448")
    assert str(outcome).startswith(
        "cannot resolve server name 'loop-a.rb.test:8448': address lookup for loop-a.rb.test: "
        "no IPv6 or IPv4 address found: "
    )
    assert "CNAME loop at loop-a.rb.test" in str(outcome)
    assert seconds < 1
    # each family asks each name of the loop once, and loop-a once more to see the loop
    assert len(world.dns.queries_for("loop-a.rb.test")) - asked_before <= 4


# -- truncation and foreign records ------------------------------------------------------------------------
def test_truncated_udp_answer_is_asked_again_over_tcp(resolve, world):
    result = resolve("dns-tc.rb.test:8448")
    assert result["targets"] == [{"host": "dns-tc.rb.test", "port": 8448, "addresses": [w.DEAD_IP]}]
    transports = {(query.rdtype, query.transport) for query in world.dns.queries_for("dns-tc.rb.test")}
    assert {("A", "udp"), ("A", "tcp")} <= transports


def test_srv_answer_too_big_for_udp_comes_whole_over_tcp_in_priority_order(resolve, world):
    result = resolve(w.n("dns-many"))
    assert result["method"] == "srv"
    assert [(target["host"], target["port"]) for target in result["targets"]] == [
        (w.n(f"many-{i}"), 8400 + i) for i in range(w.MANY)
    ]
    assert len(result["srv"][0]["records"]) == w.MANY
    assert ("SRV", "tcp") in {
        (q.rdtype, q.transport) for q in world.dns.queries_for(f"_matrix-fed._tcp.{w.n('dns-many')}")
    }


def test_address_records_for_another_name_are_not_used(resolve):
    error = resolve.error("dns-foreign-owner.rb.test:8448")
    assert str(error) == (
        "cannot resolve server name 'dns-foreign-owner.rb.test:8448': address lookup for dns-foreign-owner.rb.test: "
        "no IPv6 or IPv4 address found: dns-foreign-owner.rb.test has no AAAA or A records"
    )
    assert w.EVIL_IP not in str(error.partial.to_dict())


def test_srv_records_for_another_name_are_not_used(resolve):
    result = resolve(w.n("dns-foreign-srv"))
    assert result["method"] == "default_port"
    assert result["srv"][0]["records"] == []
    assert w.n("evil") not in str(result)


def test_answer_to_another_question_is_an_error(resolve):
    error = resolve.error("dns-foreign-question.rb.test:8448")
    assert "dns-foreign-question.rb.test A: " in str(error)
    assert "does not respond to the question asked" in str(error)
    assert w.EVIL_IP not in str(error.partial.to_dict())
