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
                        for vantage, interpreter in interpreters.items()
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
    }
    (workdir / "inventory.json").write_text(json.dumps(inventory))
    (workdir / "extra.json").write_text(json.dumps(extra))
    argv = [ansible_playbook(), "-i", str(workdir / "inventory.json"), "matrixops.delegation.verify"]
    returncode, output = run_verify([*argv, "-e", f"@{workdir / 'extra.json'}"], workdir)
    (workdir / "ansible-playbook.log").write_text(output)
    return {"rc": returncode, "output": output, "workdir": workdir, "names": names}


def report(run) -> dict:
    return json.loads((run["workdir"] / "report.json").read_text())


FAILED_FROM_DUAL_STACK = {f"dual.fleet.test:{PORT}", f"f050.fleet.test:{PORT}"}
FAILED_FROM_IPV4_ONLY = {
    f"v6.fleet.test:{PORT}",
    "delegated6.fleet.test",
    f"dual.fleet.test:{PORT}",
    f"f050.fleet.test:{PORT}",
}


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
    # the first host also wrote the three reports (run_once, on the controller)
    for host, ok, changed in (("dual-stack", 6, 3), ("ipv4-only", 3, 0)):
        recap = rf"{host}\s+: ok={ok}\s+changed={changed}\s+unreachable=0\s+failed=1"
        assert re.search(recap, fleet_run["output"]), fleet_run["output"][-2000:]


def test_json_report_matches_its_schema_and_keys_results_by_vantage_host(fleet_run):
    data = report(fleet_run)
    jsonschema.validate(data, REPORT_SCHEMA)
    assert set(data["vantage_points"]) == {"dual-stack", "ipv4-only"}
    for vantage, failed in (("dual-stack", FAILED_FROM_DUAL_STACK), ("ipv4-only", FAILED_FROM_IPV4_ONLY)):
        point = data["vantage_points"][vantage]
        assert point["checked"] == 54
        assert set(point["failed_names"]) == failed
        assert point["error"] is None
    assert set(data["failed_names"]) == FAILED_FROM_IPV4_ONLY
    assert data["ok"] is False


def test_json_report_has_per_address_results_by_family_and_certificate_days(fleet_run, lab):
    data = report(fleet_run)
    dual = data["vantage_points"]["dual-stack"]["names"][f"dual.fleet.test:{PORT}"]
    assert dual["families"]["ipv4"] == {"ok": True, "addresses": 1, "failed": 0}
    assert dual["families"]["ipv6"] == {"ok": False, "addresses": 1, "failed": 1}
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
    assert "unreachable" in unreachable["addresses"][0]["error"].lower()
    wrong = data["vantage_points"]["dual-stack"]["names"][f"f050.fleet.test:{PORT}"]
    assert any(WRONG_TARGET in error for error in wrong["errors"]), wrong["errors"]


def _generated(data: dict) -> float:
    import datetime as dt

    return dt.datetime.strptime(data["generated"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def test_junit_has_a_case_per_name_and_vantage_point_and_a_failure_per_failed_name(fleet_run):
    root = ET.parse(fleet_run["workdir"] / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("108", "6", "0")
    suites = {suite.get("hostname"): suite for suite in root.findall("testsuite")}
    assert set(suites) == {"dual-stack", "ipv4-only"}
    failures = {case.get("name"): case.find("failure") for case in suites["ipv4-only"].findall("testcase")}
    assert {name for name, failure in failures.items() if failure is not None} == FAILED_FROM_IPV4_ONLY
    assert "unreachable" in failures[f"v6.fleet.test:{PORT}"].get("message").lower()


def test_metrics_parse_with_the_prometheus_parser(fleet_run):
    text = (fleet_run["workdir"] / "matrix_federation.prom").read_text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    ok = {(s.labels["vantage"], s.labels["server_name"]): s for s in families["matrix_federation_ok"].samples}
    assert len(ok) == 108
    assert ok[("ipv4-only", f"v6.fleet.test:{PORT}")].value == 0
    assert ok[("dual-stack", f"v6.fleet.test:{PORT}")].value == 1
    assert (
        ok[("dual-stack", "delegated6.fleet.test")].labels["method"]
        == report(fleet_run)["vantage_points"]["dual-stack"]["names"]["delegated6.fleet.test"]["method"]
    )
    days = families["matrix_federation_certificate_days_left"].samples
    assert days and all(sample.value > 0 for sample in days)
    assert {s.labels["vantage"]: s.value for s in families["matrix_federation_vantage_ok"].samples} == {
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
