# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``config_files`` killed at every step of its transaction, judged from outside, then recovered.

One real ``ansible-playbook`` run; per case (one named step of the fault hook) it installs an old
version, applies a new one with ``MATRIXOPS_CONFIG_FILES_FAULT=<step>`` (the module SIGKILLs
itself there), records the disk and what an HTTP server (on ``<net>.40``, rb band) serves from
it, runs the new version again without the fault, and records again.

A version is: a release (``server`` and ``client`` documents) under ``rel/<id>`` with the link
``www/.well-known/matrix`` to it (the ``files`` mode), a "web server configuration"
``conf/site.conf`` naming the release directory (``alias rel/<id>``, the id from the
``release_id`` filter, as an nginx ``alias`` would), and a plain file. ``activate`` copies the
configuration to ``active.conf``: what the "web server" has loaded, like a reload.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from rb_site import Site
from support.playbook import run_tasks

from ansible_collections.matrixops.delegation.plugins.module_utils._transaction import STEPS as TX_STEPS

VERSIONS = ("old", "new")
#: Every step of the fault hook; a repeated one (``:n``, its n-th time) at its first and last time,
#: every rename, the rollback's first restore. Entries in commit order: the release directory,
#: conf/site.conf, www/plain.txt, the link.
REPEATS = {"temp-written": (1, 4), "backed-up": (1, 3), "renamed": (1, 2, 3, 4), "restored": (1,)}
STEPS = [f"{step}:{n}" if n else step for step in TX_STEPS for n in REPEATS.get(step, (0,))]
#: What the link serves right after the kill at each step (the link is renamed last, restored first).
SERVED_AFTER_KILL = {
    step: "new" for step in ("renamed:4", "committed", "validated", "activated", "checked", "cleanup", "cleaned")
}
#: What the "web server" has loaded (active.conf) right after the kill.
ACTIVE_AFTER_KILL = {step: "new" for step in ("activated", "checked", "cleanup", "cleaned")}
SNAPSHOT = r"""
import json, os, re, sys, urllib.error, urllib.request
case, out, url = sys.argv[1:4]
files = {}
for root, dirs, names in os.walk(case):
    dirs[:] = sorted(d for d in dirs if not (root == case and d == "state"))
    for name in sorted(dirs + names):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, case)
        mode = oct(os.lstat(path).st_mode & 0o7777)
        if os.path.islink(path):
            files[rel] = ["link", os.path.relpath(os.readlink(path), case)]
        elif os.path.isdir(path):
            files[rel] = ["dir", mode]
        else:
            files[rel] = ["file", open(path).read(), mode]
served = {}
for doc in ("server", "client"):
    try:
        with urllib.request.urlopen(url + "www/.well-known/matrix/" + doc, timeout=5) as response:
            served[doc] = response.read().decode()
    except urllib.error.HTTPError as exc:
        served[doc] = "HTTP %d" % exc.code
active = None
if os.path.exists(os.path.join(case, "active.conf")):
    text = open(os.path.join(case, "active.conf")).read()
    release = os.path.join(case, text.split()[1])
    marker = os.path.join(release, ".matrixops-release")
    active = {"conf": text, "release_complete": os.path.isfile(marker),
              "server": open(os.path.join(release, "server")).read() if os.path.isfile(marker) else None}
journals = sorted(os.listdir(os.path.join(case, "state", "transactions"))) if os.path.isdir(
    os.path.join(case, "state", "transactions")) else []
leftovers = [rel for rel in files if re.search(r"\.matrixops-[0-9]", rel)]
json.dump({"files": files, "served": served, "active": active, "journals": journals, "leftovers": leftovers},
          open(out, "w"))
"""


def documents(version: str) -> list[dict]:
    return [
        {"path": "server", "content": json.dumps({"m.server": f"{version}.example.test:443"}) + "\n"},
        {
            "path": "client",
            "content": json.dumps({"m.homeserver": {"base_url": f"https://{version}.example.test"}}) + "\n",
        },
    ]


def apply_task(base: Path, site: Site, case: str, version: str, **extra: object) -> dict:
    directory = base / case
    args = {
        "release": {
            "base": f"{directory}/rel",
            "link": f"{directory}/www/.well-known/matrix",
            "files": f"{{{{ docs_{version} }}}}",
        },
        "files": [
            {
                "path": f"{directory}/conf/site.conf",
                "content": f"alias rel/{{{{ docs_{version} | matrixops.delegation.release_id }}}} {version}\n",
            },
            {"path": f"{directory}/www/plain.txt", "content": f"plain {version}\n"},
        ],
        "validate": ["cat", f"{directory}/conf/site.conf"],
        "validate_fail_on": extra.pop("validate_fail_on", []),
        "activate": ["cp", f"{directory}/conf/site.conf", f"{directory}/active.conf"],
        "check_served": [
            {
                "address": site.address,
                "port": site.port,
                "tls": False,
                "server_name": "faults.test",
                "path": f"/{case}/www/.well-known/matrix/server",
                "body": documents(version)[0]["content"],
            }
        ],
        "check_timeout": 5,
        "lock": f"test-faults-{base.name}-{case}",
        "lock_timeout": 30,
        "state_dir": f"{directory}/state",
    }
    return {"matrixops.delegation.config_files": args, **extra}


def snapshot_task(base: Path, site: Site, case: str, label: str) -> dict:
    url = f"http://{site.address}:{site.port}/{case}/"
    argv = [sys.executable, str(base / "snapshot.py"), str(base / case), str(base / f"{case}.{label}.json"), url]
    return {"name": f"Snapshot {case} {label}", "ansible.builtin.command": {"argv": argv}, "changed_when": False}


def case_name(step: str) -> str:
    return "kill-" + step.replace(":", "-")


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    (base / "snapshot.py").write_text(SNAPSHOT)
    site = Site(base)
    tasks: list[dict] = []
    registered = []
    cases = {"reference": None} | {case_name(step): step for step in STEPS}
    for case, step in cases.items():
        key = case.replace("-", "_").replace(":", "_")
        tasks.append({"name": f"{case}: old", **apply_task(base, site, case, "old"), "register": f"{key}_old"})
        if step:
            fail_on = ["new"] if step.startswith("restored") else []
            tasks.append(
                {
                    "name": f"{case}: new, killed at {step}",
                    **apply_task(base, site, case, "new", validate_fail_on=fail_on),
                    "environment": {"MATRIXOPS_CONFIG_FILES_FAULT": step},
                    "register": f"{key}_killed",
                    "ignore_errors": True,
                }
            )
            tasks.append(snapshot_task(base, site, case, "killed"))
        tasks.append(
            {
                "name": f"{case}: new",
                **apply_task(base, site, case, "new"),
                "register": f"{key}_new",
                "ignore_errors": True,
            }
        )
        tasks.append(snapshot_task(base, site, case, "final"))
        registered += [f"{key}_old", f"{key}_killed", f"{key}_new"]
    play_vars = {f"docs_{version}": documents(version) for version in VERSIONS}
    try:
        run = run_tasks(tasks, base / "play", registered=registered, play_vars=play_vars, timeout=900)
    finally:
        site.close()

    def load(case: str, label: str) -> dict:
        return json.loads((base / f"{case}.{label}.json").read_text())

    outcome = {}
    for case, step in cases.items():
        key = case.replace("-", "_")
        outcome[case] = {
            "old": run.results[f"{key}_old"],
            "killed": run.results[f"{key}_killed"],
            "new": run.results[f"{key}_new"],
            "after_kill": load(case, "killed") if step else None,
            "final": load(case, "final"),
        }
    outcome["output"] = run.output
    return outcome


def test_the_reference_run_without_a_fault_works(faults):
    reference = faults["reference"]
    assert reference["old"]["changed"] is True and reference["new"]["changed"] is True, reference["new"]
    final = reference["final"]
    assert final["served"] == {doc["path"]: doc["content"] for doc in documents("new")}
    assert final["active"]["conf"].endswith(" new\n") and final["active"]["release_complete"]
    assert f"rel/{reference['new']['release_id']}" in final["active"]["conf"], "the filter names the module's release"
    assert final["leftovers"] == [] and final["journals"] == []
    assert [path for path in final["files"] if path.count("/") == 1 and path.startswith("rel/")] == [
        f"rel/{reference['new']['release_id']}"
    ], "the old release is pruned"


@pytest.mark.parametrize("step", STEPS)
def test_the_killed_run_died_at_its_step(faults, step):
    killed = faults[case_name(step)]["killed"]
    assert killed["failed"] is True
    assert killed.get("rc") == -9 or "Killed" in str(killed.get("module_stderr")) or killed.get("rc") == 137, killed


@pytest.mark.parametrize("step", STEPS)
def test_what_is_served_after_the_kill_is_exactly_one_version(faults, step):
    after = faults[case_name(step)]["after_kill"]
    expected = SERVED_AFTER_KILL.get(step, "old")
    assert after["served"] == {doc["path"]: doc["content"] for doc in documents(expected)}, after["served"]


@pytest.mark.parametrize("step", STEPS)
def test_the_loaded_configuration_names_a_complete_release_of_its_own_version(faults, step):
    active = faults[case_name(step)]["after_kill"]["active"]
    expected = ACTIVE_AFTER_KILL.get(step, "old")
    assert active["conf"].endswith(f" {expected}\n")
    assert active["release_complete"], "the release an active configuration names is never removed under it"
    assert f"{expected}.example.test" in active["server"]


@pytest.mark.parametrize("step", STEPS)
def test_every_file_after_the_kill_is_the_old_or_the_new_one(faults, step):
    files = faults[case_name(step)]["after_kill"]["files"]
    assert files["conf/site.conf"][1].split()[-1] in VERSIONS
    assert files["www/plain.txt"][1] in ("plain old\n", "plain new\n")


@pytest.mark.parametrize("step", STEPS)
def test_the_next_run_recovers_and_leaves_exactly_the_new_version(faults, step):
    outcome = faults[case_name(step)]
    new = outcome["new"]
    assert new.get("failed") is not True, new.get("msg")
    if step == "locked":
        assert new["recovered"] == {}, "killed before the journal: nothing to recover"
    else:
        assert new["recovered"]["journal"].endswith(".json") and new["recovered"]["message"], new["recovered"]
    assert new["lock_waited"] < 5, "the killed run's lock does not block"
    final, reference = outcome["final"], faults["reference"]["final"]
    assert final["files"] == reference["files"], "byte for byte and mode for mode the same as an uninterrupted run"
    assert final["served"] == reference["served"] and final["active"] == reference["active"]
    assert final["leftovers"] == [] and final["journals"] == []


def test_recovery_runs_the_old_activation_again_when_files_had_changed(faults):
    recovered = faults[case_name("committed")]["new"]["recovered"]
    assert "conf/site.conf" in " ".join(recovered["restored"])
    assert "validated and activated again" in recovered["message"]
    assert "config_files: restored the files of an interrupted run" in faults["output"]


def test_a_kill_after_the_checks_keeps_the_new_version(faults):
    recovered = faults[case_name("cleanup")]["new"]["recovered"]
    assert recovered["restored"] == [] and "finished the cleanup" in recovered["message"]


def test_no_traceback_reaches_the_user(faults):
    assert "Traceback" not in faults["output"]
