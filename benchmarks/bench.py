# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``make bench``: resolve and check many server names through real ``ansible-playbook`` runs.

Usage (``make bench`` runs it with the defaults; ``make bench BENCH_ARGS='--runs 5'`` passes more;
``tests`` and ``tests/lab`` must be on ``PYTHONPATH``, for ``support`` and ``pki``)::

    PYTHONPATH=tests:tests/lab .venv/bin/python benchmarks/bench.py [--names 1000] [--delay 0.05] [--runs 3]
        [--baseline-names N] [--check-names 50] [--concurrency 64,128] [--only 0,1,2,3,4,5,S]
        [--sizes 300,1000] [--synapse-python PATH] [--json FILE] [--keep DIR]

Scenarios (see docs/performance.md):

0. control: the playbook of (1) with no names (the fixed cost of ``ansible-playbook``);
1. one task resolving all N names with the ``resolve`` lookup, default options (and once more at
   each ``--concurrency`` value, for comparison);
2. one task resolving a list in which every name appears three times in a row;
3. the N names with ``concurrency: 1`` (``--baseline-names`` resolves fewer names and scales
   the task time linearly to N: the row then says EXTRAPOLATED);
4. ``federation_check`` for ``--check-names`` names, through the collection's ``verify`` playbook
   (one module run per name);
5. ``federation_check`` with ``server_names``: all N names in one module run, default options;
S. the reference: Synapse's own resolver (``synapse_reference.py``, in the lab's Synapse
   virtualenv, a subprocess) on the same world, next to (1) for each of ``--sizes`` names (the
   first N of the world's names): the side-by-side table with the ratio project / Synapse.

For each it prints the wall time of ``ansible-playbook`` (median of ``--runs``), the time of the
task itself, the peak memory of the ``ansible-playbook`` process tree (the sum of the RSS of its
processes, sampled every 20 ms), and the DNS queries, TLS handshakes and HTTP requests that the
world's servers counted per server name, next to the minimum the spec's steps need. A run whose
results are wrong (the playbook checks every method and target) fails the benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import bench_world
from support.playbook import ansible_playbook, environment

from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions

DEFAULT_CONCURRENCY = ResolveOptions().concurrency  # the lookup's default (of the collection measured)

LOOKUP = "matrixops.delegation.resolve"
DEFAULT_MARK = "def"  # the concurrency column when the option is not passed (the default, 64)
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.02
WORLD_LIFETIME = 4 * 3600  # the world process stops by itself after this long, whatever happens


# -- the world, in a process of its own ----------------------------------------------------------
def _world_process(connection, workdir: str, count: int, delay: float) -> None:
    """Runs in the child: start the world, answer commands until told to stop (or orphaned)."""
    parent = os.getppid()
    world = bench_world.BenchWorld(Path(workdir), bench_world.bench_names(count), delay=delay)
    try:
        world.start()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        connection.send(("error", str(exc)))
        return
    connection.send(("ready", {"nameserver": world.nameserver, "ca_path": str(world.ca_path)}))
    deadline = time.monotonic() + WORLD_LIFETIME
    try:
        while time.monotonic() < deadline and os.getppid() == parent:
            if not connection.poll(1):
                continue
            try:
                command = connection.recv()
            except EOFError:
                break
            if command == "stop":
                break
            if command == "counts":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                connection.send((world.counts(), usage.ru_utime + usage.ru_stime))
    finally:
        world.stop()


class WorldProcess:
    def __init__(self, workdir: Path, count: int, delay: float) -> None:
        context = multiprocessing.get_context("fork")  # before any thread of ours is started
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_world_process, args=(child, str(workdir), count, delay), name="bench-world", daemon=True
        )
        self.process.start()
        child.close()
        if not self.connection.poll(120):
            self.stop()
            raise RuntimeError("the bench world did not start within 120 s")
        status, info = self.connection.recv()
        if status != "ready":
            self.stop()
            raise RuntimeError(f"the bench world cannot start: {info}")
        self.nameserver: str = info["nameserver"]
        self.ca_path: str = info["ca_path"]
        self._cpu = 0.0

    def counts(self) -> tuple[dict, float]:
        """The counts since the last call, and the world's CPU seconds since the last call."""
        self.connection.send("counts")
        counts, cpu = self.connection.recv()
        spent, self._cpu = cpu - self._cpu, cpu
        return counts, spent

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send("stop")
        self.process.join(15)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


# -- memory of a process tree -------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    result = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return result
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                result.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return result


def tree_rss(root: int) -> tuple[int, int]:
    """(sum of RSS in bytes, number of processes) of ``root`` and its descendants."""
    total, processes, pending = 0, 0, [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
                total += int(handle.read().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
        processes += 1
        pending.extend(_children(pid))
    return total, processes


# -- one ansible-playbook run -------------------------------------------------------------------------
@dataclass
class PlaybookRun:
    returncode: int
    wall: float
    task: float | None  # seconds from the measured task's banner to the next banner
    peak_rss: int
    peak_processes: int
    cpu: float  # user + system CPU seconds of ansible-playbook and every process it waited for
    output: str


def run_playbook(args: list[str], workdir: Path, *, task_prefix: str, timeout: float) -> PlaybookRun:
    """Run ``ansible-playbook ARGS``; sample the tree's memory; time the task named ``task_prefix``."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - our own command line
        [ansible_playbook(), *args],
        cwd=workdir,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((time.monotonic(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak, peak_processes = 0, 0
    while process.poll() is None:
        if time.monotonic() - started > timeout:
            process.kill()
            break
        rss, processes = tree_rss(process.pid)
        if rss > peak:
            peak, peak_processes = rss, processes
        time.sleep(SAMPLE_SECONDS)
    process.wait()
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    reader.join(10)
    task = None
    for index, (when, line) in enumerate(lines):
        if line.startswith(f"TASK [{task_prefix}"):
            following = [t for t, text in lines[index + 1 :] if text.startswith(("TASK [", "PLAY RECAP"))]
            if following:
                task = following[0] - when
            break
    return PlaybookRun(process.returncode, wall, task, peak, peak_processes, cpu, "".join(text for _t, text in lines))


# -- scenarios ------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    key: str
    title: str
    names: list[bench_world.BenchName]
    terms: int
    concurrency: int | None  # None: the option is not passed (default 16)
    check: bool = False  # federation_check instead of the lookup
    repeat: int = 1  # each name this many times in a row in the terms
    extrapolate_to: int | None = None  # resolve fewer names, scale the times to this many
    many: bool = False  # federation_check with server_names (one module run)
    reference: bool = False  # Synapse's resolver (synapse_reference.py), not ansible-playbook


@dataclass
class Measurement:
    scenario: Scenario
    runs: list[PlaybookRun] = field(default_factory=list)
    counts: list[dict] = field(default_factory=list)
    world_cpu: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # 1-minute load average before each run


def resolve_playbook(scenario: Scenario, world: WorldProcess, workdir: Path) -> list[str]:
    names = [name.server_name for name in scenario.names]
    repeat = scenario.repeat
    options: dict = {"nameservers": [world.nameserver], "ca_path": world.ca_path, "allow_private_addresses": True}
    if scenario.concurrency is not None:
        options["concurrency"] = scenario.concurrency
    data = {
        "bench_terms": [name for name in names for _copy in range(repeat)],
        "bench_options": options,
        "bench_methods": [n.method for n in scenario.names for _copy in range(repeat)],
        "bench_hosts": [n.target[0] for n in scenario.names for _copy in range(repeat)],
        "bench_ports": [n.target[1] for n in scenario.names for _copy in range(repeat)],
    }
    (workdir / "bench_vars.json").write_text(json.dumps(data))
    play = [
        {
            "name": f"Benchmark {scenario.key}",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars_files": ["bench_vars.json"],
            "tasks": [
                {
                    "name": "Resolve the server names",
                    "ansible.builtin.set_fact": {
                        "bench_results": f"{{{{ query('{LOOKUP}', *bench_terms, **bench_options) }}}}"
                    },
                },
                {
                    "name": "Check every method and target",
                    "ansible.builtin.assert": {
                        "that": [
                            "bench_results | length == bench_terms | length",
                            "bench_results | map(attribute='method') | list == bench_methods",
                            "bench_results | map(attribute='targets') | map('first') | map(attribute='host') | list"
                            " == bench_hosts",
                            "bench_results | map(attribute='targets') | map('first') | map(attribute='port') | list"
                            " == bench_ports",
                        ],
                        "quiet": True,
                    },
                },
            ],
        }
    ]
    (workdir / "bench.yml").write_text(json.dumps(play, indent=1))  # JSON is YAML
    return ["-i", "localhost,", "bench.yml"]


def check_playbook(scenario: Scenario, world: WorldProcess, workdir: Path) -> list[str]:
    data = {
        "server_name": [name.server_name for name in scenario.names],
        "nameservers": [world.nameserver],
        "ca_path": world.ca_path,
        "allow_private_addresses": True,
    }
    (workdir / "bench_vars.json").write_text(json.dumps(data))
    return ["-i", "localhost,", "matrixops.delegation.verify", "-e", "@bench_vars.json"]


def many_playbook(scenario: Scenario, world: WorldProcess, workdir: Path) -> list[str]:
    data = {"bench_names": {name.server_name: f"{name.target[0]}:{name.target[1]}" for name in scenario.names}}
    (workdir / "bench_vars.json").write_text(json.dumps(data))
    play = [
        {
            "name": f"Benchmark {scenario.key}",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars_files": ["bench_vars.json"],
            "tasks": [
                {
                    "name": "Check federation of the server names",
                    "matrixops.delegation.federation_check": {
                        "server_names": "{{ bench_names }}",
                        "nameservers": [world.nameserver],
                        "ca_path": world.ca_path,
                        "allow_private_addresses": True,
                    },
                    "register": "bench_check",
                },
                {
                    "name": "Check every name passed",
                    "ansible.builtin.assert": {
                        "that": ["bench_check.ok", "bench_check.results | length == bench_names | length"],
                        "quiet": True,
                    },
                },
            ],
        }
    ]
    (workdir / "bench.yml").write_text(json.dumps(play, indent=1))
    return ["-i", "localhost,", "bench.yml"]


def synapse_python(explicit: str | None) -> str:
    """The lab's Synapse virtualenv python (made by tests/lab/synapse.py when missing)."""
    if explicit:
        return explicit
    import synapse as lab_synapse  # tests/lab/synapse.py, the lab helper (not the real package)

    return str(lab_synapse.ensure_venv())


def run_reference(scenario: Scenario, world: WorldProcess, workdir: Path, python: str) -> PlaybookRun:
    """Synapse's resolver on the scenario's names, in its own process; its results are checked."""
    names_file = workdir / "names.json"
    names_file.write_text(json.dumps([name.server_name for name in scenario.names]))
    runner = Path(__file__).resolve().parent / "synapse_reference.py"
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - our own command line
        # -I: the real synapse package, never tests/lab/synapse.py from PYTHONPATH
        [python, "-I", str(runner), "--nameserver", world.nameserver, "--ca", world.ca_path, str(names_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, processes = 0, 0
    while process.poll() is None:
        rss, count = tree_rss(process.pid)
        if rss > peak:
            peak, processes = rss, count
        time.sleep(SAMPLE_SECONDS)
    out, err = process.communicate()
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    if process.returncode != 0:
        raise SystemExit(f"the Synapse reference runner failed (rc {process.returncode}):\n{err[-3000:]}")
    report = json.loads(out)
    results = report["results"]
    wrong = [
        f"{name.server_name}: {results.get(name.server_name)} (expected {list(name.target)})"
        for name in scenario.names
        if results.get(name.server_name) != list(name.target)
    ]
    if wrong:
        raise SystemExit(f"Synapse's resolver resolved {len(wrong)} names differently: {wrong[:5]}")
    return PlaybookRun(0, wall, report["resolve_wall"], peak, processes, cpu, err)


def measure(
    scenario: Scenario,
    world: WorldProcess,
    runs: int,
    keep: Path | None,
    python: str | None = None,
    *,
    result: Measurement | None = None,
    attempts: range | None = None,
) -> Measurement:
    """Run ``scenario`` ``runs`` times (or only the ``attempts`` given), adding to ``result``."""
    result = result if result is not None else Measurement(scenario)
    for attempt in attempts if attempts is not None else range(runs):
        with tempfile.TemporaryDirectory(prefix="matrixops-bench-run-") as tmp:
            workdir = Path(tmp)
            if scenario.reference:
                world.counts()  # reset
                result.loads.append(os.getloadavg()[0])
                run = run_reference(scenario, world, workdir, python or synapse_python(None))
                counts, cpu = world.counts()
                result.runs.append(run)
                result.counts.append(counts)
                result.world_cpu.append(cpu)
                print(
                    f"  {scenario.key} run {attempt + 1}/{runs}: wall {run.wall:.2f} s, resolution {run.task:.2f} s, "
                    f"peak RSS {run.peak_rss / 2**20:.0f} MB, CPU Synapse {run.cpu:.2f} s + world {cpu:.2f} s, "
                    f"load before {result.loads[-1]:.2f}",
                    flush=True,
                )
                continue
            if scenario.many:
                args, prefix = many_playbook(scenario, world, workdir), "Check federation of"
            elif scenario.check:
                args, prefix = check_playbook(scenario, world, workdir), "Check federation"
            else:
                args, prefix = resolve_playbook(scenario, world, workdir), "Resolve the server names"
            world.counts()  # reset
            result.loads.append(os.getloadavg()[0])
            timeout = 120 + 2 * len(scenario.names)
            run = run_playbook(args, workdir, task_prefix=prefix, timeout=timeout)
            counts, cpu = world.counts()
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"{scenario.key}-{attempt + 1}.log").write_text(run.output)
            if run.returncode != 0:
                tail = "\n".join(run.output.splitlines()[-40:])
                raise SystemExit(f"scenario {scenario.key} failed (ansible-playbook rc {run.returncode}):\n{tail}")
        result.runs.append(run)
        result.counts.append(counts)
        result.world_cpu.append(cpu)
        span = counts.get("span")
        print(
            f"  {scenario.key} run {attempt + 1}/{runs}: wall {run.wall:.2f} s, task "
            f"{run.task if run.task is None else round(run.task, 2)} s, network "
            f"{span if span is None else round(span, 2)} s, peak RSS {run.peak_rss / 2**20:.0f} MB "
            f"({run.peak_processes} processes), CPU ansible {run.cpu:.2f} s + world {cpu:.2f} s, "
            f"load before {result.loads[-1]:.2f}",
            flush=True,
        )
    return result


# -- the report -------------------------------------------------------------------------------------------
def per_name(measurement: Measurement) -> dict | None:
    """Counts per name against the minimum, for the run with the median wall time."""
    scenario = measurement.scenario
    if not scenario.names or scenario.reference:
        return None  # Synapse's resolver is not held to this project's minimum counts
    minimum = bench_world.CHECK_MINIMUM if scenario.check or scenario.many else bench_world.RESOLVE_MINIMUM
    order = sorted(range(len(measurement.runs)), key=lambda i: measurement.runs[i].wall)
    counts = measurement.counts[order[len(order) // 2]]
    result: dict = {"unattributed": {what: counts[what].get("unattributed", 0) for what in ("dns", "tls", "http")}}
    for what in ("dns", "tls", "http"):
        measured = [counts[what].get(str(name.index), 0) for name in scenario.names]
        needed = [minimum[name.kind][what] for name in scenario.names]
        result[what] = {
            "per_name": sum(measured) / len(measured),
            "minimum": sum(needed) / len(needed),
            "over": sum(1 for got, need in zip(measured, needed, strict=True) if got > need),
            "under": sum(1 for got, need in zip(measured, needed, strict=True) if got < need),
        }
    by_kind = {}
    for kind in bench_world.KINDS:
        members = [name for name in scenario.names if name.kind == kind]
        if not members:
            continue
        by_kind[kind] = {
            what: (
                min(counts[what].get(str(name.index), 0) for name in members),
                max(counts[what].get(str(name.index), 0) for name in members),
                minimum[kind][what],
            )
            for what in ("dns", "tls", "http")
        }
    result["by_kind"] = by_kind
    return result


def summary(measurement: Measurement) -> dict:
    scenario = measurement.scenario
    walls = [run.wall for run in measurement.runs]
    tasks = [run.task for run in measurement.runs if run.task is not None]
    spans = [counts["span"] for counts in measurement.counts if counts.get("span") is not None]
    scale = (scenario.extrapolate_to / len(scenario.names)) if scenario.extrapolate_to else None
    return {
        "key": scenario.key,
        "title": scenario.title,
        "names": len(scenario.names),
        "terms": scenario.terms,
        "concurrency": scenario.concurrency,
        "check": scenario.check,
        "many": scenario.many,
        "reference": scenario.reference,
        "runs": len(walls),
        "wall_median": statistics.median(walls),
        "wall_all": walls,
        "task_median": statistics.median(tasks) if tasks else None,
        "network_median": statistics.median(spans) if spans else None,
        "ansible_cpu_median": statistics.median(run.cpu for run in measurement.runs),
        "world_cpu_median": statistics.median(measurement.world_cpu),
        "peak_rss_mb": max(run.peak_rss for run in measurement.runs) / 2**20,
        "load_max": max(measurement.loads),
        "extrapolated_to": scenario.extrapolate_to,
        # The task scales with the names; ansible-playbook's own start and end do not.
        "wall_extrapolated": statistics.median(walls) + statistics.median(tasks) * (scale - 1)
        if scale and tasks
        else None,
        "task_extrapolated": statistics.median(tasks) * scale if scale and tasks else None,
        "counts": per_name(measurement),
    }


def _cell(value: float | None, width: int, digits: int = 2) -> str:
    return f"{'-' if value is None else f'{value:.{digits}f}':>{width}}"


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    print()
    print(
        f"matrixops.delegation benchmark: {args.names} names, {args.delay * 1000:.0f} ms delay per DNS answer and "
        f"HTTP response, {os.cpu_count()} CPUs, Python {platform.python_version()}, median of {args.runs} run(s)"
    )
    header = (
        f"{'scenario':<31} {'terms':>5} {'conc':>4} {'wall s':>6} {'task s':>6} {'net s':>6} {'CPU s':>11} "
        f"{'peak MB':>7} {'DNS/name (min)':>14} {'TLS/name':>9} {'HTTP/name':>9} {'over':>4} {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        counts = row["counts"]
        cpu = f"{row['ansible_cpu_median']:.1f}+{row['world_cpu_median']:.1f}"
        if counts is None:
            dns_cell, tls_cell, http_cell, over = "-", "-", "-", "-"
        else:
            dns_cell = f"{counts['dns']['per_name']:.2f} ({counts['dns']['minimum']:.2f})"
            tls_cell = f"{counts['tls']['per_name']:.2f} ({counts['tls']['minimum']:.0f})"
            http_cell = f"{counts['http']['per_name']:.2f} ({counts['http']['minimum']:.0f})"
            over = str(sum(counts[what]["over"] + counts[what]["under"] for what in ("dns", "tls", "http")))
        print(
            f"{row['title']:<31} {row['terms']:>5} {row['concurrency'] or DEFAULT_MARK:>4} "
            f"{_cell(row['wall_median'], 6)} {_cell(row['task_median'], 6)} {_cell(row['network_median'], 6)} "
            f"{cpu:>11} {row['peak_rss_mb']:>7.0f} {dns_cell:>14} {tls_cell:>9} {http_cell:>9} {over:>4} "
            f"{row['load_max']:>5.2f}"
        )
        if row["extrapolated_to"]:
            print(
                f"{'':<4}EXTRAPOLATED from {row['names']} to {row['extrapolated_to']} names: task x"
                f"{row['extrapolated_to'] / row['names']:.1f} = {row['task_extrapolated'] or 0:.1f} s, "
                f"wall {row['wall_extrapolated'] or 0:.1f} s (the rest of the wall time kept as measured)"
            )
    print(
        f"conc {DEFAULT_MARK} = the default (option not passed). task s = the lookup (or federation_check) task\n"
        "alone (for Synapse: its resolution alone; its wall s is the whole process, Python start included);\n"
        "net s = first query to last answer, as the world saw it. CPU s = ansible-playbook tree + world.\n"
        "peak MB = the highest sum of the RSS of the ansible-playbook processes. DNS/TLS/HTTP per name =\n"
        "queries, handshakes, requests counted by the world (spec minimum in brackets); over = names\n"
        "above or below the minimum. load = the highest 1-minute load average before a run: other work\n"
        "on the machine slows every figure."
    )
    print()
    print("Per path (min..max per name, spec minimum in brackets):")
    shown = {"1", "4", "5"}
    for row in rows:
        if row["key"] not in shown or row["counts"] is None:
            continue
        for kind, values in row["counts"]["by_kind"].items():
            cells = "  ".join(f"{what.upper()} {low}..{high} ({need})" for what, (low, high, need) in values.items())
            print(f"  {row['title'][:29]:<29} {kind:<6} {bench_world.METHODS[kind]:<25} {cells}")
    unattributed = {
        row["key"]: row["counts"]["unattributed"]
        for row in rows
        if row["counts"] is not None and any(row["counts"]["unattributed"].values())
    }
    if unattributed:
        print(f"Unattributed (names outside the world): {unattributed}")
    print()
    print_side_by_side(rows)
    targets(rows)


def side_by_side(rows: list[dict]) -> dict[int, tuple[dict, dict]]:
    """{names: (the project's lookup row at default options, Synapse's row)} for each reference size."""
    by_key = {row["key"]: row for row in rows}
    pairs = {}
    for row in rows:
        if not row["reference"]:
            continue
        size = row["names"]
        ours = by_key.get(f"1n{size}") or (by_key.get("1") if by_key.get("1", {}).get("names") == size else None)
        if ours is not None:
            pairs[size] = (ours, row)
    return pairs


def print_side_by_side(rows: list[dict]) -> None:
    pairs = side_by_side(rows)
    if not pairs:
        return
    print("Side by side: the resolve lookup (ansible-playbook, default options) and Synapse's own resolver")
    header = (
        f"{'names':>5} {'project wall s':>14} {'project CPU s':>13} {'Synapse wall s':>14} {'(resolution s)':>14} "
        f"{'Synapse CPU s':>13} {'ratio project/Synapse':>21}"
    )
    print(header)
    print("-" * len(header))
    for size, (ours, synapse) in sorted(pairs.items()):
        print(
            f"{size:>5} {ours['wall_median']:>14.2f} {ours['ansible_cpu_median']:>13.2f} "
            f"{synapse['wall_median']:>14.2f} {synapse['task_median']:>14.2f} {synapse['ansible_cpu_median']:>13.2f} "
            f"{ours['wall_median'] / synapse['wall_median']:>21.2f}"
        )
    print(
        "wall = the whole process (ansible-playbook; Synapse's runner: Python, Twisted and Synapse imports\n"
        "included); (resolution s) = Synapse's resolution alone. CPU = user + system of that process tree.\n"
    )


def targets(rows: list[dict]) -> None:
    """The issue's targets, met or not, for the rows that measure them."""
    by_key = {row["key"]: row for row in rows}
    lines = []
    first = by_key.get("1")
    for key in [k for k in by_key if k.startswith("1") and not k.startswith("1n")]:
        row = by_key[key]
        conc = row["concurrency"] or DEFAULT_CONCURRENCY
        lines.append(
            f"(1) {row['names']} names < 5 s wall at concurrency {conc}: {row['wall_median']:.2f} s "
            f"-> {'MET' if row['wall_median'] < 5 else 'NOT MET'}"
        )
    if first and "2" in by_key:
        ratio = by_key["2"]["wall_median"] / first["wall_median"]
        lines.append(f"(2) within 1.2 x (1): {ratio:.2f} x -> {'MET' if ratio <= 1.2 else 'NOT MET'}")
    if "3" in by_key:
        base = by_key["3"]
        base_wall = base["wall_extrapolated"] or base["wall_median"]
        label = " (EXTRAPOLATED baseline)" if base["extrapolated_to"] else ""
        for key in [k for k in by_key if k.startswith("1") and not k.startswith("1n")]:
            row = by_key[key]
            speedup = base_wall / row["wall_median"]
            lines.append(
                f"(1) at concurrency {row['concurrency'] or DEFAULT_CONCURRENCY} >= 20 x faster than (3): {speedup:.1f} x{label} -> "
                f"{'MET' if speedup >= 20 else 'NOT MET'}"
            )
    for size, (ours, synapse) in side_by_side(rows).items():
        lines.append(
            f"{size} names: project {ours['wall_median']:.2f} s <= Synapse {synapse['wall_median']:.2f} s "
            f"(ratio {ours['wall_median'] / synapse['wall_median']:.2f}) -> "
            f"{'MET' if ours['wall_median'] <= synapse['wall_median'] else 'NOT MET'}"
        )
    if "5" in by_key:
        row = by_key["5"]
        lines.append(
            f"(5) federation_check server_names, {row['names']} names < 20 s wall: {row['wall_median']:.2f} s -> "
            f"{'MET' if row['wall_median'] < 20 else 'NOT MET'}"
        )
    over = {
        row["key"]: sum(row["counts"][w]["over"] + row["counts"][w]["under"] for w in ("dns", "tls", "http"))
        for row in rows
        if row["counts"] is not None
    }
    lines.append(
        f"queries/handshakes/requests per name == minimum: "
        f"{'MET' if not any(over.values()) else 'NOT MET ' + str(over)}"
    )
    peak = max(row["peak_rss_mb"] for row in rows)
    lines.append(f"peak memory < 300 MB: {peak:.0f} MB -> {'MET' if peak < 300 else 'NOT MET'}")
    print("Targets:")
    for line in lines:
        print(f"  {line}")


# -- main -------------------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--names", type=int, default=1000, help="server names in the world (default 1000)")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds added to every answer (default 0.05)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each scenario; the median is shown (3)")
    parser.add_argument(
        "--baseline-names",
        type=int,
        default=None,
        help="names for (3), concurrency 1 (default: all); fewer are EXTRAPOLATED to --names",
    )
    parser.add_argument("--baseline-runs", type=int, default=1, help="runs of (3) (default 1: it is long)")
    parser.add_argument("--check-names", type=int, default=50, help="names for (4), federation_check (50)")
    parser.add_argument(
        "--concurrency",
        default="64,128",
        help="extra concurrency values for (1), comma-separated ('' for none; default 64,128)",
    )
    parser.add_argument(
        "--only", default="0,1,2,3,4,5,S", help="scenarios to run (default 0,1,2,3,4,5,S; 0 = control, S = Synapse)"
    )
    parser.add_argument(
        "--sizes", default="300,1000", help="name counts for the Synapse side-by-side (S), comma-separated (300,1000)"
    )
    parser.add_argument(
        "--synapse-python",
        help="python of a virtualenv with matrix-synapse (default: the lab's, tests/lab/synapse.py makes it)",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--keep", type=Path, help="keep each run's ansible-playbook output in this directory")
    args = parser.parse_args(argv)
    if args.names < 4 or args.runs < 1 or args.delay < 0:
        parser.error("--names must be at least 4, --runs at least 1, --delay not negative")
    return args


def scenarios(args: argparse.Namespace, names: list[bench_world.BenchName]) -> list[Scenario]:
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    result = []
    if "0" in only:
        result.append(Scenario("0", "(0) control: playbook, 0 names", [], 0, None))
    if "1" in only:
        result.append(Scenario("1", "(1) lookup, N names, default", names, len(names), None))
        for value in [int(v) for v in args.concurrency.split(",") if v.strip()]:
            result.append(Scenario(f"1c{value}", f"(1) lookup, N names, conc {value}", names, len(names), value))
    if "2" in only:
        result.append(Scenario("2", "(2) lookup, N names x 3, default", names, 3 * len(names), None, repeat=3))
    if "3" in only:
        count = min(args.baseline_names or len(names), len(names))
        count -= count % len(bench_world.KINDS) if count >= len(bench_world.KINDS) else 0
        subset = names[:count]
        extrapolate = len(names) if count < len(names) else None
        result.append(Scenario("3", "(3) lookup, concurrency 1", subset, len(subset), 1, extrapolate_to=extrapolate))
    if "4" in only:
        subset = names[: min(args.check_names, len(names))]
        result.append(Scenario("4", "(4) federation_check (verify)", subset, len(subset), None, check=True))
    if "5" in only:
        result.append(Scenario("5", "(5) federation_check server_names", names, len(names), None, many=True))
    if "S" in only:
        for size in [int(v) for v in args.sizes.split(",") if v.strip()]:
            subset = names[: min(size, len(names))]
            if len(subset) != len(names) or "1" not in only:
                result.append(
                    Scenario(f"1n{len(subset)}", f"(1) lookup, {len(subset)} names, default", subset, len(subset), None)
                )
            result.append(
                Scenario(
                    f"S{len(subset)}", f"(S) Synapse, {len(subset)} names", subset, len(subset), None, reference=True
                )
            )
    return result


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    names = bench_world.bench_names(args.names)
    chosen = scenarios(args, names)
    print(
        f"== bench: {platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}, "
        f"world on {bench_world.NET}.0/24, {args.names} names, delay {args.delay * 1000:.0f} ms"
    )
    rows = []
    python = synapse_python(args.synapse_python) if any(s.reference for s in chosen) else None
    with tempfile.TemporaryDirectory(prefix="matrixops-bench-") as tmp:
        world = WorldProcess(Path(tmp), args.names, args.delay)
        try:
            # Rounds: run 1 of every scenario, then run 2 of every scenario...: the machine's other
            # load falls on every scenario alike (the side-by-side with Synapse compares runs
            # minutes apart otherwise).
            results = {scenario.key: Measurement(scenario) for scenario in chosen}
            counts = {s.key: args.baseline_runs if s.key == "3" else args.runs for s in chosen}
            for attempt in range(max(counts.values(), default=0)):
                for scenario in chosen:
                    if attempt >= counts[scenario.key]:
                        continue
                    print(f"== {scenario.title}: {scenario.terms} terms, run {attempt + 1}", flush=True)
                    measure(
                        scenario,
                        world,
                        counts[scenario.key],
                        args.keep,
                        python,
                        result=results[scenario.key],
                        attempts=range(attempt, attempt + 1),
                    )
            rows = [summary(results[scenario.key]) for scenario in chosen]
        finally:
            world.stop()
    print_table(rows, args)
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": str(args.json), "keep": str(args.keep)}, "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
