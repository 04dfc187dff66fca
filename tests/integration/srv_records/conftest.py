"""Fixtures of the ``srv_records`` integration tests: the world (knot with TSIG updates, nginx
serving well-known files, a silent primary) for the whole session, and the batched playbook
runs whose results several tests read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import srv_world as w  # noqa: E402


@pytest.fixture(scope="session")
def srv_world(tmp_path_factory: pytest.TempPathFactory):
    runner = w.WorldRunner(tmp_path_factory.mktemp("srv-world"))
    try:
        yield runner.start()
    finally:
        runner.stop()
