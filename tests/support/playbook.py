# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real ``ansible-playbook`` runs: one play on localhost whose registered results come back.

:func:`run_tasks` runs any tasks and, last, writes the variables named in ``registered`` as JSON,
which it returns as the run's ``results``. Two batch forms build on it, so that one run checks
many cases and one case failing does not hide the others (every case is a task of its own with
``ignore_errors``):

* :func:`run_lookups`: each :class:`Case` is one ``matrixops.delegation.resolve`` lookup call
  (any terms, its own options); :meth:`Outcome.of` reads a case's result or error;
* :func:`run_module_cases`: each case is one call of a module with its own arguments, timed.

``ansible-playbook`` is the one beside the running Python (the venv's), with the collection from
``ANSIBLE_COLLECTIONS_PATH`` (``make collection-path``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOKUP = "matrixops.delegation.resolve"


def ansible_playbook() -> str:
    """``ansible-playbook`` beside the running Python (the venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if not found:
        raise RuntimeError("ansible-playbook not found: run with the venv's Python (make venv)")
    return found


def collections_path() -> str:
    """``ANSIBLE_COLLECTIONS_PATH`` from the environment, else ``<repo>/.build/collections``.

    The fallback is created on demand: ``ansible_collections/matrixops/delegation`` there is a
    symlink to the repository root, so the runs use the working tree's plugins.
    """
    configured = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.environ.get("ANSIBLE_COLLECTIONS_PATHS")
    if configured:
        return configured
    base = REPO_ROOT / ".build" / "collections"
    link = base / "ansible_collections" / "matrixops" / "delegation"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(Path("../../../.."))
    return str(base)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": collections_path(),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_DEPRECATION_WARNINGS": "1",
            "PYTHONUNBUFFERED": "1",  # output lines arrive as they are written (the benchmark times them)
        }
    )
    env.pop("ANSIBLE_CONFIG", None)
    return env


def world_options(world: Any, timeout: float) -> dict:
    """The options (of the lookup and of federation_check) that point the collection at a test
    world: its ``nameserver`` and its CA (``ca_path``), loopback addresses allowed."""
    return {
        "nameservers": [world.nameserver],
        "ca_path": str(world.ca_path),
        "allow_private_addresses": True,
        "timeout": timeout,
    }


@dataclass
class PlaybookRun:
    returncode: int
    output: str  # stdout + stderr of ansible-playbook
    results: dict[str, Any]  # the registered variables (or, for the batch forms, each case's result)
    seconds: float
    workdir: Path
    durations: dict[str, float] = field(default_factory=dict)  # run_module_cases: seconds per case

    def __getitem__(self, name: str) -> Any:
        return self.results[name]


def run_tasks(
    tasks: list[dict],
    workdir: Path,
    *,
    registered: Iterable[str] = (),
    play_vars: dict | None = None,
    args: Iterable[str] = (),
    timeout: float = 300,
    prefix: Iterable[str] = (),
) -> PlaybookRun:
    """Run ``tasks`` in one play on localhost, then write the ``registered`` variables.

    ``args`` are more ``ansible-playbook`` arguments (``--check``, ``--diff``). ``prefix`` runs
    ``ansible-playbook`` through a command, e.g. ``ip netns exec NAME`` (tests/lab/netns.py). A variable that was
    never set comes back as None. When variables were asked for and the run wrote none (the play
    failed before its last task), AssertionError shows the end of the output.
    """
    registered = list(registered)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "results.json"
    out.unlink(missing_ok=True)
    if registered:
        collect = {name: f"{{{{ {name} | default(none) }}}}" for name in registered}
        tasks = [
            *tasks,
            {
                "name": "Write the registered results",
                "ansible.builtin.copy": {"dest": str(out), "content": "{{ collected | to_json }}", "mode": "0644"},
                "vars": {"collected": collect},
                "check_mode": False,  # also in --check runs
                "changed_when": False,  # not part of what the tests count
            },
        ]
    play = {"name": "Tests", "hosts": "localhost", "gather_facts": False, "vars": play_vars or {}, "tasks": tasks}
    playbook = workdir / "playbook.yml"
    playbook.write_text(json.dumps([play], indent=2))  # JSON is YAML
    started = time.monotonic()
    proc = subprocess.run(
        [*prefix, ansible_playbook(), "-i", "localhost,", "-c", "local", *args, str(playbook)],
        cwd=workdir,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    (workdir / "ansible-playbook.log").write_text(output)
    if registered and not out.exists():
        raise AssertionError(f"ansible-playbook wrote no results (rc {proc.returncode}):\n{output[-6000:]}")
    results = json.loads(out.read_text()) if registered else {}
    return PlaybookRun(proc.returncode, output, results, seconds, workdir)


def run_module_cases(
    module: str, cases: dict[str, dict], workdir: Path, *, before: Iterable[dict] = (), **kwargs: Any
) -> PlaybookRun:
    """One task per case, calling ``module`` with the case's arguments (after the ``before`` tasks).

    ``results`` and ``durations`` are by case name: the registered result, and the seconds from
    the case's task to the next (as the controller's clock saw them). ``kwargs`` go to run_tasks.
    """
    keys = {name: f"case_{i}" for i, name in enumerate(cases)}
    tasks = list(before)
    for name, key in keys.items():
        tasks += [
            {"name": f"Clock {name}", "ansible.builtin.set_fact": {f"t_{key}": "{{ now().timestamp() }}"}},
            {"name": name, module: cases[name], "register": key, "ignore_errors": True},
        ]
    tasks.append({"name": "Clock the end", "ansible.builtin.set_fact": {"t_end": "{{ now().timestamp() }}"}})
    clocks = [f"t_{key}" for key in keys.values()] + ["t_end"]
    run = run_tasks(tasks, workdir, registered=[*keys.values(), *clocks], **kwargs)
    clock = [float(run.results[name]) for name in clocks]
    run.durations = {name: clock[i + 1] - clock[i] for i, name in enumerate(keys)}
    run.results = {name: run.results[key] for name, key in keys.items()}
    return run


@dataclass
class Case:
    """One lookup call: ``query(LOOKUP, *terms, **options)`` in its own task."""

    terms: list[str]
    options: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """What one lookup task gave: the list of result dicts, or the error message."""

    results: list[dict] | None
    error: str | None
    raw: dict

    @classmethod
    def of(cls, registered: dict) -> Outcome:
        if registered.get("failed"):
            return cls(None, str(registered.get("msg")), registered)
        return cls(registered["ansible_facts"]["resolved"], None, registered)

    @property
    def result(self) -> dict:
        """The single result of a one-term case."""
        assert self.error is None, f"the lookup failed: {self.error}"
        assert self.results is not None and len(self.results) == 1, self.results
        return self.results[0]


def run_lookups(cases: dict[str, Case], workdir: Path, *, timeout: float = 300) -> PlaybookRun:
    """Resolve every case in one run; ``results`` has each case's registered result (see Outcome.of)."""
    keys = {name: f"case_{i}" for i, name in enumerate(cases)}
    tasks = [
        {
            "name": f"Resolve {name}",
            "ansible.builtin.set_fact": {
                "resolved": f"{{{{ query('{LOOKUP}', *cases.{key}.terms, **cases.{key}.options) }}}}"
            },
            "register": key,
            "ignore_errors": True,
        }
        for name, key in keys.items()
    ]
    play_vars = {"cases": {keys[name]: {"terms": case.terms, "options": case.options} for name, case in cases.items()}}
    run = run_tasks(tasks, workdir, registered=keys.values(), play_vars=play_vars, timeout=timeout)
    run.results = {name: run.results[key] for name, key in keys.items()}
    return run
