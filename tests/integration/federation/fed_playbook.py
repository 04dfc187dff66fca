"""Run ``matrixops.delegation.federation_check`` through a real ``ansible-playbook``.

One playbook runs many *cases*, one task each (its own module arguments), registered with
``ignore_errors`` so that a failing check (``fail_on_error``) does not stop the others; a last
task writes every registered result as JSON.  ``ansible-playbook`` itself and its environment
come from the lookup tests' ``it_playbook`` (tests/integration).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

INTEGRATION_DIR = Path(__file__).resolve().parents[1]
if str(INTEGRATION_DIR) not in sys.path:
    sys.path.insert(0, str(INTEGRATION_DIR))

from it_playbook import ansible_playbook, environment  # noqa: E402

MODULE = "matrixops.delegation.federation_check"


@dataclass
class Run:
    results: dict[str, dict]  # case name -> the task's registered result
    durations: dict[str, float]  # case name -> seconds its task took (as the controller saw it)
    returncode: int
    output: str  # stdout + stderr of ansible-playbook
    seconds: float
    playbook: Path

    def __getitem__(self, case: str) -> dict:
        return self.results[case]


def _play(cases: dict[str, dict], out: Path) -> tuple[list[dict], dict[str, str]]:
    keys = {name: f"c{i}" for i, name in enumerate(cases)}
    tasks: list[dict] = []
    for name, args in cases.items():
        key = keys[name]
        tasks += [
            {"name": f"Clock {name}", "ansible.builtin.set_fact": {f"t_{key}": "{{ now().timestamp() }}"}},
            {"name": f"Check {name}", MODULE: args, "register": f"reg_{key}", "ignore_errors": True},
        ]
    tasks += [
        {"name": "Clock the end", "ansible.builtin.set_fact": {"t_end": "{{ now().timestamp() }}"}},
        {
            "name": "Write the results",
            "ansible.builtin.copy": {"dest": str(out), "content": "{{ outcomes | to_json }}", "mode": "0644"},
            "check_mode": False,  # also in --check runs
            "vars": {
                "outcomes": {
                    "results": {key: f"{{{{ reg_{key} }}}}" for key in keys.values()},
                    "clock": {key: f"{{{{ t_{key} }}}}" for key in [*keys.values(), "end"]},
                }
            },
        },
    ]
    play = {"name": "Check federation", "hosts": "localhost", "gather_facts": False, "tasks": tasks}
    return [play], keys


def run_checks(cases: dict[str, dict], workdir: Path, *, check: bool = False, timeout: float = 300) -> Run:
    """Run every case (module arguments) in one ``ansible-playbook`` run; return the results."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "results.json"
    out.unlink(missing_ok=True)
    play, keys = _play(cases, out)
    playbook = workdir / "playbook.yml"
    playbook.write_text(json.dumps(play, indent=2))  # JSON is YAML
    command = [ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook)]
    if check:
        command.append("--check")
    started = time.monotonic()
    proc = subprocess.run(
        command, cwd=workdir, env=environment(), capture_output=True, text=True, timeout=timeout, check=False
    )
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    (workdir / "ansible-playbook.log").write_text(output)
    if not out.exists():
        raise AssertionError(f"ansible-playbook wrote no results (rc {proc.returncode}):\n{output[-6000:]}")
    raw = json.loads(out.read_text())
    clock = [float(raw["clock"][key]) for key in [*keys.values(), "end"]]
    durations = {name: clock[i + 1] - clock[i] for i, name in enumerate(keys)}
    results = {name: raw["results"][key] for name, key in keys.items()}
    return Run(results, durations, proc.returncode, output, seconds, playbook)
