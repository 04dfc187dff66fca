# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The divergence setups D1-D16 of issue 21, at a cold cache, for every implementation profile.

Each test builds one setup with fakes at the ports, resolves the name once for all profiles
(``resolve_implementations``: one network pass) and asserts every profile's targets, Host and
SNI (or its error code), and which rules ``differs_from_spec`` names. The expected values are
the ones read from the implementations' source (/work/wt/PROFILES-VERIFIED.md, to be cited in
docs/implementations.md). D11 (timing) is tested through ``notice_times`` in test_profiles.py;
D16 (a cache keyed by host name) depends on cache state and cannot be set up at a cold cache.
"""

from __future__ import annotations

import json
import random

import pytest
from test_resolution import FakeDns, FakeHttps, delegation, json_response, redirect

from ansible_collections.matrixops.delegation.plugins.module_utils._model import Clock, DnsError, SrvRecord
from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import PROFILES
from ansible_collections.matrixops.delegation.plugins.module_utils._resolution import resolve_implementations

NOW = 1_800_000_000.0
WK_PATH = "/.well-known/matrix/server"
EXAMPLE = "example.com"
WK = (EXAMPLE, 443, WK_PATH)
EX4 = "93.184.215.14"
MATRIX = "matrix.example.com"
M4, M6 = "151.101.65.1", "2a04:4e42:200::1"
FED1, F1_4 = "fed1.example.net", "185.199.108.1"
FED2, F2_4, F2_6 = "fed2.example.net", "185.199.109.2", "2a01:4f8:c2c:1::7"
PUBLIC_V6 = "2a01:4f8:c2c:1::9"
FED = f"_matrix-fed._tcp.{EXAMPLE}"
LEGACY = f"_matrix._tcp.{EXAMPLE}"

NAMES = tuple(PROFILES)  # spec, synapse, dendrite, conduwuit, continuwuity-0.5, tuwunel, tuwunel-1.0, ...
RUST = ("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0", "continuwuity", "conduit")
CONDUWUIT_FAMILY = ("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0")
PRE_QUERY = ("conduwuit", "tuwunel", "tuwunel-1.0")  # the D1 pre-query of the server name's addresses


def views(name, dns, https):
    outcomes = resolve_implementations(
        name, list(PROFILES.values()), dns=dns, https=https, rng=random.Random(0), clock=Clock(wall=lambda: NOW)
    )
    return {outcome.profile.name: outcome for outcome in outcomes}


def where(outcome):
    """``(Host, SNI, [(host, port, addresses)])``, or ``("error", code)``."""
    if outcome.error is not None:
        return ("error", outcome.error.code)
    result = outcome.resolution
    return (result.host_header, result.sni, [(t.host, t.port, t.addresses) for t in result.targets])


def expect(default, **by_profile):
    """Every profile's expected ``where()``: ``default`` unless named (``-`` in names becomes ``_``)."""
    return {name: by_profile.get(name.replace("-", "_").replace(".", ""), default) for name in NAMES}


def assert_views(got, want, rules):
    """Every profile's place, and the rules ``differs_from_spec`` names (empty where it agrees with spec)."""
    assert {name: where(outcome) for name, outcome in got.items()} == want
    named = {name: sorted({d.rule for d in outcome.differs_from_spec}) for name, outcome in got.items()}
    assert named == {name: sorted(rules.get(name, ())) for name in NAMES}
    for outcome in got.values():
        for divergence in outcome.differs_from_spec:
            assert divergence.versions == outcome.profile.versions
            assert divergence.reason


def refused():
    """No well-known file: the HTTPS fake refuses every connection."""
    return FakeHttps()


def fed(*records, name=FED):
    return {name: list(records)}


def servfail(name, kind="SERVFAIL"):
    return DnsError(f"{name} SRV", f"127.0.0.1:53 answered {kind}" if kind != "timeout" else "timed out", kind=kind)


# -- D1 --------------------------------------------------------------------------------------------------
def test_d1_srv_only_delegation_with_the_server_names_own_address():
    dns = FakeDns(srv=fed(SrvRecord(10, 0, 8443, MATRIX)), addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    got = views(EXAMPLE, dns, refused())
    spec_place = (EXAMPLE, EXAMPLE, [(MATRIX, 8443, [M4])])
    rust_place = ("example.com:8443", EXAMPLE, [(MATRIX, 8443, [M4])])
    own = ("example.com:8443", EXAMPLE, [(EXAMPLE, 8443, [EX4])])
    want = expect(
        rust_place,
        spec=spec_place,
        synapse=spec_place,
        dendrite=spec_place,
        conduwuit=own,
        tuwunel=own,
        tuwunel_10=own,
    )
    rules = {name: ["host_header"] for name in RUST}
    for name in PRE_QUERY:
        rules[name] = ["srv_name_override", "host_header"]
    assert_views(got, want, rules)
    # One network pass for nine profiles: each name asked once.
    assert sorted(dns.srv_queries()) == [FED]
    assert sorted(dns.address_queries()) == [EXAMPLE, MATRIX]


def test_d1_without_an_own_address_everyone_follows_the_srv_record():
    dns = FakeDns(srv=fed(SrvRecord(10, 0, 8448, MATRIX)), addresses={MATRIX: [M4]})
    got = views(EXAMPLE, dns, refused())
    spec_place = (EXAMPLE, EXAMPLE, [(MATRIX, 8448, [M4])])
    want = expect(("example.com:8448", EXAMPLE, [(MATRIX, 8448, [M4])]), spec=spec_place, synapse=spec_place)
    want["dendrite"] = spec_place
    assert_views(got, want, {name: ["host_header"] for name in RUST})


# -- D2, D3 ----------------------------------------------------------------------------------------------
def _failing_fed_srv(kind):
    return FakeDns(
        srv=fed(SrvRecord(10, 0, 8449, MATRIX), name=LEGACY),
        addresses={EXAMPLE: [EX4], MATRIX: [M4]},
        errors={("srv", FED): servfail(FED, kind)},
    )


@pytest.mark.parametrize("kind", ["SERVFAIL", "REFUSED"])
def test_d2_a_failing_matrix_fed_query(kind):
    got = views(EXAMPLE, _failing_fed_srv(kind), refused())
    legacy = ("example.com:8449", EXAMPLE, [(MATRIX, 8449, [M4])])
    own_legacy = ("example.com:8449", EXAMPLE, [(EXAMPLE, 8449, [EX4])])
    want = expect(
        legacy,
        spec=("error", "dns-failure"),
        synapse=("error", "dns-failure"),
        dendrite=(EXAMPLE, EXAMPLE, [(EXAMPLE, 8448, [EX4])]),
        conduwuit=own_legacy,
        tuwunel=own_legacy,
        tuwunel_10=("example.com:8448", EXAMPLE, [(EXAMPLE, 8448, [EX4])]),
    )
    rules = {name: ["srv_error", "host_header"] for name in RUST}
    rules["dendrite"] = ["srv_error"]
    for name in ("conduwuit", "tuwunel"):
        rules[name] = ["srv_error", "srv_name_override", "host_header"]
    rules["tuwunel-1.0"] = ["srv_error", "srv_services", "host_header"]  # never asks _matrix._tcp
    assert_views(got, want, rules)


def test_d3_a_timed_out_matrix_fed_query():
    got = views(EXAMPLE, _failing_fed_srv("timeout"), refused())
    legacy = ("example.com:8449", EXAMPLE, [(MATRIX, 8449, [M4])])
    failed = ("error", "dns-failure")
    want = expect(
        failed,
        dendrite=(EXAMPLE, EXAMPLE, [(EXAMPLE, 8448, [EX4])]),
        continuwuity=legacy,
        conduit=legacy,
    )
    rules = {
        "dendrite": ["srv_timeout"],
        "continuwuity": ["srv_timeout", "host_header"],
        "conduit": ["srv_timeout", "host_header"],
    }
    assert_views(got, want, rules)


# -- D4 --------------------------------------------------------------------------------------------------
def test_d4_several_srv_records_first_in_the_answer_against_rfc_2782_order():
    # The answer lists the priority-20 record first; the name has no address of its own.
    dns = FakeDns(
        srv=fed(SrvRecord(20, 0, 8448, FED2), SrvRecord(10, 0, 8448, FED1)),
        addresses={FED1: [F1_4], FED2: [F2_6, F2_4]},
    )
    got = views(EXAMPLE, dns, refused())
    both = [(FED1, 8448, [F1_4]), (FED2, 8448, [F2_6, F2_4])]
    first = ("example.com:8448", EXAMPLE, [(FED2, 8448, [F2_4])])
    want = expect(
        first,
        spec=(EXAMPLE, EXAMPLE, both),
        synapse=(EXAMPLE, EXAMPLE, both),
        dendrite=(EXAMPLE, EXAMPLE, [(FED1, 8448, [F1_4]), (FED2, 8448, [F2_4])]),
    )
    rules = {name: ["srv_selection", "address_family", "host_header"] for name in RUST}
    rules["dendrite"] = ["address_family"]
    rules["conduit"] = ["srv_selection", "srv_target_addresses", "host_header"]
    assert_views(got, want, rules)


# -- D5, D15 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("srv_target", [MATRIX, "."], ids=["D5-target-without-address", "D15-target-dot"])
def test_d5_d15_an_srv_target_without_address(srv_target):
    dns = FakeDns(srv=fed(SrvRecord(10, 0, 8443, srv_target)), addresses={EXAMPLE: [EX4], MATRIX: []})
    got = views(EXAMPLE, dns, refused())
    failed = ("error", "no-address" if srv_target == MATRIX else "srv-disabled")
    own = ("example.com:8443", EXAMPLE, [(EXAMPLE, 8443, [EX4])])
    want = expect(own, spec=failed, synapse=failed, dendrite=failed)
    rules = {name: ["srv_target_without_address", "host_header"] for name in RUST}
    # With the pre-query, the name's own addresses are used before the target is looked at.
    rules.update({name: ["srv_name_override", "host_header"] for name in PRE_QUERY})
    assert_views(got, want, rules)


# -- D6 --------------------------------------------------------------------------------------------------
def test_d6_a_dual_stack_target():
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M6, M4]})
    got = views(EXAMPLE, dns, FakeHttps({WK: delegation("matrix.example.com:8448")}))
    all_of_them = ("matrix.example.com:8448", MATRIX, [(MATRIX, 8448, [M6, M4])])
    ipv4 = ("matrix.example.com:8448", MATRIX, [(MATRIX, 8448, [M4])])
    want = expect(ipv4, spec=all_of_them, synapse=all_of_them, conduit=all_of_them)
    rules = {name: ["address_family"] for name in NAMES if name not in ("spec", "synapse", "conduit")}
    assert_views(got, want, rules)


def test_d6_an_ipv6_only_target_is_out_of_reach_for_dendrite():
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M6]})
    got = views(EXAMPLE, dns, FakeHttps({WK: delegation("matrix.example.com:8448")}))
    want = expect(("matrix.example.com:8448", MATRIX, [(MATRIX, 8448, [M6])]), dendrite=("error", "no-address"))
    assert_views(got, want, {"dendrite": ["address_family"]})
    assert f"{MATRIX} has only IPv6 addresses ({M6}); it dials IPv4 only" in got["dendrite"].error.reason


# -- D7 --------------------------------------------------------------------------------------------------
FALLBACK = (EXAMPLE, EXAMPLE, [(EXAMPLE, 8448, [EX4])])
RUST_FALLBACK = ("example.com:8448", EXAMPLE, [(EXAMPLE, 8448, [EX4])])


@pytest.mark.parametrize(
    ("m_server", "synapse"),
    [
        # Synapse uses the URL authority: the host "https", which has no address.
        ("https://matrix.example.com", ("error", "no-address")),
        # ... and "matrix.example.com", so a trailing '/' still delegates (seen running Synapse).
        ("matrix.example.com/", (MATRIX, MATRIX, [(MATRIX, 8448, [M4])])),
        ("matrix example.com", ("error", "invalid-m-server")),
    ],
)
def test_d7_an_invalid_m_server(m_server, synapse):
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    got = views(EXAMPLE, dns, FakeHttps({WK: delegation(m_server)}))
    invalid = ("error", "invalid-m-server")
    want = expect(
        RUST_FALLBACK, spec=FALLBACK, synapse=synapse, dendrite=invalid, continuwuity=invalid, conduit=invalid
    )
    rules = {name: ["m_server_validation"] for name in ("synapse", "dendrite", "continuwuity", "conduit")}
    rules.update({name: ["host_header"] for name in CONDUWUIT_FAMILY})
    assert_views(got, want, rules)
    assert "no fallback" in got["dendrite"].error.reason
    assert "used as written" in got["conduit"].error.reason


def test_d7_an_empty_m_server():
    dns = FakeDns(addresses={EXAMPLE: [EX4]})
    got = views(EXAMPLE, dns, FakeHttps({WK: delegation("")}))
    invalid = ("error", "invalid-m-server")
    want = expect(
        RUST_FALLBACK, spec=FALLBACK, synapse=FALLBACK, dendrite=FALLBACK, continuwuity=invalid, conduit=invalid
    )
    rules = {name: ["host_header"] for name in CONDUWUIT_FAMILY}
    rules.update({name: ["empty_m_server"] for name in ("continuwuity", "conduit")})
    assert_views(got, want, rules)


def test_d7_a_non_string_m_server_is_no_delegation_for_everyone():
    dns = FakeDns(addresses={EXAMPLE: [EX4]})
    got = views(EXAMPLE, dns, FakeHttps({WK: delegation(123)}))
    want = expect(RUST_FALLBACK, spec=FALLBACK, synapse=FALLBACK, dendrite=FALLBACK)
    assert_views(got, want, {name: ["host_header"] for name in RUST})


# -- D8 --------------------------------------------------------------------------------------------------
def padded_delegation(size: int, m_server: str = "matrix.example.com:443"):
    """A JSON body of exactly ``size`` bytes delegating to ``m_server``."""
    skeleton = {"m.server": m_server, "padding": ""}
    missing = size - len(json.dumps(skeleton).encode())
    skeleton["padding"] = "x" * missing
    answer = json_response(skeleton)
    assert len(answer.body) == size
    return answer


DELEGATED = ("matrix.example.com:443", MATRIX, [(MATRIX, 443, [M4])])
RUST_DELEGATED = (MATRIX, MATRIX, [(MATRIX, 443, [M4])])  # the URL's authority drops :443


@pytest.mark.parametrize(
    ("size", "refusing"),
    [
        (8192, ()),
        (8193, ("continuwuity-0.5",)),
        (12287, ("continuwuity-0.5",)),
        (12288, ("conduwuit", "continuwuity-0.5", "tuwunel-1.0")),  # tuwunel (v1.7.1+) accepts 12 288
        (12289, CONDUWUIT_FAMILY),
        (20 * 1024, CONDUWUIT_FAMILY),
        (51199, CONDUWUIT_FAMILY),
        (51200, (*CONDUWUIT_FAMILY, "spec", "synapse")),
        (60 * 1024, (*CONDUWUIT_FAMILY, "spec", "synapse", "dendrite")),
        (256 * 1024 + 1, (*CONDUWUIT_FAMILY, "spec", "synapse", "dendrite", "continuwuity")),
    ],
)
def test_d8_body_size_limits(size, refusing):
    refusing = set(refusing)
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    got = views(EXAMPLE, dns, FakeHttps({WK: padded_delegation(size)}))
    want = {}
    for name in NAMES:
        rust = name in RUST
        if name in refusing:
            want[name] = RUST_FALLBACK if rust else FALLBACK
        else:
            want[name] = RUST_DELEGATED if rust else DELEGATED
    assert {name: where(outcome) for name, outcome in got.items()} == want
    spec_refuses = "spec" in refusing
    for name, outcome in got.items():
        rules = {d.rule for d in outcome.differs_from_spec}
        if name != "spec" and (name in refusing) != spec_refuses:
            assert "well_known_body_max" in rules, name


# -- D9 --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "delegating"),
    [(203, (*CONDUWUIT_FAMILY, "conduit")), (404, ("conduit",)), (500, ("conduit",))],
)
def test_d9_a_status_other_than_200(status, delegating):
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    got = views(EXAMPLE, dns, FakeHttps({WK: delegation("matrix.example.com:443", status=status)}))
    want = {}
    for name in NAMES:
        rust = name in RUST
        if name in delegating:
            want[name] = RUST_DELEGATED if rust else DELEGATED
        else:
            want[name] = RUST_FALLBACK if rust else FALLBACK
    rules = {name: ["well_known_statuses", "host_header"] for name in delegating}
    rules.update({name: ["host_header"] for name in RUST if name not in delegating})
    assert_views(got, want, rules)


# -- D10 -------------------------------------------------------------------------------------------------
def redirect_chain(hops: int):
    routes = {}
    path = WK_PATH
    for hop in range(1, hops + 1):
        routes[(EXAMPLE, 443, path)] = redirect(f"/hop{hop}", 307)
        path = f"/hop{hop}"
    routes[(EXAMPLE, 443, path)] = delegation("matrix.example.com:443")
    return routes


@pytest.mark.parametrize(
    ("hops", "following"),
    [
        (3, NAMES),
        (4, tuple(name for name in NAMES if name != "conduwuit")),
        (5, ("spec", "synapse", "dendrite", "conduit")),
        (9, ("spec", "synapse", "dendrite", "conduit")),
        (10, ("spec", "synapse")),
        (20, ("synapse",)),
        (21, ()),
    ],
)
def test_d10_redirect_chains(hops, following):
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    https = FakeHttps(redirect_chain(hops))
    got = views(EXAMPLE, dns, https)
    want = {}
    for name in NAMES:
        rust = name in RUST
        if name in following:
            want[name] = RUST_DELEGATED if rust else DELEGATED
        else:
            want[name] = RUST_FALLBACK if rust else FALLBACK
    assert {name: where(outcome) for name, outcome in got.items()} == want
    for name, outcome in got.items():
        if name != "spec" and (name in following) != ("spec" in following):
            assert "well_known_max_redirects" in {d.rule for d in outcome.differs_from_spec}, name
    # The chain was fetched once, as far as the most permissive profile goes (Synapse's 20).
    assert len(https.calls) == min(hops, 20) + 1


def test_d10_a_redirect_to_plain_http_is_not_fetched_and_says_so():
    dns = FakeDns(addresses={EXAMPLE: [EX4]})
    https = FakeHttps({WK: redirect("http://example.com/.well-known/matrix/server", 301)})
    got = views(EXAMPLE, dns, https)
    assert {name: where(outcome) for name, outcome in got.items()} == expect(
        RUST_FALLBACK, spec=FALLBACK, synapse=FALLBACK, dendrite=FALLBACK
    )
    assert got["spec"].unobserved == []
    for name in NAMES[1:]:  # every implementation follows it; this check fetches https only
        assert got[name].unobserved == [
            "follows the redirect to plain http http://example.com/.well-known/matrix/server, which this check "
            "does not fetch: assumed to give no delegation"
        ]


# -- D12 -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("m_server", "authority", "rust_host", "port"),
    [
        ("151.101.65.1", "151.101.65.1", "151.101.65.1:8448", 8448),
        ("151.101.65.1:443", "151.101.65.1:443", "151.101.65.1", 443),
        ("matrix.example.com:443", "matrix.example.com:443", MATRIX, 443),
        ("matrix.example.com:8448", "matrix.example.com:8448", "matrix.example.com:8448", 8448),
    ],
)
def test_d12_host_header_forms(m_server, authority, rust_host, port):
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    got = views(EXAMPLE, dns, FakeHttps({WK: delegation(m_server)}))
    sni = None if m_server[0].isdigit() else MATRIX
    host = M4 if sni is None else MATRIX
    want = expect((authority, sni, [(host, port, [M4])]))
    want.update({name: (rust_host, sni, [(host, port, [M4])]) for name in RUST})
    rules = {} if rust_host == authority else {name: ["host_header"] for name in RUST}
    assert_views(got, want, rules)


# -- D13 -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("delegated", [False, True], ids=["server-name", "m-server"])
def test_d13_a_bracketed_ipv6_literal_without_port(delegated):
    literal = f"[{PUBLIC_V6}]"
    dns = FakeDns(addresses={EXAMPLE: [EX4]})
    https = FakeHttps({WK: delegation(literal)})
    got = views(EXAMPLE if delegated else literal, dns, https)
    # The conduwuit family splits '[2a01:...]' at its first ':' and cannot look up the host '[2a01'.
    unparsed = ("error", "invalid-m-server" if delegated else "invalid-server-name")
    want = expect(
        (literal, None, [(PUBLIC_V6, 443, [PUBLIC_V6])]),
        spec=(literal, None, [(PUBLIC_V6, 8448, [PUBLIC_V6])]),
        synapse=(literal, None, [(PUBLIC_V6, 8448, [PUBLIC_V6])]),
        dendrite=("error", "no-address"),  # Dendrite's default allow_networks refuses every IPv6 dial
        **{name.replace("-", "_").replace(".", ""): unparsed for name in CONDUWUIT_FAMILY},
    )
    rules = {name: ["ipv6_literal_default_port"] for name in RUST}
    rules["dendrite"] = ["address_family"]
    assert_views(got, want, rules)
    assert "cannot look up the host '[2a01'" in got["conduwuit"].error.reason


# -- D14 -------------------------------------------------------------------------------------------------
def test_d14_only_the_legacy_srv_service_is_published():
    dns = FakeDns(srv=fed(SrvRecord(10, 0, 8449, MATRIX), name=LEGACY), addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    got = views(EXAMPLE, dns, refused())
    spec_place = (EXAMPLE, EXAMPLE, [(MATRIX, 8449, [M4])])
    own = ("example.com:8449", EXAMPLE, [(EXAMPLE, 8449, [EX4])])
    want = expect(
        ("example.com:8449", EXAMPLE, [(MATRIX, 8449, [M4])]),
        spec=spec_place,
        synapse=spec_place,
        dendrite=spec_place,
        conduwuit=own,
        tuwunel=own,
        tuwunel_10=("example.com:8448", EXAMPLE, [(EXAMPLE, 8448, [EX4])]),
    )
    rules = {name: ["host_header"] for name in RUST}
    rules.update({name: ["srv_name_override", "host_header"] for name in ("conduwuit", "tuwunel")})
    rules["tuwunel-1.0"] = ["srv_services", "host_header"]
    assert_views(got, want, rules)
