# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The federation reports (module_utils/_report.py): JSON report, JUnit XML, Prometheus text.

The inputs have federation_check's documented result shape; the outputs are read back with
independent parsers (jsonschema, ElementTree, prometheus_client's exposition parser).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.matrixops.delegation.plugins.module_utils._report import (
    REPORT_SCHEMA,
    Policy,
    ReportError,
    build_report,
    days_left,
    is_no_route,
    junit_xml,
    parse_networks,
    prometheus_text,
)

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC).timestamp()


def connection(
    address: str, *, ok: bool = True, error: str | None = None, not_after: str | None = "2027-01-31T12:00:00Z"
):
    tls = None
    if not_after is not None:
        tls = {
            "version": "TLSv1.3",
            "cipher": "TLS_AES_256_GCM_SHA384",
            "certificate_valid": True,
            "certificate": {"subject": "CN=m", "issuer": "CN=ca", "sans": ["m"], "not_after": not_after},
        }
    return {"address": address, "port": 8448, "ok": ok, "error": error, "tls": tls, "checks": {}, "keys": None}


def result(name: str, *connections: dict, errors: tuple[str, ...] = (), codes: tuple[str, ...] = (), **extra):
    return {
        "ok": not errors and all(c["ok"] for c in connections) and bool(connections),
        "server_name": name,
        "resolution": {
            "server_name": name,
            "method": "well_known_explicit_port",
            "delegated_server": "matrix.example.com:8448",
            "targets": [{"host": "matrix.example.com", "port": 8448, "addresses": [c["address"] for c in connections]}],
            "warnings": ["private address"],
        },
        "connections": list(connections),
        "version": {},
        "client": None,
        "support": None,
        "errors": list(errors),
        "error_codes": list(codes),
        "summary": "",
        **extra,
    }


GOOD = result("good.example", connection("192.0.2.1"), connection("2001:db8::1", not_after="2027-01-11T00:00:00Z"))
BAD = result(
    "bad.example",
    connection("192.0.2.2"),
    connection("2001:db8::2", ok=False, error="cannot check [2001:db8::2]:8448: Connection refused", not_after=None),
    errors=("cannot check [2001:db8::2]:8448: Connection refused", "second problem"),
    codes=("connection-refused", "keys-expired"),
    seconds=1.23456,
)


def multi(*results: dict) -> dict:
    return {
        "results": list(results),
        "failed_names": [r["server_name"] for r in results if not r["ok"]],
        "ok": all(r["ok"] for r in results),
    }


def test_days_left_are_whole_days_rounded_down_negative_once_expired():
    assert days_left("2027-01-11T00:00:00Z", NOW) == 10
    assert days_left("2027-01-10T23:59:59Z", NOW) == 9
    assert days_left("2026-12-31T12:00:00Z", NOW) == -1
    assert days_left("2027-01-11T00:00:00+00:00", NOW) == 10
    assert days_left(None, NOW) is None
    assert days_left("soon", NOW) is None


def test_report_of_server_names_results_keyed_by_vantage_host_matches_the_schema():
    report = build_report({"mon1": multi(GOOD, BAD), "mon2": multi(GOOD)}, now=NOW)
    jsonschema.validate(json.loads(json.dumps(report)), REPORT_SCHEMA)
    assert report["version"] == 1
    assert report["generated"] == "2027-01-01T00:00:00Z"
    assert report["ok"] is False
    assert report["failed_names"] == ["bad.example"]
    assert report["vantage_points"]["mon2"]["ok"] is True
    assert report["vantage_points"]["mon1"]["failed_names"] == ["bad.example"]
    good = report["vantage_points"]["mon1"]["names"]["good.example"]
    assert good["method"] == "well_known_explicit_port"
    assert good["targets"] == [{"host": "matrix.example.com", "port": 8448, "addresses": ["192.0.2.1", "2001:db8::1"]}]
    assert [a["family"] for a in good["addresses"]] == ["ipv4", "ipv6"]
    assert [a["certificate_days_left"] for a in good["addresses"]] == [30, 10]
    assert good["certificate_days_left"] == 10  # the soonest
    assert good["warnings"] == ["private address"]  # from the resolution when the result has none
    assert good["seconds"] is None
    bad = report["vantage_points"]["mon1"]["names"]["bad.example"]
    assert bad["errors"][0].endswith("Connection refused")
    assert bad["error_codes"] == ["connection-refused", "keys-expired"]
    assert bad["seconds"] == 1.235
    assert bad["families"] == {
        "ipv4": {"ok": True, "addresses": 1, "failed": 0, "no_route": 0},
        "ipv6": {"ok": False, "addresses": 1, "failed": 1, "no_route": 0},
    }
    assert (bad["state"], bad["module_ok"]) == ("failed", False)
    assert bad["addresses"][1]["state"] == "error"
    assert bad["addresses"][1]["tls_version"] is None


@pytest.mark.parametrize(
    "value",
    [
        GOOD,  # one single-name result
        [GOOD],  # a list of them
        {"results": [{**GOOD, "item": "good.example"}], "changed": False, "msg": "All items completed"},  # a loop
    ],
)
def test_single_results_lists_and_loops_are_accepted(value):
    report = build_report({"ctl": value}, now=NOW)
    assert list(report["vantage_points"]["ctl"]["names"]) == ["good.example"]
    assert report["ok"] is True


def test_a_bare_result_is_the_vantage_point_localhost():
    report = build_report(multi(GOOD), now=NOW)
    assert list(report["vantage_points"]) == ["localhost"]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"failed": True, "msg": "dnspython is missing"}, "dnspython is missing"),
        ({"unreachable": True, "msg": "ssh: timed out"}, "host unreachable: ssh: timed out"),
        ({"skipped": True}, "the check was skipped on this host"),
    ],
)
def test_a_vantage_point_that_could_not_check_has_an_error_and_fails_the_report(value, error):
    report = build_report({"mon1": multi(GOOD), "mon2": value}, now=NOW)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["vantage_points"]["mon2"] == {
        "ok": False,
        "error": error,
        "checked": 0,
        "failed_names": [],
        "no_route_names": [],
        "names": {},
    }
    assert report["ok"] is False
    assert report["failed_vantage_points"] == ["mon2"]
    assert report["failed_names"] == []


@pytest.mark.parametrize("value", ["text", 3, {"mon": {"what": 1}}, {"mon": "x"}])
def test_what_is_not_a_result_is_refused_naming_what_was_expected(value):
    with pytest.raises(ReportError, match="expected"):
        build_report(value, now=NOW)


def test_report_with_no_vantage_point_is_not_ok():
    assert build_report({}, now=NOW)["ok"] is False


def test_results_extra_keys_of_newer_modules_are_carried_per_address():
    conn = {**connection("192.0.2.9"), "state": "no-route", "ok": False, "warnings": ["w"], "expiring": True}
    entry = build_report(result("x.example", conn), now=NOW)["vantage_points"]["localhost"]["names"]["x.example"]
    assert entry["addresses"][0]["state"] == "no-route"
    assert entry["addresses"][0]["warnings"] == ["w"]
    assert entry["addresses"][0]["expiring"] is True


# -- JUnit ----------------------------------------------------------------------------------------
def test_junit_has_one_case_per_name_and_vantage_failures_with_the_first_error():
    report = build_report({"mon1": multi(GOOD, BAD), "mon2": {"failed": True, "msg": "boom"}}, now=NOW)
    root = ET.fromstring(junit_xml(report))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    mon1, mon2 = root.findall("testsuite")
    assert mon1.get("hostname") == "mon1"
    cases = {case.get("name"): case for case in mon1.findall("testcase")}
    assert set(cases) == {"good.example", "bad.example"}
    assert cases["good.example"].find("failure") is None
    failure = cases["bad.example"].find("failure")
    assert failure.get("message") == "cannot check [2001:db8::2]:8448: Connection refused"
    assert failure.get("type") == "connection-refused"
    assert failure.text.splitlines() == BAD["errors"]
    assert cases["bad.example"].get("time") == "1.235"
    assert cases["good.example"].find("system-out").text == "warning: private address"
    (case,) = mon2.findall("testcase")
    assert case.find("error").get("message") == "boom"


def test_junit_escapes_what_names_and_errors_carry():
    hostile = result("x.example", connection("192.0.2.1", ok=False, error='<&"]]>'), errors=('<&"]]>\x1b',))
    root = ET.fromstring(junit_xml(build_report({"a<b": hostile}, now=NOW)))
    assert root.find("testsuite").get("hostname") == "a<b"
    failure = root.find("testsuite/testcase/failure")
    assert failure.get("message") == '<&"]]>\\x1b'  # the control character, spelled out


def test_junit_refuses_what_is_not_a_report():
    with pytest.raises(ReportError):
        junit_xml({"results": []})


# -- Prometheus ------------------------------------------------------------------------------------
def samples(text: str) -> dict:
    parsed = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family
        for sample in family.samples:
            parsed[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return parsed


def test_metrics_parse_and_carry_ok_days_seconds_and_the_method_label():
    report = build_report({"mon1": multi(GOOD, BAD)}, now=NOW)
    text = prometheus_text(report)
    assert text.endswith("\n")
    got = samples(text)
    method = ("method", "well_known_explicit_port")
    good = (("server_name", "good.example"), ("vantage", "mon1"))
    bad = (("server_name", "bad.example"), ("vantage", "mon1"))
    assert got[("matrix_federation_ok", (method, *good))] == 1
    assert got[("matrix_federation_ok", (method, *bad))] == 0
    assert got[("matrix_federation_certificate_days_left", good)] == 10
    assert got[("matrix_federation_check_seconds", bad)] == 1.235
    assert ("matrix_federation_check_seconds", good) not in got  # unknown: no sample, not a zero
    assert got[("matrix_federation_errors", bad)] == 2
    assert got[("matrix_federation_vantage_ok", (("vantage", "mon1"),))] == 0
    assert got[("matrix_federation_last_run_timestamp_seconds", ())] == NOW


def test_metric_label_values_are_escaped():
    hostile = copy.deepcopy(GOOD)
    hostile["server_name"] = 'we"ird\\name\n'
    got = samples(prometheus_text(build_report({"mon": hostile}, now=NOW)))
    assert any(dict(labels).get("server_name") == 'we"ird\\name\n' for _name, labels in got)


def test_metrics_refuse_what_is_not_a_report():
    with pytest.raises(ReportError):
        prometheus_text([])


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ({"vantage_points": {"h": []}}, "expected vantage point 'h' of the report to be a dict .*, got list"),
        (
            {"vantage_points": {"h": {"names": []}}},
            "expected the 'names' of vantage point 'h' to be a dict .*, got list",
        ),
        (
            {"vantage_points": {"h": {"names": {"x": "ok"}}}},
            "expected the entry of 'x' at vantage point 'h' .*, got str",
        ),
        ({"vantage_points": []}, "expected the report of federation_report .*'vantage_points' is list"),
    ],
)
@pytest.mark.parametrize("render", [junit_xml, prometheus_text])
def test_a_malformed_report_is_refused_saying_what_was_expected_and_found(render, report, message):
    with pytest.raises(ReportError, match=message):
        render(report)


def test_a_vantage_point_without_names_renders():
    report = {"vantage_points": {"h": {"ok": False, "error": "boom"}}}
    assert ET.fromstring(junit_xml(report)).get("errors") == "1"
    assert "matrix_federation_vantage_ok" in prometheus_text(report)


# -- no route from this vantage point, certificate expiry, platform networks ---------------------------------
UNREACHABLE = "cannot check [2001:db8::1]:8448: cannot connect: Network is unreachable"
NO_ADDRESS = "no connection to v6.example could be checked"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UNREACHABLE, True),
        ("cannot check [2001:db8::1]:8448: cannot connect: Cannot assign requested address", True),
        ("cannot check [2001:db8::1]:8448: cannot connect: Address family not supported by protocol", True),
        ("cannot check 192.0.2.1:8448: cannot connect: No route to host", False),  # maybe the server's side
        ("cannot check 192.0.2.1:8448: cannot connect: Connection refused", False),
        (None, False),
    ],
)
def test_no_route_is_told_from_the_connection_error(error, expected):
    assert is_no_route(error) is expected


def v6_unreachable_dual_ok() -> dict:
    return result(
        "dual.example",
        connection("192.0.2.1"),
        connection("2001:db8::1", ok=False, error=UNREACHABLE, not_after=None),
        errors=(UNREACHABLE,),
        codes=("cannot-connect",),
    )


def test_a_dual_stack_name_whose_ipv6_is_unreachable_from_here_is_ok_with_a_warning():
    report = build_report({"v4only": v6_unreachable_dual_ok()}, now=NOW)
    jsonschema.validate(report, REPORT_SCHEMA)
    entry = report["vantage_points"]["v4only"]["names"]["dual.example"]
    assert (entry["state"], entry["ok"], entry["module_ok"]) == ("ok", True, False)
    assert [a["state"] for a in entry["addresses"]] == ["ok", "no-route"]
    assert entry["families"]["ipv6"] == {"ok": True, "addresses": 1, "failed": 0, "no_route": 1}
    assert "no IPv6 route from this vantage point: 1 address(es) not checked" in entry["warnings"]
    assert report["ok"] is True


def test_an_ipv6_only_name_from_an_ipv4_only_vantage_is_no_route_not_failed():
    only_v6 = result(
        "v6.example",
        connection("2001:db8::1", ok=False, error=UNREACHABLE, not_after=None),
        errors=(UNREACHABLE,),
        codes=("cannot-connect",),
    )
    only_v6["errors"].append(NO_ADDRESS)  # what the module adds when nothing was checked ...
    only_v6["error_codes"].append("no-address")
    report = build_report({"v4only": only_v6}, now=NOW)
    entry = report["vantage_points"]["v4only"]["names"]["v6.example"]
    assert (entry["state"], entry["ok"]) == ("no-route", False)
    assert report["vantage_points"]["v4only"]["no_route_names"] == ["v6.example"]
    assert report["vantage_points"]["v4only"]["failed_names"] == []
    assert report["no_route_names"] == ["v6.example"]
    assert report["ok"] is True  # nothing is known to be broken
    case = ET.fromstring(junit_xml(report)).find("testsuite/testcase")
    assert case.find("skipped").get("message").startswith("no IPv6 route")
    assert case.find("failure") is None
    got = samples(prometheus_text(report))
    labels = (("server_name", "v6.example"), ("vantage", "v4only"))
    assert not any(name == "matrix_federation_ok" for name, _labels in got)  # unknown, not a false 0
    assert got[("matrix_federation_no_route", (("family", "ipv6"), *labels))] == 1


ROUTER_UNREACHABLE = (
    "cannot check [2001:db8::1]:8448: cannot connect: Network is unreachable (this host has a route to "
    "2001:db8::1: a router on the way reported the network unreachable)"
)


def test_the_modules_connection_state_decides_no_route_not_the_error_text():
    # federation_check 0.2: this host had a route, so "Network is unreachable" came from a router on
    # the way - the connection's state is error and the name failed, whatever its text reads.
    stated = result(
        "stale.example",
        {**connection("192.0.2.1"), "state": "ok"},
        {**connection("2001:db8::1", ok=False, error=ROUTER_UNREACHABLE, not_after=None), "state": "error"},
        errors=(ROUTER_UNREACHABLE,),
        codes=("cannot-connect",),
    )
    report = build_report({"v": stated}, now=NOW)
    entry = report["vantage_points"]["v"]["names"]["stale.example"]
    assert [a["state"] for a in entry["addresses"]] == ["ok", "error"]
    assert (entry["state"], entry["ok"]) == ("failed", False)
    assert entry["families"]["ipv6"] == {"ok": False, "addresses": 1, "failed": 1, "no_route": 0}
    assert report["failed_names"] == ["stale.example"] and report["no_route_names"] == []
    assert not any("route from this vantage point" in w for w in entry["warnings"])


def test_the_modules_no_route_state_is_a_warning_not_a_failure():
    stated = result(
        "dual.example",
        {**connection("192.0.2.1"), "state": "ok"},
        {**connection("2001:db8::1", ok=False, error=UNREACHABLE, not_after=None), "state": "no-route"},
    )
    stated["ok"] = True  # the module's no-route connection is a warning, not an error
    entry = build_report({"v": stated}, now=NOW)["vantage_points"]["v"]["names"]["dual.example"]
    assert (entry["state"], entry["ok"]) == ("ok", True)
    assert [a["state"] for a in entry["addresses"]] == ["ok", "no-route"]
    assert "no IPv6 route from this vantage point: 1 address(es) not checked" in entry["warnings"]


def test_no_route_and_another_problem_is_failed():
    other = v6_unreachable_dual_ok()
    other["errors"].append("expected_target x:1 is not where dual.example resolves to")
    other["error_codes"].append("delegation-elsewhere")
    entry = build_report({"v": other}, now=NOW)["vantage_points"]["v"]["names"]["dual.example"]
    assert entry["state"] == "failed"


def test_an_expired_certificate_is_said_to_have_expired():
    expired = result("old.example", connection("192.0.2.1", not_after="2026-12-29T12:00:00Z"))
    policy = Policy(expiry_days=14, expiry_error=True)
    entry = build_report({"v": expired}, now=NOW, policy=policy)["vantage_points"]["v"]["names"]["old.example"]
    assert entry["certificate_days_left"] == -3
    assert entry["errors"] == [
        "the certificate presented by 192.0.2.1:8448 expired 3 days ago (2026-12-29T12:00:00Z): renew it"
    ]
    assert entry["error_codes"] == ["certificate-expiring"]


def test_expiring_certificates_warn_by_default_and_fail_when_asked():
    warned = build_report({"v": GOOD}, now=NOW, policy=Policy(expiry_days=14))["vantage_points"]["v"]
    entry = warned["names"]["good.example"]
    assert [a["expiring"] for a in entry["addresses"]] == [False, True]  # 30 and 10 days left
    assert entry["ok"] is True
    assert any(
        w.startswith("the certificate presented by [2001:db8::1]:8448 expires in 10 days") for w in entry["warnings"]
    )
    failed = build_report({"v": GOOD}, now=NOW, policy=Policy(expiry_days=14, expiry_error=True))["vantage_points"]["v"]
    entry = failed["names"]["good.example"]
    assert (entry["state"], failed["failed_names"]) == ("failed", ["good.example"])
    assert entry["error_codes"] == ["certificate-expiring"]
    assert "within the threshold of 14 days: renew it" in entry["errors"][0]
    jsonschema.validate(build_report({"v": GOOD}, now=NOW, policy=Policy(expiry_days=14)), REPORT_SCHEMA)


def test_addresses_outside_the_platform_networks_fail_the_name():
    policy = Policy(networks=parse_networks(["192.0.2.0/24", "2001:db8::1"]))
    inside = build_report({"v": GOOD}, now=NOW, policy=policy)["vantage_points"]["v"]["names"]["good.example"]
    assert inside["ok"] is True
    assert [a["on_platform"] for a in inside["addresses"]] == [True, True]
    moved = result("moved.example", connection("198.51.100.9"))
    entry = build_report({"v": moved}, now=NOW, policy=policy)["vantage_points"]["v"]["names"]["moved.example"]
    assert entry["state"] == "failed"
    assert entry["error_codes"] == ["off-platform"]
    assert entry["errors"][0].startswith("198.51.100.9 (target matrix.example.com:8448) is not on the platform")


@pytest.mark.parametrize("value", ["192.0.2.0/24", ["not-a-network"], 5])
def test_platform_networks_must_be_a_list_of_addresses_or_networks(value):
    with pytest.raises(ReportError, match="platform network"):
        parse_networks(value)


def test_a_well_known_file_out_of_reach_makes_the_fallback_target_no_route_not_a_wrong_delegation():
    fallback = result(
        "wk.example",
        connection("2001:db8::1", ok=False, error=UNREACHABLE, not_after=None),
        errors=(UNREACHABLE, "expected_target m.example:443 is not where wk.example resolves to"),
        codes=("cannot-connect", "delegation-elsewhere"),
    )
    fallback["resolution"]["well_known"] = {
        "url": "https://wk.example/.well-known/matrix/server",
        "error": "cannot connect: Network is unreachable",
    }
    entry = build_report({"v": fallback}, now=NOW)["vantage_points"]["v"]["names"]["wk.example"]
    assert entry["state"] == "no-route"
    assert any("well-known file" in w for w in entry["warnings"])
    fallback["error_codes"][1] = "keys-expired"  # a problem of its own: failed all the same
    assert build_report({"v": fallback}, now=NOW)["vantage_points"]["v"]["names"]["wk.example"]["state"] == "failed"


def test_the_modules_own_no_route_code_makes_the_name_no_route():
    """federation_check 0.2 keeps no-route connections out of the errors and says no-route itself."""
    only_v6 = result(
        "v6.example", {**connection("2001:db8::1", ok=False, error=UNREACHABLE, not_after=None), "state": "no-route"}
    )
    only_v6["errors"] = ["no IPv6 route from this host to any address of v6.example: it could not be checked from here"]
    only_v6["error_codes"] = ["no-route"]
    entry = build_report({"v": only_v6}, now=NOW)["vantage_points"]["v"]["names"]["v6.example"]
    assert (entry["state"], entry["ok"]) == ("no-route", False)
    assert entry["addresses"][0]["state"] == "no-route"


# -- federation_check's implementations option --------------------------------------------------------------
def test_a_name_checked_with_implementations_carries_each_view_and_divergent():
    from test_federation_implementations import EX4, d1_dns, refused
    from test_federation_implementations import check as check_implementations

    checked, _probe, _resolver = check_implementations(d1_dns(), sessions={(EX4, 8448): refused(EX4)})
    report = build_report({"mon1": checked}, now=NOW)
    jsonschema.validate(json.loads(json.dumps(report)), REPORT_SCHEMA)
    entry = report["vantage_points"]["mon1"]["names"]["example.com"]
    assert entry["ok"] is True  # the spec's verdict: a divergence does not fail the name
    assert list(entry["implementations"]) == list(checked["implementations"])
    conduwuit = entry["implementations"]["conduwuit"]
    assert conduwuit["connections_ok"] is False
    assert conduwuit["checks"][0] | {"error": None} == {
        "address": EX4,
        "port": 8448,
        "family": "ipv4",
        "ok": False,
        "state": "error",
        "error": None,
        "shared_with_spec": False,
    }
    assert {d["rule"] for d in conduwuit["differs_from_spec"]} == {"srv_name_override", "host_header"}
    assert entry["implementations"]["dendrite"]["notice_seconds"] is None
    assert entry["divergent"] == checked["divergent"]
    assert [item["implementation"] for item in entry["divergent"]] == ["conduwuit", "tuwunel", "tuwunel-1.0"]


def test_a_name_checked_without_implementations_has_no_such_keys():
    entry = build_report(GOOD, now=NOW)["vantage_points"]["localhost"]["names"]["good.example"]
    assert "implementations" not in entry
    assert "divergent" not in entry


def test_the_schema_refuses_an_implementation_view_without_its_checks():
    from test_federation_implementations import check as check_implementations
    from test_federation_implementations import d1_dns

    checked, _probe, _resolver = check_implementations(d1_dns(), implementations=["synapse"])
    report = build_report(checked, now=NOW)
    del report["vantage_points"]["localhost"]["names"]["example.com"]["implementations"]["synapse"]["checks"]
    with pytest.raises(jsonschema.ValidationError, match="'checks' is a required property"):
        jsonschema.validate(json.loads(json.dumps(report)), REPORT_SCHEMA)
