# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two ``config_files`` runs at once (real ``ansible-playbook`` processes, same lock, different
content): the second waits for the first and the result is exactly the second's version; a third
with a short ``lock_timeout`` gives up naming the holder's PID.

Deterministic, not timed: run A holds the lock inside its ``validate`` command until the test
creates a ``go`` file; run B is let go only once its module process is seen running.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from support.playbook import ansible_playbook, environment


def start(base: Path, name: str, version: str, lock: str, **extra: object) -> subprocess.Popen:
    site = base / "site"
    args = {
        "files": [
            {"path": f"{site}/conf/a.conf", "content": f"a {version}\n"},
            {"path": f"{site}/conf/b.conf", "content": f"b {version}\n"},
        ],
        "release": {
            "base": f"{site}/rel",
            "link": f"{site}/www/matrix",
            "files": [{"path": "server", "content": version}],
        },
        "validate": ["true"],
        "lock": lock,
        "state_dir": f"{base}/state",
        **extra,
    }
    tasks = [
        {
            "name": "Apply",
            "matrixops.delegation.config_files": args,
            "register": "r",
            "ignore_errors": True,
            "environment": {"MATRIXOPS_TEST_RUN": f"{lock}-{name}"},
        },
        {"name": "Result", "ansible.builtin.copy": {"dest": f"{base}/{name}.json", "content": "{{ r | to_json }}"}},
    ]
    playbook = base / f"{name}.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    return subprocess.Popen(
        [ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook)],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def module_running(tag: str) -> bool:
    """A process of this run's module (its environment carries ``tag``) exists."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if f"MATRIXOPS_TEST_RUN={tag}".encode() in environ.split(b"\0"):
            return True
    return False


def files(site: Path) -> dict:
    return {
        "a": (site / "conf/a.conf").read_text(),
        "b": (site / "conf/b.conf").read_text(),
        "served": (site / "www/matrix/server").read_text(),
    }


def version(name: str) -> dict:
    return {"a": f"a {name}\n", "b": f"b {name}\n", "served": name}


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults-lock")
    lock = f"test-lock-{uuid.uuid4().hex[:12]}"
    barrier = ["sh", "-c", f"touch {base}/started; while [ ! -e {base}/go ]; do sleep 0.05; done"]
    first = start(base, "first", "first", lock, validate=barrier)
    processes = [first]
    try:
        wait_for((base / "started").exists, "the first run to hold the lock")
        holder = Path(f"/run/lock/matrixops-delegation/{lock}.lock").read_text()
        second = start(base, "second", "second", lock, lock_timeout=120)
        impatient = start(base, "impatient", "impatient", lock, lock_timeout=1)
        processes += [second, impatient]
        impatient_output = impatient.communicate(timeout=120)[0]
        wait_for(lambda: module_running(f"{lock}-second"), "the second run's module")
        time.sleep(1)  # the second run is now polling the lock
        while_held = files(base / "site")
        (base / "go").touch()
        outputs = {"first": first.communicate(timeout=120)[0], "second": second.communicate(timeout=120)[0]}
    finally:
        (base / "go").touch()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    results = {name: json.loads((base / f"{name}.json").read_text()) for name in ("first", "second", "impatient")}
    return {
        "results": results,
        "holder": holder,
        "while_held": while_held,
        "final": files(base / "site"),
        "leftovers": [str(path) for path in (base / "site").rglob("*.matrixops-[0-9]*")],
        "output": "".join(outputs.values()) + impatient_output,
    }


def test_both_runs_complete_in_turn(concurrent):
    first, second = concurrent["results"]["first"], concurrent["results"]["second"]
    assert first.get("failed") is not True, first.get("msg")
    assert second.get("failed") is not True, second.get("msg")
    assert first["lock_waited"] < 1
    assert second["lock_waited"] >= 1, "the second run waited for the first"


def test_the_second_run_touched_nothing_while_the_first_held_the_lock(concurrent):
    assert concurrent["while_held"] == version("first")


def test_the_result_is_exactly_the_second_version(concurrent):
    assert concurrent["final"] == version("second")
    assert concurrent["leftovers"] == []


def test_a_waiter_that_gives_up_names_the_holders_pid(concurrent):
    impatient = concurrent["results"]["impatient"]
    holder = dict(line.split("=", 1) for line in concurrent["holder"].splitlines())
    assert impatient["failed"] is True
    assert f"PID {holder['pid']}, started {holder['started']}" in impatient["msg"]
    assert "gave up after waiting 1 s (lock_timeout)" in impatient["msg"]
    assert "changed_files" not in impatient or impatient["changed"] is False


def test_no_traceback_reaches_the_user(concurrent):
    assert "Traceback" not in concurrent["output"]
