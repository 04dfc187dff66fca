"""Fixtures of the ``federation_check`` integration tests.

* ``fed_world``: knot, the hostile key servers and nginx (fed_world.py), for the whole session.
* ``synapse_server``: the lab's real Synapse (tests/lab/synapse.py), this session's own instance
  on ``<net>.8:8008`` with its state in a temporary directory.  Its virtualenv comes from
  ``$MATRIXOPS_LAB_DIR`` when that is set (installed there once, about 30 s, then reused by
  every run), else it is installed for the session and removed afterwards.
* ``hostile_run``, ``synapse_run``, ``check_mode_run``: one ``ansible-playbook`` run each, every
  case one task (fed_cases.py, ``support.playbook.run_module_cases``); tests then assert their
  own case.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import fed_cases
import fed_world as w
import pytest
import synapse as lab_synapse
from support.playbook import PlaybookRun, run_module_cases

MODULE = "matrixops.delegation.federation_check"


@pytest.fixture(scope="session")
def fed_world(tmp_path_factory: pytest.TempPathFactory):
    with w.running(tmp_path_factory.mktemp("fed-world")) as world:
        yield world


@dataclass
class SynapseServer:
    version: str
    key_ids: list[str]
    state_dir: Path


@pytest.fixture(scope="session")
def synapse_server(tmp_path_factory: pytest.TempPathFactory):
    """This session's own Synapse on ``<net>.8:8008``, state in a temporary directory.

    Its virtualenv is shared with ``$MATRIXOPS_LAB_DIR`` when that is set (made there once,
    linked here); otherwise it is installed into the temporary directory and removed afterwards.
    """
    state_dir = tmp_path_factory.mktemp("synapse")
    shared = os.environ.get("MATRIXOPS_LAB_DIR")
    own = lab_synapse.paths(state_dir)
    if shared:
        lab_synapse.ensure_venv(shared)  # once per lab directory (locked against other runs)
        own.root.mkdir(parents=True, exist_ok=True)
        own.venv.symlink_to(lab_synapse.paths(shared).venv, target_is_directory=True)
    try:
        lab_synapse.start(state_dir, listen=w.SYNAPSE_LISTEN)  # raises with the log's tail
        keys = lab_synapse.fetch_json(w.KEYS_PATH, listen=w.SYNAPSE_LISTEN)
        assert keys["server_name"] == w.SERVER_NAME, keys
        version = lab_synapse.fetch_json(w.VERSION_PATH, listen=w.SYNAPSE_LISTEN)["server"]["version"]
        yield SynapseServer(version, sorted(keys["verify_keys"]), state_dir)
    finally:
        lab_synapse.stop(state_dir)
        if own.venv.is_symlink():
            own.venv.unlink()
        else:  # a throwaway virtualenv: do not leave 200 MB per run in the temporary directory
            shutil.rmtree(own.venv, ignore_errors=True)


@pytest.fixture(scope="session")
def hostile_run(fed_world: w.World, tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    return run_module_cases(MODULE, fed_cases.hostile_cases(fed_world), tmp_path_factory.mktemp("fed-hostile"))


@pytest.fixture(scope="session")
def synapse_run(
    fed_world: w.World, synapse_server: SynapseServer, tmp_path_factory: pytest.TempPathFactory
) -> PlaybookRun:
    return run_module_cases(MODULE, fed_cases.synapse_cases(fed_world), tmp_path_factory.mktemp("fed-synapse"))


@pytest.fixture(scope="session")
def check_mode_run(fed_world: w.World, tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    cases = fed_cases.check_mode_cases(fed_world)
    return run_module_cases(MODULE, cases, tmp_path_factory.mktemp("fed-check"), args=["--check"])
