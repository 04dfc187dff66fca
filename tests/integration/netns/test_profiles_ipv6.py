# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPv6 divergence setups of issue 21 (D6, D13) in the netns lab: every implementation
profile's answer through the ``resolve`` lookup, and the ``synapse`` profile against Synapse's
own federation client (tests/lab/synapse_reference_runner.py), both run from the dual-stack
vantage point.

This module adds its own part to the session's lab (tests/lab/netns.py), removed at its end:

==============================  ==========================================================
``fd00:6d78:f1ee::60``          (``v6only`` namespace) an IPv6-only target: TLS peers on
                                ``:8448``, ``:443`` and ``:8450``
``10.77.0.61``, ``…::61``       (``dual`` namespace) a dual-stack target: ``10.77.0.61:8451``
                                and ``[…::61]:8450`` answer, ``10.77.0.61:8450`` and
                                ``[…::61]:8451`` refuse; ``10.77.0.61:443`` serves the
                                well-known file of ``lit6.pf6.test``
``10.77.0.53:5354``             (``dns`` namespace) knot, authoritative for ``pf6.test.``
==============================  ==========================================================

Every peer answers a request with what it saw (``{"endpoint", "sni", "host", "path"}``). The
expected values are those of tests/unit/plugins/module_utils/test_profiles_divergences.py (D6,
D13) with the lab's addresses.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess

import knot
import netns
import pki
import pytest
import synapse as lab_synapse
import synapse_reference_runner
from support import peers
from support.matrix import VERSION_PATH, WELL_KNOWN_PATH
from support.nameserver import Zone
from support.playbook import run_tasks

from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import PROFILE_NAMES

LOOKUP = "matrixops.delegation.resolve"
ZONE = "pf6.test"
DNS_PORT = 5354
NAMESERVER = f"{netns.DNS4}:{DNS_PORT}"
V6 = netns.v6(60)  # the IPv6-only target
DUAL4, DUAL6 = netns.v4(61), netns.v6(61)  # the dual-stack target
PROFILES = PROFILE_NAMES  # spec first, then every implementation profile
CONDUWUIT_FAMILY = ("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0")
IPV4_FIRST = ("dendrite", *CONDUWUIT_FAMILY, "continuwuity")  # an A record hides the AAAA (Dendrite: IPv4 only)
ADDED = (("v6only", V6), ("dual", DUAL4), ("dual", DUAL6))  # (namespace role, address) added for this module
LISTENING = {  # namespace role -> (address, port) of its peers
    "v6only": ((V6, 8448), (V6, 443), (V6, 8450)),
    "dual": ((DUAL6, 8450), (DUAL4, 8451), (DUAL4, 443)),
}


def n(label: str) -> str:
    return f"{label}.{ZONE}"


def endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def expect(default: list, **by_profile: list) -> dict[str, list]:
    return {name: by_profile.get(name.replace("-", "_").replace(".", ""), default) for name in PROFILES}


def families(name: str, port: int) -> dict[str, list]:
    """D6 on a dual-stack name: both addresses, or only the IPv4 one for the IPv4-first profiles."""
    both = [f"{name}:{port}", name, [[name, port, [DUAL6, DUAL4]]]]
    places = expect(both)
    places.update({profile: [f"{name}:{port}", name, [[name, port, [DUAL4]]]] for profile in IPV4_FIRST})
    return places


def literal(code: str) -> dict[str, list]:
    """D13: ``[V6]`` without a port; ``code`` is the conduwuit family's error."""
    bracketed = f"[{V6}]"
    return expect(
        [bracketed, None, [[V6, 8448, [V6]]]],
        dendrite=["error", "no-address"],  # its default allow_networks refuses every IPv6 dial
        continuwuity=[bracketed, None, [[V6, 443, [V6]]]],
        conduit=[bracketed, None, [[V6, 443, [V6]]]],
        **dict.fromkeys(("conduwuit", "continuwuity_05", "tuwunel", "tuwunel_10"), ["error", code]),
    )


#: setup id -> (server name, every profile's place, profile -> the rules differs_from_spec names)
SETUPS = {
    "D6-ipv6-only": (
        f"{n('v6only')}:8450",
        expect(
            [f"{n('v6only')}:8450", n("v6only"), [[n("v6only"), 8450, [V6]]]],
            dendrite=["error", "no-address"],
        ),
        {},
    ),
    "D6-broken-ipv4": (
        f"{n('stale4')}:8450",
        families(n("stale4"), 8450),
        dict.fromkeys(IPV4_FIRST, ["address_family"]),
    ),
    "D6-broken-ipv6": (f"{n('dual6')}:8451", families(n("dual6"), 8451), dict.fromkeys(IPV4_FIRST, ["address_family"])),
    "D13-server-name": (
        f"[{V6}]",
        literal("invalid-server-name"),
        dict.fromkeys(("continuwuity", "conduit"), ["ipv6_literal_default_port"]),
    ),
    "D13-m-server": (
        n("lit6"),
        literal("invalid-m-server"),
        dict.fromkeys(("continuwuity", "conduit"), ["ipv6_literal_default_port"]),
    ),
}


def zone_text() -> str:
    zone = Zone(ZONE, netns.DNS4)
    zone.a(n("v6only"), V6)
    zone.a(n("stale4"), DUAL4, DUAL6)
    zone.a(n("dual6"), DUAL4, DUAL6)
    zone.a(n("lit6"), DUAL4)
    return zone.text()


def echo(exchange: peers.Exchange) -> None:
    request = exchange.request
    peers.json_reply({"endpoint": request.listener, "sni": request.sni, "host": request.host, "path": request.path})(
        exchange
    )


def address_command(action: str, lab: netns.NetnsLab, role: str, address: str) -> None:
    prefix = "64" if ":" in address else "24"
    extra = ["nodad"] if ":" in address and action == "add" else []
    namespace = lab.namespaces[role].name
    argv = [netns.ip_command(), "-n", namespace, "addr", action, f"{address}/{prefix}", "dev", "eth0", *extra]
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pf6(lab: netns.NetnsLab, tmp_path_factory: pytest.TempPathFactory):
    """This module's addresses, knot and peers in the lab; the CA the peers' certificate chains to."""
    workdir = tmp_path_factory.mktemp("pf6")
    ca = pki.create_ca(workdir / "pki" / "ca", common_name="matrixops profiles IPv6 CA")
    names = [n(label) for label in ("v6only", "stale4", "dual6", "lit6")]
    context = peers.server_context(pki.issue_cert(ca, workdir / "pki" / "peers", [*names, V6, DUAL4, DUAL6]))
    routes = {VERSION_PATH: echo, (n("lit6"), WELL_KNOWN_PATH): peers.json_reply({"m.server": f"[{V6}]"})}
    with contextlib.ExitStack() as stack:
        for role, address in ADDED:
            address_command("add", lab, role, address)
            stack.callback(address_command, "del", lab, role, address)
        server = knot.KnotServer(workdir / "knot", netns.DNS4, DNS_PORT, {f"{ZONE}.": zone_text()})
        lab.namespaces["dns"].run(server.start)
        stack.callback(server.stop)
        for role, places in LISTENING.items():
            listeners = [peers.Listener(address, port, context, routes) for address, port in places]
            stack.enter_context(lab.namespaces[role].run(peers.Peers, listeners))
        yield ca.bundle_path


@pytest.fixture(scope="module")
def views(lab: netns.NetnsLab, pf6, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict]]:
    """``views[profile][setup id]``: the lookup from the dual-stack vantage point, one task per profile."""
    names = [server_name for server_name, _places, _rules in SETUPS.values()]
    opts = {
        "nameservers": [NAMESERVER],
        "ca_path": str(pf6),
        "allow_private_addresses": True,
        "timeout": 3,
        "on_error": "report",
    }
    tasks = [
        {
            "name": f"Resolve as {profile}",
            "ansible.builtin.set_fact": {
                f"p{index}": f"{{{{ query('{LOOKUP}', *names, implementation='{profile}', **opts) }}}}"
            },
            "register": f"r{index}",
            "ignore_errors": True,
        }
        for index, profile in enumerate(PROFILES)
    ]
    run = run_tasks(
        tasks,
        tmp_path_factory.mktemp("pf6-lookups"),
        registered=[f"r{index}" for index in range(len(PROFILES))],
        play_vars={"names": names, "opts": opts},
        prefix=lab.vantage.command(),
    )
    found: dict[str, dict[str, dict]] = {}
    for index, profile in enumerate(PROFILES):
        registered = run.results[f"r{index}"]
        assert not registered.get("failed"), registered.get("msg")
        results = registered["ansible_facts"][f"p{index}"]
        assert len(results) == len(SETUPS), results
        found[profile] = dict(zip(SETUPS, results, strict=True))
    return found


@pytest.fixture(scope="module")
def reference(lab: netns.NetnsLab, pf6) -> dict[str, dict]:
    """Where Synapse itself landed, from the dual-stack vantage point."""
    python = os.environ.get("MATRIXOPS_SYNAPSE_PYTHON") or str(
        lab_synapse.ensure_venv(os.environ.get("MATRIXOPS_LAB_DIR") or None)
    )
    cases = {sid: server_name for sid, (server_name, _places, _rules) in SETUPS.items()}
    report = synapse_reference_runner.reference(
        python,
        cases,
        nameserver=NAMESERVER,
        ca=pf6,
        allow=[f"{netns.V4}.0/24", f"{netns.V6}::/64"],
        prefix=lab.vantage.command(),
    )
    return report["results"]


def place(result: dict) -> list:
    if "error" in result:
        return ["error", result["code"]]
    return [result["host_header"], result["sni"], [[t["host"], t["port"], t["addresses"]] for t in result["targets"]]]


@pytest.mark.parametrize("sid", list(SETUPS))
def test_every_profile_connects_where_its_source_says(sid, views):
    _server_name, places, rules = SETUPS[sid]
    assert {profile: place(views[profile][sid]) for profile in PROFILES} == places
    for profile in PROFILES[1:]:
        result = views[profile][sid]
        if "error" not in result:
            named = sorted({divergence["rule"] for divergence in result["differs_from_spec"]})
            assert named == sorted(rules.get(profile, [])), profile


def listening(address: str, port: int) -> bool:
    return any((address, port) in places for places in LISTENING.values())


@pytest.mark.parametrize("sid", list(SETUPS))
def test_the_synapse_profile_predicts_what_synapse_did(sid, views, reference):
    predicted, seen = views["synapse"][sid], reference[sid]
    if "error" in predicted:
        assert "error" in seen, f"Synapse connected ({seen}); the profile predicted: {predicted['error']}"
        assert not any(word in seen["error"] for word in ("SSL", "TLS", "ertificate")), seen["error"]  # a lab mistake
        return
    assert "error" not in seen, f"Synapse failed ({seen['error']}); the profile predicted {place(predicted)}"
    first = next(
        endpoint(address, target["port"])
        for target in predicted["targets"]
        for address in target["addresses"]
        if listening(address, target["port"])
    )
    want = {"endpoint": first, "sni": predicted["sni"], "host": predicted["host_header"]}
    assert {key: seen[key] for key in want} == want
    assert seen["status"] == 200


def test_the_ipv6_setups_diverge(views):
    for sid in SETUPS:
        assert len({json.dumps(place(views[profile][sid])) for profile in PROFILES}) > 1, sid
