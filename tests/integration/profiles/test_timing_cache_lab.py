# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""D11 and D16 in the lab (pf_timing_world.py): real knot, real TLS peers, the real module and lookup.

* D11: ``federation_check`` with ``implementations: all`` on every timing setup, in one
  ``ansible-playbook`` run: every implementation's ``notice_seconds`` is the number the profile
  rules give for the setup's cache headers and TTLs (written in the world, with the rule), and
  every implementation's connections pass (the landing peers are Matrix servers for the name).
* D16: the ``resolve`` lookup with each ``implementation`` for ``d16.tm.test`` (delegated to
  ``h16.tm.test``, itself a server name delegated elsewhere): at a cold cache every profile
  agrees, and only the profiles with a host-keyed route cache state the D16 caveat naming h16.

The fixtures live here, not in a conftest.py (other suites import names from their ``conftest``).
"""

from __future__ import annotations

import pf_timing_world as w
import pytest
from support.playbook import Case, Outcome, run_lookups, run_module_cases, world_options

from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import PROFILE_NAMES
from ansible_collections.matrixops.delegation.plugins.module_utils._resolution import COLD_CACHE_CAVEAT

MODULE = "matrixops.delegation.federation_check"
TIMEOUT = 5
HOST_KEYED = ("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0", "continuwuity")  # Profile.host_keyed_cache
DENY_EVERY = ("synapse", "dendrite")  # a default deny list of every non-public address (loopback here)
IMPLEMENTATIONS = PROFILE_NAMES[1:]  # the lookup's views with caveats: every profile but the spec's


@pytest.fixture(scope="module")
def tm(tmp_path_factory: pytest.TempPathFactory):
    with w.running(w.WORLD, tmp_path_factory.mktemp("tm-world")) as world:
        yield world


@pytest.fixture(scope="module")
def checks(tm: w.World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    options = {**world_options(tm, TIMEOUT), "implementations": "all", "fail_on_error": False}
    cases = {setup.sid: {**options, "server_name": setup.server_name} for setup in tm.setups}
    run = run_module_cases(MODULE, cases, tmp_path_factory.mktemp("tm-checks"))
    return run.results


@pytest.fixture(scope="module")
def views(tm: w.World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict]]:
    options = {**world_options(tm, TIMEOUT), "on_error": "report"}
    names = [w.n("d16"), w.n("h16")]
    cases = {profile: Case(names, {**options, "implementation": profile}) for profile in PROFILE_NAMES}
    run = run_lookups(cases, tmp_path_factory.mktemp("tm-lookups"))
    found = {}
    for profile, registered in run.results.items():
        outcome = Outcome.of(registered)
        assert outcome.error is None, f"{profile}: {outcome.error}"
        assert outcome.results is not None
        found[profile] = dict(zip(names, outcome.results, strict=True))
    return found


@pytest.mark.parametrize("sid", w.SETUPS)
def test_every_implementation_notices_a_change_when_its_rules_say(sid, tm, checks):
    setup, result = tm.setup(sid), checks[sid]
    assert result.get("failed") is False, result.get("msg")
    assert result["ok"] is True, result.get("errors")
    views = result["implementations"]
    assert list(views) == list(PROFILE_NAMES)
    assert {name: view["notice_seconds"] for name, view in views.items()} == setup.notice
    for name, view in views.items():
        assert view["notice_basis"], name  # how it was reached, in words
        assert view["caveats"][0] == COLD_CACHE_CAVEAT, name


@pytest.mark.parametrize("sid", w.SETUPS)
def test_every_implementation_reaches_the_matrix_server(sid, tm, checks):
    setup, result = tm.setup(sid), checks[sid]
    host, port = setup.landing
    for name, view in result["implementations"].items():
        assert view["error"] is None, (name, view["error"])
        assert [(t["port"], t["addresses"]) for t in view["targets"]] == [(port, [tm.ip(host)])], name
        assert view["connections_ok"] is True, (name, view["checks"])
    assert result["divergent"] == []  # every implementation's connections pass, as the spec's


def test_the_notice_basis_names_the_layer_that_wins(checks):
    # (d): the address TTL outlasts the well-known's no-store for the spec; (f): the SRV TTL.
    assert any(
        f"address TTL {w.ADDRESS_TTL} s" in line
        for line in checks["no-store"]["implementations"]["spec"]["notice_basis"]
    )
    assert any("SRV TTL 2 h" in line for line in checks["srv-7200"]["implementations"]["spec"]["notice_basis"])


def place(result: dict) -> list:
    assert "error" not in result, result
    return [result["host_header"], result["sni"], [[t["host"], t["port"], t["addresses"]] for t in result["targets"]]]


def test_d16_every_profile_agrees_at_a_cold_cache(tm, views):
    d16 = [w.n("h16") + ":8448", w.n("h16"), [[w.n("h16"), 8448, [tm.ip(16)]]]]
    h16 = [w.n("h16-other"), w.n("h16-other"), [[w.n("h16-other"), 443, [tm.ip(17)]]]]
    for profile in PROFILE_NAMES:
        assert place(views[profile][w.n("d16")]) == d16, profile
        # h16.tm.test, as a server name of its own, is delegated elsewhere (Host without :443 for the Rust family)
        got = place(views[profile][w.n("h16")])
        assert got[1:] == h16[1:], profile
        if profile != "spec":  # the spec's own view names no rule
            assert views[profile][w.n("d16")]["differs_from_spec"] == [], profile


def test_d16_the_host_keyed_profiles_state_the_caveat_naming_the_host(views):
    assert "caveats" not in views["spec"][w.n("d16")]  # documented: only when implementation is not spec
    for profile in IMPLEMENTATIONS:
        caveats = views[profile][w.n("d16")]["caveats"]
        assert caveats[0] == COLD_CACHE_CAVEAT, profile
        d16 = [line for line in caveats if "D16" in line]
        if profile in HOST_KEYED:
            assert len(d16) == 1, (profile, caveats)
            assert f"resolved {w.n('h16')} as a server name of its own" in d16[0], d16
        else:
            assert d16 == [], (profile, caveats)


def test_d16_the_default_deny_lists_refuse_the_loopback_target(tm, views):
    for profile in IMPLEMENTATIONS:
        caveats = views[profile][w.n("d16")]["caveats"]
        denied = [line for line in caveats if "not public addresses" in line]
        if profile in DENY_EVERY:
            assert len(denied) == 1 and tm.ip(16) in denied[0], (profile, caveats)
        else:  # the conduwuit family and continuwuity refuse IP literals only; conduit has no deny list
            assert denied == [], (profile, caveats)
    # and nothing else: the cold cache, D16 where the cache is host-keyed, the deny list where it refuses
    expected_count = {profile: 1 + (profile in HOST_KEYED) + (profile in DENY_EVERY) for profile in IMPLEMENTATIONS}
    assert {p: len(views[p][w.n("d16")]["caveats"]) for p in IMPLEMENTATIONS} == expected_count


@pytest.mark.parametrize("sid", w.SETUPS)
def test_federation_check_views_carry_the_caveats_that_apply(sid, tm, checks):
    # The cold cache first; the deny list for synapse and dendrite (every landing address is
    # loopback); the D16 line for the host-keyed profiles where a well-known delegates to another
    # host (every setup but the SRV-only one), naming that host.
    setup = tm.setup(sid)
    delegated_to = None if sid == "srv-7200" else setup.server_name.replace(".", "-matrix.", 1)
    for name, view in checks[sid]["implementations"].items():
        caveats = view["caveats"]
        assert caveats[0] == COLD_CACHE_CAVEAT, name
        denied = [line for line in caveats if "not public addresses" in line]
        assert len(denied) == (name in DENY_EVERY), (name, caveats)
        d16 = [line for line in caveats if "D16" in line]
        if name in HOST_KEYED and delegated_to is not None:
            assert len(d16) == 1 and f"resolved {delegated_to} as" in d16[0], (name, caveats)
        else:
            assert d16 == [], (name, caveats)
        assert len(caveats) == 1 + len(denied) + len(d16), (name, caveats)
