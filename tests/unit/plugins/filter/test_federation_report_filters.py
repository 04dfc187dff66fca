# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report filters: federation_report, federation_junit, federation_metrics (shells over _report)."""

from __future__ import annotations

import time

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.matrixops.delegation.plugins.filter.federation_report import (
    FilterModule,
    federation_junit,
    federation_metrics,
    federation_report,
)

RESULT = {"ok": True, "server_name": "a.example", "resolution": None, "connections": [], "errors": []}


def test_filters_are_registered_under_their_documented_names():
    assert set(FilterModule().filters()) == {"federation_report", "federation_junit", "federation_metrics"}


def test_report_defaults_to_the_current_time_and_takes_now():
    before = time.time()
    report = federation_report({"h": RESULT})
    assert report["generated"] >= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before - 1))
    assert federation_report({"h": RESULT}, now=0)["generated"] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("now", ["yesterday", True])
def test_report_refuses_a_now_that_is_not_a_number(now):
    with pytest.raises(AnsibleFilterError, match="now must be seconds"):
        federation_report({"h": RESULT}, now=now)


@pytest.mark.parametrize("flt", [federation_report, federation_junit, federation_metrics])
def test_filters_name_themselves_when_the_input_is_wrong(flt):
    with pytest.raises(AnsibleFilterError, match=flt.__name__):
        flt("not a result")


def test_junit_and_metrics_render_the_report():
    report = federation_report({"h": RESULT}, now=0)
    assert "<testcase" in federation_junit(report)
    assert 'matrix_federation_ok{server_name="a.example",vantage="h",method="none"} 1' in federation_metrics(report)


def test_report_takes_the_expiry_threshold_and_the_platform_networks():
    result = {
        **RESULT,
        "resolution": {"targets": [{"host": "m.example", "port": 443, "addresses": ["198.51.100.1"]}]},
        "connections": [
            {
                "address": "198.51.100.1",
                "port": 443,
                "ok": True,
                "error": None,
                "tls": {"certificate": {"not_after": "1970-01-05T00:00:00Z"}},
            }
        ],
    }
    report = federation_report({"h": result}, now=0, certificate_expiry_days=7, platform_networks=["192.0.2.0/24"])
    entry = report["vantage_points"]["h"]["names"]["a.example"]
    assert entry["addresses"][0]["expiring"] is True
    assert entry["error_codes"] == ["off-platform"]
    strict = federation_report({"h": result}, now=0, certificate_expiry_days=7, certificate_expiry_error=True)
    assert strict["vantage_points"]["h"]["names"]["a.example"]["error_codes"] == ["certificate-expiring"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"certificate_expiry_days": "14"}, "certificate_expiry_days must be a number"),
        ({"certificate_expiry_days": -1}, "certificate_expiry_days must be a number"),
        ({"certificate_expiry_error": "yes"}, "certificate_expiry_error must be true or false"),
        ({"platform_networks": ["192.0.2.0/33"]}, "platform network '192.0.2.0/33'"),
    ],
)
def test_report_options_are_checked(options, message):
    with pytest.raises(AnsibleFilterError, match=message):
        federation_report({"h": RESULT}, **options)
