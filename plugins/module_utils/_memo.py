# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A thread-safe, single-flight memo for one lookup call or one module run.

Private module: not part of the collection's public API.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, Callable

__all__ = ["Memo"]


class _Entry:
    def __init__(self, deadline: float | None) -> None:
        self.future: Future = Future()
        self.deadline = deadline

    def failed_sooner_than(self, deadline: float | None) -> bool:
        """It failed under a deadline earlier than ``deadline`` (None: no deadline)."""
        if self.deadline is None or not self.future.done() or self.future.exception() is None:
            return False
        return deadline is None or deadline > self.deadline


class Memo:
    """Each key is computed once; errors are remembered too.

    A computation may run under a ``deadline``: its failure (a time-out, typically) is given to
    callers with the same or an earlier deadline, but a caller with more time computes again.
    One Memo lives for one lookup call or one module run, never longer, so a verify step right
    after a deploy sees the new state.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Any, _Entry] = {}

    def get(self, key: Any, compute: Callable[[], Any], *, deadline: float | None = None) -> Any:
        while True:
            with self._lock:
                found = self._entries.get(key)
                owner = found is None or found.failed_sooner_than(deadline)
                entry = self._entries[key] = _Entry(deadline) if owner or found is None else found
            if owner:
                try:
                    entry.future.set_result(compute())
                except BaseException as exc:  # noqa: BLE001 - stored and re-raised to every caller
                    entry.future.set_exception(exc)
            try:
                return entry.future.result()
            except BaseException:
                # Waited for a computation that then failed under an earlier deadline than this
                # caller's: compute again with this caller's time (the loop makes it the owner).
                if owner or not entry.failed_sooner_than(deadline):
                    raise
