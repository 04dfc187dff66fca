# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The memo's deadline rule for callers that wait on a computation still running."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.matrixops.delegation.plugins.module_utils._memo import Memo


class TimedOut(Exception):
    pass


def _until_waiting(memo: Memo, key: str) -> None:
    """Until a second caller waits on the computation of ``key`` that is still running."""
    future = memo._entries[key].future
    for _attempt in range(500):
        if future._waiters or future._condition._waiters:  # noqa: SLF001 - no public probe exists
            return
        time.sleep(0.01)
    raise AssertionError("the second caller never waited")


def _run(target) -> tuple[threading.Thread, list]:
    outcome: list = []

    def body() -> None:
        try:
            outcome.append(("result", target()))
        except TimedOut as exc:
            outcome.append(("error", str(exc)))

    thread = threading.Thread(target=body)
    thread.start()
    return thread, outcome


def _race(second_deadline: float) -> tuple[list, list, list[str]]:
    """A first caller fails under deadline 10 while a second caller, with ``second_deadline``,
    waits for it. Returns both callers' outcomes and the computations that ran."""
    memo = Memo()
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def short() -> str:
        calls.append("short")
        started.set()
        release.wait(5)
        raise TimedOut("timed out under the short deadline")

    def long() -> str:
        calls.append("long")
        return "answer"

    first, first_outcome = _run(lambda: memo.get("host", short, deadline=10.0))
    assert started.wait(5)
    second, second_outcome = _run(lambda: memo.get("host", long, deadline=second_deadline))
    _until_waiting(memo, "host")
    release.set()
    first.join(5)
    second.join(5)
    return first_outcome, second_outcome, calls


def test_a_waiter_with_more_time_computes_again_after_a_shorter_deadline_failed():
    first, second, calls = _race(20.0)

    assert first == [("error", "timed out under the short deadline")]
    assert second == [("result", "answer")]
    assert calls == ["short", "long"]


@pytest.mark.parametrize("deadline", [10.0, 5.0])
def test_a_waiter_with_the_same_or_less_time_gets_the_failure(deadline):
    first, second, calls = _race(deadline)

    assert first == second == [("error", "timed out under the short deadline")]
    assert calls == ["short"]
