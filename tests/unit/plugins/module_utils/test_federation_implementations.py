# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""federation_check's ``implementations``: per-implementation views, their connection checks, ``divergent``.

The resolution is the real one (``resolve_implementations``) over the DNS and HTTPS fakes of
test_resolution; the connections go to the FederationProbe fake of test_federation_checker,
whose sessions may answer only for some ``Host`` headers. Each setup is one of the divergences
of docs/implementations.md, checked end to end: where each implementation connects, whether
those connections pass, and the rule and fix ``divergent`` names.
"""

from __future__ import annotations

import copy
import random

import pytest
from test_federation import NOW_MS, key_document
from test_federation_checker import GOOD_ROUTES, VERSION, FakeProbe, FakeSession, response
from test_resolution import FakeDns, FakeHttps, delegation, json_response, redirect

from ansible_collections.matrixops.delegation.plugins.module_utils._check_policy import CheckPolicy
from ansible_collections.matrixops.delegation.plugins.module_utils._federation import FederationChecker
from ansible_collections.matrixops.delegation.plugins.module_utils._model import (
    Clock,
    DnsError,
    HttpsError,
    SrvRecord,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import (
    PROFILE_NAMES,
    ProfileError,
    profiles_named,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolution import (
    resolve_implementations,
    resolve_server_name,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions

NOW = NOW_MS / 1000
EXAMPLE = "example.com"
MATRIX = "matrix.example.com"
EX4 = "93.184.215.14"
M4, M6 = "151.101.65.1", "2a04:4e42:200::1"
FED = f"_matrix-fed._tcp.{EXAMPLE}"
WK = (EXAMPLE, 443, "/.well-known/matrix/server")
KEYS = "/_matrix/key/v2/server"
RUST = ("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0", "continuwuity", "conduit")
PRE_QUERY = ("conduwuit", "tuwunel", "tuwunel-1.0")


class ProfilesResolver:
    """The ResolutionPort over the resolution core and fakes: one memo, as the real Resolver."""

    def __init__(self, dns, https):
        self.dns, self.https = dns, https
        self.memo_calls: list[tuple[str, tuple]] = []
        self.closed = False

    def _options(self):
        return {"dns": self.dns, "https": self.https, "rng": random.Random(0), "clock": Clock(wall=lambda: NOW)}

    def resolve(self, name):
        self.memo_calls.append((name, ()))
        return resolve_server_name(name, **self._options())

    def resolve_implementations(self, name, profiles):
        self.memo_calls.append((name, tuple(profile.name for profile in profiles)))
        return resolve_implementations(name, profiles, **self._options())

    def close(self):
        self.closed = True


class HostSession(FakeSession):
    """A homeserver behind a proxy that routes on the exact ``Host`` header: others get 404."""

    def __init__(self, *hosts):
        super().__init__()
        self.hosts = hosts

    def get(self, path, *, host_header, body_limit):
        if host_header not in self.hosts:
            self.requests.append((path, host_header))
            return response(b"no such site", status=404)
        return super().get(path, host_header=host_header, body_limit=body_limit)


def refused(address, port=8448):
    return HttpsError(f"{address}:{port}: cannot connect: Connection refused", kind="connect")


def check(dns, https=None, sessions=None, *, implementations="all", address_family="any", **kwargs):
    probe = FakeProbe(sessions or {})
    resolver = ProfilesResolver(dns, https or FakeHttps())
    options = ResolveOptions(timeout=1.0)
    profiles = None if implementations is None else profiles_named(implementations)
    policy = CheckPolicy.from_params({"address_family": address_family})
    with FederationChecker(options, now=lambda: NOW, resolver=resolver, probe=probe, policy=policy) as checker:
        result = checker.run(EXAMPLE, implementations=profiles, **kwargs)
    return result, probe, resolver


def oks(result):
    return {name: entry["connections_ok"] for name, entry in result["implementations"].items()}


def divergent(result):
    return sorted((item["implementation"], item["rule"]) for item in result["divergent"])


# -- the option off: today's result ---------------------------------------------------------------------------
def d1_dns():
    return FakeDns(srv={FED: [SrvRecord(10, 0, 8448, MATRIX)]}, addresses={EXAMPLE: [EX4], MATRIX: [M4]})


def test_without_implementations_the_result_is_the_plain_check():
    result, probe, resolver = check(d1_dns(), sessions={(EX4, 8448): refused(EX4)}, implementations=None)
    assert "implementations" not in result
    assert "divergent" not in result
    assert "Implementations" not in result["summary"]
    assert resolver.memo_calls == [(EXAMPLE, ())]  # resolve(), not resolve_implementations()
    assert probe.connected == [(M4, 8448, EXAMPLE)]


def test_with_implementations_the_names_own_result_is_the_spec_view_of_the_same_pass():
    sessions = {(EX4, 8448): refused(EX4)}
    plain, _probe, _resolver = check(d1_dns(), sessions=copy.deepcopy(sessions), implementations=None)
    result, _probe, resolver = check(d1_dns(), sessions=sessions)
    assert resolver.memo_calls == [(EXAMPLE, PROFILE_NAMES)]  # spec first, one call
    own = {key: value for key, value in result.items() if key not in ("implementations", "divergent", "summary")}
    assert own == {key: value for key, value in plain.items() if key != "summary"}
    assert result["summary"].startswith(plain["summary"])


# -- D1: the conduwuit family's pre-query ---------------------------------------------------------------------
def test_d1_the_pre_query_implementations_fail_and_the_fix_is_an_explicit_m_server():
    dns = d1_dns()
    result, probe, _resolver = check(dns, sessions={(EX4, 8448): refused(EX4)})
    assert result["ok"] is True  # the spec's verdict
    assert list(result["implementations"]) == list(PROFILE_NAMES)
    want = dict.fromkeys(PROFILE_NAMES, True)
    want.update(dict.fromkeys(PRE_QUERY, False))
    assert oks(result) == want
    assert divergent(result) == sorted((name, "srv_name_override") for name in PRE_QUERY)
    for item in result["divergent"]:
        assert (item["spec_ok"], item["implementation_ok"]) == (True, False)
        assert item["fix"].startswith('serve {"m.server": "matrix.example.com:8448"} at https://example.com/')
        assert item["versions"] == result["implementations"][item["implementation"]]["versions"]
        assert "srv_name_override" not in item["reason"] and "example.com" in item["reason"]
    # One SRV query for nine profiles; each connection made once per address, port, TLS name and Host.
    assert dns.srv_queries() == [FED]
    assert probe.connected == [(M4, 8448, EXAMPLE), (EX4, 8448, EXAMPLE), (M4, 8448, EXAMPLE)]
    hosts = [host for _path, host in probe.sessions[(M4, 8448)].requests]
    assert hosts == [EXAMPLE, EXAMPLE, "example.com:8448", "example.com:8448"]  # keys + version, twice


def test_d1_checks_say_which_results_are_the_spec_runs():
    result, _probe, _resolver = check(d1_dns(), sessions={(EX4, 8448): refused(EX4)})
    views = result["implementations"]
    assert views["synapse"]["checks"] == [
        {"address": M4, "port": 8448, "ok": True, "state": "ok", "error": None, "shared_with_spec": True}
    ]
    assert views["continuwuity"]["checks"][0]["shared_with_spec"] is False  # Host example.com:8448
    [failed] = views["conduwuit"]["checks"]
    assert (failed["address"], failed["ok"], failed["shared_with_spec"]) == (EX4, False, False)
    assert failed["error"].startswith(f"cannot check {EX4}:8448: cannot connect")
    assert views["conduwuit"]["targets"] == [{"host": EXAMPLE, "port": 8448, "addresses": [EX4]}]
    assert views["conduwuit"]["host_header"] == "example.com:8448"
    assert views["conduwuit"]["sni"] == EXAMPLE
    assert {d["rule"] for d in views["conduwuit"]["differs_from_spec"]} == {"srv_name_override", "host_header"}
    assert views["spec"]["differs_from_spec"] == []


def test_when_every_route_works_nothing_is_divergent():
    result, _probe, _resolver = check(d1_dns())
    assert set(oks(result).values()) == {True}
    assert result["divergent"] == []
    assert "Divergent" not in result["summary"]


# -- D2: the spec fails, others go on -------------------------------------------------------------------------
def test_d2_servfail_the_spec_fails_and_the_fallbacks_work():
    dns = FakeDns(
        srv={},
        addresses={EXAMPLE: [EX4]},
        errors={("srv", FED): DnsError(f"{FED} SRV", "127.0.0.1:53 answered SERVFAIL", kind="SERVFAIL")},
    )
    result, _probe, _resolver = check(dns, implementations=["synapse", "dendrite", "conduit"])
    assert result["error_codes"] == ["dns-failure"]
    assert list(result["implementations"]) == ["synapse", "dendrite", "conduit"]  # spec was not asked
    views = result["implementations"]
    assert views["synapse"]["connections_ok"] is False
    assert views["synapse"]["code"] == "dns-failure"
    assert views["synapse"]["checks"] == []
    assert views["dendrite"]["targets"] == [{"host": EXAMPLE, "port": 8448, "addresses": [EX4]}]
    assert divergent(result) == [("conduit", "srv_error"), ("dendrite", "srv_error")]
    for item in result["divergent"]:
        assert (item["spec_ok"], item["implementation_ok"]) == (False, True)
        assert item["fix"].startswith("repair the DNS zone so that the SRV queries of example.com are answered")
        assert '"m.server": "example.com:8448"' in item["fix"]  # the route that works


# -- D6: a broken IPv6 address -----------------------------------------------------------------------------------
def test_d6_a_broken_aaaa_fails_the_spec_and_not_those_that_prefer_ipv4():
    https = FakeHttps({WK: delegation(f"{MATRIX}:443")})
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M6, M4]})
    result, probe, _resolver = check(dns, https, {(M6, 443): refused(M6, 443)})
    assert result["ok"] is False
    want = dict.fromkeys(PROFILE_NAMES, True)
    want.update(spec=False, synapse=False, conduit=False)
    assert oks(result) == want
    rows = divergent(result)
    assert rows == sorted([("dendrite", "address_family")] + [(name, "address_family") for name in RUST[:-1]])
    assert all(item["fix"].startswith("publish A records") for item in result["divergent"])
    assert {(c[0], c[1]) for c in probe.connected} == {(M6, 443), (M4, 443)}


def test_an_address_family_left_out_is_not_checked_and_never_divergent():
    dns = FakeDns(srv={FED: [SrvRecord(10, 0, 8448, MATRIX)]}, addresses={MATRIX: [M6]})
    result, _probe, _resolver = check(dns, address_family="ipv4", implementations=["spec", "dendrite", "synapse"])
    views = result["implementations"]
    assert views["spec"]["connections_ok"] is None  # its only address is IPv6, not checked
    assert views["dendrite"]["connections_ok"] is False  # it dials IPv4 only: no connection at all
    assert views["dendrite"]["code"] == "no-address"
    assert result["divergent"] == []


# -- D12: the Host header ------------------------------------------------------------------------------------------
def test_d12_a_proxy_matching_host_without_port_fails_the_authority_form():
    https = FakeHttps({WK: delegation(f"{MATRIX}:443")})
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    result, probe, _resolver = check(dns, https, {(M4, 443): HostSession(MATRIX)}, implementations="all")
    want = dict.fromkeys(PROFILE_NAMES, False)
    want.update(dict.fromkeys(RUST, True))
    assert oks(result) == want
    assert divergent(result) == sorted((name, "host_header") for name in RUST)
    item = result["divergent"][0]
    assert (item["spec_ok"], item["implementation_ok"]) == (False, True)
    assert item["fix"].startswith("route on the host name alone")
    assert probe.connected == [(M4, 443, MATRIX), (M4, 443, MATRIX)]  # Host matrix.example.com:443, then bare


def test_host_header_is_a_cause_only_where_it_alone_differed():
    # conduwuit's pre-query sends it to example.com's own address, which answers only for the bare name.
    dns = d1_dns()
    sessions = {(M4, 8448): HostSession(EXAMPLE), (EX4, 8448): HostSession(EXAMPLE)}
    result, _probe, _resolver = check(dns, sessions=sessions)
    rules = {item["implementation"]: item["rule"] for item in result["divergent"]}
    # continuwuity: same address and TLS name as the spec, only Host differs. conduwuit: another
    # address, which the spec did not check - its route is the cause named, not its Host.
    assert rules["continuwuity"] == "host_header"
    assert [item["rule"] for item in result["divergent"] if item["implementation"] == "conduwuit"] == [
        "srv_name_override"
    ]


# -- the summary, notice times, many names ---------------------------------------------------------------------
def test_the_summary_lists_each_implementation_and_the_divergences_with_their_fixes():
    result, _probe, _resolver = check(d1_dns(), sessions={(EX4, 8448): refused(EX4)})
    summary = result["summary"]
    assert "Implementations (at a cold cache):\n  spec: OK - matrix.example.com:8448, Host example.com" in summary
    assert (
        "  conduwuit: FAILED - example.com:8448, Host example.com:8448, SNI example.com (differs from the spec:"
        in summary
    )
    conduwuit = next(line for line in summary.splitlines() if line.startswith("  conduwuit: FAILED"))
    failed = result["implementations"]["conduwuit"]["checks"][0]
    assert failed["ok"] is False and failed["error"]
    assert conduwuit.endswith(f"(differs from the spec: host_header, srv_name_override): {failed['error']}")
    assert "\n  spec: OK - matrix.example.com:8448, Host example.com, SNI example.com\n" in summary  # no reason
    assert "Divergent from the spec:\n  - conduwuit fails where the spec works (srv_name_override):" in summary
    assert summary.endswith("serve federation on the SRV port as well\n")


def test_each_implementation_says_how_long_a_peer_may_keep_an_earlier_answer():
    https = FakeHttps({WK: delegation(f"{MATRIX}:443", headers=[("Cache-Control", "max-age=60")])})
    dns = FakeDns(addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    result, _probe, _resolver = check(dns, https, implementations=["synapse", "dendrite", "conduit"])
    views = result["implementations"]
    assert views["synapse"]["notice_seconds"] == 300  # max-age clamped to Synapse's 5 min minimum
    assert views["conduit"]["notice_seconds"] == 60
    assert views["dendrite"]["notice_seconds"] is None
    assert all(isinstance(view["notice_basis"], list) and view["notice_basis"] for view in views.values())


def test_every_name_of_a_run_carries_its_implementations():
    dns = d1_dns()
    probe = FakeProbe({(EX4, 8448): refused(EX4)})
    resolver = ProfilesResolver(dns, FakeHttps())
    with FederationChecker(ResolveOptions(timeout=1.0), now=lambda: NOW, resolver=resolver, probe=probe) as checker:
        many = checker.run_many({EXAMPLE: None}, implementations=profiles_named(["synapse", "conduwuit"]))
    [entry] = many["results"]
    assert list(entry["implementations"]) == ["synapse", "conduwuit"]
    assert divergent(entry) == [("conduwuit", "srv_name_override")]
    assert many["ok"] is True


def test_a_failing_version_request_on_another_host_is_that_implementations_failure():
    # The spec's route works; tuwunel-1.0 never asks _matrix._tcp and lands on example.com:8448.
    legacy = f"_matrix._tcp.{EXAMPLE}"
    dns = FakeDns(srv={legacy: [SrvRecord(10, 0, 8448, MATRIX)]}, addresses={EXAMPLE: [EX4], MATRIX: [M4]})
    bad = FakeSession({**GOOD_ROUTES, VERSION: response({"name": "x"})})
    result, _probe, _resolver = check(dns, sessions={(EX4, 8448): bad}, implementations=["tuwunel-1.0"])
    [item] = result["divergent"]
    assert (item["implementation"], item["rule"]) == ("tuwunel-1.0", "srv_services")
    assert item["fix"].startswith("publish _matrix-fed._tcp.example.com (with or instead of the deprecated")
    [failed] = result["implementations"]["tuwunel-1.0"]["checks"]
    assert "has no 'server' object" in failed["error"]


def test_keys_are_checked_against_the_server_name_on_every_implementations_connection():
    wrong = FakeSession({**GOOD_ROUTES, KEYS: response(key_document("other.example"))})
    result, _probe, _resolver = check(d1_dns(), sessions={(EX4, 8448): wrong}, implementations=["conduwuit"])
    [failed] = result["implementations"]["conduwuit"]["checks"]
    assert "keys served by 93.184.215.14:8448 are for server name" in failed["error"]


# -- the option's values ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["synapse", "dendrit"], "unknown implementation 'dendrit': expected one of spec, synapse, dendrite,"),
        (["all", "synapse"], "'all' cannot be combined with other implementation names"),
        ([], "implementations must be a list of names or 'all', got []: names are spec, synapse,"),
    ],
)
def test_a_bad_implementations_value_names_what_was_expected(value, message):
    with pytest.raises(ProfileError) as info:
        profiles_named(value)
    assert str(info.value).startswith(message)


def test_an_invalid_server_name_fails_every_implementation_and_nothing_is_divergent():
    dns = FakeDns()
    probe = FakeProbe()
    resolver = ProfilesResolver(dns, FakeHttps())
    with FederationChecker(ResolveOptions(timeout=1.0), now=lambda: NOW, resolver=resolver, probe=probe) as checker:
        result = checker.run("exa mple.com", implementations=profiles_named("all"))
    assert result["error_codes"] == ["invalid-server-name"]
    assert {view["code"] for view in result["implementations"].values()} == {"invalid-server-name"}
    assert set(oks(result).values()) == {False}
    assert result["divergent"] == []
    assert probe.connected == []


class FailingModule:
    def __init__(self, implementations):
        self.params = {"implementations": implementations}

    def fail_json(self, **kwargs):
        raise SystemExit(kwargs["msg"])


def test_the_modules_option_gives_profiles_or_fails_naming_what_was_expected():
    from ansible_collections.matrixops.delegation.plugins.modules import federation_check

    assert federation_check.implementations(FailingModule(None)) is None
    assert [p.name for p in federation_check.implementations(FailingModule(["all"]))] == list(PROFILE_NAMES)
    assert [p.name for p in federation_check.implementations(FailingModule(["conduit", "spec"]))] == ["conduit", "spec"]
    with pytest.raises(SystemExit, match="^matrixops.delegation.federation_check: 'all' cannot be combined"):
        federation_check.implementations(FailingModule(["all", "spec"]))


# -- the fix of each kind of divergence ----------------------------------------------------------------------
V6 = "2001:db8::1"
WELL_KNOWN_URL = "https://example.com/.well-known/matrix/server"


def _chain(hops, m_server):
    """A well-known reached after ``hops`` redirects on example.com."""
    paths = [WK[2]] + [f"/r{index}" for index in range(1, hops + 1)]
    routes = {(EXAMPLE, 443, path): redirect(f"https://{EXAMPLE}{paths[i + 1]}") for i, path in enumerate(paths[:-1])}
    routes[(EXAMPLE, 443, paths[-1])] = delegation(m_server)
    return FakeHttps(routes)


FIX_CASES = {
    "D4-first-in-answer": (
        FakeHttps(),
        {FED: [SrvRecord(20, 0, 8448, MATRIX), SrvRecord(10, 0, 8448, "b.example.com")]},
        {"b.example.com": [EX4], MATRIX: [M4]},
        {(EX4, 8448): "refused"},
        "conduit",
        ("srv_selection", (False, True)),
    ),
    "D8-large-body": (
        FakeHttps({WK: json_response({"m.server": f"{MATRIX}:443", "padding": "x" * 10_000})}),
        {},
        {EXAMPLE: [EX4], MATRIX: [M4]},
        {(EX4, 8448): "refused"},
        "continuwuity-0.5",
        ("well_known_body_max", (True, False)),
    ),
    "D9-status-203": (
        FakeHttps({WK: delegation(f"{MATRIX}:443", status=203)}),
        {},
        {EXAMPLE: [EX4], MATRIX: [M4]},
        {(EX4, 8448): "refused"},
        "conduwuit",
        ("well_known_statuses", (False, True)),
    ),
    "D10-four-redirects": (
        _chain(4, f"{MATRIX}:443"),
        {},
        {EXAMPLE: [EX4], MATRIX: [M4]},
        {(EX4, 8448): "refused"},
        "conduwuit",
        ("well_known_max_redirects", (True, False)),
    ),
    "D7-url-as-m-server": (
        FakeHttps({WK: delegation(f"https://{MATRIX}")}),
        {},
        {EXAMPLE: [EX4], MATRIX: [M4]},
        {},
        "dendrite",
        ("m_server_validation", (True, False)),
    ),
    "D13-ipv6-literal-without-port": (
        FakeHttps({WK: delegation(f"[{V6}]")}),
        {},
        {EXAMPLE: [EX4]},
        {(V6, 443): "refused"},
        "conduit",
        ("ipv6_literal_default_port", (True, False)),
    ),
}
FIXES = {
    "srv_selection": "publish one SRV record for example.com (balance the load behind one name), or serve",
    "well_known_body_max": f'make {WELL_KNOWN_URL} small: {{"m.server": "{MATRIX}:443"}} is enough',
    "well_known_statuses": f"answer {WELL_KNOWN_URL} with status 200 when it delegates",
    "well_known_max_redirects": f"serve {WELL_KNOWN_URL} where it is asked for, or with one redirect at most",
    "m_server_validation": f"make m.server in {WELL_KNOWN_URL} a valid server name - a host, or host:port",
    "ipv6_literal_default_port": f'write the port with the IPv6 literal in {WELL_KNOWN_URL}: "[{V6}]:8448" instead',
}


@pytest.mark.parametrize("case", list(FIX_CASES))
def test_each_kind_of_divergence_names_its_rule_and_its_fix(case):
    https, srv, addresses, broken, implementation, (rule, (spec_ok, implementation_ok)) = FIX_CASES[case]
    sessions = {endpoint: refused(*endpoint) for endpoint in broken}
    result, _probe, _resolver = check(FakeDns(srv=srv, addresses=addresses), https, sessions)
    items = [item for item in result["divergent"] if item["implementation"] == implementation]
    assert [item["rule"] for item in items] == [rule]
    [item] = items
    assert (item["spec_ok"], item["implementation_ok"]) == (spec_ok, implementation_ok)
    assert item["fix"].startswith(FIXES[rule])


class NamedKeysSession(FakeSession):
    """A homeserver serving several server names: the keys of the one the Host header names."""

    def get(self, path, *, host_header, body_limit):
        if path == KEYS:
            self.requests.append((path, host_header))
            return response(key_document(host_header.rsplit(":", 1)[0]))
        return super().get(path, host_header=host_header, body_limit=body_limit)


def test_many_names_on_a_thread_pool_check_each_implementations_connections_once():
    from ansible_collections.matrixops.delegation.plugins.module_utils._parallel import ThreadPool

    names = {f"n{index}.example": None for index in range(6)}
    srv = {f"_matrix-fed._tcp.{name}": [SrvRecord(10, 0, 8448, MATRIX)] for name in names}
    dns = FakeDns(srv=srv, addresses={**dict.fromkeys(names, [EX4]), MATRIX: [M4]})
    probe = FakeProbe({(EX4, 8448): refused(EX4), (M4, 8448): NamedKeysSession()})
    with ThreadPool(4) as pool:  # not one parenthesised "with": a syntax error on Python 3.8 (sanity compile)
        checker = FederationChecker(
            ResolveOptions(timeout=1.0, concurrency=3),
            now=lambda: NOW,
            resolver=ProfilesResolver(dns, FakeHttps()),
            probe=probe,
            parallel=pool,
        )
        with checker:
            many = checker.run_many(names, implementations=profiles_named("all"))
    assert [divergent(entry) for entry in many["results"]] == [
        sorted((name, "srv_name_override") for name in PRE_QUERY)
    ] * len(names)
    # Per name: the spec's connection, then the pre-query's and the Host example.com:8448 one.
    assert len(probe.connected) == 3 * len(names)
