# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``federation_check`` with ``implementations: all`` on every divergence setup of the lab (pf_world.py).

The real module in one ``ansible-playbook`` run (one task per nameserver, every name of the world
in ``server_names``), against knot, the support nameserver and TLS peers that answer as Matrix
servers (``/_matrix/key/v2/server`` signed for the name they serve, see ``pf_world.identities``).
Per setup: every implementation's ``[Host, SNI, targets]`` or error code (``Setup.expect``, the
lookup's expectations), its ``connections_ok`` (``Setup.connects``: derived from the setup, not
from output), and ``divergent``: exactly the implementations whose verdict is not the spec's,
each with a rule and a fix.

The world runs once for this folder (``pf_world.shared``); the fixtures are here, not in a conftest.py.
"""

from __future__ import annotations

import json

import pf_world as w
import pytest
from support.playbook import run_module_cases, world_options

MODULE = "matrixops.delegation.federation_check"
TIMEOUT = 3  # seconds (D3's unanswered query costs this much)


@pytest.fixture(scope="session")
def pf_fc(tmp_path_factory: pytest.TempPathFactory):
    with w.shared(w.WORLD, tmp_path_factory.mktemp("pf-world")) as world:
        yield world


@pytest.fixture(scope="session")
def checked(pf_fc: w.World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """``checked[server name]`` = that name's entry of ``results``."""
    cases = {}
    for dns, nameserver in {"knot": pf_fc.nameserver, "support": pf_fc.support_nameserver}.items():
        names = [setup.server_name for setup in pf_fc.setups if setup.dns == dns]
        options = {**world_options(pf_fc, TIMEOUT), "nameservers": [nameserver]}
        cases[dns] = {**options, "server_names": names, "implementations": ["all"], "fail_on_error": False}
    run = run_module_cases(MODULE, cases, tmp_path_factory.mktemp("pf-federation-check"))
    found: dict[str, dict] = {}
    for dns, result in run.results.items():
        assert not result.get("failed"), f"{dns}: {result.get('msg')}"
        found.update({entry["server_name"]: entry for entry in result["results"]})
    return found


def place(entry: dict) -> list:
    """``[Host, SNI, [[host, port, addresses]]]`` or ``["error", code]`` of one implementation's entry."""
    if entry["error"] is not None:
        return ["error", entry["code"]]
    return [entry["host_header"], entry["sni"], [[t["host"], t["port"], t["addresses"]] for t in entry["targets"]]]


@pytest.mark.parametrize("sid", w.SETUPS)
def test_every_implementation_connects_where_its_source_says(sid, pf_fc, checked):
    setup = pf_fc.setup(sid)
    implementations = checked[setup.server_name]["implementations"]
    assert list(implementations) == list(w.PROFILES)
    got = {profile: place(entry) for profile, entry in implementations.items()}
    assert got == json.loads(json.dumps(setup.expect))


@pytest.mark.parametrize("sid", w.SETUPS)
def test_connections_ok_per_implementation(sid, pf_fc, checked):
    setup = pf_fc.setup(sid)
    implementations = checked[setup.server_name]["implementations"]
    got = {profile: entry["connections_ok"] for profile, entry in implementations.items()}
    assert got == {profile: setup.connects(pf_fc, profile) for profile in w.PROFILES}
    for profile, entry in implementations.items():
        if entry["error"] is None:  # every address of every target was checked, and says why it failed
            assert entry["checks"], profile
            assert all(check["ok"] or check["error"] for check in entry["checks"]), (profile, entry["checks"])


@pytest.mark.parametrize("sid", w.SETUPS)
def test_divergent_names_exactly_who_differs_from_the_spec_with_a_fix(sid, pf_fc, checked):
    setup = pf_fc.setup(sid)
    spec_ok = setup.connects(pf_fc, "spec")
    want = {profile for profile in w.PROFILES[1:] if setup.connects(pf_fc, profile) != spec_ok}
    divergent = checked[setup.server_name]["divergent"]
    assert {entry["implementation"] for entry in divergent} == want
    for entry in divergent:
        assert entry["spec_ok"] is spec_ok and entry["implementation_ok"] is not spec_ok, entry
        assert entry["rule"] and entry["rule"] != "unknown", entry
        assert entry["fix"].strip(), entry


def test_the_world_diverges_both_ways():
    # an implementation fails where the spec passes (D1's pre-query), and one passes where the spec fails (D2)
    world = w.WORLD
    fails = [
        s.sid for s in world.setups if s.connects(world, "spec") and not all(s.connects(world, p) for p in w.PROFILES)
    ]
    passes = [
        s.sid for s in world.setups if not s.connects(world, "spec") and any(s.connects(world, p) for p in w.PROFILES)
    ]
    assert "D1" in fails and "D2-SERVFAIL" in passes, (fails, passes)
