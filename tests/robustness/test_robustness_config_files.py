# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``config_files`` (the transaction every role uses): a failed validation or activation rolls
everything back and the site keeps answering with the old content.

A web server (Python, on ``<net>.40``) serves a webroot; each case runs the module through a real
``ansible-playbook`` to change a served file, a file in a new directory and a "configuration"
file, with a validation or an activation that fails. Afterwards the old content is requested
from the site, and the files are compared byte for byte and mode for mode.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rb_site import Site
from support.playbook import run_module_cases

OLD = {"m.server": "old.example.test:443"}
NEW = {"m.server": "new.example.test:443"}
SERVED = ".well-known/matrix/server"


CASES = {
    "validation-fails": {"validate": ["sh", "-c", "echo 'config: unknown directive' >&2; exit 1"]},
    "activation-fails": {
        "validate": ["true"],
        # like a reload that fails on the new configuration and works on the old one
        "activate": [
            "sh",
            "-c",
            "echo activated >> {counter}; grep -q old {conf} || {{ echo 'reload failed' >&2; exit 3; }}",
        ],
    },
}


@pytest.fixture(scope="module")
def transaction(tmp_path_factory):
    base = tmp_path_factory.mktemp("config-files")
    root = base / "webroot"
    (root / ".well-known" / "matrix").mkdir(parents=True)
    (root / SERVED).write_text(json.dumps(OLD))
    (root / SERVED).chmod(0o644)
    conf = base / "site.conf"
    conf.write_text("old configuration\n")
    conf.chmod(0o640)
    counter = base / "activations"
    before = snapshot(root, conf)
    site = Site(root)
    files = [
        {"path": str(root / SERVED), "content": json.dumps(NEW)},
        {"path": str(root / "new-dir" / "client"), "content": "{}"},
        {"path": str(conf), "content": "new configuration\n", "mode": "0600"},
    ]
    cases = {
        case: {
            "files": files,
            **{key: [part.format(counter=counter, conf=conf) for part in value] for key, value in commands.items()},
        }
        for case, commands in CASES.items()
    }
    try:
        run = run_module_cases("matrixops.delegation.config_files", cases, base)
        yield {
            "results": run.results,
            "before": before,
            "after": snapshot(root, conf),
            "served": site.get(SERVED),
            "activations": counter.read_text().splitlines() if counter.exists() else [],
            "output": run.output,
        }
    finally:
        site.close()


def snapshot(root: Path, conf: Path) -> dict:
    files = sorted(path for path in [*root.rglob("*"), conf] if path.exists())
    return {
        str(path): (path.is_dir(), oct(path.stat().st_mode), None if path.is_dir() else path.read_bytes())
        for path in files
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_failed_change_fails_the_task_saying_what_failed_and_that_it_was_rolled_back(transaction, case):
    result = transaction["results"][case]
    assert result["failed"] is True and result["rolled_back"] is True and result["changed"] is False
    expected = {
        "validation-fails": ("config: unknown directive", "the previous files were restored"),
        "activation-fails": ("reload failed", "the previous files were restored and re-activated"),
    }[case]
    assert all(part in result["msg"] for part in expected), result["msg"]


def test_every_file_is_as_it_was_content_mode_and_new_directories(transaction):
    assert transaction["after"] == transaction["before"]


def test_the_site_still_answers_with_the_old_content_after_the_failed_runs(transaction):
    status, body = transaction["served"]
    assert status == 200
    assert json.loads(body) == OLD


def test_a_failed_activation_activates_the_old_files_again(transaction):
    assert transaction["activations"] == ["activated", "activated"]  # the new files, then the old ones


def test_no_traceback_reaches_the_user(transaction):
    assert "Traceback" not in transaction["output"]
