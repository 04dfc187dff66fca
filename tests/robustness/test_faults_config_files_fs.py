# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``config_files`` on a full disk, a read-only filesystem, a directory it may not write, and
the 0.1.0 layout (a real directory where the release link goes).

Each case runs in a private mount namespace (``unshare --mount``) with a small tmpfs mounted on
the case's directory: a driver there writes the old files, breaks the filesystem (fills it,
remounts it read-only, or gives the directory to ``nobody`` and runs ansible-playbook without
``CAP_DAC_OVERRIDE``, since root ignores file modes), runs a real ``ansible-playbook`` applying a
new version, and records the files byte for byte before and after and what an HTTP server (rb
band) serves from the directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rb_world as w
from support.playbook import ansible_playbook, environment

pytestmark = pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs unshare (util-linux) and root (mount namespaces and tmpfs mounts)",
)

TEMP = re.compile(r"\.matrixops-[0-9]")  # a temp or backup name of a transaction
OLD_CONF = "old configuration\n"
OLD_SERVER = '{"m.server": "old.example.test:443"}\n'
NEW_SERVER = '{"m.server": "new.example.test:443"}\n'
DRIVER = r"""
import functools, http.server, json, os, pwd, subprocess, sys, threading, urllib.error, urllib.request
spec = json.load(open(sys.argv[1]))
d = spec["dir"]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + spec["size"], "tmpfs", d], check=True)
for rel, content in spec["old"].items():
    os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
    with open(os.path.join(d, rel), "w") as handle:
        handle.write(content)
if spec.get("fill"):
    try:
        with open(os.path.join(d, "filler"), "wb") as handle:
            handle.write(b"\0" * spec["fill"])
    except OSError:
        pass  # full
if spec.get("break") == "readonly":
    subprocess.run(["mount", "-o", "remount,ro", d], check=True)
if spec.get("break") == "foreign-owner":
    nobody = pwd.getpwnam("nobody")
    for root, dirs, names in os.walk(d):
        for name in dirs + names + [""]:
            os.chown(os.path.join(root, name), nobody.pw_uid, nobody.pw_gid)

def snapshot():
    found = {}
    for root, dirs, names in os.walk(d):
        for name in sorted(dirs + names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, d)
            if os.path.islink(path):
                found[rel] = ["link", os.path.relpath(os.readlink(path), d)]
            elif os.path.isdir(path):
                found[rel] = ["dir", oct(os.lstat(path).st_mode)]
            else:
                found[rel] = ["file", open(path, "rb").read().decode("latin-1"), oct(os.lstat(path).st_mode)]
    return found

before = snapshot()
proc = subprocess.run(spec["command"], capture_output=True, text=True)
after = snapshot()
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
handler = functools.partial(Quiet, directory=d)
server = http.server.ThreadingHTTPServer((spec["address"], 0), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    with urllib.request.urlopen("http://%s:%d/www/matrix/server" % server.server_address, timeout=5) as response:
        served = response.read().decode()
except urllib.error.HTTPError as exc:
    served = "HTTP %d" % exc.code
server.shutdown()
json.dump({"address": server.server_address[0], "before": before, "after": after, "served": served, "rc": proc.returncode,
           "output": proc.stdout + proc.stderr}, open(spec["out"], "w"))
"""


def run_case(
    base: Path, name: str, *, old: dict, size: str, new: dict, fill: int = 0, breaks: str = "", state_dir: str = ""
) -> dict:
    """Run the driver for one case; returns its record plus the module's ``result``."""
    case = base / name
    case.mkdir()
    result_path = base / f"{name}.result.json"
    args = {
        "release": {"base": f"{case}/rel", "link": f"{case}/www/matrix", "files": new["release"]},
        "files": [{"path": f"{case}/{path}", "content": content} for path, content in new["files"].items()],
        "validate": ["true"],
        "lock": f"test-fs-{base.name}-{name}",
        "state_dir": state_dir.format(case=case) or str(base / f"{name}.state"),
    }
    tasks = [
        {"name": "Apply", "matrixops.delegation.config_files": args, "register": "r", "ignore_errors": True},
        {"name": "Result", "ansible.builtin.copy": {"dest": str(result_path), "content": "{{ r | to_json }}"}},
    ]
    playbook = base / f"{name}.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    command = [ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook)]
    if breaks == "foreign-owner":
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    spec = {
        "dir": str(case),
        "size": size,
        "old": old,
        "fill": fill,
        "break": breaks,
        "command": command,
        "address": w.NET.ip(40),
        "out": str(base / f"{name}.json"),
    }
    (base / f"{name}.spec.json").write_text(json.dumps(spec))
    driver = base / "driver.py"
    driver.write_text(DRIVER)
    subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            sys.executable,
            str(driver),
            str(base / f"{name}.spec.json"),
        ],
        env=environment(),
        check=True,
        timeout=300,
    )
    record = json.loads((base / f"{name}.json").read_text())
    assert result_path.exists(), record["output"][-4000:]
    record["result"] = json.loads(result_path.read_text())
    record["journal_dir"] = base / f"{name}.state"
    record["case"] = case
    return record


OLD = {"conf/a.conf": OLD_CONF, "conf/b.conf": OLD_CONF, "www/matrix/server": OLD_SERVER}
NEW_RELEASE = [{"path": "server", "content": NEW_SERVER}]


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults-fs")
    big = "x" * 300_000  # more than the tmpfs has left
    small = {"release": NEW_RELEASE, "files": {"conf/a.conf": "new a\n", "conf/b.conf": "new b\n"}}
    return {
        "enospc": run_case(
            base,
            "enospc",
            old=OLD,
            size="256k",
            new={"release": NEW_RELEASE, "files": {"conf/a.conf": "new a\n", "conf/b.conf": big}},
        ),
        "journal-enospc": run_case(
            base, "journal-enospc", old=OLD, size="64k", new=small, fill=10**6, state_dir="{case}/state"
        ),
        "erofs": run_case(base, "erofs", old=OLD, size="256k", new=small, breaks="readonly"),
        "eacces": run_case(base, "eacces", old=OLD, size="256k", new=small, breaks="foreign-owner"),
        "foreign-file": run_case(
            base, "foreign-file", old={**OLD, "www/matrix/notes.txt": "mine\n"}, size="256k", new=small
        ),
        "migrated": run_case(base, "migrated", old=OLD, size="256k", new=small),
    }


FAILURES = {
    "enospc": ("No space left on device on {case} (writing {case}/conf/b.conf): nothing was changed"),
    "journal-enospc": (
        "No space left on device on {case} (writing the journal {case}/state/transactions/test-fs-{base}-journal-enospc"
        ".json): nothing was changed"
    ),
    "erofs": "Read-only file system on {case} (writing {case}/rel): nothing was changed",
    "eacces": "Permission denied on {case} (writing {case}/conf/a.conf): nothing was changed",  # a tmpfs root is 1777
    "foreign-file": (
        "release.link {case}/www/matrix is a real directory (the 0.1.0 layout) holding files this release does not "
        "manage: notes.txt; move them away or add them to release.files"
    ),
}


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_the_failure_names_the_cause_the_filesystem_and_the_file(cases, name):
    record = cases[name]
    case = record["case"]
    assert record["result"]["failed"] is True
    assert record["result"]["msg"] == FAILURES[name].format(case=case, base=case.parent.name)


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_nothing_changed_byte_for_byte_and_no_temp_remains(cases, name):
    record = cases[name]
    after = {path: entry for path, entry in record["after"].items() if path.split("/")[0] != "state"}
    assert after == record["before"], "the state directory (only an empty one may stay) aside"
    assert not [path for path in record["after"] if path.startswith("state/") and not path.endswith("transactions")]
    assert not any(TEMP.search(path) for path in record["after"])
    assert not any(record["journal_dir"].rglob("*.json")), "the journal is removed after the rollback"


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_the_old_content_is_still_served(cases, name):
    assert cases[name]["served"] == OLD_SERVER


def test_the_0_1_0_directory_becomes_a_link_to_the_release_and_is_removed(cases):
    record = cases["migrated"]
    result, after = record["result"], record["after"]
    assert result.get("failed") is not True, result.get("msg")
    release = f"rel/{result['release_id']}"
    assert after["www/matrix"] == ["link", release]
    assert after[f"{release}/server"][1] == NEW_SERVER
    assert after["conf/a.conf"][1] == "new a\n"
    assert record["served"] == NEW_SERVER
    assert not any(TEMP.search(path) for path in after), "the old directory (the backup) is removed"
    assert not any(path.startswith("www/matrix/") for path in after)
