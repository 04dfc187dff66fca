# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet check's pure rules (module_utils/_check_policy.py, issue #19): certificate days,
platform networks, address families and "no route from this host"."""

from __future__ import annotations

import pytest

from ansible_collections.matrixops.delegation.plugins.module_utils._check_policy import (
    CheckPolicy,
    days_left,
    expiry_problem,
    family_of,
    is_no_route,
    on_platform,
    parse_networks,
    parse_time,
)

A1, A2 = "198.51.100.7", "2001:db8::7"


def test_policy_from_module_parameters():
    policy = CheckPolicy.from_params(
        {"certificate_expiry_days": 14, "certificate_expiry_error": True, "platform_networks": ["192.0.2.0/24", A2]}
    )
    assert (policy.expiry_days, policy.expiry_error, policy.family) == (14, True, "any")
    assert [str(n) for n in policy.networks] == ["192.0.2.0/24", f"{A2}/128"]
    assert CheckPolicy.from_params({}) == CheckPolicy()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"certificate_expiry_days": -1}, "certificate_expiry_days must be a whole number of days"),
        ({"certificate_expiry_days": True}, "certificate_expiry_days must be a whole number of days"),
        ({"address_family": "ipv5"}, "address_family must be one of any, ipv4, ipv6, got 'ipv5'"),
        ({"platform_networks": ["10.0.0.0/33"]}, "platform network '10.0.0.0/33' is neither"),
        ({"platform_networks": "10.0.0.0/8"}, "platform networks must be a list"),
    ],
)
def test_policy_refuses_bad_values_naming_them(params, message):
    with pytest.raises(ValueError, match=message):
        CheckPolicy.from_params(params)


def test_families():
    assert (family_of(A1), family_of(A2), family_of(None)) == ("ipv4", "ipv6", "ipv4")
    assert CheckPolicy().wants(A1) and CheckPolicy().wants(A2)
    assert CheckPolicy(family="ipv6").wants(A2) and not CheckPolicy(family="ipv6").wants(A1)
    assert CheckPolicy(family="ipv4").wants(A1) and not CheckPolicy(family="ipv4").wants(A2)


def test_platform_membership():
    networks = parse_networks(["198.51.100.0/24"])
    assert on_platform(A1, networks)
    assert not on_platform(A2, networks)
    assert not on_platform("not an address", networks)
    assert parse_networks(None) == []


def test_certificate_days():
    assert parse_time("1970-01-02T00:00:00Z") == 86400
    assert parse_time("1970-01-02T00:00:00+00:00") == 86400
    assert parse_time("1970-01-02T00:00:00") == 86400  # naive: UTC
    assert parse_time("tomorrow") is None and parse_time("") is None and parse_time(5) is None
    assert days_left("1970-01-11T00:00:00Z", 0) == 10
    assert days_left("1970-01-10T23:59:59Z", 0) == 9
    assert days_left("1969-12-31T12:00:00Z", 0) == -1
    assert days_left(None, 0) is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("cannot check [2001:db8::7]:8448: cannot connect: Network is unreachable", True),
        ("cannot check [2001:db8::7]:8448: cannot connect: Cannot assign requested address", True),
        ("cannot check [2001:db8::7]:8448: cannot connect: Address family not supported by protocol", True),
        ("cannot check 198.51.100.7:8448: cannot connect: No route to host", False),
        ("cannot check 198.51.100.7:8448: cannot connect: Connection refused", False),
        (None, False),
    ],
)
def test_no_route_is_told_from_the_error(error, expected):
    assert is_no_route(error) is expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (5, "the certificate presented by h:1 expires in 5 days (T), within the threshold of 14 days: renew it"),
        (1, "the certificate presented by h:1 expires in 1 day (T), within the threshold of 14 days: renew it"),
        (-1, "the certificate presented by h:1 expired 1 day ago (T): renew it"),
        (-3, "the certificate presented by h:1 expired 3 days ago (T): renew it"),
    ],
)
def test_an_expired_certificate_is_said_to_have_expired(days, expected):
    assert expiry_problem("h:1", days, "T", "14 days") == expected
