# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``config_files`` with a real nginx (``nginx -t`` and ``nginx -s reload``), killed at the steps
around the switch, judged over HTTPS with SNI: the document and its header always come from the
same version, because the configuration ``alias``es the release directory (named in Jinja by the
``release_id`` filter) and one reload switches both.

A private nginx from ``tests/lab/nginx.py`` listens on ``<net>.41:443`` (rb band) with a
self-signed certificate for ``faults.test``; its server block includes ``conf.d/*.conf``, the
file the module manages: ``location /<case>/ { alias <release dir>/; add_header X-Release <version>; }``.
"""

from __future__ import annotations

import json
import sys

import nginx
import pki
import pytest
import rb_world as w
from support.playbook import run_tasks

from ansible_collections.matrixops.delegation.plugins.module_utils._served import probe

NAME = "faults.test"
STEPS = [
    "temp-written:1",
    "prepared",
    "renamed:1",
    "renamed:2",
    "committed",
    "validated",
    "activated",
    "checked",
    "cleanup",
    "restored:1",
]
PROBE = r"""
import http.client, json, socket, ssl, sys
address, name, path, out = sys.argv[1:5]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
connection = http.client.HTTPConnection(name, 443, timeout=10)
connection.sock = context.wrap_socket(socket.create_connection((address, 443), 10), server_hostname=name)
connection.request("GET", path, headers={"Host": name})
response = connection.getresponse()
json.dump({"status": response.status, "release": response.getheader("X-Release"), "body": response.read().decode()},
          open(out, "w"))
"""


def document(version: str) -> str:
    return json.dumps({"m.server": f"{version}.example.test:443"}) + "\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults-nginx")
    workdir = base / "nginx"
    (base / "conf.d").mkdir()
    (base / "probe.py").write_text(PROBE)
    leaf = pki.self_signed_cert(base / "tls", [NAME])
    address = w.NET.ip(41)
    server = nginx.Server(
        listen=f"{address}:443",
        server_name=NAME,
        certificate=leaf.cert_path,
        key=leaf.key_path,
        extra=f"include {base}/conf.d/*.conf;",
    )
    nginx.start(workdir, [server])
    binary = nginx.ensure_nginx()
    control = ["-c", str(workdir / "nginx.conf"), "-p", f"{workdir}/", "-e", str(workdir / "logs/error.log")]

    def apply(case: str, version: str, **extra: object) -> dict:
        docs = f"{{{{ docs_{version} }}}}"
        location = (
            f"location /{case}/ {{\n    alias {base}/{case}/rel/{{{{ docs_{version} | matrixops.delegation.release_id }}}}/;\n"
            f"    default_type application/json;\n    add_header X-Release {version};\n}}\n"
        )
        return {
            "matrixops.delegation.config_files": {
                "release": {"base": f"{base}/{case}/rel", "files": docs},
                "files": [{"path": f"{base}/conf.d/{case}.conf", "content": location}],
                "validate": [binary, "-t", *control],
                "validate_fail_on": extra.pop("validate_fail_on", []),
                "activate": [binary, "-s", "reload", *control],
                "check_served": [
                    {"address": address, "server_name": NAME, "path": f"/{case}/server", "body": document(version)}
                ],
                "check_timeout": 10,
                "lock": f"test-faults-nginx-{base.name}",
                "state_dir": f"{base}/state",
            },
            **extra,
        }

    def look(case: str, label: str) -> dict:
        argv = [
            sys.executable,
            str(base / "probe.py"),
            address,
            NAME,
            f"/{case}/server",
            str(base / f"{case}.{label}.json"),
        ]
        return {"name": f"Probe {case} {label}", "ansible.builtin.command": {"argv": argv}, "changed_when": False}

    tasks: list[dict] = []
    registered = []
    for step in STEPS:
        case = step.replace(":", "-")
        key = case.replace("-", "_")
        tasks += [
            {"name": f"{case} old", **apply(case, "old"), "register": f"{key}_old"},
            {
                "name": f"{case} new, killed at {step}",
                **apply(case, "new", validate_fail_on=["syntax is ok"] if step.startswith("restored") else []),
                "environment": {"MATRIXOPS_CONFIG_FILES_FAULT": step},
                "ignore_errors": True,
                "register": f"{key}_killed",
            },
            look(case, "killed"),
            {"name": f"{case} new", **apply(case, "new"), "register": f"{key}_new", "ignore_errors": True},
            look(case, "final"),
        ]
        registered += [f"{key}_old", f"{key}_killed", f"{key}_new"]
    play_vars = {f"docs_{version}": [{"path": "server", "content": document(version)}] for version in ("old", "new")}
    try:
        run = run_tasks(tasks, base / "play", registered=registered, play_vars=play_vars, timeout=900)
        outside = probe(address, 443, NAME, f"/{STEPS[-1].replace(':', '-')}/server")
    finally:
        nginx.stop(workdir)
    outcome = {}
    for step in STEPS:
        case = step.replace(":", "-")
        key = case.replace("-", "_")
        outcome[step] = {
            **{label: run.results[f"{key}_{label}"] for label in ("old", "killed", "new")},
            "after_kill": json.loads((base / f"{case}.killed.json").read_text()),
            "final": json.loads((base / f"{case}.final.json").read_text()),
        }
    outcome["outside"] = outside
    outcome["output"] = run.output
    return outcome


@pytest.mark.parametrize("step", STEPS)
def test_the_old_version_was_installed_through_nginx_and_the_new_run_was_killed(served, step):
    assert served[step]["old"].get("failed") is not True, served[step]["old"].get("msg")
    assert served[step]["killed"]["failed"] is True and served[step]["killed"].get("rc") in (137, -9), served[step][
        "killed"
    ]


@pytest.mark.parametrize("step", STEPS)
def test_after_the_kill_document_and_header_are_of_one_version(served, step):
    seen = served[step]["after_kill"]
    assert seen["status"] == 200, seen
    assert seen["release"] in ("old", "new")
    assert seen["body"] == document(seen["release"]), seen
    if step in ("temp-written:1", "prepared", "renamed:1", "renamed:2", "committed", "validated", "restored:1"):
        assert seen["release"] == "old", "nothing is served new before the reload"


@pytest.mark.parametrize("step", STEPS)
def test_the_next_run_recovers_and_nginx_serves_the_new_version(served, step):
    new = served[step]["new"]
    assert new.get("failed") is not True, new.get("msg")
    assert new["recovered"], "the interrupted run is reported"
    assert served[step]["final"] == {"status": 200, "release": "new", "body": document("new")}


def test_the_probe_of_the_module_sees_what_a_client_sees(served):
    assert served["outside"].status == 200 and served["outside"].headers["x-release"] == "new"


def test_no_traceback_reaches_the_user(served):
    assert "Traceback" not in served["output"]
