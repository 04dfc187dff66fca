"""Fixtures of the ``srv_records`` integration tests: the world (knot with TSIG updates, nginx
serving well-known files, a silent primary) for the whole session."""

from __future__ import annotations

import pytest
import srv_world as w


@pytest.fixture(scope="session")
def srv_world(tmp_path_factory: pytest.TempPathFactory):
    with w.running(tmp_path_factory.mktemp("srv-world")) as world:
        yield world
