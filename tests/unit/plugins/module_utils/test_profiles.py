# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Implementation profiles as data: the records, their names, one network pass, and the migration timing.

The divergence setups D1-D16 are in test_profiles_divergences.py.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from test_profiles_divergences import padded_delegation
from test_profiles_observe_once import LimitedHttps
from test_resolution import ADDRESSES, EXAMPLE, FakeDns, FakeHttps, delegation, redirect

from ansible_collections.matrixops.delegation.plugins.module_utils._dns import error_class
from ansible_collections.matrixops.delegation.plugins.module_utils._model import Clock, SrvRecord
from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import (
    CHOICES,
    PROFILE_NAMES,
    PROFILES,
    RULES,
    SPEC,
    UNLIMITED_BODY_READ,
    Profile,
    ProfileError,
    notice_times,
    observation_limits,
    parse_cache_headers,
    profile_named,
    profiles_named,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolution import (
    resolve_implementations,
    resolve_server_name,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions, Resolver
from ansible_collections.matrixops.delegation.plugins.module_utils._wellknown import (
    MAX_REDIRECTS,
    WELL_KNOWN_BODY_LIMIT,
)

NOW = 1_800_000_000.0
WK = (EXAMPLE, 443, "/.well-known/matrix/server")
HOUR = 3600


# -- the records -------------------------------------------------------------------------------------------
def test_the_profile_names_of_the_contract_are_there_spec_first():
    assert PROFILE_NAMES[0] == "spec"
    assert {"spec", "synapse", "dendrite", "conduwuit", "tuwunel", "continuwuity", "conduit"} <= set(PROFILE_NAMES)
    assert all(name == name.lower() for name in PROFILE_NAMES)


@pytest.mark.parametrize("profile", list(PROFILES.values()), ids=PROFILE_NAMES)
def test_every_rule_value_is_one_the_core_knows(profile):
    for rule, allowed in CHOICES.items():
        assert getattr(profile, rule) in allowed, (profile.name, rule)
    assert set(profile.srv_services) <= {"_matrix-fed._tcp", "_matrix._tcp"}
    assert profile.srv_services[0] == "_matrix-fed._tcp"
    assert profile.well_known_max_redirects >= 0
    assert profile.ipv6_literal_default_port in (8448, 443, None)


@pytest.mark.parametrize("profile", list(PROFILES.values())[1:], ids=PROFILE_NAMES[1:])
def test_every_rule_that_differs_from_the_spec_cites_its_source(profile):
    for rule in RULES:
        if getattr(profile, rule) != getattr(SPEC, rule) and rule != "cache":
            assert profile.sources.get(rule), (profile.name, rule)
    assert profile.sources.get("cache"), profile.name
    assert profile.versions
    assert set(profile.sources) <= set(RULES), set(profile.sources) - set(RULES)


def test_a_profile_is_frozen_all_the_way_down():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SPEC.srv_error = "next"
    with pytest.raises(TypeError):
        PROFILES["synapse"].sources["srv_error"] = "elsewhere"
    with pytest.raises(TypeError):
        PROFILES["extra"] = SPEC


def test_the_spec_profile_is_the_collections_own_limits():
    assert SPEC.well_known_body_max + 1 == WELL_KNOWN_BODY_LIMIT
    assert SPEC.well_known_max_redirects == MAX_REDIRECTS
    assert observation_limits([SPEC]).key == (WELL_KNOWN_BODY_LIMIT, MAX_REDIRECTS)


def test_one_fetch_serves_every_profile_with_the_most_permissive_limits():
    limits = observation_limits(list(PROFILES.values()))
    assert limits.max_redirects == 20  # Synapse (Twisted's RedirectAgent)
    assert limits.body_limit == UNLIMITED_BODY_READ  # Conduit reads any size
    assert observation_limits([PROFILES["continuwuity"]]).body_limit == 256 * 1024 + 1


def test_to_dict_lists_every_rule_with_its_sources():
    entry = PROFILES["dendrite"].to_dict()
    assert entry["name"] == "dendrite"
    assert set(entry["rules"]) == set(RULES)
    assert entry["rules"]["srv_services"] == ["_matrix-fed._tcp", "_matrix._tcp"]
    assert "fclient/resolve.go" in entry["sources"]["srv_error"]


# -- names ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Synapse", " dendrite ", "TUWUNEL-1.0"])
def test_profile_names_are_case_and_space_insensitive(name):
    assert profile_named(name).name == name.strip().lower()


@pytest.mark.parametrize("name", ["dendrit", "", None, 3, ["synapse"]])
def test_an_unknown_profile_name_lists_the_valid_ones(name):
    with pytest.raises(ProfileError) as info:
        profile_named(name)
    assert f"unknown implementation {name!r}" in str(info.value)
    assert "expected one of spec, synapse, dendrite, conduwuit" in str(info.value)


def test_profiles_named_takes_all_or_a_list():
    assert profiles_named("all") == list(PROFILES.values())
    assert profiles_named(["ALL"]) == list(PROFILES.values())
    assert [p.name for p in profiles_named(["conduit", "synapse", "conduit"])] == ["conduit", "synapse"]
    with pytest.raises(ProfileError, match="'all' cannot be combined"):
        profiles_named(["all", "synapse"])
    with pytest.raises(ProfileError, match="a list of names or 'all'"):
        profiles_named([])
    with pytest.raises(ProfileError, match="unknown implementation 'synapze'"):
        profiles_named(["synapse", "synapze"])


# -- the core with a profile: spec unchanged, one network pass ---------------------------------------------
def _resolve_all(dns, https):
    return resolve_implementations(
        EXAMPLE, list(PROFILES.values()), dns=dns, https=https, rng=random.Random(0), clock=Clock(wall=lambda: NOW)
    )


SETUPS = {
    "well_known_srv": (
        {"_matrix-fed._tcp.matrix.example.com": [SrvRecord(10, 5, 443, "fed1.example.net")]},
        {WK: delegation("matrix.example.com")},
    ),
    "srv": ({"_matrix-fed._tcp.example.com": [SrvRecord(10, 5, 8443, "fed1.example.net")]}, {}),
    "well_known_explicit_port": ({}, {WK: delegation("matrix.example.com:443")}),
    "redirected": (
        {},
        {
            WK: redirect("https://example.com/elsewhere"),
            (EXAMPLE, 443, "/elsewhere"): delegation("matrix.example.com:8448"),
        },
    ),
}


@pytest.mark.parametrize("setup", list(SETUPS))
def test_the_spec_view_is_the_plain_resolution(setup):
    srv, routes = SETUPS[setup]
    plain = resolve_server_name(
        EXAMPLE,
        dns=FakeDns(srv=srv),
        https=FakeHttps(routes),
        rng=random.Random(0),
        clock=Clock(wall=lambda: NOW),
    )
    views = resolve_implementations(
        EXAMPLE,
        [SPEC],
        dns=FakeDns(srv=srv),
        https=FakeHttps(routes),
        rng=random.Random(0),
        clock=Clock(wall=lambda: NOW),
    )
    assert views[0].resolution is not None
    assert views[0].resolution.to_dict() == plain.to_dict()
    assert views[0].differs_from_spec == []


def test_the_plain_resolution_fetches_with_the_spec_limits():
    https = FakeHttps({WK: delegation("matrix.example.com:443")})
    resolve_server_name(EXAMPLE, dns=FakeDns(), https=https, rng=random.Random(0))
    assert [call.body_limit for call in https.calls] == [WELL_KNOWN_BODY_LIMIT]


def test_every_profile_is_judged_from_one_network_pass():
    dns = FakeDns(srv={"_matrix-fed._tcp.matrix.example.com": [SrvRecord(10, 5, 443, "fed1.example.net")]})
    https = FakeHttps({WK: delegation("matrix.example.com")})
    outcomes = _resolve_all(dns, https)
    assert [outcome.profile.name for outcome in outcomes] == list(PROFILE_NAMES)
    assert https.requested() == [WK]
    assert [call.body_limit for call in https.calls] == [UNLIMITED_BODY_READ]
    assert sorted(dns.srv_queries()) == ["_matrix-fed._tcp.matrix.example.com"]
    assert sorted(dns.address_queries()) == sorted({EXAMPLE, "fed1.example.net"})


def test_the_resolver_memoises_the_views_of_a_name(closing):
    resolver = closing(Resolver(ResolveOptions(nameservers=["127.0.0.1:5353"])))
    resolver.dns = FakeDns(addresses=ADDRESSES)
    resolver.https = FakeHttps({WK: delegation("matrix.example.com:443")})
    profiles = [PROFILES["conduit"], PROFILES["synapse"]]
    first, again = resolver.resolve_all_implementations([EXAMPLE, EXAMPLE], profiles)
    assert first is again
    assert [outcome.profile.name for outcome in first] == ["conduit", "synapse"]
    assert resolver.https.requested() == [WK]
    conduit = first[0].to_dict()
    assert conduit["implementation"] == "conduit"
    assert conduit["host_header"] == "matrix.example.com"  # the URL's authority drops :443
    assert [d["rule"] for d in conduit["differs_from_spec"]] == ["host_header"]
    assert first[1].to_dict()["differs_from_spec"] == []


def test_a_view_of_an_invalid_name_is_its_error_for_every_profile():
    outcomes = _resolve_all(FakeDns(), FakeHttps())
    assert outcomes  # a valid name: see below for an invalid one
    for value in ("bad name", 42):
        views = resolve_implementations(value, list(PROFILES.values()), dns=FakeDns(), https=FakeHttps())
        assert {view.error.code for view in views if view.error is not None} == {"invalid-server-name"}
        assert all(view.differs_from_spec == [] for view in views)
        entry = views[1].to_dict()
        assert entry["targets"] == [] and entry["code"] == "invalid-server-name"


# -- the DNS error class ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["timeout", "timeout"], "timeout"),
        ([], "timeout"),
        (["timeout", "SERVFAIL"], "SERVFAIL"),
        (["REFUSED", "SERVFAIL"], "SERVFAIL"),
        (["REFUSED", "timeout"], "REFUSED"),
        (["other", "timeout"], "other"),
        (["FORMERR"], "other"),
    ],
)
def test_the_error_class_of_a_failed_query(kinds, expected):
    assert error_class(kinds) == expected


# -- D11: when will each implementation notice a change ------------------------------------------------------
def seconds(headers, **ttls):
    times = notice_times(list(PROFILES.values()), well_known_headers=headers, now=NOW, **ttls)
    return {time.implementation: time.seconds for time in times}


def test_d11_max_age_of_a_minute():
    got = seconds([("cache-control", "max-age=60")])
    assert got == {
        "spec": 60,
        "synapse": 300,  # clamped to [5 min, 48 h]
        "dendrite": None,  # until every destination fails
        "conduwuit": 36 * HOUR,
        "continuwuity-0.5": 36 * HOUR,
        "tuwunel": 36 * HOUR,
        "tuwunel-1.0": 36 * HOUR,
        "continuwuity": 24 * HOUR,
        "conduit": 60,
    }


def test_d11_no_cache_headers():
    got = seconds([("content-type", "application/json")])
    assert got["spec"] == 24 * HOUR
    assert got["synapse"] == int(24 * HOUR * 1.1)  # 24 h +10 % at most
    assert got["conduit"] == 24 * HOUR


def test_d11_no_store_and_no_cache():
    assert seconds([("cache-control", "no-store")])["synapse"] == 300
    assert seconds([("cache-control", "no-store")])["spec"] == 0
    no_cache = seconds([("cache-control", "no-cache")])
    assert no_cache["conduit"] == 0  # Conduit re-resolves on every request
    assert no_cache["synapse"] == int(24 * HOUR * 1.1)  # no-cache means nothing special to Synapse


def test_d11_a_week_is_capped_at_48_hours():
    got = seconds([("cache-control", "public, max-age=604800")])
    assert got["spec"] == got["synapse"] == got["conduit"] == 48 * HOUR


def test_d11_expires_counts_except_for_conduit():
    expires = "Fri, 15 Jan 2027 10:00:00 GMT"  # NOW + 7200 s
    assert parse_cache_headers([("expires", expires)], now=NOW).expires_in == 7200
    got = seconds([("expires", expires)])
    assert got["spec"] == got["synapse"] == 7200
    assert got["conduit"] == 24 * HOUR


def test_d11_conduit_reads_every_header_as_cache_control():
    # An HSTS max-age alone is taken as the cache period (capped at 48 h)...
    assert seconds([("strict-transport-security", "max-age=63072000")])["conduit"] == 48 * HOUR
    # ... and one with a parameter breaks the parse: the default, whatever Cache-Control says.
    got = seconds([("cache-control", "max-age=60"), ("strict-transport-security", "max-age=63072000; preload")])
    assert got["conduit"] == 24 * HOUR
    assert got["spec"] == 60


def test_d11_a_long_dns_ttl_outlasts_the_well_known_period():
    got = seconds([("cache-control", "max-age=60")], srv_ttl=4 * HOUR, address_ttl=300)
    assert got["spec"] == got["synapse"] == got["conduit"] == 4 * HOUR
    assert got["continuwuity"] == 24 * HOUR
    assert got["dendrite"] is None


def test_d11_without_a_well_known_the_failure_is_remembered_for_its_own_time():
    got = seconds(None)
    assert got["spec"] == HOUR and got["synapse"] == int(1.1 * HOUR) and got["conduit"] == HOUR
    assert got["conduwuit"] == 36 * HOUR and got["continuwuity"] == 24 * HOUR and got["dendrite"] is None


def test_d11_each_answer_says_why():
    times = notice_times([PROFILES["synapse"]], well_known_headers=[("cache-control", "max-age=60")], now=NOW)
    assert times[0].to_dict() == {
        "implementation": "synapse",
        "versions": PROFILES["synapse"].versions,
        "seconds": 300,
        "basis": [PROFILES["synapse"].cache.basis, "well-known max-age=60 clamped to [5 min, 48 h]: 5 min"],
    }
    dendrite = notice_times([PROFILES["dendrite"]], well_known_headers=None, now=NOW)[0]
    assert dendrite.seconds is None and "every destination fails" in dendrite.basis[0]


def test_a_profile_can_be_made_for_a_new_version():
    newer = dataclasses.replace(PROFILES["tuwunel"], name="tuwunel-2.0", versions="tuwunel v2.0", srv_error="fail")
    assert isinstance(newer, Profile) and newer.sources == PROFILES["tuwunel"].sources
    views = resolve_implementations(
        EXAMPLE,
        [newer],
        dns=FakeDns(srv={"_matrix-fed._tcp.example.com": [SrvRecord(10, 0, 8448, "fed1.example.net")]}),
        https=FakeHttps(),
    )
    assert views[0].profile is newer


def test_the_migration_timing_of_each_view_comes_from_the_headers_it_accepts():
    headers = [("Cache-Control", "max-age=60")]
    https = FakeHttps({WK: delegation("matrix.example.com:443", status=203, headers=headers)})
    views = {view.profile.name: view for view in _resolve_all(FakeDns(), https)}
    # HTTP 203: the spec and Synapse refuse the file (their fallback is cached), conduwuit accepts it.
    assert views["spec"].well_known_headers is None
    assert ("cache-control", "max-age=60") in views["conduwuit"].well_known_headers
    times = {
        name: notice_times([view.profile], well_known_headers=view.well_known_headers, now=NOW)[0].seconds
        for name, view in views.items()
    }
    assert times["spec"] == HOUR and times["synapse"] == int(1.1 * HOUR)  # they remember the refusal
    assert times["conduit"] == 60


class TtlDns(FakeDns):
    """FakeDns whose answers carry TTLs."""

    def srv(self, name, deadline=None):
        return dataclasses.replace(super().srv(name, deadline), ttl=4 * HOUR)

    def addresses(self, name, deadline=None):
        return dataclasses.replace(super().addresses(name, deadline), ttl=600)


def test_each_view_knows_the_ttls_of_its_route_and_when_a_peer_notices_a_change():
    dns = TtlDns(srv={"_matrix-fed._tcp.example.com": [SrvRecord(10, 0, 8448, "fed1.example.net")]})
    views = {view.profile.name: view for view in _resolve_all(dns, FakeHttps())}
    assert (views["spec"].srv_ttl, views["spec"].address_ttl) == (4 * HOUR, 600)
    assert views["spec"].notice_time(now=NOW).seconds == 4 * HOUR  # no well-known (1 h): the SRV TTL is longer
    assert views["conduwuit"].notice_time(now=NOW).seconds == 36 * HOUR
    assert views["dendrite"].notice_time(now=NOW).seconds is None
    assert views["conduit"].notice_time(now=NOW).to_dict()["implementation"] == "conduit"


def test_a_profile_refusing_a_body_the_fetch_read_says_how_large_it_was():
    views = {view.profile.name: view for view in _resolve_all(FakeDns(), FakeHttps({WK: padded_delegation(20480)}))}
    error = views["conduwuit"].resolution.well_known.error
    assert error == (
        "https://example.com/.well-known/matrix/server: body of 12288 bytes or more (limit 12287): the body is 20480 bytes"
    )
    assert "well_known_body_max" in [d.rule for d in views["conduwuit"].differs_from_spec]
    assert views["conduit"].resolution.delegated_server == "matrix.example.com:443"


def test_a_body_larger_than_the_fetch_reads_is_unobserved_for_a_profile_without_limit():
    https = LimitedHttps({WK: padded_delegation(UNLIMITED_BODY_READ + 10)})
    views = {view.profile.name: view for view in _resolve_all(FakeDns(), https)}
    assert views["conduit"].unobserved == [
        f"reads a larger body than the {UNLIMITED_BODY_READ - 1} bytes this check reads: assumed to give no delegation"
    ]
    assert views["conduit"].resolution.delegated_server is None
    assert views["continuwuity"].unobserved == []
    assert "body of 262145 bytes or more (limit 262144)" in views["continuwuity"].resolution.well_known.error
