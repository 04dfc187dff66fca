# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The verify playbook with ``-e implementations=all`` on three setups of the profiles lab (pf_world.py):
its JSON report carries every implementation's view and ``divergent``, valid against REPORT_SCHEMA.

One real ``ansible-playbook matrixops.delegation.verify`` run from the controller, against knot and
the TLS peers of the lab (started once for this folder: ``pf_world.shared``). The setups: D1 (the
spec passes, the pre-query implementations fail), D2-SERVFAIL (the spec fails, some
implementations pass) and D12-8448 (every implementation agrees: the control).
"""

from __future__ import annotations

import json
import subprocess

import jsonschema
import pf_world as w
import pytest
from support.playbook import ansible_playbook, environment

from ansible_collections.matrixops.delegation.plugins.module_utils._report import REPORT_SCHEMA

SETUPS = ("D1", "D2-SERVFAIL", "D12-8448")


@pytest.fixture(scope="module")
def pf_verify(tmp_path_factory: pytest.TempPathFactory):
    with w.shared(w.WORLD, tmp_path_factory.mktemp("pf-world")) as world:
        yield world


@pytest.fixture(scope="module")
def verify_run(pf_verify: w.World, tmp_path_factory: pytest.TempPathFactory) -> dict:
    workdir = tmp_path_factory.mktemp("pf-verify")
    extra = {
        "server_name": [pf_verify.setup(sid).server_name for sid in SETUPS],
        "nameservers": [pf_verify.nameserver],
        "ca_path": str(pf_verify.ca_path),
        "allow_private_addresses": True,
        "matrix_verify_timeout": 3,  # (an extra variable "timeout" is a reserved name: Ansible warns)
        "matrix_verify_report_json": str(workdir / "report.json"),
    }
    (workdir / "extra.json").write_text(json.dumps(extra))
    argv = [ansible_playbook(), "-i", "localhost,", "matrixops.delegation.verify"]
    argv += ["-e", f"@{workdir / 'extra.json'}", "-e", "implementations=all"]
    proc = subprocess.run(
        argv, cwd=workdir, env=environment(), capture_output=True, text=True, timeout=600, check=False
    )
    output = proc.stdout + proc.stderr
    (workdir / "ansible-playbook.log").write_text(output)
    assert (workdir / "report.json").exists(), output[-4000:]
    return {"rc": proc.returncode, "output": output, "report": json.loads((workdir / "report.json").read_text())}


def test_the_play_fails_for_the_name_the_spec_fails_only(verify_run):
    # a divergence alone does not fail a name (its ok is the spec's): D2's spec fails, D1's passes
    assert verify_run["rc"] == 2, verify_run["output"][-4000:]
    report = verify_run["report"]
    assert report["failed_names"] == [w.n("d2")]
    flat = " ".join(verify_run["output"].split())
    names = f"{w.n('d1')}, {w.n('d2')}"
    assert f"some homeserver implementations would not agree with the specification for {names}" in flat


def test_the_json_report_matches_its_schema_and_carries_every_implementation(verify_run, pf_verify):
    report = verify_run["report"]
    jsonschema.validate(report, REPORT_SCHEMA)
    names = report["vantage_points"]["localhost"]["names"]
    for sid in SETUPS:
        setup = pf_verify.setup(sid)
        entry = names[setup.server_name]
        assert list(entry["implementations"]) == list(w.PROFILES), sid
        ok = {profile: view["connections_ok"] for profile, view in entry["implementations"].items()}
        assert ok == {profile: setup.connects(pf_verify, profile) for profile in w.PROFILES}, sid
        for profile, view in entry["implementations"].items():
            place = setup.expect[profile]
            if place[0] == "error":
                assert view["code"] == place[1], (sid, profile)
            else:
                assert (view["host_header"], view["sni"]) == place[:2], (sid, profile)
                assert [[t["host"], t["port"], t["addresses"]] for t in view["targets"]] == json.loads(
                    json.dumps(place[2])
                ), (sid, profile)
            assert all(check["family"] == "ipv4" for check in view["checks"]), (sid, profile)


def test_the_json_report_lists_the_divergent_implementations_with_a_fix(verify_run, pf_verify):
    names = verify_run["report"]["vantage_points"]["localhost"]["names"]
    for sid in SETUPS:
        setup = pf_verify.setup(sid)
        spec_ok = setup.connects(pf_verify, "spec")
        want = {profile for profile in w.PROFILES[1:] if setup.connects(pf_verify, profile) != spec_ok}
        divergent = names[setup.server_name]["divergent"]
        assert {item["implementation"] for item in divergent} == want, sid
        assert all(item["spec_ok"] is spec_ok and item["fix"].strip() for item in divergent), divergent
    # both directions are in this report
    assert {item["implementation"] for item in names[w.n("d1")]["divergent"]} == set(w.PRE_QUERY)
    assert all(item["implementation_ok"] for item in names[w.n("d2")]["divergent"])
    assert names[w.n("d12-8448")]["divergent"] == []
