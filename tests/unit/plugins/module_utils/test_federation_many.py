# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""FederationChecker.run_many (federation_check's server_names) over fakes of its ports."""

from __future__ import annotations

import threading

import pytest
from test_federation import NOW_MS, key_document
from test_federation_checker import GOOD_ROUTES, KEYS, MATRIX, FakeProbe, FakeSession, resolution, response

from ansible_collections.matrixops.delegation.plugins.module_utils._federation import FederationChecker
from ansible_collections.matrixops.delegation.plugins.module_utils._model import (
    HttpsError,
    Resolution,
    ResolutionError,
    Target,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._parallel import ThreadPool
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions


class NamedResolver:
    """name -> Resolution, ResolutionError or another exception (raised as is)."""

    def __init__(self, outcomes):
        self.outcomes = outcomes
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def resolve(self, name):
        with self.lock:
            self.asked.append(name)
        outcome = self.outcomes[name]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def close(self):
        pass


ADDRESSES: dict[str, str] = {}


def address_of(name: str) -> str:
    """Each name its own address (its homeserver serves keys for that name only)."""
    return ADDRESSES.setdefault(name, f"192.0.2.{len(ADDRESSES) + 1}")


def for_name(name: str, port: int = 8448) -> Resolution:
    good = resolution(address_of(name))
    good.server_name = name
    good.targets = [Target(MATRIX, port, [address_of(name)])]
    return good


def homeservers(names) -> FakeProbe:
    """A probe whose homeserver at each name's address serves that name's keys."""
    return FakeProbe(
        sessions={
            (address_of(name), 8448): FakeSession(GOOD_ROUTES | {KEYS: response(key_document(name))}) for name in names
        }
    )


@pytest.fixture
def pool():
    with ThreadPool(8) as threads:
        yield threads


def checker(outcomes, pool, probe=None) -> FederationChecker:
    return FederationChecker(
        ResolveOptions(timeout=1.0, concurrency=4),
        now=lambda: NOW_MS / 1000,
        resolver=NamedResolver(outcomes),
        probe=probe or homeservers(outcomes),
        parallel=pool,
    )


def test_every_name_gets_its_own_result_in_order_and_ok_only_when_all_are(pool):
    names = [f"n{index}.example" for index in range(10)]
    outcomes = {name: for_name(name) for name in names}
    outcomes["n3.example"] = ResolutionError("n3.example", "srv", "SRV target '.'", code="srv-disabled")
    with checker(outcomes, pool) as run:
        report = run.run_many(dict.fromkeys(names))
    assert [result["server_name"] for result in report["results"]] == names
    assert report["failed_names"] == ["n3.example"]
    assert report["ok"] is False
    assert report["results"][3]["error_codes"] == ["srv-disabled"]
    assert all(result["ok"] for index, result in enumerate(report["results"]) if index != 3)


def test_all_good_is_ok(pool):
    names = {"a.example": None, "b.example": None}
    with checker({name: for_name(name) for name in names}, pool) as run:
        report = run.run_many(names)
    assert report == {"results": report["results"], "failed_names": [], "ok": True}


def test_each_name_is_checked_against_its_own_expected_target(pool):
    names = {"a.example": f"{MATRIX}:8448", "b.example": f"{MATRIX}:443", "c.example": None}
    with checker({name: for_name(name) for name in names}, pool) as run:
        report = run.run_many(names)
    assert report["failed_names"] == ["b.example"]
    assert report["results"][1]["error_codes"] == ["delegation-elsewhere"]
    assert "b.example" in report["results"][1]["errors"][0]


def test_an_unexpected_exception_is_that_names_error_only(pool):
    names = {"a.example": None, "boom.example": None, "c.example": None}
    outcomes = {name: for_name(name) for name in names}
    outcomes["boom.example"] = RuntimeError("a bug")
    with checker(outcomes, pool) as run:
        report = run.run_many(names)
    assert report["failed_names"] == ["boom.example"]
    crashed = report["results"][1]
    assert crashed["ok"] is False
    assert crashed["server_name"] == "boom.example"
    assert crashed["error_codes"] == ["check-crashed"]
    assert "unexpected RuntimeError: a bug" in crashed["errors"][0]
    assert "Federation FAILED" in crashed["summary"]
    assert report["results"][0]["ok"] and report["results"][2]["ok"]


def test_a_failing_connection_fails_only_its_name(pool):
    outcomes = {"a.example": for_name("a.example"), "b.example": for_name("b.example")}
    probe = homeservers(outcomes)
    refused = address_of("b.example")
    probe.sessions[(refused, 8448)] = HttpsError(f"{refused}:8448: cannot connect: refused", kind="connect")
    with checker(outcomes, pool, probe) as run:
        report = run.run_many(dict.fromkeys(outcomes))
    assert report["failed_names"] == ["b.example"]
    assert report["results"][1]["error_codes"] == ["cannot-connect"]


def test_warnings_are_prefixed_with_their_server_name(pool):
    warned = for_name("w.example")
    warned.warnings = ["the SRV name _matrix._tcp is deprecated"]
    with checker({"w.example": warned, "q.example": for_name("q.example")}, pool) as run:
        run.run_many({"w.example": None, "q.example": None})
        assert run.warnings == ["w.example: the SRV name _matrix._tcp is deprecated"]


def test_names_run_concurrently_up_to_the_limit(pool):
    """With concurrency 4, four names are in their resolution at the same time."""
    inside, peak, lock = [0], [0], threading.Lock()
    barrier = threading.Barrier(4, timeout=5)

    class Slow(NamedResolver):
        def resolve(self, name):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            try:
                barrier.wait()
            finally:
                with lock:
                    inside[0] -= 1
            return super().resolve(name)

    names = [f"s{index}.example" for index in range(8)]
    run = FederationChecker(
        ResolveOptions(timeout=1.0, concurrency=4),
        now=lambda: NOW_MS / 1000,
        resolver=Slow({name: for_name(name) for name in names}),
        probe=homeservers(names),
        parallel=pool,
    )
    with run:
        report = run.run_many(dict.fromkeys(names))
    assert report["ok"] is True
    assert peak[0] == 4
