# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The total deadline: no single name takes longer than the documented bound, whatever peers do.

The bound (docs/robustness.md, the ``timeout`` option's documentation, ``_resolver``'s factors),
with T the ``timeout`` option:

* one network operation (one DNS query, one connect with its TLS handshake, one whole HTTP
  response) takes at most T;
* the well-known step as a whole, redirects included, at most WELL_KNOWN_BUDGET_FACTOR x T (3 T);
* one server name at most NAME_BUDGET_FACTOR x T (6 T), plus T for the one round of SRV target
  address lookups when the name resolves through SRV (7 T).

Every peer here answers *just* before T each time (or drips, or stalls), the worst a peer can do
without being cut off. T is 0.5 s; SLACK absorbs scheduling.
"""

from __future__ import annotations

import re
import time

import rb_world as w

from ansible_collections.matrixops.delegation.plugins.doc_fragments.resolve import ModuleDocFragment
from ansible_collections.matrixops.delegation.plugins.module_utils._model import DnsError, ResolutionError
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import (
    NAME_BUDGET_FACTOR,
    WELL_KNOWN_BUDGET_FACTOR,
    Resolver,
)

T = w.DL_T
SLACK = 0.3
ONE_OPERATION = T
WELL_KNOWN_BOUND = WELL_KNOWN_BUDGET_FACTOR * T
NAME_BOUND = NAME_BUDGET_FACTOR * T
SRV_NAME_BOUND = NAME_BOUND + T


def within(seconds: float, bound: float, what: str) -> None:
    assert seconds <= bound + SLACK, (
        f"{what} took {seconds:.2f}s = {seconds / T:.1f} x timeout; the bound is {bound / T:g} x timeout"
    )


def resolved_within(resolve_dl, label: str, method: str, bound: float, what: str) -> tuple[dict, float]:
    """``label`` resolves by ``method`` within ``bound``; returns the result and the seconds it took."""
    outcome, seconds = resolve_dl.timed(w.n(label))
    result = outcome.to_dict()
    assert result["method"] == method
    within(seconds, bound, what)
    return result, seconds


def test_the_documented_bound_is_the_one_tested():
    text = " ".join(ModuleDocFragment.DOCUMENTATION.split())
    assert f"at most {WELL_KNOWN_BUDGET_FACTOR} times O(timeout)" in text
    assert f"at most {NAME_BUDGET_FACTOR} times O(timeout) plus one more O(timeout) for the address lookups" in text
    assert (WELL_KNOWN_BUDGET_FACTOR, NAME_BUDGET_FACTOR) == (3, 6)


def test_dripping_well_known_server_is_cut_at_timeout(resolve_dl):
    outcome, seconds = resolve_dl.timed(w.n("dl-drip"))  # one byte every 0.1 s: 30 s in all
    assert outcome.well_known.error.endswith(f"no complete response within {T:g}s")
    within(seconds, ONE_OPERATION, "a dripping well-known server")


def test_stalled_tls_handshake_is_cut_at_timeout(resolve_dl):
    outcome, seconds = resolve_dl.timed(w.n("dl-stall"))
    assert outcome.well_known.error.endswith("TLS handshake timed out")
    within(seconds, ONE_OPERATION, "a stalled TLS handshake")


def test_redirect_chain_where_every_hop_is_slow_stops_at_the_well_known_budget(resolve_dl, world):
    started = time.monotonic()
    # 10 hops of 0.9 T each: 9 T unbounded
    result, seconds = resolved_within(
        resolve_dl, "dl-hop0", "default_port", WELL_KNOWN_BOUND, "a redirect chain of slow hops"
    )
    assert re.search(
        r"dl-hop\d+\.rb\.test/.*: (no complete response within|no time left)", result["well_known"]["error"]
    )
    hops = [
        r
        for r in world.peers.requests_to(f"{w.WK_IP}:443")
        if (r.host or "").startswith("dl-hop") and r.started >= started
    ]
    assert 3 <= len(hops) <= 4  # it really was slow, and it was stopped
    assert seconds >= WELL_KNOWN_BOUND - SLACK


def test_redirect_chain_over_slow_dns_stops_at_the_well_known_budget(resolve_dl):
    """Each hop is a new host name whose address lookup answers at 0.95 T: the lookups count too."""
    what = "a redirect chain over slow DNS (the rest of the name is fast)"
    resolved_within(resolve_dl, "dl-dnshop0", "default_port", WELL_KNOWN_BOUND, what)


def test_cname_chain_on_slow_dns_is_one_query_within_timeout(resolve_dl):
    """dl-c0 -> dl-c1 -> ... -> dl-c7 -> A, every query answered at 0.9 T.

    Following a CNAME chain is part of one address query, so the chain gets one ``timeout`` in
    all: 8 hops of 0.9 T cannot finish, and the name fails within T, saying so.
    """
    outcome, seconds = resolve_dl.timed("dl-c0.rb.test:8448")
    assert isinstance(outcome, ResolutionError), outcome
    assert "no IPv6 or IPv4 address found" in str(outcome)
    assert "timed out" in str(outcome) or "no answer in time" in str(outcome)
    within(seconds, T, "an explicit-port name behind a slow CNAME chain")


def test_truncated_answer_then_slow_tcp_is_one_query_within_timeout(resolve_dl):
    """UDP answers TC at 0.8 T, then TCP answers at 0.8 T: one DNS query must still end at T."""
    with Resolver(resolve_dl.options()) as resolver:
        started = time.monotonic()
        try:
            answer = resolver.dns.addresses("dl-tc.rb.test")
        except DnsError as exc:  # an error after T is fine: the time is the point
            answer = exc
        seconds = time.monotonic() - started
    assert answer is not None
    within(seconds, ONE_OPERATION, "one DNS query (UDP truncated, then TCP)")


def test_many_slow_srv_targets_stay_within_the_name_bound(resolve_dl):
    """12 SRV targets, each address lookup answered at 0.8 T."""
    resolved_within(resolve_dl, "dl-many", "srv", SRV_NAME_BOUND, "a name with many slow SRV targets")


def test_slow_dns_on_every_query_and_a_silent_well_known_stay_within_the_name_bound(resolve_dl):
    what = "slow DNS everywhere and a silent well-known server"
    result, seconds = resolved_within(resolve_dl, "dl-all", "srv", SRV_NAME_BOUND, what)
    assert result["well_known"]["error"].endswith(f"no complete response within {T:g}s")
    assert seconds >= 3 * T  # it really was slow
