# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resolver.resolve_all schedules each distinct name once, so repeats never hold a worker."""

from __future__ import annotations

import threading
import time

from ansible_collections.matrixops.delegation.plugins.module_utils import _resolver
from ansible_collections.matrixops.delegation.plugins.module_utils._model import Resolution, ResolutionError
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions, Resolver


class SlowFake:
    """Stands in for resolve_server_name: takes ``seconds`` and records how many run at once."""

    def __init__(self, seconds: float, failing: frozenset = frozenset()) -> None:
        self.seconds = seconds
        self.failing = failing
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls: list[str] = []

    def __call__(self, name, **_kwargs):
        with self.lock:
            self.calls.append(name)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.seconds)
            if name in self.failing:
                raise ResolutionError(name, "SRV query", "SERVFAIL", code="dns-failure")
            return Resolution(server_name=name, method="default_port")
        finally:
            with self.lock:
                self.running -= 1


def _resolve_all(monkeypatch, names, fake, concurrency):
    monkeypatch.setattr(_resolver, "resolve_server_name", fake)
    with Resolver(ResolveOptions(nameservers=["127.0.0.1:5353"], concurrency=concurrency)) as resolver:
        return resolver.resolve_all(names)


def test_repeated_names_do_not_hold_workers(monkeypatch):
    fake = SlowFake(0.2)
    names = [name for name in ("a.example", "b.example", "c.example", "d.example") for _repeat in range(3)]
    results = _resolve_all(monkeypatch, names, fake, concurrency=2)
    assert fake.most == 2  # two distinct names at a time, never a worker waiting on a repeat
    assert sorted(fake.calls) == ["a.example", "b.example", "c.example", "d.example"]
    assert [result.server_name for result in results] == names
    assert results[0] is results[1] is results[2]


def test_repeats_of_a_failing_name_all_get_its_error_in_term_order(monkeypatch):
    fake = SlowFake(0.01, failing=frozenset({"bad.example"}))
    names = ["bad.example", "ok.example", "bad.example", 7, "ok.example", 7]
    results = _resolve_all(monkeypatch, names, fake, concurrency=4)
    assert isinstance(results[0], ResolutionError) and results[0] is results[2]
    assert results[1].server_name == "ok.example" and results[1] is results[4]
    assert results[3] is results[5]
    assert fake.calls.count("bad.example") == 1 and fake.calls.count(7) == 1


def test_concurrency_one_resolves_in_term_order_once_each(monkeypatch):
    fake = SlowFake(0)
    names = ["b.example", "a.example", "b.example", "c.example", "a.example"]
    results = _resolve_all(monkeypatch, names, fake, concurrency=1)
    assert fake.calls == ["b.example", "a.example", "c.example"]
    assert [result.server_name for result in results] == names
