# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The file transaction of ``config_files``: journal, temps first, commit by rename, restore by rename.

Steps (docs/architecture.md, "The roles' file transaction"): the journal is written before
anything else; every new content goes to a temp file (or temp directory, or temp symlink) beside
its target; the commit keeps each old version under a backup name (a hard link, or a rename) and
renames the temp in; a restore renames the backups back, so it needs no free space. Which version
lies where is told by inode numbers recorded in the journal, so the next run can restore a run
killed at any instant. ``fault(step)`` is the test-only hook (``MATRIXOPS_CONFIG_FILES_FAULT``).

Private module: not part of the collection's public API.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import signal
import time
from typing import Any, Callable

__all__ = [
    "FAULT_ENV",
    "MARKER",
    "STEPS",
    "Transaction",
    "TransactionError",
    "describe_os_error",
    "fault",
    "load_journal",
    "normalize_mode",
    "prunable",
    "prune_releases",
    "release_id",
]

FAULT_ENV = "MATRIXOPS_CONFIG_FILES_FAULT"
#: The named steps of the fault hook, in the order a run passes them (``<step>:<n>``: its n-th time).
STEPS = (
    "locked",
    "journal-written",
    "temp-written",
    "prepared",
    "backed-up",
    "renamed",
    "committed",
    "validated",
    "activated",
    "checked",
    "cleanup",
    "cleaned",
    "restored",
)
MARKER = ".matrixops-release"
_FAULT_COUNTS: dict[str, int] = {}


def fault(step: str) -> None:
    """Test-only: SIGKILL this process when ``MATRIXOPS_CONFIG_FILES_FAULT`` names ``step`` (``step:n``)."""
    wanted = os.environ.get(FAULT_ENV, "")
    name, _sep, nth = wanted.partition(":")
    if name != step:
        return
    _FAULT_COUNTS[step] = _FAULT_COUNTS.get(step, 0) + 1
    if _FAULT_COUNTS[step] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


class TransactionError(Exception):
    """A step failed; the message says what, where, and what state the files are in."""


def normalize_mode(mode: Any) -> str:
    """``'644'``, ``'0644'``, ``0o644`` -> ``'0644'``."""
    value = mode if isinstance(mode, int) else int(str(mode), 8)
    return f"{value:04o}"


def release_id(files: list[dict]) -> str:
    """The first 16 hex digits of sha256 over the sorted ``(path, mode, content)`` of a release."""
    items = sorted(
        (str(item["path"]), normalize_mode(item.get("mode") or "0644"), str(item.get("content") or ""))
        for item in files
    )
    encoded = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:16]


def prunable(base_entries: list[tuple[str, bool, bool]], keep: str) -> list[str]:
    """Names of old releases to remove: ``(name, is_real_directory, has_marker)`` entries of the
    base directory, except ``keep``, hidden names (temps) and anything without the marker."""
    return sorted(
        name for name, is_dir, marked in base_entries if is_dir and marked and name != keep and not name.startswith(".")
    )


def prune_releases(base: str, keep: str) -> list[str]:
    """Remove every release directory of ``base`` but ``keep``; returns the removed paths."""
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    entries = []
    for name in names:
        path = os.path.join(base, name)
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        entries.append((name, is_dir, is_dir and os.path.isfile(os.path.join(path, MARKER))))
    removed = []
    for name in prunable(entries, keep):
        shutil.rmtree(os.path.join(base, name))
        removed.append(os.path.join(base, name))
    return removed


def mount_point(path: str) -> str:
    """The mount point of the filesystem ``path`` (or its nearest existing ancestor) is on."""
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def describe_os_error(exc: OSError, doing: str, path: str) -> str:
    """``No space left on device on /etc/nginx (writing /etc/nginx/conf.d/x.conf)``."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    where = mount_point(os.path.dirname(path))
    if exc.errno == errno.ENOENT and not os.path.isdir(os.path.dirname(path)):
        return f"{reason} on {where} ({doing} {path}: its directory {os.path.dirname(path)} vanished)"
    return f"{reason} on {where} ({doing} {path})"


def load_journal(path: str) -> dict | None:
    """The journal of an interrupted run, or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise TransactionError(
            f"the transaction journal {path} is unreadable ({exc}); remove it after checking the files it names"
        ) from exc


def _ino(path: str | None) -> int | None:
    try:
        return os.lstat(path).st_ino if path else None
    except FileNotFoundError:
        return None


def _is_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def _remove(path: str) -> None:
    if _is_dir(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _exchange(first: str, second: str) -> bool:
    """Swap two paths atomically (renameat2 RENAME_EXCHANGE); False where the kernel or libc cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS):
        return False
    raise OSError(code, os.strerror(code), second)


def _replace(source: str, target: str) -> None:
    """Put ``source`` at ``target`` (which exists); a directory on either side is swapped, then removed."""
    if not (_is_dir(source) or _is_dir(target)):
        os.rename(source, target)
        return
    if _exchange(source, target):
        _remove(source)
        return
    os.rename(target, source + ".old")
    os.rename(source, target)
    _remove(source + ".old")


class Transaction:
    """One run's changes; ``journal`` is what the next run needs to restore them."""

    def __init__(self, journal_path: str, journal: dict) -> None:
        self.journal_path = journal_path
        self.journal = journal
        self.writers: dict[str, Callable[[str], None]] = {}

    @classmethod
    def start(cls, journal_path: str, lock: str, commands: dict, release: dict | None = None) -> Transaction:
        txid = f"{os.getpid()}-{int(time.time() * 1000)}"
        journal = {
            "format": 1,
            "lock": lock,
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "txid": txid,
            "phase": "preparing",
            "commands": commands,
            "release": release,
            "entries": [],
            "created_dirs": [],
        }
        return cls(journal_path, journal)

    def _names(self, path: str) -> tuple[str, str]:
        head, tail = os.path.split(path)
        stem = os.path.join(head, f".{tail}.matrixops-{self.journal['txid']}")
        return stem + ".tmp", stem + ".bak"

    def _plan_dirs(self, path: str) -> None:
        missing = []
        parent = os.path.dirname(path)
        while parent and not os.path.isdir(parent):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            if directory not in self.journal["created_dirs"]:
                self.journal["created_dirs"].append(directory)

    def add(self, path: str, writer: Callable[[str], None] | None) -> None:
        """Replace (or create) ``path`` with what ``writer(temp)`` writes; None removes ``path``."""
        temp, backup = self._names(path)
        self._plan_dirs(path)
        self.journal["entries"].append(
            {
                "path": path,
                "temp": temp if writer else None,
                "backup": backup,
                "existed": os.path.lexists(path),
                "ino": None,
            }
        )
        if writer:
            self.writers[path] = writer

    @property
    def paths(self) -> list[str]:
        return [entry["path"] for entry in self.journal["entries"]]

    def save(self) -> None:
        directory = os.path.dirname(self.journal_path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        temp = self.journal_path + ".tmp"
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(self.journal, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, self.journal_path)
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _phase(self, phase: str) -> None:
        previous, self.journal["phase"] = self.journal["phase"], phase
        try:
            self.save()
        except OSError:
            self.journal["phase"] = previous
            raise

    def begin(self) -> None:
        try:
            self.save()
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(self.journal_path + ".tmp")
            raise TransactionError(
                f"{describe_os_error(exc, 'writing the journal', self.journal_path)}: nothing was changed"
            ) from exc
        fault("journal-written")

    def prepare(self) -> None:
        """Write every temp (the one step that needs space); on failure remove them all."""
        current = self.journal_path
        try:
            for directory in list(self.journal["created_dirs"]):
                current = directory
                try:
                    os.mkdir(directory, 0o755)
                except FileExistsError:
                    if not _is_dir(directory):
                        raise
                    self.journal["created_dirs"].remove(directory)  # made meanwhile (the journal's own): not ours
            for entry in self.journal["entries"]:
                if entry["temp"]:
                    current = entry["path"]
                    self.writers[entry["path"]](entry["temp"])
                    entry["ino"] = _ino(entry["temp"])
                    fault("temp-written")
            current = self.journal_path
            self._phase("committing")
        except OSError as exc:
            message = describe_os_error(exc, "writing", current)
            self.restore()
            raise TransactionError(f"{message}: nothing was changed") from exc
        fault("prepared")

    def commit(self) -> None:
        """Per entry: keep the old version under its backup name, rename the new one in."""
        current = ""
        try:
            for entry in self.journal["entries"]:
                path, temp, backup = entry["path"], entry["temp"], entry["backup"]
                current = path
                if not temp:
                    if os.path.lexists(path):
                        os.rename(path, backup)
                    fault("renamed")
                    continue
                if entry["existed"] and os.path.lexists(path):
                    if _is_dir(path) or _is_dir(temp):
                        if not _exchange(temp, path):
                            os.rename(path, backup)
                            os.rename(temp, path)
                        else:
                            os.rename(temp, backup)
                        fault("renamed")
                        continue
                    os.link(path, backup, follow_symlinks=False)
                    fault("backed-up")
                os.rename(temp, path)
                fault("renamed")
        except OSError as exc:
            message = describe_os_error(exc, "replacing", current)
            restored = self.restore()
            raise TransactionError(
                f"{message}: nothing was changed (restored {', '.join(restored) or 'nothing'})"
            ) from exc
        fault("committed")

    def _restore_entry(self, entry: dict) -> bool:
        path, new_ino = entry["path"], entry["ino"]
        spares = [spare for spare in (entry["temp"], entry["backup"]) if spare and os.path.lexists(spare)]
        old = next((spare for spare in spares if _ino(spare) != new_ino), None)
        restored = False
        if new_ino is not None and _ino(path) == new_ino:
            if old:
                _replace(old, path)
            else:
                _remove(path)
            restored = True
        elif old and not os.path.lexists(path):
            os.rename(old, path)
            restored = True
        for spare in spares:
            if spare != old or not restored:
                with contextlib.suppress(FileNotFoundError):
                    _remove(spare)
        return restored

    def restore(self) -> list[str]:
        """Put every old version back (renames only), remove what this run created and the journal."""
        restored = []
        committing = self.journal["phase"] == "committing"
        for entry in reversed(self.journal["entries"]):
            if committing:
                if self._restore_entry(entry):
                    restored.append(entry["path"])
                    fault("restored")
            elif entry["temp"] and os.path.lexists(entry["temp"]):
                _remove(entry["temp"])
        for directory in reversed(self.journal["created_dirs"]):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.journal_path)
        return restored[::-1]

    def done(self) -> None:
        """Record that the change is complete and checked: from now on a recovery keeps it."""
        self._phase("cleanup")
        fault("cleanup")

    def finish(self) -> list[str]:
        """After success: drop the backups and old releases, then the journal. Returns pruned paths."""
        if self.journal["phase"] != "cleanup":
            self.done()
        for entry in self.journal["entries"]:
            for spare in (entry["backup"], entry["temp"]):
                if spare and _ino(spare) is not None:
                    _remove(spare)
        release = self.journal.get("release")
        pruned = prune_releases(release["base"], release["id"]) if release else []
        fault("cleaned")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.journal_path)
        return pruned
