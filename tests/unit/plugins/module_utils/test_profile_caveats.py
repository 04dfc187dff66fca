# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``ProfileOutcome.caveats``: what a view cannot see from outside, stated only where it applies.

The resolution core runs for real (``resolve_implementations``) against the DNS and HTTPS fakes of
test_resolution.py; the caveats are read from its outcomes and from their ``to_dict``.
"""

from __future__ import annotations

import random

from test_resolution import FakeDns, FakeHttps, delegation

from ansible_collections.matrixops.delegation.plugins.module_utils._model import Clock, SrvRecord
from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import PROFILES
from ansible_collections.matrixops.delegation.plugins.module_utils._resolution import (
    COLD_CACHE_CAVEAT,
    resolve_implementations,
)

NOW = 1_800_000_000.0
WK = ("example.com", 443, "/.well-known/matrix/server")
PUBLIC4, PUBLIC6 = "151.101.65.1", "2a04:4e42:200::1"
PRIVATE4 = "10.20.30.40"
CONDUWUIT_FAMILY = ("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0")


def views(name, dns, https):
    outcomes = resolve_implementations(
        name, list(PROFILES.values()), dns=dns, https=https, rng=random.Random(0), clock=Clock(wall=lambda: NOW)
    )
    return {outcome.profile.name: outcome for outcome in outcomes}


def denylist_lines(outcome):
    return [line for line in outcome.caveats() if line.startswith("with its default ")]


def host_cache_lines(outcome):
    return [line for line in outcome.caveats() if "caches routes under the host name" in line]


def test_every_view_says_it_is_at_a_cold_cache_first_and_carries_it_in_to_dict():
    dns = FakeDns(addresses={"example.com": [PUBLIC4], "matrix.example.com": [PUBLIC4]})
    got = views("example.com", dns, FakeHttps({WK: delegation("matrix.example.com:443")}))
    for outcome in got.values():
        assert outcome.caveats()[0] == COLD_CACHE_CAVEAT
        assert outcome.to_dict()["caveats"] == outcome.caveats()


def test_public_targets_give_no_deny_list_caveat():
    dns = FakeDns(addresses={"example.com": [PUBLIC4], "matrix.example.com": [PUBLIC4, PUBLIC6]})
    got = views("example.com", dns, FakeHttps({WK: delegation("matrix.example.com:443")}))
    assert {name: denylist_lines(outcome) for name, outcome in got.items()} == {name: [] for name in PROFILES}


def test_a_private_target_address_is_refused_by_default_by_synapse_and_dendrite_only_for_a_host_name():
    dns = FakeDns(addresses={"example.com": [PUBLIC4], "matrix.example.com": [PRIVATE4]})
    got = views("example.com", dns, FakeHttps({WK: delegation("matrix.example.com:443")}))
    lines = {name: denylist_lines(outcome) for name, outcome in got.items()}
    assert [name for name, found in lines.items() if found] == ["synapse", "dendrite"]
    assert "ip_range_blacklist" in lines["synapse"][0] and PRIVATE4 in lines["synapse"][0]
    assert "deny_networks" in lines["dendrite"][0] and PRIVATE4 in lines["dendrite"][0]
    assert "element-hq/synapse@" in lines["synapse"][0]  # the source it was read from


def test_a_private_ip_literal_is_also_refused_by_the_conduwuit_family_and_continuwuity():
    dns = FakeDns(addresses={"example.com": [PUBLIC4]})
    got = views("example.com", dns, FakeHttps({WK: delegation(f"{PRIVATE4}:8448")}))
    lines = {name: denylist_lines(outcome) for name, outcome in got.items()}
    refusing = sorted(name for name, found in lines.items() if found)
    assert refusing == sorted(["synapse", "dendrite", *CONDUWUIT_FAMILY, "continuwuity"])
    assert all("ip_range_denylist" in lines[name][0] for name in (*CONDUWUIT_FAMILY, "continuwuity"))


def test_a_route_cache_keyed_by_host_name_is_stated_for_a_delegated_host_in_the_conduwuit_family():
    dns = FakeDns(addresses={"example.com": [PUBLIC4], "matrix.example.com": [PUBLIC4]})
    got = views("example.com", dns, FakeHttps({WK: delegation("matrix.example.com:443")}))
    stated = sorted(name for name, outcome in got.items() if host_cache_lines(outcome))
    assert stated == sorted([*CONDUWUIT_FAMILY, "continuwuity"])
    assert "matrix.example.com" in host_cache_lines(got["conduwuit"])[0]
    assert "D16" in host_cache_lines(got["conduwuit"])[0]


def test_no_host_name_cache_caveat_without_delegation():
    srv = {"_matrix-fed._tcp.example.com": [SrvRecord(10, 0, 8448, "matrix.example.com")]}
    dns = FakeDns(srv=srv, addresses={"example.com": [PUBLIC4], "matrix.example.com": [PUBLIC4]})
    got = views("example.com", dns, FakeHttps())
    assert {name: host_cache_lines(outcome) for name, outcome in got.items()} == {name: [] for name in PROFILES}


def test_the_notes_of_the_rules_that_made_a_view_differ_are_stated():
    # A trailing '/' in m.server: Synapse still delegates (m_server_validation, url_netloc), and its
    # profile's note on that rule says where its requests go.
    dns = FakeDns(addresses={"example.com": [PUBLIC4], "matrix.example.com": [PUBLIC4]})
    got = views("example.com", dns, FakeHttps({WK: delegation("matrix.example.com/")}))
    synapse = got["synapse"]
    assert [d.rule for d in synapse.differs_from_spec] == ["m_server_validation"]
    assert f"m_server_validation: {PROFILES['synapse'].notes['m_server_validation']}" in synapse.caveats()
    assert got["spec"].caveats() == [COLD_CACHE_CAVEAT]


def test_an_error_view_states_only_the_cold_cache_and_its_rule_notes():
    dns = FakeDns(addresses={"example.com": [PUBLIC4]})
    got = views("example.com", dns, FakeHttps({WK: delegation("[2a04:4e42:200::1]")}))
    conduwuit = got["conduwuit"]
    assert conduwuit.error is not None
    assert conduwuit.caveats()[0] == COLD_CACHE_CAVEAT
    assert not denylist_lines(conduwuit) and not host_cache_lines(conduwuit)
