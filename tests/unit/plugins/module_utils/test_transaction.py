# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The transaction engine of config_files, in process: the release id, the journal, pruning
decisions, and a restore from the journal after a stop at every step (the fault hook's SIGKILL
replaced by an exception, so that the disk is left exactly as a kill there leaves it)."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import pytest

from ansible_collections.matrixops.delegation.plugins.filter.release_id import release_id as release_id_filter
from ansible_collections.matrixops.delegation.plugins.module_utils import _transaction as tx
from ansible_collections.matrixops.delegation.plugins.module_utils._release import (
    plan_release,
    release_problems,
    write_release,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._transaction import (
    MARKER,
    STEPS,
    Transaction,
    TransactionError,
    load_journal,
    prunable,
    release_id,
)

DOCS = [{"path": "server", "content": '{"m.server": "new:443"}\n'}, {"path": "client", "content": "{}\n"}]


def test_release_id_is_the_same_whatever_the_order_and_the_mode_spelling():
    ident = release_id(DOCS)
    assert len(ident) == 16 and int(ident, 16) >= 0
    assert release_id(list(reversed(DOCS))) == ident
    assert release_id([{**doc, "mode": "0644"} for doc in DOCS]) == ident
    assert release_id([{**doc, "mode": 0o644} for doc in DOCS]) == ident
    assert release_id([{**doc, "mode": "0600"} for doc in DOCS]) != ident
    assert release_id([{**DOCS[0], "content": "x"}, DOCS[1]]) != ident


def test_the_filter_is_the_modules_function():
    assert release_id_filter(DOCS) == release_id(DOCS)


def test_prunable_removes_only_other_marked_real_directories():
    entries = [
        ("aaaa", True, True),  # an old release
        ("keep", True, True),  # the current one
        ("notes", True, False),  # the operator's directory, no marker
        (".keep.matrixops-1.tmp", True, True),  # a temp of a running transaction
        ("file", False, False),
    ]
    assert prunable(entries, "keep") == ["aaaa"]


def test_release_problems_name_the_field():
    problems = release_problems(
        {"base": "rel", "link": None, "files": [{"path": "../x", "content": ""}, {"path": MARKER, "content": ""}]}
    )
    assert any("release.base must be an absolute path" in problem for problem in problems)
    assert any("release.files[0].path" in problem for problem in problems)
    assert any("release.files[1].path" in problem and "marker" in problem for problem in problems)


def test_a_real_directory_at_link_with_foreign_files_is_refused(tmp_path):
    link = tmp_path / "matrix"
    link.mkdir()
    (link / "server").write_text("old")
    (link / "operator-notes.txt").write_text("mine")
    release = {"base": str(tmp_path / "releases"), "link": str(link), "files": DOCS}
    with pytest.raises(TransactionError, match="operator-notes.txt"):
        plan_release(release)


class Killed(Exception):
    pass


@pytest.fixture
def kill_at(monkeypatch):
    """``kill_at('renamed:2')``: the fault hook raises Killed there instead of SIGKILL."""

    def arm(step: str) -> None:
        monkeypatch.setenv(tx.FAULT_ENV, step)
        monkeypatch.setattr(tx, "_FAULT_COUNTS", {})

        def kill(pid: int, sig: int) -> None:
            assert pid == os.getpid() and sig == signal.SIGKILL
            raise Killed(step)

        monkeypatch.setattr(tx.os, "kill", kill)

    return arm


def site(root: Path) -> dict:
    """An old version: a config naming release 'old', the release, a link to it, a plain file."""
    (root / "conf").mkdir()
    (root / "conf/site.conf").write_text("alias old\n")
    (root / "rel/old").mkdir(parents=True)
    (root / "rel/old" / MARKER).write_text("{}")
    (root / "rel/old/server").write_text("OLD\n")
    (root / "www").mkdir()
    (root / "www/matrix").symlink_to(root / "rel/old")
    (root / "www/plain").write_text("OLD PLAIN\n")
    (root / "www/gone").write_text("REMOVED IN NEW\n")
    return state(root)


def state(root: Path) -> dict:
    found = {}
    for path in sorted(root.rglob("*")):
        if "state" in path.relative_to(root).parts:
            continue
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = ("link", os.path.relpath(os.readlink(path), root))
        elif path.is_dir():
            found[key] = ("dir", oct(path.stat().st_mode & 0o7777))
        else:
            found[key] = ("file", path.read_bytes(), oct(path.stat().st_mode & 0o7777))
    return found


def transaction(root: Path) -> Transaction:
    release = {"base": str(root / "rel"), "link": str(root / "www/matrix"), "files": DOCS}
    ident = release_id(DOCS)
    journal = str(root / "state/transactions/test.json")
    run = Transaction.start(
        journal, "test", {"validate": ["true"], "activate": ["true"]}, {"base": str(root / "rel"), "id": ident}
    )

    def attributes(path: str, mode: str | None) -> None:
        os.chmod(path, int(mode, 8) if mode else 0o755)

    def text(content: str):
        def writer(temp: str) -> None:
            Path(temp).write_text(content)
            os.chmod(temp, 0o644)

        return writer

    run.add(str(root / "rel" / ident), write_release(release, ident, attributes))
    run.add(str(root / "conf/site.conf"), text(f"alias {ident}\n"))
    run.add(str(root / "new-dir/deeper/file"), text("NEW FILE\n"))
    run.add(str(root / "www/plain"), text("NEW PLAIN\n"))
    run.add(str(root / "www/gone"), None)
    run.add(str(root / "www/matrix"), lambda temp: os.symlink(str(root / "rel" / ident), temp))
    return run


def complete(root: Path) -> dict:
    run = transaction(root)
    run.begin()
    run.prepare()
    run.commit()
    run.finish()
    return state(root)


STOPS = [
    "journal-written",
    *(f"temp-written:{n}" for n in (1, 2, 4, 5)),
    "prepared",
    *(f"backed-up:{n}" for n in (1, 2, 3)),
    *(f"renamed:{n}" for n in range(1, 7)),
    "committed",
    "cleanup",
    "cleaned",
]


def leftovers(root: Path) -> list[str]:
    return [str(path) for path in root.rglob("*.matrixops-[0-9]*")]


@pytest.mark.parametrize("stop", STOPS)
def test_a_stop_at_any_step_is_restored_from_the_journal_alone(tmp_path, kill_at, stop):
    reference = tmp_path / "reference"
    reference.mkdir()
    site(reference)
    new = complete(reference)
    root = tmp_path / "site"
    root.mkdir()
    old = site(root)
    kill_at(stop)
    run = transaction(root)
    with pytest.raises(Killed):
        run.begin()
        run.prepare()
        run.commit()
        run.finish()
    journal_path = run.journal_path
    journal = load_journal(journal_path)
    if stop == "cleaned":
        assert journal is not None and journal["phase"] == "cleanup"
    served = os.readlink(root / "www/matrix")
    assert (Path(served) / MARKER).exists(), "the link always points at a complete release"
    again = Transaction(journal_path, journal)
    if journal["phase"] == "cleanup":
        again.finish()
        expected = new
    else:
        again.restore()
        expected = old
    assert state(root) == expected
    assert leftovers(root) == []
    assert not os.path.exists(journal_path)


def test_a_stop_while_restoring_is_finished_by_the_next_restore(tmp_path, kill_at):
    root = tmp_path / "site"
    root.mkdir()
    old = site(root)
    run = transaction(root)
    run.begin()
    run.prepare()
    run.commit()
    kill_at("restored:2")
    with pytest.raises(Killed):
        run.restore()
    Transaction(run.journal_path, load_journal(run.journal_path)).restore()
    assert state(root) == old
    assert leftovers(root) == []


def test_the_journal_names_every_temp_and_backup_before_the_first_change(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    site(root)
    run = transaction(root)
    run.begin()
    journal = json.loads(Path(run.journal_path).read_text())
    assert journal["format"] == 1 and journal["phase"] == "preparing" and journal["lock"] == "test"
    assert journal["commands"] == {"validate": ["true"], "activate": ["true"]}
    assert [entry["path"] for entry in journal["entries"]] == run.paths
    assert all(entry["backup"].endswith(".bak") for entry in journal["entries"])
    assert journal["created_dirs"] == [str(root / "new-dir"), str(root / "new-dir/deeper")]
    assert leftovers(root) == [], "nothing is written beside the targets before prepare()"
    assert "content" not in Path(run.journal_path).read_text(), "the journal holds no content (secrets)"
    run.restore()


def test_a_vanished_directory_fails_naming_it_and_changes_nothing(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    old = site(root)
    run = Transaction.start(str(tmp_path / "journal.json"), "test", {}, None)
    run.add(str(root / "www/plain"), lambda temp: Path(temp).write_text("NEW"))
    (root / "extra").mkdir()
    run.add(str(root / "extra/file"), lambda temp: Path(temp).write_text("NEW"))
    run.begin()
    (root / "extra").rmdir()
    with pytest.raises(TransactionError) as failure:
        run.prepare()
    assert f"its directory {root / 'extra'} vanished" in str(failure.value)
    assert str(failure.value).endswith("nothing was changed")
    assert state(root) == old
    assert not (tmp_path / "journal.json").exists()


def test_an_os_error_message_names_the_cause_the_filesystem_and_the_file():
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    message = tx.describe_os_error(error, "writing", "/etc/x")
    assert message == "No space left on device on / (writing /etc/x)"


def test_the_steps_are_documented_in_the_architecture():
    text = (Path(__file__).parents[4] / "docs/architecture.md").read_text()
    assert all(f"`{step}`" in text for step in STEPS)
