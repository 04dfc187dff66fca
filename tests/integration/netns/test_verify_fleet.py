"""The verify playbook for a fleet (issue #19): 54 server names with per-name expected targets,
checked in one federation_check task from two vantage points of the netns lab (tests/lab/netns.py),
with the three reports written and read back by independent parsers.

The vantage points are two inventory hosts of the group ``matrix_verify_vantage_points``, both
local connections whose Python interpreter runs inside a namespace (``ip netns exec NS python``):
``dual-stack`` and ``ipv4-only``. The controller (this machine's own namespace) writes the reports.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import jsonschema
import netns
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.playbook import ansible_playbook, environment

from ansible_collections.matrixops.delegation.plugins.module_utils._report import REPORT_SCHEMA, days_left

PORT = netns.FED_PORT
WRONG_TARGET = f"elsewhere.fleet.test:{PORT}"


def expected_targets(lab: netns.NetnsLab) -> dict[str, str | None]:
    """Every name -> its expected target: its own for odd fleet names, none for even ones, a wrong one for the last."""
    names: dict[str, str | None] = {
        f"v6.fleet.test:{PORT}": f"v6.fleet.test:{PORT}",
        "delegated6.fleet.test": f"keys6.fleet.test:{PORT}",
        f"dual.fleet.test:{PORT}": None,
        f"v4.fleet.test:{PORT}": f"v4.fleet.test:{PORT}",
    }
    fleet = lab.fleet_names()
    for index, host in enumerate(fleet, start=1):
        names[f"{host}:{PORT}"] = f"{host}:{PORT}" if index % 2 else None
    names[f"{fleet[-1]}:{PORT}"] = WRONG_TARGET
    return names


def run_verify(argv: list[str], cwd) -> tuple[int, str]:
    """``argv`` (an ansible-playbook command line) in ``cwd``: its exit status and its output."""
    proc = subprocess.run(argv, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def fleet_run(lab: netns.NetnsLab, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("verify-fleet")
    interpreters = {}
    for vantage, namespace in (("dual-stack", lab.vantage), ("ipv4-only", lab.vantage4)):
        wrapper = workdir / f"python-{vantage}"  # the module's Python, run inside the vantage point's namespace
        wrapper.write_text(f'#!/bin/sh\nexec {" ".join(namespace.command(sys.executable))} "$@"\n')
        wrapper.chmod(0o755)
        interpreters[vantage] = str(wrapper)
    inventory = {
        "all": {
            "children": {
                "matrix_verify_vantage_points": {
                    "hosts": {
                        vantage: {"ansible_connection": "local", "ansible_python_interpreter": interpreter}
                        for vantage, interpreter in {**interpreters, "broken": "/bin/false"}.items()
                    }
                }
            }
        }
    }
    names = expected_targets(lab)
    extra = {
        "matrix_verify_server_names": names,
        "matrix_verify_nameservers": [lab.nameserver4],
        "matrix_verify_ca_path": str(lab.ca_path),
        "matrix_verify_allow_private_addresses": True,
        "matrix_verify_timeout": 3,
        "matrix_verify_report_json": str(workdir / "report.json"),
        "matrix_verify_report_junit": str(workdir / "junit.xml"),
        "matrix_verify_metrics_file": str(workdir / "matrix_federation.prom"),
        # every certificate of the lab is "expiring" (a warning), every address is on the platform
        "matrix_verify_certificate_expiry_days": expiry_threshold(lab),
        "matrix_verify_platform_networks": [f"{netns.V4}.0/24", f"{netns.V6}::/64"],
    }
    (workdir / "inventory.json").write_text(json.dumps(inventory))
    (workdir / "extra.json").write_text(json.dumps(extra))
    argv = [ansible_playbook(), "-i", str(workdir / "inventory.json"), "matrixops.delegation.verify"]
    returncode, output = run_verify([*argv, "-e", f"@{workdir / 'extra.json'}"], workdir)
    (workdir / "ansible-playbook.log").write_text(output)
    return {"rc": returncode, "output": output, "workdir": workdir, "names": names}


def expiry_threshold(lab: netns.NetnsLab) -> int:
    """One day more than the lab certificate has left: it is expiring."""
    not_after = lab.certificate.certificate.not_valid_after_utc.timestamp()
    return days_left(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(not_after)), time.time()) + 1


def report(run) -> dict:
    return json.loads((run["workdir"] / "report.json").read_text())


FAILED_FROM_DUAL_STACK = {f"dual.fleet.test:{PORT}", f"f050.fleet.test:{PORT}"}
#: From the IPv4-only vantage point the IPv6-only names are out of reach ("no route", not failed),
#: and the dual-stack name is fine on IPv4 (its IPv6 side cannot be seen from there).
FAILED_FROM_IPV4_ONLY = {f"f050.fleet.test:{PORT}"}
NO_ROUTE_FROM_IPV4_ONLY = {f"v6.fleet.test:{PORT}", "delegated6.fleet.test"}


def test_the_play_fails_on_each_vantage_host_naming_its_failed_names(fleet_run):
    assert fleet_run["rc"] == 2, fleet_run["output"][-4000:]
    assert len(fleet_run["names"]) == 54
    flat = re.sub(r"\s+", " ", fleet_run["output"])
    for host, failed in (("dual-stack", FAILED_FROM_DUAL_STACK), ("ipv4-only", FAILED_FROM_IPV4_ONLY)):
        message = re.search(
            rf"fatal: \[{host}\]: FAILED! => .*?Federation is broken for ([^:]+(?::{PORT})?(?:, [^:,]+(?::{PORT})?)*):",
            flat,
        )
        assert message, flat[-4000:]
        assert set(message.group(1).split(", ")) == failed
    # the IPv4-only host says which names it could not reach, apart from the failed ones
    assert re.search(
        r"no route from ipv4-only to delegated6\.fleet\.test, v6\.fleet\.test:8448 \(not checked, not known to be broken\)",
        flat,
    ), flat[-3000:]
    # a vantage host where the module cannot run fails, and the reports are written all the same
    assert "fatal: [broken]: FAILED! => {" in fleet_run["output"]
    assert re.search(r"The federation check could not run on broken: \S", flat), flat[-3000:]
    # the first host also wrote the three reports (run_once, on the controller)
    # (dual-stack: three reports written, the metrics as <file>.tmp then renamed)
    for host, ok, changed in (("dual-stack", 7, 4), ("ipv4-only", 3, 0), ("broken", 2, 0)):
        recap = rf"{host}\s+: ok={ok}\s+changed={changed}\s+unreachable=0\s+failed=1"
        assert re.search(recap, fleet_run["output"]), fleet_run["output"][-2000:]


def test_json_report_matches_its_schema_and_keys_results_by_vantage_host(fleet_run):
    data = report(fleet_run)
    jsonschema.validate(data, REPORT_SCHEMA)
    assert set(data["vantage_points"]) == {"dual-stack", "ipv4-only", "broken"}
    assert data["failed_vantage_points"] == ["broken"]
    assert data["vantage_points"]["broken"]["checked"] == 0 and data["vantage_points"]["broken"]["error"]
    for vantage, failed in (("dual-stack", FAILED_FROM_DUAL_STACK), ("ipv4-only", FAILED_FROM_IPV4_ONLY)):
        point = data["vantage_points"][vantage]
        assert point["checked"] == 54
        assert set(point["failed_names"]) == failed
        assert point["error"] is None
    assert set(data["failed_names"]) == FAILED_FROM_DUAL_STACK | FAILED_FROM_IPV4_ONLY
    assert set(data["vantage_points"]["ipv4-only"]["no_route_names"]) == NO_ROUTE_FROM_IPV4_ONLY
    assert data["vantage_points"]["dual-stack"]["no_route_names"] == []
    assert data["ok"] is False


def test_json_report_has_per_address_results_by_family_and_certificate_days(fleet_run, lab):
    data = report(fleet_run)
    dual = data["vantage_points"]["dual-stack"]["names"][f"dual.fleet.test:{PORT}"]
    assert dual["families"]["ipv4"] == {"ok": True, "addresses": 1, "failed": 0, "no_route": 0}
    assert dual["families"]["ipv6"] == {"ok": False, "addresses": 1, "failed": 1, "no_route": 0}
    assert dual["state"] == "failed"
    # the same name from the IPv4-only vantage point: IPv6 out of reach, IPv4 fine
    seen_from_v4 = data["vantage_points"]["ipv4-only"]["names"][f"dual.fleet.test:{PORT}"]
    assert (seen_from_v4["state"], seen_from_v4["ok"], seen_from_v4["module_ok"]) == ("ok", True, True)
    assert seen_from_v4["families"]["ipv6"] == {"ok": True, "addresses": 1, "failed": 0, "no_route": 1}
    assert {a["family"]: a["state"] for a in seen_from_v4["addresses"]} == {"ipv4": "ok", "ipv6": "no-route"}
    assert "no IPv6 route from this vantage point: 1 address(es) not checked" in seen_from_v4["warnings"]
    v6 = data["vantage_points"]["dual-stack"]["names"][f"v6.fleet.test:{PORT}"]
    assert v6["ok"] is True
    assert v6["targets"] == [{"host": "v6.fleet.test", "port": PORT, "addresses": [netns.V6ONLY]}]
    (address,) = v6["addresses"]
    assert address["family"] == "ipv6"
    assert address["tls_version"].startswith("TLSv1.")
    not_after = lab.certificate.certificate.not_valid_after_utc
    assert address["certificate_not_after"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert v6["certificate_days_left"] in {
        days_left(address["certificate_not_after"], t) for t in (_generated(data), _generated(data) - 5)
    }
    unreachable = data["vantage_points"]["ipv4-only"]["names"][f"v6.fleet.test:{PORT}"]
    assert unreachable["state"] == "no-route"
    assert unreachable["addresses"][0]["state"] == "no-route"
    assert "Network is unreachable" in unreachable["addresses"][0]["error"]
    wrong = data["vantage_points"]["dual-stack"]["names"][f"f050.fleet.test:{PORT}"]
    assert any(WRONG_TARGET in error for error in wrong["errors"]), wrong["errors"]


def test_expiring_certificates_warn_and_addresses_are_checked_against_the_platform(fleet_run):
    data = report(fleet_run)
    v6 = data["vantage_points"]["dual-stack"]["names"][f"v6.fleet.test:{PORT}"]
    assert v6["ok"] is True  # a warning by default, not an error
    assert v6["addresses"][0]["expiring"] is True
    assert any(w.startswith(f"the certificate presented by [{netns.V6ONLY}]:{PORT} expires in") for w in v6["warnings"])
    for point in data["vantage_points"].values():
        for entry in point["names"].values():
            assert all(address["on_platform"] for address in entry["addresses"]), entry
            assert "off-platform" not in entry["error_codes"]


def _generated(data: dict) -> float:
    import datetime as dt

    return dt.datetime.strptime(data["generated"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def test_junit_has_a_case_per_name_and_vantage_point_and_a_failure_per_failed_name(fleet_run):
    root = ET.parse(fleet_run["workdir"] / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("109", "3", "1", "2")
    suites = {suite.get("hostname"): suite for suite in root.findall("testsuite")}
    assert set(suites) == {"dual-stack", "ipv4-only", "broken"}
    assert suites["broken"].find("testcase/error") is not None
    failures = {case.get("name"): case.find("failure") for case in suites["ipv4-only"].findall("testcase")}
    assert {name for name, failure in failures.items() if failure is not None} == FAILED_FROM_IPV4_ONLY
    skipped = {case.get("name"): case.find("skipped") for case in suites["ipv4-only"].findall("testcase")}
    assert {name for name, case in skipped.items() if case is not None} == NO_ROUTE_FROM_IPV4_ONLY
    assert skipped[f"v6.fleet.test:{PORT}"].get("message").startswith("no IPv6 route from this vantage point")
    assert "elsewhere.fleet.test" in failures[f"f050.fleet.test:{PORT}"].get("message")


def test_metrics_parse_with_the_prometheus_parser(fleet_run):
    text = (fleet_run["workdir"] / "matrix_federation.prom").read_text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    ok = {(s.labels["vantage"], s.labels["server_name"]): s for s in families["matrix_federation_ok"].samples}
    assert len(ok) == 106  # no sample for the two names out of reach from the IPv4-only host
    assert ("ipv4-only", f"v6.fleet.test:{PORT}") not in ok
    assert ok[("ipv4-only", f"dual.fleet.test:{PORT}")].value == 1
    no_route = {(s.labels["server_name"], s.labels["family"]) for s in families["matrix_federation_no_route"].samples}
    assert no_route == {
        (f"v6.fleet.test:{PORT}", "ipv6"),
        ("delegated6.fleet.test", "ipv6"),
        (f"dual.fleet.test:{PORT}", "ipv6"),
    }
    assert ok[("dual-stack", f"v6.fleet.test:{PORT}")].value == 1
    assert (
        ok[("dual-stack", "delegated6.fleet.test")].labels["method"]
        == report(fleet_run)["vantage_points"]["dual-stack"]["names"]["delegated6.fleet.test"]["method"]
    )
    days = families["matrix_federation_certificate_days_left"].samples
    assert days and all(sample.value > 0 for sample in days)
    assert {s.labels["vantage"]: s.value for s in families["matrix_federation_vantage_ok"].samples} == {
        "broken": 0,
        "dual-stack": 0,
        "ipv4-only": 0,
    }


def test_single_name_usage_still_checks_one_name_from_the_controller(lab, tmp_path):
    """``-e server_name=...`` on the controller (here: inside the dual-stack namespace), no reports."""
    extra = {
        "server_name": f"v6.fleet.test:{PORT}",
        "expected_target": f"v6.fleet.test:{PORT}",
        "nameservers": [lab.nameserver6],
        "ca_path": str(lab.ca_path),
        "allow_private_addresses": True,
        "timeout": 3,
    }
    argv = lab.vantage.command(ansible_playbook(), "matrixops.delegation.verify", "-e", json.dumps(extra))
    returncode, output = run_verify(argv, tmp_path)
    assert returncode == 0, output[-3000:]
    assert f"Federation OK for v6.fleet.test:{PORT}" in output
    assert f"Federation report for v6.fleet.test:{PORT}" in output
    assert re.search(r"localhost\s+: ok=4\s+changed=0\s+unreachable=0\s+failed=0", output), output[-2000:]
    assert list(tmp_path.iterdir()) == []  # no report asked, none written


def test_each_name_reports_its_expected_target_and_the_seconds_it_took(fleet_run):
    data = report(fleet_run)
    for point in data["vantage_points"].values():
        for name, entry in point["names"].items():
            assert entry["expected_target"] == fleet_run["names"][name], name
            assert isinstance(entry["seconds"], float) and 0 <= entry["seconds"] < 60, entry["seconds"]
    text = (fleet_run["workdir"] / "matrix_federation.prom").read_text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert len(families["matrix_federation_check_seconds"].samples) == 108
    root = ET.parse(fleet_run["workdir"] / "junit.xml").getroot()
    suite = next(suite for suite in root.findall("testsuite") if suite.get("hostname") == "dual-stack")
    assert all(float(case.get("time")) > 0 for case in suite.findall("testcase"))


def test_metrics_file_is_renamed_into_place_and_no_temporary_file_is_left(fleet_run):
    assert sorted(path.name for path in fleet_run["workdir"].glob("matrix_federation.prom*")) == [
        "matrix_federation.prom"
    ]


def vantage_inventory(lab: netns.NetnsLab, workdir, groups: dict) -> str:
    """An inventory with the dual-stack vantage point as host ``dual-stack``, plus ``groups``."""
    wrapper = workdir / "python-dual-stack"
    wrapper.write_text(f'#!/bin/sh\nexec {" ".join(lab.vantage.command(sys.executable))} "$@"\n')
    wrapper.chmod(0o755)
    inventory = {
        "all": {
            "hosts": {"dual-stack": {"ansible_connection": "local", "ansible_python_interpreter": str(wrapper)}},
            "children": groups,
        }
    }
    path = workdir / "inventory.json"
    path.write_text(json.dumps(inventory))
    return str(path)


def test_a_group_of_deployments_gives_each_name_its_target_and_verify_from_picks_the_vantage_host(lab, tmp_path):
    """matrix_verify_group: each host's matrix_server_name, expected at its matrix_delegated_server
    (port 8448 when it has none; no expected target when it has none), checked from verify_from."""
    customers = {
        "c-v4": {"matrix_server_name": f"v4.fleet.test:{PORT}", "matrix_delegated_server": f"v4.fleet.test:{PORT}"},
        "c-delegated6": {"matrix_server_name": "delegated6.fleet.test", "matrix_delegated_server": "keys6.fleet.test"},
        "c-dual": {"matrix_server_name": f"dual.fleet.test:{PORT}"},
    }
    inventory = vantage_inventory(lab, tmp_path, {"customers": {"hosts": customers}})
    extra = {
        "verify_from": "dual-stack",
        "matrix_verify_group": "customers",
        "matrix_verify_nameservers": [lab.nameserver4],
        "matrix_verify_ca_path": str(lab.ca_path),
        "matrix_verify_allow_private_addresses": True,
        "matrix_verify_timeout": 3,
        "matrix_verify_concurrency": 2,
        "matrix_verify_address_family": "ipv4",
        "matrix_verify_report_json": str(tmp_path / "report.json"),
    }
    returncode, output = run_verify(
        [ansible_playbook(), "-i", inventory, "matrixops.delegation.verify", "-e", json.dumps(extra)], tmp_path
    )
    names = json.loads((tmp_path / "report.json").read_text())["vantage_points"]["dual-stack"]["names"]
    assert {name: entry["expected_target"] for name, entry in names.items()} == {
        f"v4.fleet.test:{PORT}": f"v4.fleet.test:{PORT}",
        "delegated6.fleet.test": f"keys6.fleet.test:{PORT}",
        f"dual.fleet.test:{PORT}": None,
    }
    # address_family ipv4: the dual-stack name passes on its IPv4 side; the IPv6-only name has no
    # IPv4 address to check, so it fails, and only it
    assert names[f"dual.fleet.test:{PORT}"]["ok"] is True, names[f"dual.fleet.test:{PORT}"]
    assert names[f"v4.fleet.test:{PORT}"]["ok"] is True
    assert names["delegated6.fleet.test"]["ok"] is False
    assert returncode == 2, output[-3000:]
    assert re.search(r"Federation is broken for delegated6\.fleet\.test:", re.sub(r"\s+", " ", output)), output[-3000:]


def test_a_verify_from_that_matches_no_host_fails_naming_it(lab, tmp_path):
    inventory = vantage_inventory(lab, tmp_path, {"probes": {"hosts": {"dual-stack": None}}})
    returncode, output = run_verify(
        [
            ansible_playbook(),
            "-i",
            inventory,
            "matrixops.delegation.verify",
            "-e",
            "verify_from=probe-typo",
            "-e",
            f"server_name=v4.fleet.test:{PORT}",
        ],
        tmp_path,
    )
    assert returncode == 2, output[-3000:]
    assert "verify_from 'probe-typo' matches no host of the inventory" in output, output[-3000:]
    assert "Check federation of every server name" not in output
