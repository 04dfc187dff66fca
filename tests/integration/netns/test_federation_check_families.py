"""federation_check's fleet options for real (issue #19), run from inside the netns lab's vantage
points: no route for a family, address_family, certificate expiry and platform networks."""

from __future__ import annotations

import netns
import pytest
from support.playbook import run_module_cases

MODULE = "matrixops.delegation.federation_check"
PORT = netns.FED_PORT
V6 = f"v6.fleet.test:{PORT}"
DUAL = f"dual.fleet.test:{PORT}"
V4 = f"v4.fleet.test:{PORT}"


@pytest.fixture(scope="module")
def from_ipv4_only(lab, check_options, tmp_path_factory):
    opts = {**check_options(lab.nameserver4), "fail_on_error": False}
    cases = {
        "dual": {"server_name": DUAL, **opts},
        "v6": {"server_name": V6, **opts},
        "dual_ipv4_only": {"server_name": DUAL, **opts, "address_family": "ipv4"},
    }
    return run_module_cases(MODULE, cases, tmp_path_factory.mktemp("families-v4"), prefix=lab.vantage4.command())


@pytest.fixture(scope="module")
def from_dual_stack(lab, check_options, tmp_path_factory):
    opts = {**check_options(lab.nameserver6), "fail_on_error": False}
    cases = {
        "dual_ipv4": {"server_name": DUAL, **opts, "address_family": "ipv4"},
        "dual_ipv6": {"server_name": DUAL, **opts, "address_family": "ipv6"},
        "v4_ipv6": {"server_name": V4, **opts, "address_family": "ipv6"},
        "expiring": {"server_name": V6, **opts, "certificate_expiry_days": 100000},
        "expiring_error": {
            "server_name": V6,
            **opts,
            "certificate_expiry_days": 100000,
            "certificate_expiry_error": True,
        },
        "not_expiring": {"server_name": V6, **opts, "certificate_expiry_days": 1},
        "platform": {"server_name": V6, **opts, "platform_networks": [f"{netns.V4}.0/24"]},
        "on_platform": {"server_name": V6, **opts, "platform_networks": [f"{netns.V6}::/64"]},
        "many": {"server_names": {V6: None, DUAL: None, V4: None}, **opts, "address_family": "ipv6"},
    }
    return run_module_cases(MODULE, cases, tmp_path_factory.mktemp("families-dual"), prefix=lab.vantage.command())


def by_address(result: dict) -> dict:
    return {c["address"]: c for c in result["connections"]}


def test_a_dual_stack_name_passes_from_an_ipv4_only_host_with_a_warning(from_ipv4_only):
    result = from_ipv4_only["dual"]
    assert result["ok"] is True, result["errors"]
    assert by_address(result)[netns.DUAL6]["state"] == "no-route"
    assert by_address(result)[netns.DUAL4]["state"] == "ok"
    assert result["families"] == {
        "ipv4": {"addresses": 1, "state": "ok"},
        "ipv6": {"addresses": 1, "state": "no-route"},
    }
    assert any(w.startswith("no IPv6 route from this host: cannot check") for w in result["warnings"]), result[
        "warnings"
    ]


def test_an_ipv6_only_name_from_an_ipv4_only_host_is_no_route_not_a_broken_server(from_ipv4_only):
    result = from_ipv4_only["v6"]
    assert result["ok"] is False
    assert result["error_codes"] == ["no-route"]
    assert result["errors"][0].startswith("no IPv6 route from this host to any address of v6.fleet.test:8448")


def test_address_family_ipv4_connects_to_ipv4_only(from_ipv4_only, from_dual_stack):
    for result in (from_ipv4_only["dual_ipv4_only"], from_dual_stack["dual_ipv4"]):
        assert result["ok"] is True, result["errors"]
        assert list(by_address(result)) == [netns.DUAL4]
        assert result["families"]["ipv6"] == {"addresses": 1, "state": "not-checked"}


def test_address_family_ipv6_finds_the_broken_ipv6_side(from_dual_stack):
    result = from_dual_stack["dual_ipv6"]
    assert result["ok"] is False
    assert list(by_address(result)) == [netns.DUAL6]
    assert result["error_codes"] == ["cannot-connect"]
    assert result["families"]["ipv4"]["state"] == "not-checked"
    assert result["families"]["ipv6"]["state"] == "failed"
    ipv4_only_name = from_dual_stack["v4_ipv6"]
    assert ipv4_only_name["error_codes"] == ["no-address"]
    assert "has no IPv6 address to check (address_family ipv6)" in ipv4_only_name["errors"][0]


def test_server_names_take_the_options_too(from_dual_stack):
    result = from_dual_stack["many"]
    assert [entry["ok"] for entry in result["results"]] == [True, False, False]
    assert result["failed_names"] == [DUAL, V4]


def test_certificate_expiry_threshold_warns_or_fails(from_dual_stack):
    warned = from_dual_stack["expiring"]
    assert warned["ok"] is True
    assert by_address(warned)[netns.V6ONLY]["expiring"] is True
    assert any("expires in" in w and "certificate_expiry_days" in w for w in warned["warnings"])
    failed = from_dual_stack["expiring_error"]
    assert failed["ok"] is False and failed["error_codes"] == ["certificate-expiring"]
    assert by_address(from_dual_stack["not_expiring"])[netns.V6ONLY]["expiring"] is False


def test_platform_networks(from_dual_stack):
    off = from_dual_stack["platform"]
    assert off["ok"] is False and off["error_codes"] == ["off-platform"]
    assert off["errors"][0].startswith(
        f"{netns.V6ONLY} (target v6.fleet.test:{PORT} of v6.fleet.test:{PORT}) is not on the platform"
    )
    assert from_dual_stack["on_platform"]["ok"] is True
