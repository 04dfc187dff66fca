"""The IPv6 and dual-stack lab (tests/lab/netns.py): namespaces that really differ in their
address families, and federation_check and the resolve lookup run from inside them."""

from __future__ import annotations

import socket
import subprocess
import time

import dns.message
import dns.query
import netns


def aaaa_over_ipv6(server: str, qname: str) -> list[str]:
    reply = dns.query.udp(dns.message.make_query(qname, "AAAA"), server, port=53, timeout=2)
    return [item.address for rrset in reply.answer for item in rrset]


def connect(address: str, port: int) -> str:
    try:
        with socket.create_connection((address, port), timeout=2):
            return "connected"
    except OSError as exc:
        return exc.strerror or repr(exc)


# -- the network itself ---------------------------------------------------------------------------
def test_dual_stack_vantage_resolves_over_ipv6_and_connects_to_the_ipv6_only_target(lab):
    assert lab.vantage.run(aaaa_over_ipv6, netns.DNS6, "v6.fleet.test") == [netns.V6ONLY]
    assert lab.vantage.run(connect, netns.V6ONLY, netns.FED_PORT) == "connected"


def test_the_dual_stack_targets_ipv6_side_refuses_and_its_ipv4_side_answers(lab):
    assert lab.vantage.run(connect, netns.DUAL6, netns.FED_PORT) == "Connection refused"
    assert lab.vantage.run(connect, netns.DUAL4, netns.FED_PORT) == "connected"


def test_the_ipv4_only_vantage_has_no_route_to_ipv6(lab):
    assert lab.vantage4.run(connect, netns.V6ONLY, netns.FED_PORT) == "Network is unreachable"
    assert lab.vantage4.run(connect, netns.DUAL4, netns.FED_PORT) == "connected"


def test_the_machines_own_network_never_sees_the_lab(lab):
    """While the lab runs (and answers from inside), the machine's own namespace has none of its
    addresses or routes. (A TCP connect to 10.77.0.x proves nothing here: this machine's default
    route leads to a network that accepts any TCP connection.)"""
    assert lab.vantage.run(connect, netns.DUAL4, netns.FED_PORT) == "connected"
    assert connect(netns.V6ONLY, netns.FED_PORT) != "connected"
    ip = netns.ip_command()
    own = subprocess.run([ip, "-o", "addr"], capture_output=True, text=True, check=True).stdout
    routes = subprocess.run([ip, "route"], capture_output=True, text=True, check=True).stdout
    routes += subprocess.run([ip, "-6", "route"], capture_output=True, text=True, check=True).stdout
    for prefix in (netns.V4 + ".", netns.V6 + ":"):
        assert prefix not in own and prefix not in routes, (prefix, own, routes)


def test_namespaces_of_a_crashed_run_are_removed_with_what_runs_in_them(lab):
    child = subprocess.Popen(["sleep", "0"])
    child.wait()
    stale = f"{netns.PREFIX}{child.pid}-crashed"
    subprocess.run([netns.ip_command(), "netns", "add", stale], check=True)
    orphan = subprocess.Popen(netns.Namespace(stale).command("sleep", "600"))
    try:
        time.sleep(0.2)
        assert stale in netns.lab_namespaces()
        assert stale in netns.clean()
        assert stale not in netns.lab_namespaces()
        assert set(lab.info()["namespaces"].values()) <= set(netns.lab_namespaces())  # a live run's stay
        assert orphan.wait(5) != 0  # killed
    finally:
        if orphan.poll() is None:
            orphan.kill()
        subprocess.run([netns.ip_command(), "netns", "del", stale], check=False, capture_output=True)


# -- the collection, run from inside the vantage points -----------------------------------------------
def connections(result: dict) -> dict[str, dict]:
    return {c["address"]: c for c in result["connections"]}


def test_lookup_resolves_the_ipv6_only_name_over_ipv6_dns(from_dual_stack):
    assert from_dual_stack["lookup_run"].get("failed") is not True, from_dual_stack["lookup_run"]
    (resolved,) = from_dual_stack["resolved"]
    assert resolved["targets"] == [{"host": "v6.fleet.test", "port": netns.FED_PORT, "addresses": [netns.V6ONLY]}]


def test_ipv6_only_target_federates_from_the_dual_stack_vantage(from_dual_stack):
    result = from_dual_stack["ipv6_only"]
    assert result["ok"], result["errors"]
    assert list(connections(result)) == [netns.V6ONLY]
    assert connections(result)[netns.V6ONLY]["checks"]["all_ed25519_checks_ok"] is True


def test_well_known_delegation_over_ipv6_only(from_dual_stack):
    result = from_dual_stack["ipv6_only_well_known"]
    assert result["ok"], result["errors"]
    assert result["resolution"]["delegated_server"] == f"keys6.fleet.test:{netns.FED_PORT}"
    assert list(connections(result)) == [netns.V6ONLY]


def test_dual_stack_target_with_broken_ipv6_fails_on_its_ipv6_address_only(from_dual_stack):
    result = from_dual_stack["dual_stack"]
    by_address = connections(result)
    assert set(by_address) == {netns.DUAL4, netns.DUAL6}
    assert by_address[netns.DUAL4]["ok"] is True
    assert by_address[netns.DUAL6]["ok"] is False
    assert "refused" in by_address[netns.DUAL6]["error"].lower(), by_address[netns.DUAL6]
    assert result["ok"] is False


def test_ipv4_only_target_federates_from_both_vantage_points(from_dual_stack, from_ipv4_only):
    for run in (from_dual_stack, from_ipv4_only):
        assert run["ipv4_only"]["ok"], run["ipv4_only"]["errors"]


def test_from_the_ipv4_only_vantage_ipv6_addresses_are_unreachable(from_ipv4_only):
    """Today's report of an IPv4-only runner (issue #19): "Network is unreachable" per IPv6 address."""
    v6_only = from_ipv4_only["ipv6_only"]
    assert v6_only["ok"] is False
    assert "unreachable" in connections(v6_only)[netns.V6ONLY]["error"].lower(), v6_only["connections"]
    dual = connections(from_ipv4_only["dual_stack"])
    assert dual[netns.DUAL4]["ok"] is True
    assert "unreachable" in dual[netns.DUAL6]["error"].lower(), dual[netns.DUAL6]
