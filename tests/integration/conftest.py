"""Fixtures of the integration tests: the world (knot + HTTPS) and one batched playbook run.

The whole suite needs a single ``ansible-playbook`` run for the lookup (one task per case, see
``support.playbook.run_lookups``) plus one more for what a user sees on a failing task.  Each
test then asserts its own case.  Services are started here and stopped at the end of the
session; nothing that runs outside the tests is needed or used.
"""

from __future__ import annotations

import it_world as w
import pytest
from it_cases import build_cases
from support.playbook import Outcome, PlaybookRun, run_lookups, world_options

pytest.register_assert_rewrite("it_expect")


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory):
    with w.running(tmp_path_factory.mktemp("world")) as world:
        yield world


@pytest.fixture(scope="session")
def lookup_options(world: w.World) -> dict:
    return world_options(world, w.TIMEOUT)


@pytest.fixture(scope="session")
def batch(world: w.World, lookup_options: dict, tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    """The one playbook run that resolves every case."""
    return run_lookups(build_cases(lookup_options), tmp_path_factory.mktemp("batch"))


@pytest.fixture(scope="session")
def outcome(batch: PlaybookRun):
    def get(case: str) -> Outcome:
        return Outcome.of(batch[case])

    return get


@pytest.fixture(scope="session")
def resolve(outcome):
    """``resolve(name)`` → the lookup's result dict for a single-name case (fails if it errored)."""

    def get(name: str) -> dict:
        return outcome(name).result

    return get


@pytest.fixture(scope="session")
def lookup_error(outcome):
    """``lookup_error(name)`` → the error message of a case that must fail; with ``code``, the
    message must end with ``(code <code>)``, the problem's catalogue code."""

    def get(name: str, *, code: str | None = None) -> str:
        got = outcome(name)
        assert got.error is not None, f"expected the lookup of {name!r} to fail, it returned {got.results}"
        if code is not None:
            assert got.error.endswith(f"(code {code})"), got.error
        return got.error

    return get
