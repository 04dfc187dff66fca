# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the robustness tests: the hostile world, resolvers over the real ports, hypothesis profiles.

Hypothesis profiles (``MATRIXOPS_FUZZ`` selects one; ``make test`` uses ``brief``, ``make fuzz``
uses ``fuzz``):

* ``brief``: 200 examples per fuzz target, seconds in all; failures are not shrunk;
* ``fuzz``: ``MATRIXOPS_FUZZ_EXAMPLES`` examples per target (default 20 000), minutes; failures
  are shrunk to a minimal example.
"""

from __future__ import annotations

import os
import time

import pytest
import rb_world as w
from hypothesis import HealthCheck, Phase, settings
from support.playbook import world_options

from ansible_collections.matrixops.delegation.plugins.module_utils._model import Resolution, ResolutionError
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import (
    ResolveOptions,
    Resolver,
)

settings.register_profile(
    "brief",
    max_examples=200,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # a failure is reported as found, not shrunk
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("MATRIXOPS_FUZZ_EXAMPLES", "20000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("MATRIXOPS_FUZZ", "brief"))


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory):
    with w.running(tmp_path_factory.mktemp("robustness")) as world:
        yield world


class Resolve:
    """``resolve(name)`` through a fresh :class:`Resolver` (the real DNS and HTTPS ports)."""

    def __init__(self, world: w.World, timeout: float) -> None:
        self.world = world
        self.timeout = timeout

    def options(self, **overrides: object) -> ResolveOptions:
        return ResolveOptions(**{**world_options(self.world, self.timeout), **overrides})  # type: ignore[arg-type]

    def timed(self, name: str, **overrides: object) -> tuple[Resolution | ResolutionError, float]:
        """The result (or the ResolutionError) and the seconds it took. Any other exception escapes."""
        with Resolver(self.options(**overrides)) as resolver:
            started = time.monotonic()
            try:
                outcome: Resolution | ResolutionError = resolver.resolve(name)
            except ResolutionError as exc:
                outcome = exc
            return outcome, time.monotonic() - started

    def __call__(self, name: str, **overrides: object) -> dict:
        outcome, _seconds = self.timed(name, **overrides)
        assert isinstance(outcome, Resolution), f"expected {name} to resolve, got: {outcome}"
        return outcome.to_dict()

    def error(self, name: str, **overrides: object) -> ResolutionError:
        outcome, _seconds = self.timed(name, **overrides)
        assert isinstance(outcome, ResolutionError), f"expected {name} to fail, got {outcome}"
        return outcome


@pytest.fixture(scope="session")
def resolve(world: w.World) -> Resolve:
    return Resolve(world, w.TIMEOUT)


@pytest.fixture(scope="session")
def resolve_dl(world: w.World) -> Resolve:
    """As ``resolve``, with the deadline tests' short timeout."""
    return Resolve(world, w.DL_T)
