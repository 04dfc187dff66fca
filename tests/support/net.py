# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Loopback networks: each world its own ``127.0.N.0/24`` from its own band (the plan: ``support``).

``allocate("it", binds)`` gives the world ``it`` the first ``/24`` of its band that no other
process holds and on which every ``(host, port)`` of ``binds`` is free (UDP and TCP), and holds it
(a ``flock`` on a file in the temporary directory) until the process ends. The probes
(``knot.port_in_use`` of tests/lab) bind the world's own addresses only, never a wildcard.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import knot

#: world -> the third octets of its ``/24`` choices. ``127.0.0`` belongs to the lab.
BANDS: dict[str, range] = {
    "it": range(1, 21),
    "fed": range(40, 60),
    "srv": range(60, 70),
    "rb": range(70, 80),
    "bench": range(90, 100),
    "acme": range(100, 110),
    "profiles": range(110, 120),
    "migrate": range(120, 130),
}
_THIRDS = [third for band in BANDS.values() for third in band]
if len(_THIRDS) != len(set(_THIRDS)) or 0 in _THIRDS:  # pragma: no cover - a mistake in BANDS
    raise AssertionError(f"the bands of support.net overlap: {BANDS}")

_HELD: list[IO[str]] = []  # the lock files of the /24s this process holds


@dataclass(frozen=True)
class Net:
    """One ``/24``: ``Net("127.0.5").ip(53)`` is ``127.0.5.53``."""

    prefix: str

    def ip(self, host: int) -> str:
        return f"{self.prefix}.{host}"

    def __str__(self) -> str:
        return self.prefix


def _hold(prefix: str) -> IO[str] | None:
    """The lock of ``prefix``, or None when another process holds it."""
    try:  # another user's lock file (not writable here) counts as held
        handle = (Path(tempfile.gettempdir()) / f"matrixops-net-{prefix}.lock").open("a", encoding="ascii")
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def allocate(world: str, binds: Iterable[tuple[int, int]]) -> Net:
    """``MATRIXOPS_<WORLD>_NET`` if set, else the first free ``/24`` of the world's band.

    ``binds`` are the ``(host, port)`` pairs the world listens on (the last octet and the port).
    When every ``/24`` of the band is busy, the first one is returned: the world then fails to
    start with a clear "address already in use".
    """
    configured = os.environ.get(f"MATRIXOPS_{world.upper()}_NET")
    if configured:
        return Net(configured)
    binds = list(binds)
    for third in BANDS[world]:
        net = Net(f"127.0.{third}")
        handle = _hold(net.prefix)
        if handle is None:
            continue
        if any(knot.port_in_use(net.ip(host), port) for host, port in binds):
            handle.close()
            continue
        _HELD.append(handle)
        return net
    return Net(f"127.0.{BANDS[world][0]}")
