# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""federation_check's fleet options (issue #19) in FederationChecker, over fakes of its ports:
certificate expiry, platform networks, address families and "no route from this host".
The rules themselves are tested in test_check_policy.py."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import serialization
from support import tls_certs
from test_federation import NOW_MS
from test_federation_checker import A1, A2, MATRIX, FakeProbe, FakeResolver, FakeSession, resolution

from ansible_collections.matrixops.delegation.plugins.module_utils._check_policy import CheckPolicy, parse_networks
from ansible_collections.matrixops.delegation.plugins.module_utils._federation import FederationChecker
from ansible_collections.matrixops.delegation.plugins.module_utils._federation_probe import has_local_route
from ansible_collections.matrixops.delegation.plugins.module_utils._model import HttpsError
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions

NOW = NOW_MS / 1000
UNREACHABLE = HttpsError(f"[{A2}]:8448: cannot connect: Network is unreachable", kind="connect")


def session_expiring_in(days: float) -> FakeSession:
    session = FakeSession()
    not_after = dt.datetime.fromtimestamp(NOW, dt.UTC) + dt.timedelta(days=days)
    certificate = tls_certs.issue([MATRIX], not_before=not_after - dt.timedelta(days=90), not_after=not_after)
    session.certificate = certificate.certificate.public_bytes(serialization.Encoding.DER)
    return session


class FakeRoutes:
    """The has_route port: whether this host has a route to an address (none, unless given)."""

    def __init__(self, *routed: str) -> None:
        self.routed = set(routed)
        self.asked: list[tuple[str, int]] = []

    def __call__(self, address: str, port: int) -> bool:
        self.asked.append((address, port))
        return address in self.routed


def check(
    probe: FakeProbe, *addresses: str, policy: CheckPolicy | None = None, routes: FakeRoutes | None = None
) -> tuple[dict, list[str]]:
    checker = FederationChecker(
        ResolveOptions(timeout=1.0),
        now=lambda: NOW,
        resolver=FakeResolver(resolution(*addresses)),
        probe=probe,
        policy=policy,
        has_route=routes or FakeRoutes(),
    )
    with checker:
        return checker.run("example.com"), checker.warnings


# -- in the checker ---------------------------------------------------------------------------------
def test_an_expiring_certificate_warns_by_default():
    result, warnings = check(FakeProbe({(A1, 8448): session_expiring_in(5.5)}), policy=CheckPolicy(expiry_days=14))
    assert result["ok"] is True
    assert result["connections"][0]["expiring"] is True
    assert any(w.startswith(f"the certificate presented by {A1}:8448 expires in 5 days") for w in warnings), warnings


def test_an_expiring_certificate_is_an_error_when_asked():
    policy = CheckPolicy(expiry_days=14, expiry_error=True)
    result, _warnings = check(FakeProbe({(A1, 8448): session_expiring_in(5.5)}), policy=policy)
    assert result["ok"] is False
    assert result["error_codes"] == ["certificate-expiring"]
    assert result["connections"][0]["state"] == "error"


def test_an_expired_certificate_is_said_to_have_expired_not_to_expire_in_negative_days():
    result, warnings = check(FakeProbe({(A1, 8448): session_expiring_in(-2.5)}), policy=CheckPolicy(expiry_days=14))
    assert result["connections"][0]["expiring"] is True
    expired = [w for w in warnings if w.startswith(f"the certificate presented by {A1}:8448 expired 3 days ago (")]
    assert expired, warnings
    assert "within the threshold" not in expired[0]
    assert not any("expires in -" in w for w in warnings)


def test_a_certificate_outside_the_threshold_is_not_expiring():
    result, warnings = check(FakeProbe({(A1, 8448): session_expiring_in(30)}), policy=CheckPolicy(expiry_days=14))
    assert result["ok"] and result["connections"][0]["expiring"] is False
    assert not any("expires in" in w for w in warnings)


def test_addresses_off_the_platform_fail_the_check():
    result, _warnings = check(FakeProbe(), A1, A2, policy=CheckPolicy(networks=tuple(parse_networks([A1]))))
    assert result["ok"] is False
    assert result["error_codes"] == ["off-platform"]
    assert result["errors"][0].startswith(f"{A2} (target {MATRIX}:8448 of example.com) is not on the platform")


def test_an_unreachable_family_warns_and_does_not_fail_when_another_address_was_checked():
    result, warnings = check(FakeProbe({(A2, 8448): UNREACHABLE}), A1, A2)
    assert result["ok"] is True, result["errors"]
    assert [c["state"] for c in result["connections"]] == ["ok", "no-route"]
    assert result["families"] == {
        "ipv4": {"addresses": 1, "state": "ok"},
        "ipv6": {"addresses": 1, "state": "no-route"},
    }
    assert any(w.startswith("no IPv6 route from this host: cannot check") for w in warnings), warnings


def test_network_unreachable_with_a_route_from_this_host_is_a_failure_a_router_reported():
    routes = FakeRoutes(A2)  # a router on the way answered ICMP net-unreachable (a stale AAAA, say)
    result, warnings = check(FakeProbe({(A2, 8448): UNREACHABLE}), A1, A2, routes=routes)
    assert routes.asked == [(A2, 8448)]
    assert result["ok"] is False
    assert [c["state"] for c in result["connections"]] == ["ok", "error"]
    assert result["error_codes"] == ["cannot-connect"]
    assert result["errors"][0] == (
        f"cannot check [{A2}]:8448: cannot connect: Network is unreachable (this host has a route to {A2}: "
        "a router on the way reported the network unreachable)"
    )
    assert result["connections"][1]["error"] == result["errors"][0]
    assert result["families"]["ipv6"] == {"addresses": 1, "state": "failed"}
    assert not any(w.startswith("no IPv6 route") for w in warnings), warnings


def test_the_route_is_only_looked_up_for_errors_that_read_no_route():
    routes = FakeRoutes()
    refused = HttpsError(f"[{A2}]:8448: cannot connect: Connection refused", kind="connect")
    result, _warnings = check(FakeProbe({(A2, 8448): refused}), A1, A2, routes=routes)
    assert routes.asked == []
    assert [c["state"] for c in result["connections"]] == ["ok", "error"]


def test_the_real_route_check_finds_the_loopback_route_and_refuses_what_is_not_an_address():
    assert has_local_route("127.0.0.1", 8448) is True
    assert has_local_route("not an address", 8448) is False


def test_no_reachable_address_at_all_is_the_no_route_error():
    result, _warnings = check(FakeProbe({(A2, 8448): UNREACHABLE}), A2)
    assert result["ok"] is False
    assert result["error_codes"] == ["no-route"]
    assert result["errors"][0].startswith("no IPv6 route from this host to any address of example.com")


def test_address_family_checks_one_family_only():
    probe = FakeProbe({(A2, 8448): HttpsError(f"[{A2}]:8448: cannot connect: Connection refused", kind="connect")})
    result, _warnings = check(probe, A1, A2, policy=CheckPolicy(family="ipv4"))
    assert result["ok"] is True
    assert [c["address"] for c in result["connections"]] == [A1]
    assert result["families"]["ipv6"] == {"addresses": 1, "state": "not-checked"}
    assert probe.connected == [(A1, 8448, MATRIX)]


def test_address_family_without_an_address_of_that_family_fails_saying_so():
    result, _warnings = check(FakeProbe(), A1, policy=CheckPolicy(family="ipv6"))
    assert result["ok"] is False
    assert result["error_codes"] == ["no-address"]
    assert "has no IPv6 address to check (address_family ipv6)" in result["errors"][0]
