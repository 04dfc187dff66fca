# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the implementation-profile tests: the divergence world (pf_world.py), one batched
``ansible-playbook`` run of the ``resolve`` lookup per profile, and the Synapse reference runner.

* ``pf``: knot, the support nameserver and the TLS peers, for the whole session.
* ``views``: ``views[profile][server name]`` = the lookup's result for that name with
  ``implementation=<profile>`` (``on_error=report``: an error is a result too). One task per
  profile and nameserver, every name of the world as its terms: 18 tasks.
* ``reference``: ``reference[setup id]`` = where Synapse itself landed
  (tests/lab/synapse_reference_runner.py, in the lab's Synapse virtualenv).
* ``synapse_python``: that virtualenv's python: ``$MATRIXOPS_SYNAPSE_PYTHON`` when set, else
  tests/lab/synapse.py's ``ensure_venv`` in ``$MATRIXOPS_LAB_DIR`` (or the repository's ``.lab``),
  which installs it the first time (about 30 s).
"""

from __future__ import annotations

import os

import pf_world as w
import pytest
import synapse as lab_synapse
import synapse_reference_runner
from support.playbook import Case, Outcome, run_lookups, world_options

TIMEOUT = 3  # seconds: the lookup's timeout (D3's unanswered query costs this much)


@pytest.fixture(scope="session")
def pf(tmp_path_factory: pytest.TempPathFactory):
    with w.running(w.WORLD, tmp_path_factory.mktemp("pf-world")) as world:
        yield world


def nameservers(world: w.World) -> dict[str, str]:
    return {"knot": world.nameserver, "support": world.support_nameserver}


@pytest.fixture(scope="session")
def views(pf: w.World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict]]:
    cases, names = {}, {}
    for dns, nameserver in nameservers(pf).items():
        names[dns] = [setup.server_name for setup in pf.setups if setup.dns == dns]
        options = {**world_options(pf, TIMEOUT), "nameservers": [nameserver], "on_error": "report"}
        for profile in w.PROFILES:
            cases[f"{profile}@{dns}"] = Case(names[dns], {**options, "implementation": profile})
    run = run_lookups(cases, tmp_path_factory.mktemp("pf-lookups"))
    found: dict[str, dict[str, dict]] = {profile: {} for profile in w.PROFILES}
    for key, registered in run.results.items():
        profile, dns = key.split("@")
        outcome = Outcome.of(registered)
        assert outcome.error is None, f"{key}: {outcome.error}"
        assert outcome.results is not None and len(outcome.results) == len(names[dns]), outcome.results
        found[profile].update(zip(names[dns], outcome.results, strict=True))
    return found


@pytest.fixture(scope="session")
def synapse_python() -> str:
    explicit = os.environ.get("MATRIXOPS_SYNAPSE_PYTHON")
    if explicit:
        return explicit
    return str(lab_synapse.ensure_venv(os.environ.get("MATRIXOPS_LAB_DIR") or None))


@pytest.fixture(scope="session")
def reference(pf: w.World, synapse_python: str) -> dict[str, dict]:
    seen: dict[str, dict] = {}
    for dns, nameserver in nameservers(pf).items():
        cases = {setup.sid: setup.server_name for setup in pf.setups if setup.dns == dns}
        report = synapse_reference_runner.reference(
            synapse_python, cases, nameserver=nameserver, ca=pf.ca_path, allow=[f"{pf.net.prefix}.0/24"]
        )
        assert report["synapse"].split(".")[0] == "1", report["synapse"]  # the real matrix-synapse package
        seen.update(report["results"])
    return seen
