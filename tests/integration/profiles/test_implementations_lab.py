# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The divergence setups in the lab (pf_world.py): every implementation profile's answer through
the ``resolve`` lookup with ``implementation``, and the ``synapse`` profile against Synapse itself.

Real knot (and the support nameserver where knot cannot misbehave as needed), real TLS peers, the
collection's lookup in a real ``ansible-playbook`` run, and Synapse's own federation client
(tests/lab/synapse_reference_runner.py) at a cold cache.

The fixtures live here, not in a conftest.py (other suites import names from their ``conftest``):

* ``pf``: knot, the support nameserver and the TLS peers, for the whole session.
* ``views``: ``views[profile][server name]`` = the lookup's result for that name with
  ``implementation=<profile>`` (``on_error=report``: an error is a result too). One task per
  profile and nameserver, every name of the world as its terms: 18 tasks.
* ``reference``: ``reference[setup id]`` = where Synapse itself landed.
* ``synapse_python``: the lab Synapse virtualenv's python: ``$MATRIXOPS_SYNAPSE_PYTHON`` when set,
  else tests/lab/synapse.py's ``ensure_venv`` in ``$MATRIXOPS_LAB_DIR`` (or the repository's
  ``.lab``), which installs it the first time (about 30 s).
"""

from __future__ import annotations

import json
import os

import pf_world as w
import pytest
import synapse as lab_synapse
import synapse_reference_runner
from dns import message as dns_message
from dns import query as dns_query
from support.matrix import VERSION_PATH
from support.playbook import Case, Outcome, run_lookups, world_options

TIMEOUT = 3  # seconds: the lookup's timeout (D3's unanswered query costs this much)


@pytest.fixture(scope="session")
def pf(tmp_path_factory: pytest.TempPathFactory):
    with w.shared(w.WORLD, tmp_path_factory.mktemp("pf-world")) as world:
        yield world


def nameservers(world: w.World) -> dict[str, str]:
    return {"knot": world.nameserver, "support": world.support_nameserver}


@pytest.fixture(scope="session")
def views(pf: w.World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict]]:
    cases, names = {}, {}
    for dns, nameserver in nameservers(pf).items():
        names[dns] = [setup.server_name for setup in pf.setups if setup.dns == dns]
        options = {**world_options(pf, TIMEOUT), "nameservers": [nameserver], "on_error": "report"}
        for profile in w.PROFILES:
            cases[f"{profile}@{dns}"] = Case(names[dns], {**options, "implementation": profile})
    run = run_lookups(cases, tmp_path_factory.mktemp("pf-lookups"))
    found: dict[str, dict[str, dict]] = {profile: {} for profile in w.PROFILES}
    for key, registered in run.results.items():
        profile, dns = key.split("@")
        outcome = Outcome.of(registered)
        assert outcome.error is None, f"{key}: {outcome.error}"
        assert outcome.results is not None and len(outcome.results) == len(names[dns]), outcome.results
        found[profile].update(zip(names[dns], outcome.results, strict=True))
    return found


@pytest.fixture(scope="session")
def synapse_python() -> str:
    explicit = os.environ.get("MATRIXOPS_SYNAPSE_PYTHON")
    if explicit:
        return explicit
    return str(lab_synapse.ensure_venv(os.environ.get("MATRIXOPS_LAB_DIR") or None))


@pytest.fixture(scope="session")
def reference(pf: w.World, synapse_python: str) -> dict[str, dict]:
    seen: dict[str, dict] = {}
    for dns, nameserver in nameservers(pf).items():
        cases = {setup.sid: setup.server_name for setup in pf.setups if setup.dns == dns}
        report = synapse_reference_runner.reference(
            synapse_python, cases, nameserver=nameserver, ca=pf.ca_path, allow=[f"{pf.net.prefix}.0/24"]
        )
        assert report["synapse"].split(".")[0] == "1", report["synapse"]  # the real matrix-synapse package
        seen.update(report["results"])
    return seen


# -- the tests ------------------------------------------------------------------------------------
CONTROLS = {"D12-8448"}  # the form every implementation agrees on: no divergence, on purpose
#: The exception Synapse's client raised (seen with Synapse 1.163.2, Twisted 26.10.0; research notes, section 5).
SYNAPSE_ERRORS = {
    "D2-SERVFAIL": "DNSServerError",  # no _matrix._tcp query, no port 8448
    "D2-REFUSED": "DNSQueryRefusedError",
    "D3": "TimeoutError",  # of the _matrix-fed._tcp query
    "D5": "DNSLookupError",  # the SRV target has no address
    "D7-url": "DNSQueryRefusedError",  # the SRV query for the host "https"
    "D7-space": "ValueError: Invalid URI",
    "D15": "ValueError: invalid hostname",  # Twisted reads the target '.' as an empty host name
}
TLS_WORDS = ("SSL", "TLS", "certificate", "Certificate")  # a lab mistake, never what a setup is about


def place(result: dict) -> list:
    """``[Host, SNI, [[host, port, addresses]]]`` or ``["error", code]`` of one lookup result."""
    if "error" in result:
        return ["error", result["code"]]
    return [result["host_header"], result["sni"], [[t["host"], t["port"], t["addresses"]] for t in result["targets"]]]


def plain(value: object) -> object:
    """Tuples as lists, as the lookup's JSON has them."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("sid", w.SETUPS)
def test_every_profile_connects_where_its_source_says(sid, pf, views):
    setup = pf.setup(sid)
    got = {profile: place(views[profile][setup.server_name]) for profile in w.PROFILES}
    assert got == plain(setup.expect)
    if sid not in CONTROLS:
        assert len({json.dumps(value) for value in got.values()}) > 1, "a divergence setup where all agree"
    for profile in w.PROFILES[1:]:
        result = views[profile][setup.server_name]
        if "error" in result:  # an error entry has only server_name, error, step and code
            continue
        assert result["implementation"] == profile
        named = sorted({divergence["rule"] for divergence in result["differs_from_spec"]})
        if setup.rules is not None:
            assert named == sorted(setup.rules.get(profile, [])), profile
        if profile in setup.rules_include:
            assert setup.rules_include[profile] in named, (profile, named)
        for divergence in result["differs_from_spec"]:
            assert divergence["reason"], divergence
            assert divergence["versions"] == result["versions"], divergence


def landing(pf: w.World, result: dict) -> str:
    """The first ``address:port`` of the targets, in order, where something listens."""
    for target in result["targets"]:
        for address in target["addresses"]:
            if pf.listening(address, target["port"]):
                return f"{address}:{target['port']}"
    raise AssertionError(f"no target of {result['targets']} listens")


@pytest.mark.parametrize("sid", w.SETUPS)
def test_the_synapse_profile_predicts_what_synapse_did(sid, pf, views, reference):
    setup = pf.setup(sid)
    predicted, seen = views["synapse"][setup.server_name], reference[sid]
    if "error" in predicted:
        assert "error" in seen, f"Synapse connected ({seen}); the profile predicted: {predicted['error']}"
        assert not any(word in seen["error"] for word in TLS_WORDS), seen["error"]
        assert seen["error"].startswith(SYNAPSE_ERRORS.get(sid, "")), seen["error"]
        return
    assert "error" not in seen, f"Synapse failed ({seen['error']}); the profile predicted {place(predicted)}"
    want = {"endpoint": landing(pf, predicted), "sni": predicted["sni"], "host": predicted["host_header"]}
    assert {key: seen[key] for key in want} == want
    assert seen["status"] == 200


def test_synapse_keeps_a_trailing_slash_of_m_server_in_its_request_path(reference):
    # D7: "d7-matrix.pf.test/" delegates, and the requests go to "//_matrix/..." (what a server
    # behind it makes of that is its own business).
    assert reference["D7-slash"]["path"] == "/" + VERSION_PATH


def test_the_support_nameserver_answers_d4_records_in_the_order_given(pf):
    # D4-answer-order needs the priority-20 record first in every answer, over UDP and TCP
    address, port = pf.support_nameserver.rsplit(":", 1)
    query = dns_message.make_query(f"_matrix-fed._tcp.{w.n('d4o')}", "SRV")
    for ask in (dns_query.udp, dns_query.tcp) * 5:
        (rrset,) = ask(query, address, port=int(port), timeout=3).answer
        assert [record.priority for record in rrset] == [20, 10]
