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


def check(probe: FakeProbe, *addresses: str, policy: CheckPolicy | None = None) -> tuple[dict, list[str]]:
    checker = FederationChecker(
        ResolveOptions(timeout=1.0),
        now=lambda: NOW,
        resolver=FakeResolver(resolution(*addresses)),
        probe=probe,
        policy=policy,
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
