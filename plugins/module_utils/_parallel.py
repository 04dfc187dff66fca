# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one concurrency mechanism: a thread pool behind the Parallel port.

Private module: not part of the collection's public API. The composition (``_resolver``) makes
one ``ThreadPool`` per lookup call or module run and hands it to the core and the adapters.
Calls nest (names, then the SRV targets of a name, then AAAA and A of a target) without
deadlock: the caller of ``map`` works through the items itself, and it waits only for items
that a worker has already started.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar

from ._model import Closing

__all__ = ["ThreadPool"]

_T = TypeVar("_T")
_R = TypeVar("_R")


class ThreadPool(Closing):
    """``map(function, items, limit=N)``: at most N items at a time, results in order, errors raised."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="matrixops")

    def close(self) -> None:
        self._executor.shutdown(wait=False)

    def map(self, function: Callable[[_T], _R], items: list[_T], *, limit: int | None = None) -> list[_R]:
        results: list = [None] * len(items)
        errors: list[BaseException] = []
        pending = iter(range(len(items)))
        lock = threading.Lock()

        def work() -> None:
            while not errors:
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                try:
                    results[index] = function(items[index])
                except BaseException as exc:  # noqa: BLE001 - raised by map() in the caller
                    errors.append(exc)

        helpers = min(len(items), limit or len(items)) - 1
        futures: list[Future] = [self._executor.submit(work) for _helper in range(max(helpers, 0))]
        work()
        for future in futures:
            if not future.cancel():  # a helper that never started took no item
                future.result()
        if errors:
            raise errors[0]
        return results
