"""Run the ``matrixops.delegation.resolve`` lookup through a real ``ansible-playbook``.

One playbook resolves many *cases*; each case is one task (one lookup call, any number of terms,
its own options), so one case failing does not hide the others.  Every task registers its
result with ``ignore_errors``; a last task writes all of them as JSON, which :func:`run_cases`
returns as :class:`Outcome` objects together with the run's output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOKUP = "matrixops.delegation.resolve"


@dataclass
class Case:
    """One lookup call: ``query(LOOKUP, *terms, **options)`` in its own task."""

    terms: list[str]
    options: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """What one task gave: the list of result dicts, or the error message."""

    results: list[dict] | None
    error: str | None
    raw: dict

    @property
    def result(self) -> dict:
        """The single result of a one-term case."""
        assert self.error is None, f"the lookup failed: {self.error}"
        assert self.results is not None and len(self.results) == 1, self.results
        return self.results[0]


@dataclass
class Run:
    outcomes: dict[str, Outcome]
    returncode: int
    output: str  # stdout + stderr of ansible-playbook
    seconds: float


def ansible_playbook() -> str:
    """``ansible-playbook`` beside the running Python (the venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if not found:
        raise RuntimeError("ansible-playbook not found: run the tests with the venv's pytest (make venv)")
    return found


def collections_path() -> str:
    """``ANSIBLE_COLLECTIONS_PATH`` from the environment, else ``<repo>/.build/collections``.

    The fallback is created on demand: ``ansible_collections/matrixops/delegation`` there is a
    symlink to the repository root, so the tests run the working tree's plugins.
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
        }
    )
    env.pop("ANSIBLE_CONFIG", None)
    return env


def _playbook(cases: dict[str, Case], out: Path) -> tuple[list[dict], dict[str, str]]:
    keys = {name: f"c{i}" for i, name in enumerate(cases)}
    tasks: list[dict] = []
    for name, key in keys.items():
        tasks.append(
            {
                "name": f"Resolve {name}",
                "ansible.builtin.set_fact": {
                    "resolved": f"{{{{ query('{LOOKUP}', *cases.{key}.terms, **cases.{key}.options) }}}}"
                },
                "register": f"reg_{key}",
                "ignore_errors": True,
            }
        )
    tasks.append(
        {
            "name": "Write the results",
            "ansible.builtin.copy": {"dest": str(out), "content": "{{ outcomes | to_json }}", "mode": "0644"},
            "vars": {"outcomes": {key: f"{{{{ reg_{key} }}}}" for key in keys.values()}},
        }
    )
    return [
        {
            "name": "Resolve server names with the lookup",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"cases": {keys[name]: {"terms": c.terms, "options": c.options} for name, c in cases.items()}},
            "tasks": tasks,
        }
    ], keys


def run_cases(cases: dict[str, Case], workdir: Path, *, timeout: float = 300) -> Run:
    """Resolve every case in one ``ansible-playbook`` run; return each case's outcome."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "outcomes.json"
    out.unlink(missing_ok=True)
    play, keys = _playbook(cases, out)
    playbook = workdir / "playbook.yml"
    playbook.write_text(json.dumps(play, indent=2))  # JSON is YAML
    started = time.monotonic()
    proc = subprocess.run(
        [ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook)],
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
    if not out.exists():
        raise AssertionError(f"ansible-playbook wrote no results (rc {proc.returncode}):\n{output[-6000:]}")
    raw = json.loads(out.read_text())
    outcomes = {}
    for name, key in keys.items():
        reg = raw[key]
        if reg.get("failed"):
            outcomes[name] = Outcome(None, str(reg.get("msg")), reg)
        else:
            outcomes[name] = Outcome(reg["ansible_facts"]["resolved"], None, reg)
    return Run(outcomes, proc.returncode, output, seconds)


def run_single_task(term: str, options: dict, workdir: Path, *, timeout: float = 120) -> subprocess.CompletedProcess:
    """A playbook with one plain task (no ``ignore_errors``): what a user sees when it fails."""
    workdir.mkdir(parents=True, exist_ok=True)
    play = [
        {
            "name": "Resolve one name",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"term": term, "options": options},
            "tasks": [
                {
                    "name": "Resolve",
                    "ansible.builtin.debug": {"msg": f"{{{{ lookup('{LOOKUP}', term, **options) }}}}"},
                }
            ],
        }
    ]
    playbook = workdir / "single.yml"
    playbook.write_text(json.dumps(play, indent=2))
    return subprocess.run(
        [ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook)],
        cwd=workdir,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
