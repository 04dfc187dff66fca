# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``release`` of ``config_files``: a versioned directory ``<base>/<id>`` and a symlink to it.

``plan_release`` compares the wanted release with the disk (read only) and says what changes:
the release directory (written whole into a temp directory, renamed in), and the optional
``link`` (a temp symlink renamed over it; a real directory there, the 0.1.0 layout, is swapped
out only when it holds nothing but files of the release).

Private module: not part of the collection's public API.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

from ansible_collections.matrixops.delegation.plugins.module_utils._transaction import (
    MARKER,
    TransactionError,
    normalize_mode,
    release_id,
)

__all__ = ["ReleasePlan", "plan_release", "release_problems", "write_release"]


@dataclass
class ReleasePlan:
    release_id: str
    release_dir: str
    dir_changes: bool
    link_changes: bool
    diffs: list[dict] = field(default_factory=list)
    link: str | None = None

    @property
    def changed_paths(self) -> list[str]:
        return [self.release_dir] * self.dir_changes + ([self.link] if self.link_changes and self.link else [])


def release_problems(release: dict) -> list[str]:
    """What is wrong with a ``release`` option, before anything is read or written."""
    problems = []
    for key in ("base", "link"):
        if release.get(key) and not os.path.isabs(release[key]):
            problems.append(f"release.{key} must be an absolute path, got {release[key]!r}")
    seen = set()
    for index, item in enumerate(release["files"]):
        path = item["path"]
        if os.path.isabs(path) or os.path.normpath(path) != path or path.split("/")[0] == "..":
            problems.append(f"release.files[{index}].path must be a normalized relative path, got {path!r}")
        if path == MARKER:
            problems.append(f"release.files[{index}].path: {MARKER} is the release marker, choose another name")
        if path in seen:
            problems.append(f"release.files[{index}].path: {path} is listed twice")
        seen.add(path)
        try:
            normalize_mode(item.get("mode") or "0644")
        except ValueError:
            problems.append(f"release.files[{index}].mode must be an octal string like '0644', got {item['mode']!r}")
    return problems


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _in_place(release: dict, release_dir: str) -> bool:
    if not os.path.isfile(os.path.join(release_dir, MARKER)):
        return False
    for item in release["files"]:
        path = os.path.join(release_dir, item["path"])
        if _read(path) != item["content"].encode("utf-8"):
            return False
        if f"{os.stat(path).st_mode & 0o7777:04o}" != normalize_mode(item.get("mode") or "0644"):
            return False
    return True


def _files_under(directory: str) -> list[str]:
    found = []
    for root, _dirs, names in os.walk(directory):
        found += [os.path.relpath(os.path.join(root, name), directory) for name in names]
    return sorted(found)


def plan_release(release: dict) -> ReleasePlan:
    """What must change on disk for ``release`` (raises TransactionError for a foreign directory at link)."""
    rid = release_id(release["files"])
    release_dir = os.path.join(release["base"], rid)
    link = release.get("link")
    plan = ReleasePlan(rid, release_dir, not _in_place(release, release_dir), False, link=link)
    current = None
    if link:
        if os.path.islink(link):
            plan.link_changes = os.readlink(link) != release_dir
            current = link
        elif os.path.isdir(link):
            known = {item["path"] for item in release["files"]}
            unknown = [name for name in _files_under(link) if name not in known]
            if unknown:
                raise TransactionError(
                    f"release.link {link} is a real directory (the 0.1.0 layout) holding files this release does "
                    f"not manage: {', '.join(unknown[:10])}; move them away or add them to release.files"
                )
            plan.link_changes = True
            current = link
        else:
            plan.link_changes = True
            current = link if os.path.lexists(link) else None
    shown = current or (release_dir if os.path.isdir(release_dir) else None)
    for item in release["files"]:
        before = _read(os.path.join(shown, item["path"])) if shown else None
        if before != item["content"].encode("utf-8"):
            plan.diffs.append(
                {
                    "before_header": os.path.join(link or release_dir, item["path"]),
                    "after_header": os.path.join(release_dir, item["path"]),
                    "before": (before or b"").decode("utf-8", "replace"),
                    "after": item["content"],
                }
            )
    return plan


def write_release(release: dict, rid: str, attributes: Callable[[str, str | None], None]) -> Callable[[str], None]:
    """A writer for Transaction.add: the whole release directory, built at ``temp``.

    ``attributes(path, mode)`` applies owner/group (and the mode, None for directories)."""

    def writer(temp: str) -> None:
        os.mkdir(temp, 0o755)
        attributes(temp, None)
        for item in release["files"]:
            target = os.path.join(temp, item["path"])
            parent = os.path.dirname(target)
            missing = []
            while not os.path.isdir(parent):
                missing.append(parent)
                parent = os.path.dirname(parent)
            for directory in reversed(missing):
                os.mkdir(directory, 0o755)
                attributes(directory, None)
            _write(target, item["content"].encode("utf-8"))
            attributes(target, normalize_mode(item.get("mode") or "0644"))
        marker = {"release_id": rid, "files": sorted(item["path"] for item in release["files"])}
        _write(os.path.join(temp, MARKER), (json.dumps(marker, indent=1) + "\n").encode("utf-8"))
        attributes(os.path.join(temp, MARKER), "0644")

    return writer


def _write(path: str, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
