# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Profile the resolution core alone (no Ansible) on the bench world: cProfile in every thread.

Usage (from the repository root, as root: the world binds port 443 on loopback)::

    PYTHONPATH=.build/collections:tests:tests/lab .venv/bin/python benchmarks/profile_core.py \
        [--names 1000] [--concurrency N] [--top 25] [--out FILE.pstats]

Prints the wall time, the CPU seconds of the process (``getrusage``) and the functions with the
most internal time, summed over every thread (each thread gets its own ``cProfile.Profile``;
they are merged at the end).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402 - after the path above
import bench_world  # noqa: E402

from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import (  # noqa: E402
    ResolveOptions,
    Resolver,
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-profile", action="store_true", help="only time it")
    parser.add_argument("--gc", default="", help="'off': gc.disable() for the run; 'freeze': gc.freeze() first")
    args = parser.parse_args(argv)
    names = bench_world.bench_names(args.names)
    with tempfile.TemporaryDirectory(prefix="matrixops-profile-") as tmp:
        world = bench.WorldProcess(Path(tmp), args.names, 0.05)
        try:
            extra = {} if args.concurrency is None else {"concurrency": args.concurrency}
            options = ResolveOptions(
                nameservers=[world.nameserver], ca_path=world.ca_path, allow_private_addresses=True, **extra
            )
            profiles: list[cProfile.Profile] = []
            lock = threading.Lock()

            def per_thread(*_args: object) -> None:
                profile = cProfile.Profile()
                with lock:
                    profiles.append(profile)
                profile.enable()

            if args.gc == "off":
                gc.disable()
            elif args.gc == "freeze":
                gc.freeze()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = usage.ru_utime + usage.ru_stime
            started = time.monotonic()
            if not args.no_profile:
                threading.setprofile(per_thread)
                main_profile = cProfile.Profile()
                profiles.append(main_profile)
                main_profile.enable()
            with Resolver(options) as resolver:
                outcomes = resolver.resolve_all([name.server_name for name in names])
            if not args.no_profile:
                main_profile.disable()
                threading.setprofile(None)
            wall = time.monotonic() - started
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = usage.ru_utime + usage.ru_stime - cpu
            counts, world_cpu = world.counts()
        finally:
            world.stop()
    wrong = [
        name.server_name
        for name, outcome in zip(names, outcomes, strict=True)
        if not hasattr(outcome, "method") or outcome.method != name.method
    ]
    print(
        f"{args.names} names, concurrency {options.concurrency}: wall {wall:.2f} s, CPU {cpu:.2f} s "
        f"({1000 * cpu / args.names:.2f} ms per name), world CPU {world_cpu:.2f} s, wrong {len(wrong)}"
    )
    if not args.no_profile:
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        if args.out:
            stats.dump_stats(args.out)
        stats.sort_stats("tottime").print_stats(args.top)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
